"""IAM roles the stack creates for consumers that ask for one (``aws.createRole`` in config).

Separate from :mod:`components.aws.access` because the roles must exist before the secret store:
the store names its readers in the KMS key policy, and KMS refuses a policy naming a role that does
not exist yet. The read policies are attached afterwards by ``ConsumerAccess``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.naming import consumer_role_name


@dataclass(frozen=True)
class ConsumerRolesArgs:
    environment: str
    production: bool
    #: Consumer name -> trust policy document of the role to create.
    trust_policies: Mapping[str, Mapping[str, Any]]
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Permissions boundary of every role created (bootstrap/'s makini-infra-boundary).
    permissions_boundary: pulumi.Input[str] | None = None


class ConsumerRoles(pulumi.ComponentResource):
    """One role ``makini-<env>-<consumer>`` per consumer, trusting exactly the principals given."""

    arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ConsumerRolesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:ConsumerRoles", name, None, opts)
        self.roles: dict[str, aws.iam.Role] = {}
        self.arns = {}
        for consumer, trust in sorted(args.trust_policies.items()):
            role = aws.iam.Role(
                f"{name}-{consumer}",
                name=consumer_role_name(args.environment, consumer),
                description=f"makini-infra: consumer {consumer} of the Makini secrets of {args.environment}",
                assume_role_policy=json.dumps(trust, sort_keys=True),
                max_session_duration=3600,
                permissions_boundary=args.permissions_boundary,
                tags={**args.tags, "makini:consumer": consumer},
                opts=pulumi.ResourceOptions(parent=self, protect=args.production),
            )
            self.roles[consumer] = role
            self.arns[consumer] = role.arn
        self.register_outputs({"roleArns": self.arns})
