"""Azure settings (Key Vault). Subscription and tenant come from the azure-native provider configuration.

The Azure store issue fills in the validation rules; the foundation only accepts the section.
"""

from __future__ import annotations

from pydantic import Field

from .base import Model


class AzureSettings(Model):
    """Settings for the Azure Key Vault store of this environment."""

    location: str = Field(min_length=1, description="Azure region of the resource group and vault, e.g. westeurope.")
    resource_group_name: str | None = Field(
        default=None, description="Use this existing resource group instead of creating rg-makini-<env>."
    )
    vault_name: str | None = Field(default=None, description="Explicit Key Vault name (3-24 characters, globally unique).")
    soft_delete_retention_days: int | None = Field(
        default=None, description="Soft-delete retention, 7-90 days. Production is always 90."
    )
    purge_protection: bool | None = Field(default=None, description="Purge protection; always on in production.")
    allowed_ip_ranges: tuple[str, ...] = Field(default=(), description="IPv4 addresses or CIDRs allowed through the vault firewall.")
    allowed_subnet_ids: tuple[str, ...] = Field(default=(), description="Virtual network subnet ids allowed through the vault firewall.")
    private_endpoint_subnet_ids: tuple[str, ...] = Field(
        default=(), description="Subnets to place private endpoints in; public network access is then off."
    )
    log_analytics_workspace_id: str | None = Field(
        default=None, description="Send the vault's audit logs to this Log Analytics workspace."
    )
