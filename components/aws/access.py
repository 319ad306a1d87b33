"""Least-privilege read access for each consumer of an environment's AWS secrets.

Per consumer one customer-managed policy ``makini-<env>-<consumer>-read`` (built by the pure
:func:`components.aws.policies.consumer_read_policy`) attached to its role: the configured one, or
the one :class:`components.aws.identity.ConsumerRoles` created. It names each secret outside a class
by ARN and each access class it reads by the class's name pattern. The secrets' resource policies (the
store) deny everyone else, so access needs both: this grant and the store's allow-list.

The onboarding identity (issue 19) gets one more policy, ``makini-<env>-<consumer>-onboard``
(:func:`components.aws.policies.onboarding_store_policy`): create run-time tokens in the run-time classes,
with their tags and the environment's key, and never read, delete or re-tag one.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.naming import consumer_read_policy_name, onboarding_policy_name

from .policies import consumer_read_policy, onboarding_store_policy, role_name_from_arn, secret_arn_prefix


@dataclass(frozen=True)
class ConsumerGrant:
    consumer: str
    #: The consumer's role (its name is parsed from the ARN).
    role_arn: pulumi.Input[str]
    #: Catalog paths outside any access class it may read, e.g. ``connections/acme-sap/token``.
    paths: Sequence[str]
    #: Also consumes the webhook queue.
    webhook_queue: bool = False
    #: Access classes whose tokens it reads (granted by name pattern, see ``policies.class_token_pattern``).
    classes: Sequence[str] = ()


@dataclass(frozen=True)
class OnboardingGrant:
    """The environment's onboarding identity: stores run-time connections' tokens in these classes."""

    consumer: str
    role_arn: pulumi.Input[str]
    #: The run-time access classes (``accessClasses.<class>.runtime``).
    classes: Sequence[str]
    #: The stack's recovery window: the shortest deletion the onboarding identity may schedule.
    recovery_window_days: int = 30


@dataclass(frozen=True)
class ConsumerAccessArgs:
    environment: str
    consumers: Sequence[ConsumerGrant]
    #: Catalog path -> secret ARN (from the store).
    secret_arns: Mapping[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    #: The environment's webhook queue and its dead-letter queue, for consumers that consume it.
    queue_arn: pulumi.Input[str] | None = None
    dlq_arn: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The onboarding identity, when the environment takes run-time connections.
    onboarding: OnboardingGrant | None = None


def _render(values: list[Any], classes: tuple[str, ...]) -> str:
    """The read policy's JSON from [secret ARNs, key ARN, region, queue ARN or None, dead-letter queue ARN or
    None, the environment's prefix]."""
    arns, key, region, queue, dlq, prefix = values
    return json.dumps(
        consumer_read_policy(arns, key, region, queue, dlq, prefix=prefix, classes=classes), sort_keys=True
    )


class ConsumerAccess(pulumi.ComponentResource):
    """Read policies for the consumers of one environment, attached to their roles."""

    policy_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ConsumerAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:ConsumerAccess", name, None, opts)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        region = aws.get_region_output(opts=invoke)
        prefix = pulumi.Output.all(
            aws.get_partition_output(opts=invoke).partition,
            region.region,
            aws.get_caller_identity_output(opts=invoke).account_id,
        ).apply(lambda v: secret_arn_prefix(v[0], v[1], v[2], args.environment))
        #: ``arn:<partition>:secretsmanager:<region>:<account>:secret:makini/<env>/``: what the class patterns extend.
        self.secret_arn_prefix: pulumi.Output[str] = prefix
        self.policies: dict[str, aws.iam.Policy] = {}
        self.policy_arns = {}
        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            missing = [p for p in grant.paths if p not in args.secret_arns]
            if missing:
                raise ValueError(f"consumer {grant.consumer}: no secret for {', '.join(missing)}")
            if grant.webhook_queue and args.queue_arn is None:
                raise ValueError(f"consumer {grant.consumer}: consumes the webhook queue, but there is none")
            queue = args.queue_arn if grant.webhook_queue else None
            dlq = args.dlq_arn if grant.webhook_queue else None
            if not grant.paths and not grant.classes and queue is None:
                continue
            arns = pulumi.Output.all(*(args.secret_arns[p] for p in sorted(grant.paths)))
            document = pulumi.Output.all(arns, args.kms_key_arn, region.region, queue, dlq, prefix).apply(
                functools.partial(_render, classes=tuple(grant.classes))
            )
            policy = aws.iam.Policy(
                f"{name}-{grant.consumer}",
                name=consumer_read_policy_name(args.environment, grant.consumer),
                description=f"makini-infra: {grant.consumer} reads its Makini secrets of {args.environment}"
                + (" and consumes its webhook queue" if queue is not None else ""),
                policy=document,
                tags={**args.tags, "makini:consumer": grant.consumer},
                opts=pulumi.ResourceOptions(parent=self),
            )
            aws.iam.RolePolicyAttachment(
                f"{name}-{grant.consumer}-attach",
                role=pulumi.Output.from_input(grant.role_arn).apply(role_name_from_arn),
                policy_arn=policy.arn,
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.policies[grant.consumer] = policy
            self.policy_arns[grant.consumer] = policy.arn
        self.onboarding_policy_arn: pulumi.Output[str] | None = None
        if args.onboarding is not None:
            self.onboarding_policy_arn = self._onboarding(name, args, args.onboarding, region.region, prefix)
        self.register_outputs({"policyArns": self.policy_arns, "onboardingPolicyArn": self.onboarding_policy_arn})

    def _onboarding(
        self,
        name: str,
        args: ConsumerAccessArgs,
        grant: OnboardingGrant,
        region: pulumi.Output[str],
        prefix: pulumi.Output[str],
    ) -> pulumi.Output[str]:
        classes = tuple(sorted(grant.classes))
        document = pulumi.Output.all(args.kms_key_arn, region, prefix).apply(
            lambda v: json.dumps(
                onboarding_store_policy(
                    v[0],
                    v[1],
                    prefix=v[2],
                    environment=args.environment,
                    classes=classes,
                    recovery_window_days=grant.recovery_window_days,
                ),
                sort_keys=True,
            )
        )
        policy = aws.iam.Policy(
            f"{name}-{grant.consumer}-onboard",
            name=onboarding_policy_name(args.environment, grant.consumer),
            description=f"makini-infra: {grant.consumer} stores new customers' tokens of {args.environment} in "
            f"run-time classes {', '.join(classes)} (create, never overwrite or read; schedule deletion)",
            policy=document,
            tags={**args.tags, "makini:consumer": grant.consumer},
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-{grant.consumer}-onboard-attach",
            role=pulumi.Output.from_input(grant.role_arn).apply(role_name_from_arn),
            policy_arn=policy.arn,
            opts=pulumi.ResourceOptions(parent=self),
        )
        arn: pulumi.Output[str] = policy.arn
        return arn
