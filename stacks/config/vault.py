"""HashiCorp Vault settings (KV v2). Address and auth come from the vault provider configuration.

``deleteVersionAfter`` is written in Vault's duration syntax (``768h``, ``30d``, ``1h30m``, ``0s``; a
bare number is seconds) and handed to the KV v2 engine as whole seconds.
"""

from __future__ import annotations

import re

from pydantic import Field, field_validator

from .base import Model

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


class VaultSettings(Model):
    """Settings for the Vault KV v2 store of this environment."""

    max_versions: int = Field(default=10, ge=1, le=100, description="Versions kept per secret.")
    cas_required: bool = Field(default=True, description="Writes must use check-and-set.")
    delete_version_after: str = Field(
        default="0s", description="Delete versions older than this duration (Vault syntax, e.g. 768h; 0s keeps them)."
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
