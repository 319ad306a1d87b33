"""Preflight: the documents that can outgrow a cloud's limits, rendered and measured before anything exists.

``pulumi up`` creates resources as soon as they are registered, so a limit found in a document rendered
inside an ``apply`` would stop the deployment half way. This module renders, from the config and the
catalog alone, every document whose size depends on the stack (each consumer's IAM read policy, each
secret's resource policy, the KMS key policy, the rotation role's policy, the created roles' trust
policies, the consumers' and the rotator's Vault policies, the Azure role assignments, names, tags and
custom metadata) with the same pure builders the components use, and measures them with
:mod:`stacks.limits`. The program (``infra/__main__.py``) and the offline plan refuse the stack before
registering anything when one is exceeded.

What is not known before deployment is filled with values of the real length: the account (12 digits,
``aws:allowedAccountIds`` when pinned), the region (``aws:region``), the secrets' six-character suffixes,
the KMS key id (a UUID) and the deploying principal (the longest an IAM role ARN can be, unless given).
``tests/program/test_limits.py`` checks that these predictions equal what the offline plan measures on the
documents the program actually renders.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from components.aws.keeper_policies import (
    KEEPER_SETTINGS_FILE,
    keeper_policy,
    keeper_settings,
    runtime_class_resource_policy,
)
from components.aws.policies import (
    caller_principal_arn,
    consumer_read_policy,
    kms_key_policy,
    onboarding_store_policy,
    secret_arn_prefix,
    secret_resource_policy,
)
from components.aws.rotation_policies import rotation_policy
from components.vault.policies import consumer_policy_hcl, onboarding_policy_hcl
from components.vault.rotation import rotator_policy

from ..catalog import DOCTOR_READS, OAUTH_CLIENT_PATH, Catalog, SystemIdentity
from ..config.azure import ROLE_ASSIGNMENT_QUOTA
from ..config.model import StackConfig
from ..errors import LimitsExceeded, Problem
from ..limits import Context, LimitsReport, measure, report
from ..naming import (
    aws_secret_name,
    class_key_vault_name,
    consumer_read_policy_name,
    consumer_role_name,
    keeper_function_name,
    key_vault_name,
    key_vault_secret_name,
    onboarding_policy_name,
    receiver_role_name,
    rotation_function_name,
    rotation_role_name,
    vault_metadata_path,
    vault_mount,
    vault_rotator_role_name,
)
from .common import common_tags, key_vault_secret_tags, secret_tags, vault_custom_metadata

#: The longest IAM role name (64): the deploying principal's ARN when it is not known in advance.
WORST_CASE_ROLE = "x" * 64
#: Role assignments of each Function App's own identity that do not depend on the catalog: host blobs,
#: host tables and its code package (components/azure/function_package.host_storage_grants) and its telemetry
#: to its Application Insights (Monitoring Metrics Publisher, telemetry_publisher_grant), plus the webhook
#: receiver's read of the webhook secret and send to its queue, and the rotation app's read of the OAuth
#: client.
RECEIVER_FIXED_ASSIGNMENTS = 3 + 3
ROTATION_FIXED_ASSIGNMENTS = 3 + 2


@dataclass(frozen=True)
class Target:
    """Where the stack deploys, as far as config tells (the lengths of what it does not are exact)."""

    partition: str = "aws"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    #: The principal running ``pulumi up`` (``aws:PrincipalArn`` form); None: the longest possible.
    deployer_arn: str | None = None

    @classmethod
    def from_config(cls, raw: Mapping[str, Any], deployer_arn: str | None = None) -> Target:
        """From a stack's flat config (``aws:region``, ``aws:allowedAccountIds``)."""
        region = str(raw.get("aws:region") or "us-east-1")
        accounts = raw.get("aws:allowedAccountIds")
        if isinstance(accounts, str):
            try:
                accounts = json.loads(accounts)
            except ValueError:
                accounts = [accounts]
        account = (
            str(accounts[0])
            if isinstance(accounts, list) and accounts and str(accounts[0]).isdigit()
            else "123456789012"
        )
        partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
        return cls(partition=partition, region=region, account_id=account, deployer_arn=deployer_arn)

    @property
    def deployer(self) -> str:
        return self.deployer_arn or f"arn:{self.partition}:iam::{self.account_id}:role/{WORST_CASE_ROLE}"

    def role_arn(self, name: str) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role/{name}"


def _resource(typ: str, resource_name: str, **inputs: Any) -> dict[str, Any]:
    return {"type": typ, "name": resource_name, "inputs": inputs}


