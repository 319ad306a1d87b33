"""HashiCorp Vault settings (KV v2). Address and auth come from the vault provider configuration.

The Vault store issue fills in the validation rules; the foundation only accepts the section.
"""

from __future__ import annotations

from pydantic import Field

from .base import Model


class VaultSettings(Model):
    """Settings for the Vault KV v2 store of this environment."""

    max_versions: int = Field(default=10, ge=1, le=100, description="Versions kept per secret.")
    cas_required: bool = Field(default=True, description="Writes must use check-and-set.")
    delete_version_after: str = Field(
        default="0s", description="Delete versions older than this duration (Vault syntax, e.g. 768h; 0s keeps them)."
    )
