"""Consumers: the company's services that read Makini secrets, with their identity per backend.

Each consumer names one workload identity per backend the stack uses. Cross-key rules (an identity
for every backend in use, exactly one AWS role source, GUID principal ids, no identity shared by two
consumers, no wildcard trust) live in :mod:`stacks.config.checks`, so their messages name the consumer
and the fix.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from .base import IamRoleArn, Model

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
        description="Consumes the environment's webhook queue (receive and delete; on AWS also decrypt through SQS).",
    )
    aws: AwsIdentity | None = Field(default=None, description="Identity on AWS (required when backends has aws).")
    azure: AzureIdentity | None = Field(
        default=None, description="Identity on Azure (required when backends has azure)."
    )
    vault: VaultIdentity | None = Field(
        default=None, description="Identity on Vault (required when backends has vault)."
    )