def _aws(cfg: StackConfig, catalog: Catalog, target: Target) -> list[dict[str, Any]]:
    env, name = cfg.environment, f"makini-{cfg.environment}"
    tags = common_tags(cfg)
    out: list[dict[str, Any]] = []
    prefix = secret_arn_prefix(target.partition, target.region, target.account_id, env)
    arns = {s.path: f"{prefix}{s.path}-AbCdEf" for s in catalog.secrets}
    key_arn = f"arn:{target.partition}:kms:{target.region}:{target.account_id}:key/{'0' * 8}-0000-4000-8000-{'0' * 12}"
    consumers: dict[str, str] = {}
    for n, c in sorted(cfg.consumers.items()):
        if c.aws is None:
            continue
        if c.aws.role_arn is not None:
            consumers[n] = c.aws.role_arn
        elif c.aws.create_role is not None:
            consumers[n] = target.role_arn(consumer_role_name(env, n))
            out.append(
                _resource(
                    "aws:iam/role:Role",
                    f"{name}-aws-roles-{n}",
                    name=consumer_role_name(env, n),
                    assumeRolePolicy=json.dumps(c.aws.create_role.trust_policy, sort_keys=True),
                )
            )
    system: dict[SystemIdentity, str] = {}
    if cfg.webhooks.enabled:
        system[SystemIdentity.WEBHOOK_RECEIVER] = target.role_arn(receiver_role_name(env))
    if any(SystemIdentity.ROTATION in s.writers for s in catalog.secrets) or catalog.classes_written_by(
        SystemIdentity.ROTATION
    ):
        system[SystemIdentity.ROTATION] = target.role_arn(rotation_role_name(env))
    aws_cfg = cfg.aws
    operators = list(aws_cfg.operator_arns) if aws_cfg else []
    deployers = sorted(
        {*(aws_cfg.deployer_arns if aws_cfg else ()), caller_principal_arn(target.deployer) or target.deployer}
    )
    break_glass = list(aws_cfg.break_glass_arns) if aws_cfg else []
    drift = list(aws_cfg.drift_arns) if aws_cfg else []
    users: dict[str, None] = {}
    rendered: dict[tuple[tuple[str, ...], tuple[str, ...], int, bool, bool], int] = {}
    for s in catalog.secrets:
        readers = [consumers[r] for r in s.readers if r in consumers] + [
            system[i] for i in s.system_readers if i in system
        ]
        writers = [system[i] for i in s.writers if i in system]
        users.update(dict.fromkeys([*readers, *writers]))
        out.append(
            _resource(
                "aws:secretsmanager/secret:Secret",
                f"{name}-aws-{s.slug}",
                name=aws_secret_name(env, s.path),
                tags={**tags, **secret_tags(cfg, s)},
            )
        )
        drift_reads, written = s.kind in DOCTOR_READS, s.written_by_deployment
        key = (tuple(readers), tuple(writers), len(arns[s.path]), drift_reads, written)
        if key not in rendered:  # the size depends on the principals, the ARN's length and these two only
            doc = secret_resource_policy(
                arns[s.path],
                readers,
                writers,
                operators,
                deployers,
                break_glass_arns=break_glass,
                drift_arns=drift,
                drift_reads_current=drift_reads,
                # Secrets Manager's version ids are UUIDs: every one renders to the same length
                initial_version_id=_SOME_VERSION_ID if written else None,
                production=cfg.production,
                recovery_window_days=cfg.recovery_window_days,
            )
            rendered[key] = len(json.dumps(doc, sort_keys=True))
        out.append(
            _resource(
                "aws:secretsmanager/secretPolicy:SecretPolicy",
                f"{name}-aws-{s.slug}-policy",
                policy="x" * rendered[key],
            )
        )
    admins = list(aws_cfg.key_admin_arns) if aws_cfg else []
    out.append(
        _resource(
            "aws:kms/key:Key",
            f"{name}-aws-key",
            policy=json.dumps(
                kms_key_policy(target.partition, target.account_id, target.region, admins, list(users)), sort_keys=True
            ),
            tags={**tags, "makini:purpose": "secrets"},
        )
    )
    queue = f"arn:{target.partition}:sqs:{target.region}:{target.account_id}:makini-{env}-webhooks"
    for n in sorted(consumers):
        explicit = [arns[s.path] for s in catalog.explicitly_readable_by(n)]
        classes = [c.name for c in catalog.classes_read_by(n)]
        webhook_queue = cfg.consumers[n].webhook_queue
        if not explicit and not classes and not webhook_queue:
            continue
        doc = consumer_read_policy(
            explicit,
            key_arn,
            target.region,
            queue if webhook_queue else None,
            f"{queue}-dlq" if webhook_queue else None,
            prefix=prefix,
            classes=classes,
        )
        out.append(
            _resource(
                "aws:iam/policy:Policy",
                f"{name}-aws-access-{n}",
                name=consumer_read_policy_name(env, n),
                policy=json.dumps(doc, sort_keys=True),
                tags={**tags, "makini:consumer": n},
            )
        )
    onboarding = catalog.onboarding_identity
    if onboarding is not None and onboarding in consumers:
        doc = onboarding_store_policy(
            key_arn,
            target.region,
            prefix=prefix,
            environment=env,
            classes=[c.name for c in catalog.classes_created_by(onboarding)],
            recovery_window_days=cfg.recovery_window_days,
        )
        out.append(
            _resource(
                "aws:iam/policy:Policy",
                f"{name}-aws-access-{onboarding}-onboard",
                name=onboarding_policy_name(env, onboarding),
                policy=json.dumps(doc, sort_keys=True),
                tags={**tags, "makini:consumer": onboarding},
            )
        )
    runtime = [c.name for c in catalog.classes_created_by(onboarding)] if onboarding is not None else []
    if onboarding is not None and onboarding in consumers and runtime:
        rotates = SystemIdentity.ROTATION in system
        function = f"arn:{target.partition}:lambda:{target.region}:{target.account_id}:function:"
        doc = keeper_policy(
            partition=target.partition,
            region=target.region,
            account_id=target.account_id,
            environment=env,
            classes=runtime,
            rotation_function_arn=f"{function}{rotation_function_name(env)}" if rotates else None,
        )
        out.append(
            _resource(
                "aws:iam/rolePolicy:RolePolicy",
                f"{name}-aws-keeper-policy",
                name=keeper_function_name(env),
                role=keeper_function_name(env),
                policy=json.dumps(doc, sort_keys=True),
            )
        )
        # The resource policy the keeper puts on each run-time class's tokens (a declared token's limit).
        policies = {
            c.name: runtime_class_resource_policy(
                prefix,
                c.name,
                reader_arns=[consumers[r] for r in c.readers if r in consumers],
                writer_arns=[system[i] for i in c.writers if i in system],
                creator_arns=[consumers[onboarding]],
                keeper_arn=target.role_arn(keeper_function_name(env)),
                operator_arns=operators,
                deployer_arns=deployers,
                break_glass_arns=break_glass,
                drift_arns=drift,
                production=cfg.production,
                recovery_window_days=cfg.recovery_window_days,
            )
            for c in catalog.classes_created_by(onboarding)
        }
        settings = keeper_settings(
            environment=env,
            policies=policies,
            rotation_function_arn=None,
            period_days=None,
            rotation_window=None,
        )
        out.append(
            _resource(
                "aws:lambda/function:Function",
                f"{name}-aws-keeper-function",
                name=keeper_function_name(env),
                code={KEEPER_SETTINGS_FILE: json.dumps(settings, sort_keys=True)},
            )
        )
    if SystemIdentity.ROTATION in system:
        doc = rotation_policy(
            partition=target.partition,
            region=target.region,
            account_id=target.account_id,
            environment=env,
            oauth_client_secret_arn=arns[OAUTH_CLIENT_PATH],
            kms_key_arn=key_arn,
        )
        out.append(
            _resource(
                "aws:iam/rolePolicy:RolePolicy",
                f"{name}-aws-rotation-policy",
                name=rotation_role_name(env),
                role=rotation_role_name(env),
                policy=json.dumps(doc, sort_keys=True),
            )
        )
    return out


