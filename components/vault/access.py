"""Least-privilege Vault access for the consumers of one environment.

Per consumer a ``vault.Policy`` (``makini-<env>-<consumer>-read``, rendered by the pure
:mod:`components.vault.policies`; the onboarding identity also ``makini-<env>-<consumer>-onboard``) and one
auth role binding its workload identity to exactly those policies (``token_no_default_policy``: not even Vault's default policy), on the auth backend mounted at
the configured path: JWT/OIDC, Kubernetes or AppRole. Tokens are short-lived (config caps them).
The auth backends themselves are the platform's (they hold the issuer or cluster settings); this
component only adds roles to them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_vault as vault

from components.aliases import formerly
from stacks.naming import consumer_read_policy_name, consumer_role_name, onboarding_policy_name

from .policies import consumer_policy_hcl, onboarding_policy_hcl


@dataclass(frozen=True)
class JwtRole:
    """A role on a JWT/OIDC auth backend: the workload's token must carry these audiences and claims."""

    bound_audiences: Sequence[str]
    bound_subject: str | None = None
    #: claim -> accepted value, or several accepted values.
    bound_claims: Mapping[str, str | Sequence[str]] | None = None
    user_claim: str = "sub"
    mount_path: str = "jwt"


@dataclass(frozen=True)
class KubernetesRole:
    """A role on a Kubernetes auth backend: these service accounts in these namespaces."""

    service_account_names: Sequence[str]
    namespaces: Sequence[str]
    mount_path: str = "kubernetes"


@dataclass(frozen=True)
class AppRoleRole:
    """An AppRole: short-lived secret ids, optionally bound to networks."""

    secret_id_ttl: int = 3600
    token_bound_cidrs: Sequence[str] = ()
    secret_id_bound_cidrs: Sequence[str] = ()
    mount_path: str = "approle"


VaultAuthRole = JwtRole | KubernetesRole | AppRoleRole


@dataclass(frozen=True)
class VaultConsumerGrant:
    consumer: str
    #: The auth role binding the consumer's workload identity to its policy.
    auth: VaultAuthRole
    #: Catalog paths outside any access class it may read, e.g. ``connections/acme-sap/token``.
    paths: Sequence[str]
    token_ttl: int = 900
    token_max_ttl: int = 3600
    #: Access classes whose tokens it reads (one ``+`` segment per class).
    classes: Sequence[str] = ()
    #: Run-time classes it stores new connections' tokens in (the onboarding identity): a second policy,
    #: ``makini-<env>-<consumer>-onboard``, on the same auth role.
    creates: Sequence[str] = ()


@dataclass(frozen=True)
class VaultAccessArgs:
    environment: str
    #: The KV v2 mount of the environment (e.g. the store's ``mount_path``).
    mount: pulumi.Input[str]
    consumers: Sequence[VaultConsumerGrant]


class VaultAccess(pulumi.ComponentResource):
    """Policies and auth roles of the consumers of one environment's Vault secrets."""

    policy_names: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: VaultAccessArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:vault:VaultAccess.
        super().__init__("makini:vault:ConsumerAccess", name, None, formerly(opts, "makini:vault:VaultAccess"))
        child = pulumi.ResourceOptions(parent=self)
        self.policies: dict[str, vault.Policy] = {}
        self.roles: dict[str, pulumi.CustomResource] = {}
        self.policy_names = {}
        self.onboarding_policy_names: dict[str, pulumi.Output[str]] = {}
        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            if not grant.paths and not grant.classes and not grant.creates:
                continue
            env, consumer = args.environment, grant.consumer
            policies: list[vault.Policy] = []
            if grant.paths or grant.classes:
                policy = vault.Policy(
                    f"{name}-{consumer}",
                    name=consumer_read_policy_name(env, consumer),
                    policy=pulumi.Output.from_input(args.mount).apply(
                        functools.partial(
                            consumer_policy_hcl, env, consumer, paths=tuple(grant.paths), classes=tuple(grant.classes)
                        )
                    ),
                    opts=child,
                )
                self.policies[consumer] = policy
                self.policy_names[consumer] = policy.name
                policies.append(policy)
            if grant.creates:
                onboard = vault.Policy(
                    f"{name}-{consumer}-onboard",
                    name=onboarding_policy_name(env, consumer),
                    policy=pulumi.Output.from_input(args.mount).apply(
                        functools.partial(_onboarding_hcl, env, consumer, tuple(grant.creates))
                    ),
                    opts=child,
                )
                self.onboarding_policy_names[consumer] = onboard.name
                policies.append(onboard)
            self.roles[consumer] = self._role(name, env, grant, policies)
        self.register_outputs({"policyNames": self.policy_names, "onboardingPolicyNames": self.onboarding_policy_names})

    def _role(
        self, name: str, env: str, grant: VaultConsumerGrant, policies: Sequence[vault.Policy]
    ) -> pulumi.CustomResource:
        consumer, auth = grant.consumer, grant.auth
        common = AuthRoleOptions(
            role_name=consumer_role_name(env, consumer),
            token_policies=[p.name for p in policies],
            token_no_default_policy=True,
            token_ttl=grant.token_ttl,
            token_max_ttl=grant.token_max_ttl,
            opts=pulumi.ResourceOptions(parent=self),
        )
        if isinstance(auth, JwtRole):
            jwt = auth
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
        if isinstance(auth, KubernetesRole):
            k8s = auth
            return vault.kubernetes.AuthBackendRole(
                f"{name}-{consumer}-kubernetes",
                backend=k8s.mount_path.strip("/"),
                bound_service_account_names=list(k8s.service_account_names),
                bound_service_account_namespaces=list(k8s.namespaces),
                **common,
            )
        if isinstance(auth, AppRoleRole):
            approle = auth
            return vault.approle.AuthBackendRole(
                f"{name}-{consumer}-approle",
                backend=approle.mount_path.strip("/"),
                secret_id_ttl=approle.secret_id_ttl,
                token_bound_cidrs=list(approle.token_bound_cidrs) or None,
                secret_id_bound_cidrs=list(approle.secret_id_bound_cidrs) or None,
                **common,
            )
        raise TypeError(f"consumer {consumer}: unknown Vault auth role {type(auth).__name__}")


def _onboarding_hcl(env: str, consumer: str, classes: tuple[str, ...], mount: str) -> str:
    return onboarding_policy_hcl(env, consumer, mount, classes)


class AuthRoleOptions(TypedDict):
    """The arguments every auth role of a policy shares, whatever its auth method."""

    role_name: str
    token_policies: list[pulumi.Output[str]]
    token_no_default_policy: bool
    token_ttl: int
    token_max_ttl: int
    opts: pulumi.ResourceOptions


def _claims(claims: Mapping[str, str | Sequence[str]]) -> dict[str, str]:
    """Vault takes bound claims as strings; a list of accepted values is comma-separated."""
    return {k: v if isinstance(v, str) else ",".join(v) for k, v in claims.items()}
