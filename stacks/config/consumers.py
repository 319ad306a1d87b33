"""Consumers: the company's services that read Makini secrets, with their identity per backend.

Each consumer names one workload identity per backend the stack uses. The rules about this section
live at the end of this module (an identity for every backend in use, exactly one AWS role source, no
wildcard trust, GUID principal ids, one Vault auth method bound to one workload, a webhook queue to
consume), so their messages name the consumer and the fix. Rules that also need the connections or
the access model (references, identities shared by two consumers) live in :mod:`stacks.checks`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..errors import Problem
from .base import IamRoleArn, Model
from .trust_policy import trust_policy_problems

#: Short token lifetimes for Vault logins: the default and the hard caps (seconds).
VAULT_TOKEN_TTL_DEFAULT = 900
VAULT_TOKEN_MAX_TTL_DEFAULT = 3600
VAULT_TOKEN_TTL_CAP = 3600
VAULT_TOKEN_MAX_TTL_CAP = 14400


class CreateRole(Model):
    """Have the stack create the consumer's IAM role (``makini-<env>-<consumer>``)."""

    trust_policy: dict[str, Any] = Field(
        description="The role's trust policy (who may assume it), as an IAM policy document mapping."
    )


class AwsIdentity(Model):
    """How a consumer authenticates to AWS: an existing role (roleArn) or one the stack creates (createRole)."""

    role_arn: IamRoleArn | None = Field(
        default=None, description="The consumer's existing IAM role; its read policy is attached to it."
    )
    create_role: CreateRole | None = Field(
        default=None, description="Create the role from this trust policy instead of using an existing one."
    )


class AzureIdentity(Model):
    """How a consumer authenticates to Azure (Entra ID)."""

    principal_id: str = Field(
        min_length=1, description="Object id (GUID) of the consumer's service principal, user or group."
    )
    principal_type: Literal["ServicePrincipal", "User", "Group"] = Field(
        default="ServicePrincipal", description="Kind of principal the object id names."
    )


class JwtAuth(Model):
    """Vault JWT/OIDC auth: a workload presenting a signed JWT (CI job, Kubernetes projected token)."""

    mount_path: str = Field(default="jwt", min_length=1, description="Path of the enabled JWT auth backend.")
    bound_audiences: tuple[str, ...] = Field(min_length=1, description="Accepted 'aud' values.")
    bound_subject: str | None = Field(default=None, min_length=1, description="Required 'sub' claim.")
    bound_claims: dict[str, str | tuple[str, ...]] | None = Field(
        default=None, description="Further required claims, claim -> value or list of values."
    )
    user_claim: str = Field(default="sub", min_length=1, description="Claim used as the identity's name.")


class KubernetesAuth(Model):
    """Vault Kubernetes auth: a pod's service account token."""

    mount_path: str = Field(
        default="kubernetes", min_length=1, description="Path of the enabled Kubernetes auth backend."
    )
    service_account_names: tuple[str, ...] = Field(min_length=1, description="Service accounts allowed to log in.")
    namespaces: tuple[str, ...] = Field(min_length=1, description="Namespaces of those service accounts.")


class AppRoleAuth(Model):
    """Vault AppRole auth: a role id plus a short-lived secret id, from known networks."""

    mount_path: str = Field(default="approle", min_length=1, description="Path of the enabled AppRole auth backend.")
    secret_id_ttl: int = Field(default=3600, ge=60, le=86400, description="Seconds a secret id stays valid (60-86400).")
    token_bound_cidrs: tuple[str, ...] = Field(default=(), description="CIDRs allowed to use the tokens.")
    secret_id_bound_cidrs: tuple[str, ...] = Field(default=(), description="CIDRs allowed to log in with a secret id.")