def _azure(cfg: StackConfig, catalog: Catalog, project: str, organization: str | None) -> list[dict[str, Any]]:
    az = cfg.azure
    if az is None:
        return []
    env, name = cfg.environment, f"makini-{cfg.environment}"
    tags = common_tags(cfg)
    out: list[dict[str, Any]] = [
        _resource(
            "azure-native:keyvault:Vault",
            f"{name}-azure-vault",
            vaultName=key_vault_name(env, project, organization, az.vault_name),
        )
    ]
    for c in catalog.classes:
        out.append(
            _resource(
                "azure-native:keyvault:Vault",
                f"{name}-azure-{c.name}-vault",
                vaultName=class_key_vault_name(env, c.name, project, organization, az.class_vault_names.get(c.name)),
            )
        )
    for s in catalog.secrets:
        secret = key_vault_secret_tags(cfg, s)
        out.append(
            _resource(
                "azure-native:keyvault:Secret",
                f"{name}-azure-{s.slug}",
                secretName=key_vault_secret_name(s.path),
                tags={**tags, **secret},
            )
        )
    # Role assignments: consumers (per explicit secret, per class), the rotation identity (per explicit
    # rotated token, per class, the fixed ones), the webhook receiver (fixed), the webhook-queue consumers.
    count = 0
    for n, consumer in cfg.consumers.items():
        if consumer.azure is not None:
            count += len(catalog.explicitly_readable_by(n)) + len(catalog.classes_read_by(n))
    rotated = [s for s in catalog.explicit_secrets if SystemIdentity.ROTATION in s.writers]
    rotated_classes = catalog.classes_written_by(SystemIdentity.ROTATION)
    if rotated or rotated_classes:
        count += len(rotated) + len(rotated_classes) + ROTATION_FIXED_ASSIGNMENTS
    onboarding = catalog.onboarding_identity
    if onboarding is not None and cfg.consumers[onboarding].azure is not None:
        count += len(catalog.classes_created_by(onboarding))  # the custom role on each run-time class vault
    if cfg.webhooks.enabled:
        count += RECEIVER_FIXED_ASSIGNMENTS
        # Data Receiver on the queue for each webhook-queue consumer (components/azure/access.QueueAccess).
        count += sum(1 for c in cfg.consumers.values() if c.webhook_queue and c.azure is not None)
    out += [_resource("azure-native:authorization:RoleAssignment", f"{name}-assignment-{i}") for i in range(count)]
    return out


