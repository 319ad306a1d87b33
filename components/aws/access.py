"""Least-privilege read access for each consumer of an environment's AWS secrets.

Per consumer one customer-managed policy ``makini-<env>-<consumer>-read`` (built by the pure
:func:`components.aws.policies.consumer_read_policy`) attached to its role: the configured one, or
the one :class:`components.aws.identity.ConsumerRoles` created. The secrets' resource policies (the
store) deny everyone else, so access needs both: this grant and the store's allow-list.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from stacks.naming import consumer_read_policy_name

from .policies import consumer_read_policy, role_name_from_arn


@dataclass(frozen=True)
class ConsumerGrant:
    consumer: str
    #: The consumer's role (its name is parsed from the ARN).
    role_arn: pulumi.Input[str]
    #: Catalog paths it may read, e.g. ``connections/acme-sap/token``.
    paths: Sequence[str]
    #: Also consumes the webhook queue.
    webhook_queue: bool = False


@dataclass(frozen=True)
class ConsumerAccessArgs:
    environment: str
    consumers: Sequence[ConsumerGrant]
    #: Catalog path -> secret ARN (from the store).
    secret_arns: Mapping[str, pulumi.Input[str]]
    kms_key_arn: pulumi.Input[str]
    #: The environment's webhook queue, for consumers that consume it.
    queue_arn: pulumi.Input[str] | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class ConsumerAccess(pulumi.ComponentResource):
    """Read policies for the consumers of one environment, attached to their roles."""

    policy_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ConsumerAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:ConsumerAccess", name, None, opts)
        region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.policies: dict[str, aws.iam.Policy] = {}
        self.policy_arns = {}
        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            missing = [p for p in grant.paths if p not in args.secret_arns]
            if missing:
                raise ValueError(f"consumer {grant.consumer}: no secret for {', '.join(missing)}")
            if grant.webhook_queue and args.queue_arn is None:
                raise ValueError(f"consumer {grant.consumer}: consumes the webhook queue, but there is none")
            queue = args.queue_arn if grant.webhook_queue else None
            if not grant.paths and queue is None:
                continue
            arns = pulumi.Output.all(*(args.secret_arns[p] for p in sorted(grant.paths)))
            document = pulumi.Output.all(arns, args.kms_key_arn, region.region, queue).apply(
                lambda v: json.dumps(consumer_read_policy(v[0], v[1], v[2], v[3]), sort_keys=True)
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
        self.register_outputs({"policyArns": self.policy_arns})