class VaultAuth(Model):
    """Exactly one auth method for a consumer on Vault."""

    jwt: JwtAuth | None = Field(default=None, description="JWT/OIDC auth role.")
    kubernetes: KubernetesAuth | None = Field(default=None, description="Kubernetes auth role.")
    approle: AppRoleAuth | None = Field(default=None, description="AppRole auth role.")

    def methods(self) -> list[str]:
        return [m for m in ("jwt", "kubernetes", "approle") if getattr(self, m) is not None]


class VaultIdentity(Model):
    """How a consumer authenticates to Vault, and how long its tokens live."""

    auth: VaultAuth = Field(
        description="The auth method binding the workload to its policy: jwt, kubernetes or approle."
    )
    token_ttl: int = Field(
        default=VAULT_TOKEN_TTL_DEFAULT,
        ge=60,
        le=VAULT_TOKEN_TTL_CAP,
        description="Token lifetime in seconds (60-3600).",
    )
    token_max_ttl: int = Field(
        default=VAULT_TOKEN_MAX_TTL_DEFAULT,
        ge=60,
        le=VAULT_TOKEN_MAX_TTL_CAP,
        description="Longest lifetime with renewals, in seconds (60-14400).",
    )


class Consumer(Model):
    """A service allowed to read secrets of this environment."""

    description: str = Field(default="", max_length=256, description="What the service is, for reviewers.")
    oauth_client: bool = Field(
        default=False,
        description="Also reads the OAuth client secret (only the service that runs Makini Link flows needs it).",
    )
    webhook_queue: bool = Field(
        default=False,
        description=(
            "Consumes the environment's webhook queue (receive and delete; on AWS also decrypt through SQS; "
            "on Azure Service Bus Data Receiver on the queue)."
        ),
    )
    aws: AwsIdentity | None = Field(default=None, description="Identity on AWS (required when backends has aws).")
    azure: AzureIdentity | None = Field(
        default=None, description="Identity on Azure (required when backends has azure)."
    )
    vault: VaultIdentity | None = Field(
        default=None, description="Identity on Vault (required when backends has vault)."
    )
    onboarding: bool = Field(
        default=False,
        description="The environment's onboarding identity (at most one consumer): the service that exchanges a "
        "new customer's Makini Link code and stores the connection's token in a run-time access class "
        "(accessClasses.<class>.runtime). It may create tokens there (never overwrite one) and schedule a "
        "disconnected customer's token for deletion within the recovery window; never read, purge or re-tag them "
        '(see docs/access-at-scale.md, "Run-time connections").',
    )


# --------------------------------------------------------------------------------------------------
# Rules about the consumers section (stacks.checks runs them in the order of the error list)


def consumer_path(name: str, *rest: str) -> str:
    """``makini:consumers["asset-sync"].aws.roleArn`` (Pulumi's --path syntax)."""
    head = f'makini:consumers["{name}"]'
    return head + "".join(f".{r}" for r in rest)


def webhook_queue_problems(consumers: Mapping[str, Consumer], webhooks_enabled: bool) -> list[Problem]:
    """A consumer of the webhook queue needs an environment with a webhook endpoint."""
    if webhooks_enabled:
        return []
    return [
        Problem(
            f'makini:consumers["{name}"].webhookQueue',
            f"consumer '{name}' consumes the webhook queue, but this environment has no webhook endpoint",
            "pulumi config set --path 'makini:webhooks.enabled' true   # or remove webhookQueue",
        )
        for name, c in sorted(consumers.items())
        if c.webhook_queue
    ]


_IDENTITY_FIX = {
    "aws": "pulumi config set --path '{p}.aws.roleArn' arn:aws:iam::<account>:role/<role>\n"
    "(or let the stack create the role: set '{p}.aws.createRole.trustPolicy' to a trust policy document)",
    "azure": "pulumi config set --path '{p}.azure.principalId' <object-id-of-its-service-principal>",
    "vault": "give it one auth method, e.g. pulumi config set --path '{p}.vault.auth.kubernetes.serviceAccountNames[0]' "
    "<service-account> and pulumi config set --path '{p}.vault.auth.kubernetes.namespaces[0]' <namespace> "
    "(or vault.auth.jwt / vault.auth.approle)",
}


