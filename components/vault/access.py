"""Least-privilege Vault access for the consumers of one environment.

Per consumer a ``vault.Policy`` (``makini-<env>-<consumer>-read``, rendered by the pure
:mod:`components.vault.policies`) and one auth role binding its workload identity to exactly that
policy (``token_no_default_policy``: not even Vault's default policy), on the auth backend mounted at
the configured path: JWT/OIDC, Kubernetes or AppRole. Tokens are short-lived (config caps them).
The auth backends themselves are the platform's (they hold the issuer or cluster settings); this
component only adds roles to them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_vault as vault

from stacks.config.consumers import VaultIdentity

from .policies import consumer_policy_hcl, policy_name


@dataclass(frozen=True)
class VaultConsumerGrant:
    consumer: str
    identity: VaultIdentity
    #: Catalog paths it may read, e.g. ``connections/acme-sap/token``.
    paths: Sequence[str]


@dataclass(frozen=True)
class VaultAccessArgs:
    environment: str
    #: The KV v2 mount of the environment (e.g. the store's ``mount_path``).
    mount: pulumi.Input[str]
    consumers: Sequence[VaultConsumerGrant]


def role_name(environment: str, consumer: str) -> str:
    return f"makini-{environment}-{consumer}"


class VaultAccess(pulumi.ComponentResource):
    """Policies and auth roles of the consumers of one environment's Vault secrets."""

    policy_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: VaultAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:vault:VaultAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.policies: dict[str, vault.Policy] = {}
        self.roles: dict[str, pulumi.CustomResource] = {}
        self.policy_names = {}
        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            if not grant.paths:
                continue
            env, consumer = args.environment, grant.consumer
            policy = vault.Policy(
                f"{name}-{consumer}",
                name=policy_name(env, consumer),
                policy=pulumi.Output.from_input(args.mount).apply(
                    lambda mount, c=consumer, p=tuple(grant.paths): consumer_policy_hcl(env, c, mount, p)
                ),
                opts=child,
            )
            self.policies[consumer] = policy
            self.policy_names[consumer] = policy.name
            self.roles[consumer] = self._role(name, env, grant, policy)
        self.register_outputs({"policyNames": self.policy_names})

    def _role(self, name: str, env: str, grant: VaultConsumerGrant, policy: vault.Policy) -> pulumi.CustomResource:
        ident, consumer = grant.identity, grant.consumer
        common = dict(
            role_name=role_name(env, consumer),
            token_policies=[policy.name],
            token_no_default_policy=True,
            token_ttl=ident.token_ttl,
            token_max_ttl=ident.token_max_ttl,
            opts=pulumi.ResourceOptions(parent=self),
        )
        auth = ident.auth
        if auth.jwt is not None:
            jwt = auth.jwt
            return vault.jwt.AuthBackendRole(
                f"{name}-{consumer}-jwt",
                backend=jwt.mount_path.strip("/"),
                role_type="jwt",
                bound_audiences=list(jwt.bound_audiences),
                bound_subject=jwt.bound_subject,
                bound_claims=_claims(jwt.bound_claims) if jwt.bound_claims else None,
                user_claim=jwt.user_claim,
                **common,
            )
        if auth.kubernetes is not None:
            k8s = auth.kubernetes
            return vault.kubernetes.AuthBackendRole(
                f"{name}-{consumer}-kubernetes",
                backend=k8s.mount_path.strip("/"),
                bound_service_account_names=list(k8s.service_account_names),
                bound_service_account_namespaces=list(k8s.namespaces),
                **common,
            )
        if auth.approle is not None:
            approle = auth.approle
            return vault.approle.AuthBackendRole(
                f"{name}-{consumer}-approle",
                backend=approle.mount_path.strip("/"),
                secret_id_ttl=approle.secret_id_ttl,
                token_bound_cidrs=list(approle.token_bound_cidrs) or None,
                secret_id_bound_cidrs=list(approle.secret_id_bound_cidrs) or None,
                **common,
            )
        raise ValueError(f"consumer {consumer} has no Vault auth method")


def _claims(claims: Mapping[str, str | Sequence[str]]) -> dict[str, str]:
    """Vault takes bound claims as strings; a list of accepted values is comma-separated."""
    return {k: v if isinstance(v, str) else ",".join(v) for k, v in claims.items()}