def _vault(cfg: StackConfig, catalog: Catalog) -> list[dict[str, Any]]:
    env, name = cfg.environment, f"makini-{cfg.environment}"
    mount = vault_mount(env)
    out: list[dict[str, Any]] = []
    for s in catalog.secrets:
        meta = vault_custom_metadata(cfg, s)
        out.append(
            _resource(
                "vault:generic/endpoint:Endpoint",
                f"{name}-vault-{s.slug}-metadata",
                path=vault_metadata_path(env, s.path),
                dataJson=json.dumps({"custom_metadata": meta}, sort_keys=True),
            )
        )
    for n, c in sorted(cfg.consumers.items()):
        if c.vault is None:
            continue
        paths = [s.path for s in catalog.explicitly_readable_by(n)]
        classes = [k.name for k in catalog.classes_read_by(n)]
        if paths or classes:
            out.append(
                _resource(
                    "vault:index/policy:Policy",
                    f"{name}-vault-access-{n}",
                    name=consumer_read_policy_name(env, n),
                    policy=consumer_policy_hcl(env, n, mount, paths, classes),
                )
            )
    onboarding = catalog.onboarding_identity
    if onboarding is not None and cfg.consumers[onboarding].vault is not None:
        out.append(
            _resource(
                "vault:index/policy:Policy",
                f"{name}-vault-access-{onboarding}-onboard",
                name=onboarding_policy_name(env, onboarding),
                policy=onboarding_policy_hcl(
                    env, onboarding, mount, [c.name for c in catalog.classes_created_by(onboarding)]
                ),
            )
        )
    token_paths = sorted(s.path for s in catalog.explicit_secrets if SystemIdentity.ROTATION in s.writers)
    classes = [c.name for c in catalog.classes_written_by(SystemIdentity.ROTATION)]
    if token_paths or classes:
        out.append(
            _resource(
                "vault:index/policy:Policy",
                f"{name}-vault-rotation-policy",
                name=vault_rotator_role_name(env),
                policy=rotator_policy(
                    mount,
                    token_paths,
                    OAUTH_CLIENT_PATH,
                    classes,
                    [c.name for c in catalog.runtime_classes if c.name in classes],
                ),
            )
        )
    return out


#: Stands in for the version id of a secret's initial value (a UUID) when the policy is only measured.
_SOME_VERSION_ID = "00000000-0000-4000-8000-000000000000"


def predicted_resources(
    cfg: StackConfig, catalog: Catalog, target: Target, project: str = "makini-infra", organization: str | None = None
) -> list[dict[str, Any]]:
    """The stack's size-relevant resources as plain data, shaped like the offline plan's ``resources``."""
    out: list[dict[str, Any]] = []
    if "aws" in cfg.backends:
        out += _aws(cfg, catalog, target)
    if "azure" in cfg.backends:
        out += _azure(cfg, catalog, project, organization)
    if "vault" in cfg.backends:
        out += _vault(cfg, catalog)
    return out


def limits_context(cfg: StackConfig, target: Target) -> Context:
    budget = cfg.azure.role_assignment_budget if cfg.azure is not None else ROLE_ASSIGNMENT_QUOTA
    return Context(
        role_assignment_budget=budget, region=target.region, account_id=target.account_id, partition=target.partition
    )


def preflight(
    cfg: StackConfig, catalog: Catalog, target: Target, project: str = "makini-infra", organization: str | None = None
) -> LimitsReport:
    """The limits report of the stack's predicted documents (nothing is registered)."""
    resources = predicted_resources(cfg, catalog, target, project, organization)
    return report(measure(resources, limits_context(cfg, target)))


def limit_problems(result: LimitsReport) -> list[Problem]:
    """One problem per exceeded (limit, resource): which limit, where, the measured value and the fix."""
    return [Problem(m.resource, m.describe(), m.fix or m.spec.fix) for m in result.exceeded]


def refuse_if_exceeded(stack: str, result: LimitsReport) -> None:
    if not result.ok:
        raise LimitsExceeded(stack, limit_problems(result))