def identity_per_backend_problems(consumers: Mapping[str, Consumer], backends: Sequence[str]) -> list[Problem]:
    """Every consumer has an identity on every backend the stack uses."""
    problems = []
    for backend in backends:
        for name, consumer in sorted(consumers.items()):
            if getattr(consumer, backend) is None:
                path = consumer_path(name)
                problems.append(
                    Problem(
                        f"{path}.{backend}",
                        f"backends includes {backend} but consumer '{name}' has no {backend.upper() if backend == 'aws' else backend.capitalize()} identity",
                        _IDENTITY_FIX[backend].format(p=path),
                    )
                )
    return problems


def aws_identity_problems(consumers: Mapping[str, Consumer], accounts: Collection[str] = ()) -> list[Problem]:
    """Exactly one role source per consumer (roleArn or createRole), and a trust policy that trusts a bounded
    subject (:mod:`stacks.config.trust_policy`; ``accounts`` are the stack's pinned AWS accounts)."""
    problems = []
    for name, consumer in sorted(consumers.items()):
        aws = consumer.aws
        if aws is None:
            continue
        path = consumer_path(name, "aws")
        if (aws.role_arn is None) == (aws.create_role is None):
            problems.append(
                Problem(
                    path,
                    f"consumer '{name}' must set exactly one of roleArn (an existing role) or createRole "
                    f"(the stack creates the role); it sets {'both' if aws.role_arn else 'neither'}",
                    f"keep one: pulumi config rm --path '{path}.createRole'  or  pulumi config rm --path '{path}.roleArn'"
                    if aws.role_arn
                    else f"pulumi config set --path '{path}.roleArn' arn:aws:iam::<account>:role/<role>",
                )
            )
        if aws.create_role is not None:
            for what in trust_policy_problems(aws.create_role.trust_policy, accounts):
                problems.append(
                    Problem(
                        f"{path}.createRole.trustPolicy",
                        f"the trust policy of consumer '{name}' {what}"
                        if what.startswith(("is", "has"))
                        else f"the trust policy of consumer '{name}': {what}",
                        "name the exact principals that run the consumer (e.g. Principal: {AWS: "
                        "arn:aws:iam::<account>:role/<ci-role>}, with Condition StringEquals sts:ExternalId for "
                        "another account; or {Federated: <OIDC provider ARN>} with Condition StringEquals "
                        "<provider>:sub: repo:<owner>/<repo>:environment:<env> and <provider>:aud) and allow only "
                        "sts:AssumeRole / sts:AssumeRoleWithWebIdentity",
                    )
                )
    return problems


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def azure_principal_problems(consumers: Mapping[str, Consumer]) -> list[Problem]:
    """Azure principal ids are object ids (GUIDs)."""
    problems = []
    for name, consumer in sorted(consumers.items()):
        if consumer.azure is not None and not _GUID.fullmatch(consumer.azure.principal_id):
            path = consumer_path(name, "azure", "principalId")
            problems.append(
                Problem(
                    path,
                    f"Azure principal id of consumer '{name}' must be an object id (a GUID such as "
                    "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b), not a name or an application (client) id URI",
                    f"az ad sp show --id <app-id> --query id -o tsv, then pulumi config set --path '{path}' <object-id>",
                )
            )
    return problems


