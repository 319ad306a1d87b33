"""HashiCorp Vault settings (KV v2). Address and auth come from the vault provider configuration.

``deleteVersionAfter`` is written in Vault's duration syntax (``768h``, ``30d``, ``1h30m``, ``0s``; a
bare number is seconds) and handed to the KV v2 engine as whole seconds. The rule that also reads the
rotation period is at the end of this module; the rotator's rules, which need the catalog, are in
:mod:`stacks.checks`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from ..errors import Problem
from .base import Model, _pattern

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNITS = (86400, 3600, 60, 1)
DURATION_RULE = (
    "a Vault duration: whole numbers with units d, h, m, s in that order (e.g. 768h, 30d, 1h30m, 0s), "
    "or a bare number of seconds"
)
#: Longest delete_version_after accepted (10 years): guards against unit slips such as 87600d.
MAX_DELETE_VERSION_AFTER_SECONDS = 10 * 365 * 86400


def duration_seconds(text: str) -> int:
    """Seconds in a Vault duration (``768h`` -> 2764800). Raises ValueError naming the rule."""
    if text.isdigit():
        return int(text)
    match = _DURATION.fullmatch(text)
    if not text or match is None:
        raise ValueError(f"{text!r} is not {DURATION_RULE}")
    return sum(int(g) * unit for g, unit in zip(match.groups(), _UNITS, strict=True) if g)


_CRON_FIELD = r"[0-9A-Za-z*/,-]+"
K8sName = Annotated[
    str,
    _pattern(
        r"[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?",
        "Kubernetes name",
        "1-63 lowercase letters, digits and dashes, starting and ending with a letter or digit",
    ),
]
Image = Annotated[
    str,
    _pattern(
        r"\S{1,512}",
        "image",
        "a container image reference without spaces, e.g. ghcr.io/acme/makini-rotator@sha256:<digest>",
    ),
]
HttpsUrl = Annotated[
    str,
    _pattern(r"https://[^\s/]+(?::\d+)?(?:/\S*)?", "address", "an https:// URL such as https://vault.example.com:8200"),
]
CronSchedule = Annotated[
    str,
    _pattern(
        rf"{_CRON_FIELD}(?: {_CRON_FIELD}){{4}}",
        "schedule",
        "five cron fields separated by single spaces, e.g. '17 3 * * *'",
    ),
]


class RotatorKubernetesAuth(Model):
    """Vault Kubernetes auth for the rotator: its role binds exactly the CronJob's service account."""

    mount_path: str = Field(
        default="kubernetes", min_length=1, description="Path of the enabled Kubernetes auth backend."
    )


class RotatorJwtAuth(Model):
    """Vault JWT/OIDC auth for the rotator (e.g. the cluster as OIDC issuer, a projected service-account token)."""

    mount_path: str = Field(default="jwt", min_length=1, description="Path of the enabled JWT auth backend.")
    bound_audiences: tuple[str, ...] = Field(
        min_length=1, description="Accepted 'aud' values; the CronJob's projected token is issued for the first."
    )
    bound_subject: str | None = Field(default=None, min_length=1, description="Required 'sub' claim.")
    bound_claims: dict[str, str | tuple[str, ...]] | None = Field(
        default=None, description="Further required claims, claim -> value or list of values."
    )
    user_claim: str = Field(default="sub", min_length=1, description="Claim used as the identity's name.")


class RotatorAuth(Model):
    """Exactly one auth method for the rotator."""

    kubernetes: RotatorKubernetesAuth | None = Field(default=None, description="Kubernetes auth role.")
    jwt: RotatorJwtAuth | None = Field(default=None, description="JWT/OIDC auth role.")

    @model_validator(mode="after")
    def _one(self) -> RotatorAuth:
        if (self.kubernetes is None) == (self.jwt is None):
            raise ValueError("set exactly one of kubernetes or jwt")
        return self

    @property
    def method(self) -> str:
        return "kubernetes" if self.kubernetes is not None else "jwt"

    @property
    def mount_path(self) -> str:
        section = self.kubernetes or self.jwt
        assert section is not None
        return section.mount_path.strip("/")


