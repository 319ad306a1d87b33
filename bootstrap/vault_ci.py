"""Pure specs of the Vault login of the CI: JWT auth roles bound to GitHub's claims, and their policies.

The JWT auth method (``jwt-github``) validates GitHub's tokens against its OIDC discovery URL and bound
issuer. A role's checks, from the Vault JWT/OIDC auth API ("Create/Update Role": ``bound_audiences``,
``bound_subject``, ``bound_claims``, ``bound_claims_type``): the token's ``aud`` must contain one of
``bound_audiences``; ``sub`` must equal ``bound_subject``; every ``bound_claims`` key must be present
and its value equal one of the listed values (``bound_claims_type: string``) or match one of them as a
glob where ``*`` matches any run of characters (``glob``). :func:`matches` implements exactly that, for
the trust matrix where no Vault server runs.

Policies: the deploy role of stack S (environment E) manages the KV v2 mount ``makini-E``, the
policies and auth roles named ``makini-E-*`` and nothing else. Vault has no permissions boundary: a
token that may write a policy may write any capability into it. What covers that is stated in the
README (who can log in as the deploy role: only the deploy job of S on main in its approved
environment; the Vault audit device records every policy write). The preview role reads metadata only,
never ``makini-E/data/*``. The drift role reads what the preview role reads plus the values
``python -m infra.doctor`` checks: the OAuth client and the connection tokens (the store's values are
``disable_read``, so a refresh reads none of them).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

from stacks.naming import vault_data_path

from .model import DeliveryStack, deploy_role_name, drift_role_name, preview_role_name
from .oidc import deploy_requirement, drift_requirement, preview_requirement


@dataclass(frozen=True)
class JwtRole:
    name: str
    bound_audiences: tuple[str, ...]
    bound_claims: dict[str, list[str]]
    bound_claims_type: str
    token_policies: tuple[str, ...]
    bound_subject: str | None = None
    user_claim: str = "sub"
    token_ttl: int = 900
    token_max_ttl: int = 3600
    policy_hcl: dict[str, str] = field(default_factory=dict)

    def matches(self, claims: dict[str, str] | None) -> bool:
        if claims is None:
            return False
        if claims.get("aud") not in self.bound_audiences:
            return False
        if self.bound_subject is not None and claims.get("sub") != self.bound_subject:
            return False
        for key, allowed in self.bound_claims.items():
            got = claims.get(key)
            if got is None:
                return False
            if self.bound_claims_type == "glob":
                if not any(fnmatch.fnmatchcase(got, pattern.replace("[", "[[]")) for pattern in allowed):
                    return False
            elif got not in allowed:
                return False
        return True


def mount(stack: DeliveryStack) -> str:
    return f"makini-{stack.environment}"


def deploy_policy_hcl(stack: DeliveryStack) -> str:
    m, e = mount(stack), stack.environment
    return "\n".join(
        [
            f'path "sys/mounts/{m}" {{ capabilities = ["create", "read", "update", "delete", "sudo"] }}',
            f'path "sys/mounts/{m}/tune" {{ capabilities = ["read", "update", "sudo"] }}',
            f'path "{m}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}',
            f'path "sys/policies/acl/makini-{e}-*" {{ capabilities = ["create", "read", "update", "delete"] }}',
            f'path "auth/+/role/makini-{e}-*" {{ capabilities = ["create", "read", "update", "delete"] }}',
            'path "sys/auth" { capabilities = ["read"] }',
        ]
    )


def preview_policy_hcl(stack: DeliveryStack) -> str:
    m, e = mount(stack), stack.environment
    return "\n".join(
        [
            f'path "sys/mounts/{m}" {{ capabilities = ["read"] }}',
            f'path "{m}/config" {{ capabilities = ["read"] }}',
            f'path "{m}/metadata/*" {{ capabilities = ["read", "list"] }}',
            f'path "sys/policies/acl/makini-{e}-*" {{ capabilities = ["read"] }}',
            f'path "auth/+/role/makini-{e}-*" {{ capabilities = ["read"] }}',
            'path "sys/auth" { capabilities = ["read"] }',
        ]
    )


def drift_policy_hcl(stack: DeliveryStack) -> str:
    """The preview's reads (metadata list included: the doctor lists the run-time classes), and the data of the
    OAuth client and of every connection token the doctor checks: explicit ones (``connections/<key>/token``) and
    class ones, declared or stored at run time (``connections/<class>/<key>/token``)."""
    e = stack.environment
    return "\n".join(
        [
            preview_policy_hcl(stack),
            f'path "{vault_data_path(e, "oauth/client")}" {{ capabilities = ["read"] }}',
            f'path "{vault_data_path(e, "connections/+/token")}" {{ capabilities = ["read"] }}',
            f'path "{vault_data_path(e, "connections/+/+/token")}" {{ capabilities = ["read"] }}',
        ]
    )


def deploy_role(repository: str, repository_id: str, stack: DeliveryStack, audience: str) -> JwtRole:
    need = deploy_requirement(repository, repository_id, stack.github_environment, audience)
    claims = {k: [v] for k, v in need.equals.items() if k not in ("aud", "sub")}
    name = deploy_role_name(stack.name)
    return JwtRole(
        name=name,
        bound_audiences=(audience,),
        bound_subject=need.equals["sub"],
        bound_claims=claims,
        bound_claims_type="string",
        token_policies=(name,),
        policy_hcl={name: deploy_policy_hcl(stack)},
    )


def preview_role(repository: str, repository_id: str, stack: DeliveryStack, audience: str) -> JwtRole:
    need = preview_requirement(repository, repository_id, audience)
    claims = {k: [v] for k, v in need.equals.items() if k != "aud"}
    claims.update({k: [v] for k, v in need.like.items()})
    name = preview_role_name(stack.name)
    return JwtRole(
        name=name,
        bound_audiences=(audience,),
        bound_claims=claims,
        bound_claims_type="glob",
        token_policies=(name,),
        policy_hcl={name: preview_policy_hcl(stack)},
    )


def drift_role(repository: str, repository_id: str, stack: DeliveryStack, audience: str) -> JwtRole:
    """``drift.yml`` on ``main`` (schedule or dispatch) of this repository: one of two exact subjects."""
    need = drift_requirement(repository, repository_id, audience)
    claims = {k: [v] for k, v in need.equals.items() if k != "aud"}
    claims.update({k: list(v) for k, v in need.any_of.items()})
    name = drift_role_name(stack.name)
    return JwtRole(
        name=name,
        bound_audiences=(audience,),
        bound_claims=claims,
        bound_claims_type="string",
        token_policies=(name,),
        policy_hcl={name: drift_policy_hcl(stack)},
    )