def _valid_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def vault_auth_problems(consumers: Mapping[str, Consumer]) -> list[Problem]:
    """One Vault auth method per consumer, short token lifetimes, each role bound to one workload."""
    problems = []
    for name, consumer in sorted(consumers.items()):
        vault = consumer.vault
        if vault is None:
            continue
        path = consumer_path(name, "vault")
        methods = vault.auth.methods()
        if len(methods) != 1:
            problems.append(
                Problem(
                    f"{path}.auth",
                    f"consumer '{name}' must use exactly one Vault auth method (jwt, kubernetes or approle); "
                    f"it sets {', '.join(methods) if methods else 'none'}",
                    f"keep one of them under {path}.auth",
                )
            )
        if vault.token_ttl > vault.token_max_ttl:
            problems.append(
                Problem(
                    f"{path}.tokenTtl",
                    f"consumer '{name}': tokenTtl ({vault.token_ttl}s) is longer than tokenMaxTtl ({vault.token_max_ttl}s)",
                    f"pulumi config set --path '{path}.tokenTtl' {min(900, vault.token_max_ttl)}",
                )
            )
        jwt = vault.auth.jwt
        if jwt is not None:
            if jwt.bound_subject is None and not jwt.bound_claims:
                problems.append(
                    Problem(
                        f"{path}.auth.jwt",
                        f"the JWT role of consumer '{name}' binds no subject or claims, so any token for the "
                        "audience (any job or pod of the issuer) could log in as it",
                        f"pulumi config set --path '{path}.auth.jwt.boundSubject' <sub-claim-of-the-workload>",
                    )
                )
            wild = [v for v in (jwt.bound_subject, *jwt.bound_audiences) if v and "*" in v]
            if wild:
                problems.append(
                    Problem(
                        f"{path}.auth.jwt",
                        f"the JWT role of consumer '{name}' uses a wildcard ({', '.join(wild)}); subjects and "
                        "audiences are matched exactly",
                        "name the exact subject and audience of the workload",
                    )
                )
        k8s = vault.auth.kubernetes
        if k8s is not None:
            for field, values in (("serviceAccountNames", k8s.service_account_names), ("namespaces", k8s.namespaces)):
                if any("*" in v for v in values):
                    problems.append(
                        Problem(
                            f"{path}.auth.kubernetes.{field}",
                            f"the Kubernetes role of consumer '{name}' allows a wildcard in {field}, so other "
                            "workloads could log in as it",
                            f"list the exact {field} of the consumer's pods",
                        )
                    )
        approle = vault.auth.approle
        if approle is not None:
            if not approle.token_bound_cidrs and not approle.secret_id_bound_cidrs:
                problems.append(
                    Problem(
                        f"{path}.auth.approle",
                        f"the AppRole of consumer '{name}' is not bound to any network, so a leaked secret id "
                        "works from anywhere",
                        f"pulumi config set --path '{path}.auth.approle.secretIdBoundCidrs[0]' <cidr-of-the-consumer>",
                    )
                )
            for field, values in (
                ("tokenBoundCidrs", approle.token_bound_cidrs),
                ("secretIdBoundCidrs", approle.secret_id_bound_cidrs),
            ):
                for j, cidr in enumerate(values):
                    if not _valid_cidr(cidr):
                        problems.append(
                            Problem(
                                f"{path}.auth.approle.{field}[{j}]",
                                f"consumer '{name}': '{cidr}' is not an IP address or CIDR",
                                f"pulumi config set --path '{path}.auth.approle.{field}[{j}]' 10.0.0.0/24",
                            )
                        )
    return problems


def reserved_name_problems(consumers: Mapping[str, Consumer], reserved: Collection[str]) -> list[Problem]:
    """A consumer's resources are named makini-<env>-<consumer>, like the stack's own identities
    (makini-<env>-rotation, -webhook-receiver, -rotator, ...): the names must not meet."""
    return [
        Problem(
            consumer_path(name),
            f"consumer name '{name}' is taken by the stack's own identities (makini-<env>-{name}); its role "
            "or Vault role would collide with theirs (one would overwrite the other)",
            f"rename the consumer, e.g. '{name}-svc' (reserved names: {', '.join(sorted(reserved))})",
        )
        for name in sorted(consumers)
        if name in reserved
    ]
