"""One environment's AWS secret store: a customer-managed KMS key and a Secrets Manager secret per
catalog entry, each with a resource policy that shuts out every principal but its readers and writers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from stacks.naming import aws_secret_name

from .policies import caller_principal_arn, kms_key_policy, secret_resource_policy


@dataclass(frozen=True)
class StoreSecretArgs:
    """One secret of the store."""

    #: Backend-neutral catalog path, e.g. ``connections/acme-sap/token``; the secret is named
    #: ``makini/<environment>/<path>``.
    path: str
    #: Suffix for Pulumi resource names (unique within the store).
    slug: str
    description: str
    #: Principals that may read the value (consumers, receiver, rotation).
    reader_arns: Sequence[pulumi.Input[str]] = ()
    #: Principals that may write new values (rotation).
    writer_arns: Sequence[pulumi.Input[str]] = ()
    #: The initial value, a Pulumi secret; None creates the secret empty for out-of-band fill.
    value: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The drift check (``SecretStoreArgs.drift_arns``) reads the current value: the OAuth client and the
    #: connection tokens, which ``python -m infra.doctor`` checks against Makini.
    drift_reads: bool = False


@dataclass(frozen=True)
class SecretStoreArgs:
    environment: str
    production: bool
    secrets: Sequence[StoreSecretArgs]
    recovery_window_days: int
    kms_deletion_window_days: int = 30
    key_admin_arns: Sequence[str] = ()
    operator_arns: Sequence[str] = ()
    #: Principals that run `pulumi up`; the caller's own principal is added when it can be derived.
    deployer_arns: Sequence[str] = ()
    #: The only principals that may force-delete, replicate, or (in production) delete a secret.
    break_glass_arns: Sequence[str] = ()
    #: The daily drift check (pulumi preview --refresh, python -m infra.doctor): reads the secrets marked
    #: ``drift_reads`` and the initial version of every secret the deployment wrote; nothing else.
    drift_arns: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


def _resource_policy(
    args: SecretStoreArgs,
    secret: StoreSecretArgs,
    secret_arn: pulumi.Output[str],
    deployers: pulumi.Output[list[str]],
    initial_version_id: pulumi.Output[str] | None,
) -> pulumi.Output[str]:
    readers, writers = secret.reader_arns, secret.writer_arns

    def render(
        arn: str,
        reader_arns: Sequence[str],
        writer_arns: Sequence[str],
        deployer_arns: Sequence[str],
        version: str | None,
    ) -> str:
        doc = secret_resource_policy(
            arn,
            reader_arns,
            writer_arns,
            list(args.operator_arns),
            deployer_arns,
            break_glass_arns=list(args.break_glass_arns),
            drift_arns=list(args.drift_arns),
            drift_reads_current=secret.drift_reads,
            initial_version_id=version,
            production=args.production,
            recovery_window_days=args.recovery_window_days,
        )
        return json.dumps(doc, sort_keys=True)

    version: pulumi.Input[str | None] = initial_version_id
    known_readers = [a for a in readers if isinstance(a, str)]
    known_writers = [a for a in writers if isinstance(a, str)]
    if len(known_readers) == len(readers) and len(known_writers) == len(writers):
        # The common case (configured role ARNs): one join per secret instead of four.
        return pulumi.Output.all(secret_arn, deployers, version).apply(
            lambda v: render(v[0], known_readers, known_writers, v[1], v[2])
        )
    return pulumi.Output.all(
        secret_arn, pulumi.Output.all(*readers), pulumi.Output.all(*writers), deployers, version
    ).apply(lambda v: render(v[0], v[1], v[2], v[3], v[4]))


class SecretStore(pulumi.ComponentResource):
    """KMS key ``alias/makini/<env>`` and secrets ``makini/<env>/...`` for one environment.

    Values are never reverted by a later ``pulumi up``: an initial value from config is written once,
    and changes to it afterwards (rotation, out-of-band fill) are ignored.
    In production every resource is protected and retained on delete.
    """

    kms_key_arn: pulumi.Output[str]
    secret_arns: dict[str, pulumi.Output[str]]
    #: The deployers the secrets' policies name (the configured ones and the identity running pulumi up).
    deployer_arns: pulumi.Output[list[str]]

    def __init__(self, name: str, args: SecretStoreArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:SecretStore", name, None, opts)
        guard = pulumi.ResourceOptions(parent=self, protect=args.production, retain_on_delete=args.production)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        # Whoever runs `pulumi up` writes initial values and configures rotation: keep it allowed.
        deployers = identity.arn.apply(
            lambda arn: sorted({*args.deployer_arns, *([p] if (p := caller_principal_arn(arn)) else [])})
        )
        # Every reader and writer may use the key (through Secrets Manager), each named once: thousands of
        # secrets share a handful of principals (plain ARNs from config, or the same Output of a role).
        users: dict[object, pulumi.Input[str]] = {}
        for s in args.secrets:
            for arn in (*s.reader_arns, *s.writer_arns):
                users.setdefault(arn if isinstance(arn, str) else id(arn), arn)
        all_users = list(users.values())

        key_policy = pulumi.Output.all(
            partition.partition, identity.account_id, region.region, pulumi.Output.all(*all_users)
        ).apply(
            lambda v: json.dumps(
                kms_key_policy(v[0], v[1], v[2], list(args.key_admin_arns), list(v[3])), sort_keys=True
            )
        )
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"makini-infra: encrypts the Makini secrets of {args.environment}",
            enable_key_rotation=True,
            deletion_window_in_days=args.kms_deletion_window_days,
            policy=key_policy,
            tags={**args.tags, "makini:purpose": "secrets"},
            opts=guard,
        )
        self.alias = aws.kms.Alias(
            f"{name}-key-alias",
            name=f"alias/makini/{args.environment}",
            target_key_id=self.key.key_id,
            opts=pulumi.ResourceOptions(parent=self, protect=args.production, retain_on_delete=args.production),
        )

        self.secrets: dict[str, aws.secretsmanager.Secret] = {}
        self.secret_arns = {}
        for s in args.secrets:
            secret = aws.secretsmanager.Secret(
                f"{name}-{s.slug}",
                name=aws_secret_name(args.environment, s.path),
                description=s.description,
                kms_key_id=self.key.arn,
                recovery_window_in_days=args.recovery_window_days,
                tags={**args.tags, **s.tags},
                opts=guard,
            )
            depends: list[pulumi.Resource] = []
            version_id: pulumi.Output[str] | None = None
            if s.value is not None:
                version = aws.secretsmanager.SecretVersion(
                    f"{name}-{s.slug}-initial",
                    secret_id=secret.id,
                    secret_string=pulumi.Output.secret(s.value),
                    # The value is the initial one only: rotation and out-of-band updates must survive
                    # the next `pulumi up`, so later differences are ignored.
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        ignore_changes=["secretString"],
                        protect=args.production,
                        retain_on_delete=args.production,
                    ),
                )
                depends.append(version)
                version_id = version.version_id
            aws.secretsmanager.SecretPolicy(
                f"{name}-{s.slug}-policy",
                secret_arn=secret.arn,
                block_public_policy=True,
                policy=_resource_policy(args, s, secret.arn, deployers, version_id),
                # Written after the initial value (and names its version: the deployers and the drift check may
                # read that one back), so the deployer's first PutSecretValue and read-back are not denied.
                # Retained in prod: deleting it would reopen the secret to plain IAM access.
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=depends, protect=args.production, retain_on_delete=args.production
                ),
            )
            self.secrets[s.path] = secret
            self.secret_arns[s.path] = secret.arn

        self.kms_key_arn = self.key.arn
        self.deployer_arns = deployers
        self.register_outputs({"kmsKeyArn": self.key.arn, "secretArns": self.secret_arns})