class VaultRotator(Model):
    """The connection-token rotator on Vault: a Kubernetes CronJob and the Vault identity it logs in as."""

    auth: RotatorAuth = Field(description="How the rotator logs in to Vault: kubernetes or jwt.")
    namespace: K8sName = Field(description="Kubernetes namespace of the CronJob.")
    service_account_name: K8sName = Field(description="Service account the CronJob's pods run as (its Vault identity).")
    image: Image = Field(description="Rotator container image (pin it by digest: repo@sha256:...).")
    vault_address: HttpsUrl = Field(description="Vault address the rotator calls (https://...).")
    schedule: CronSchedule = Field(
        default="17 3 * * *",
        description="Cron schedule (five fields, UTC) of the rotator run; each run rotates the tokens that are due.",
    )
    token_ttl: int = Field(default=900, ge=60, le=3600, description="Lifetime of the rotator's Vault token in seconds.")


class VaultSettings(Model):
    """Settings for the Vault KV v2 store of this environment."""

    max_versions: int = Field(
        default=10,
        ge=1,
        le=100,
        description="Versions kept per secret; at least 2, so the previous version outlives a rotation's grace window.",
    )
    cas_required: bool = Field(default=True, description="Writes must use check-and-set.")
    delete_version_after: str = Field(
        default="0s",
        description="Delete versions this long after they are written, the current one included (Vault syntax, "
        "e.g. 5040h; 0s keeps them). At least the longest maximum age of a secret in the store (OAuth client, "
        "webhook secret plus its grace, 30-day tokens, NetSuite certificates) plus 30 days.",
    )
    rotator: VaultRotator | None = Field(
        default=None, description="The connection-token rotator (required when connection tokens rotate on Vault)."
    )

    @field_validator("delete_version_after")
    @classmethod
    def _duration(cls, value: str) -> str:
        seconds = duration_seconds(value)
        if seconds > MAX_DELETE_VERSION_AFTER_SECONDS:
            raise ValueError(f"{value!r} is more than 10 years; use 0s to keep versions until max_versions drops them")
        if 0 < seconds < 3600:
            raise ValueError(
                f"{value!r} is under an hour: versions (including the current one) would vanish before "
                "a rotation could be noticed; use at least 1h, or 0s to keep them"
            )
        return value

    @property
    def delete_version_after_seconds(self) -> int:
        return duration_seconds(self.delete_version_after)


# --------------------------------------------------------------------------------------------------
# Rules about the vault section (stacks.checks runs them in the order of the error list)


#: Days a version must outlive the longest it may stay current or needed: room for a late hand rotation
#: (the reminder fires before the maximum age; people are late) or a rotation job that keeps failing.
VERSION_RETENTION_MARGIN_DAYS = 30
_DAY = 86400


def version_retention_problems(vault: VaultSettings | None, needs: Sequence[tuple[int, str]]) -> list[Problem]:
    """KV v2 must never delete a version that is still current or still needed for a grace window.

    ``needs``: how long (seconds) each kind of secret in the store must stay readable after it is written,
    and why (stacks.checks.vault_version_needs). KV v2's ``delete_version_after`` deletes every version,
    the current one included, that long after it was written, so it must exceed each need plus the margin;
    ``max_versions`` must keep the previous version (a rotation's grace window)."""
    if vault is None:
        return []
    problems = []
    seconds = vault.delete_version_after_seconds
    if seconds > 0 and needs:
        need, why = max(needs)
        required = need + VERSION_RETENTION_MARGIN_DAYS * _DAY
        if seconds < required:
            hours = -(-required // 3600)
            problems.append(
                Problem(
                    "makini:vault.deleteVersionAfter",
                    f"is {vault.delete_version_after} ({seconds / _DAY:g} days), but KV v2 deletes every version, "
                    f"the current one included, that long after it was written: {why}, plus a "
                    f"{VERSION_RETENTION_MARGIN_DAYS}-day margin, so it must be at least {hours}h "
                    f"({required / _DAY:g} days)",
                    f"pulumi config set --path 'makini:vault.deleteVersionAfter' {hours}h   "
                    "# or 0s: keep versions, maxVersions bounds them",
                )
            )
    if vault.max_versions < 2:
        problems.append(
            Problem(
                "makini:vault.maxVersions",
                f"is {vault.max_versions}: KV v2 then destroys the previous version the moment a new one is written, "
                "so the previous webhook secret (accepted for makini:webhooks.graceSeconds after a rotation) and the "
                "token a reader fetched just before a rotation are gone",
                "pulumi config set --path 'makini:vault.maxVersions' 10   # at least 2",
            )
        )
    return problems
