"""Azure settings (Key Vault). Subscription and tenant come from the azure-native provider configuration.

Checked here, key by key: the region and resource-group name, the vault name override (Key Vault's
own rules), soft-delete retention 7..90, IPv4 addresses/CIDRs (public only: Key Vault refuses private
ranges in IP rules), and subnet / workspace ids shaped like Azure resource ids. The rules over the whole
section are at the end of this module (production: retention 90 and purge protection on; firewall rules
that would be ignored behind private endpoints); the Function Apps' network, which also depends on the
webhooks, rotation and connections, is checked in :mod:`stacks.checks`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from ..errors import Problem
from ..naming import KV_VAULT_NAME, KV_VAULT_NAME_RULE
from .base import Model
from .classes import ClassName

#: Key Vault's soft-delete retention bounds (days), and what production always uses.
RETENTION_MIN, RETENTION_MAX, PRODUCTION_RETENTION = 7, 90, 90

#: Azure RBAC allows 4,000 role assignments per subscription, shared with everything else in it
#: (https://learn.microsoft.com/azure/role-based-access-control/troubleshoot-limits). By default one
#: environment may use half of them: the rest stays for the subscription's other workloads, CI identities
#: and people; a subscription dedicated to one environment can raise it to 4,000.
ROLE_ASSIGNMENT_QUOTA = 4000
ROLE_ASSIGNMENT_BUDGET_DEFAULT = 2000

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_RG = r"[-\w._()]{0,89}[-\w_()]"
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
SUBNET_ID = re.compile(
    rf"/subscriptions/{_GUID}/resourceGroups/{_RG}/providers/Microsoft\.Network/virtualNetworks/{_NAME}/subnets/{_NAME}",
    re.IGNORECASE,
)
SUBNET_ID_RULE = (
    "a subnet resource id: /subscriptions/<subscription-guid>/resourceGroups/<group>/providers/"
    "Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>"
)
WORKSPACE_ID = re.compile(
    rf"/subscriptions/{_GUID}/resourceGroups/{_RG}/providers/Microsoft\.OperationalInsights/workspaces/"
    r"[A-Za-z0-9][A-Za-z0-9-]{2,62}",
    re.IGNORECASE,
)
WORKSPACE_ID_RULE = (
    "a Log Analytics workspace resource id: /subscriptions/<subscription-guid>/resourceGroups/<group>/"
    "providers/Microsoft.OperationalInsights/workspaces/<workspace>"
)
LOCATION = re.compile(r"[a-z][a-z0-9]{2,39}")
RESOURCE_GROUP = re.compile(_RG)


def _check(regex: re.Pattern[str], what: str, rule: str) -> AfterValidator:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"{what} {value!r} is not valid: {rule}")
        return value

    return AfterValidator(check)


def _ip_rule(value: str) -> str:
    """A public IPv4 address or CIDR, as Key Vault's firewall takes it (a /32 becomes the bare address)."""
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as err:
        hint = ""
        if "has host bits set" in str(err):
            hint = f"; did you mean {ipaddress.ip_network(value, strict=False)}?"
        raise ValueError(
            f"{value!r} is not an IPv4 address or CIDR{hint} (e.g. 203.0.113.7 or 203.0.113.0/24)"
        ) from None
    if network.version != 4:
        raise ValueError(f"{value!r} is IPv6; the Key Vault firewall takes IPv4 addresses and CIDRs only")
    if not network.is_global or network.is_multicast:
        raise ValueError(
            f"{value!r} is not a public address range; Key Vault IP rules take public IPv4 ranges only "
            "(reach the vault from private networks with allowedSubnetIds or privateEndpointSubnetIds)"
        )
    return str(network.network_address) if network.prefixlen == 32 else str(network)


IpRule = Annotated[str, AfterValidator(_ip_rule)]
SubnetId = Annotated[str, _check(SUBNET_ID, "subnet id", SUBNET_ID_RULE)]
WorkspaceId = Annotated[str, _check(WORKSPACE_ID, "workspace id", WORKSPACE_ID_RULE)]


def _no_repeats(value: tuple[str, ...]) -> tuple[str, ...]:
    folded = [v.lower() for v in value]
    repeats = sorted({v for v, f in zip(value, folded, strict=True) if folded.count(f) > 1})
    if repeats:
        raise ValueError(f"lists {', '.join(repeats)} more than once")
    return value


class AzureSettings(Model):
    """Settings for the Azure Key Vault store of this environment."""

    location: Annotated[
        str, _check(LOCATION, "Azure region", "a region name such as westeurope or eastus2 (lowercase, no spaces)")
    ] = Field(description="Azure region of the resource group and vault, e.g. westeurope.")
    resource_group_name: (
        Annotated[
            str,
            _check(
                RESOURCE_GROUP,
                "resource group name",
                "1-90 characters: letters, digits, '-', '_', '.', '(' and ')', not ending with '.'",
            ),
        ]
        | None
    ) = Field(default=None, description="Use this existing resource group instead of creating rg-makini-<env>.")
    vault_name: Annotated[str, _check(KV_VAULT_NAME, "Key Vault name", KV_VAULT_NAME_RULE)] | None = Field(
        default=None, description="Explicit Key Vault name (3-24 characters, globally unique)."
    )
    class_vault_names: dict[ClassName, Annotated[str, _check(KV_VAULT_NAME, "Key Vault name", KV_VAULT_NAME_RULE)]] = (
        Field(
            default_factory=dict,
            description="Explicit Key Vault names of access classes' vaults, class -> name (default "
            "kvc-<env>-<class>-<hash>; Key Vault names are global: set one if the derived name is taken).",
        )
    )
    role_assignment_budget: int = Field(
        default=ROLE_ASSIGNMENT_BUDGET_DEFAULT,
        ge=1,
        le=ROLE_ASSIGNMENT_QUOTA,
        description="Role assignments this environment may create (the subscription allows 4,000 in all, shared "
        "with everything else in it). Default 2,000, half the quota; the plan refuses a stack above it.",
    )
    soft_delete_retention_days: int | None = Field(
        default=None,
        ge=RETENTION_MIN,
        le=RETENTION_MAX,
        description="Soft-delete retention, 7-90 days. Production is always 90.",
    )
    purge_protection: bool | None = Field(default=None, description="Purge protection; always on in production.")
    allowed_ip_ranges: tuple[IpRule, ...] = Field(
        default=(), description="IPv4 addresses or CIDRs allowed through the vault firewall."
    )
    allowed_subnet_ids: tuple[SubnetId, ...] = Field(
        default=(), description="Virtual network subnet ids allowed through the vault firewall."
    )
    private_endpoint_subnet_ids: tuple[SubnetId, ...] = Field(
        default=(), description="Subnets to place private endpoints in; public network access is then off."
    )
    log_analytics_workspace_id: WorkspaceId | None = Field(
        default=None, description="Send the vault's audit logs to this Log Analytics workspace."
    )
    functions_subnet_id: SubnetId | None = Field(
        default=None,
        description="Subnet (delegated to Microsoft.Web/serverFarms) the Azure Function Apps (webhook receiver, "
        "rotation) integrate with to reach the vault; list it in allowedSubnetIds, or put it in the virtual "
        "network of a private endpoint. Needs makini:webhooks.azure.planSku other than Y1.",
    )
    function_dependencies_dir: str | None = Field(
        default=None,
        description="Folder (relative to the project) holding one pip --target folder per Function package "
        "(webhook_receiver/, rotation/), built by CI for Linux from the package's locked requirements.txt; "
        "shipped in the code packages only if it holds exactly the versions of uv.lock.",
    )

    @field_validator("allowed_ip_ranges", "allowed_subnet_ids", "private_endpoint_subnet_ids")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _no_repeats(value)

    def retention_days(self, production: bool) -> int:
        """Effective soft-delete retention: 90 in production, else the setting (default 90, Azure's own)."""
        if production or self.soft_delete_retention_days is None:
            return PRODUCTION_RETENTION
        return self.soft_delete_retention_days

    def purge_protection_enabled(self, production: bool) -> bool:
        """Effective purge protection: always on in production, on by default elsewhere."""
        return True if production else self.purge_protection is not False


# --------------------------------------------------------------------------------------------------
# Rules about the azure section (stacks.checks runs them in the order of the error list)


def azure_production_problems(azure: AzureSettings | None, production: bool) -> list[Problem]:
    """Production Key Vaults keep deleted secrets 90 days and can never be purged early."""
    az = azure
    if az is None or not production:
        return []
    problems = []
    if az.soft_delete_retention_days is not None and az.soft_delete_retention_days != PRODUCTION_RETENTION:
        problems.append(
            Problem(
                "makini:azure.softDeleteRetentionDays",
                f"is {az.soft_delete_retention_days}, but production keeps soft-deleted secrets "
                f"{PRODUCTION_RETENTION} days (other environments may use 7-90)",
                "pulumi config rm --path 'makini:azure.softDeleteRetentionDays'",
            )
        )
    if az.purge_protection is False:
        problems.append(
            Problem(
                "makini:azure.purgeProtection",
                "purge protection cannot be switched off in production (a purged vault or secret is gone for good)",
                "pulumi config rm --path 'makini:azure.purgeProtection'",
            )
        )
    return problems


def azure_network_problems(azure: AzureSettings | None) -> list[Problem]:
    """Firewall allow lists are ignored when public access is off: refuse them rather than mislead."""
    az = azure
    if az is None or not az.private_endpoint_subnet_ids:
        return []
    problems = []
    for key, values in (("allowedIpRanges", az.allowed_ip_ranges), ("allowedSubnetIds", az.allowed_subnet_ids)):
        if values:
            problems.append(
                Problem(
                    f"makini:azure.{key}",
                    f"has no effect: makini:azure.privateEndpointSubnetIds is set, so the vault's public network "
                    f"access is off and {key} would never be consulted",
                    f"pulumi config rm --path 'makini:azure.{key}'   # or remove privateEndpointSubnetIds",
                )
            )
    return problems


def function_dependencies_problems(
    azure: AzureSettings | None, project_root: Path, packages: Iterable[str]
) -> list[Problem]:
    """makini:azure.functionDependenciesDir names a folder inside the project holding one folder per
    Function package the stack builds (else packaging fails half-way through the program)."""
    if azure is None or azure.function_dependencies_dir is None:
        return []
    path = "makini:azure.functionDependenciesDir"
    given = azure.function_dependencies_dir
    folder = (project_root / given).resolve()
    fix = (
        "build it first (pip install --require-hashes --no-deps --target <dir>/<package> -r <its locked requirements.txt> "
        "for each Function package, "
        "see docs/azure-functions.md), or pulumi config rm --path 'makini:azure.functionDependenciesDir'"
    )
    if Path(given).is_absolute() or not folder.is_relative_to(project_root.resolve()):
        return [Problem(path, f"'{given}' is not a folder inside the project (it is read relative to it)", fix)]
    if not folder.is_dir():
        return [Problem(path, f"the folder '{given}' does not exist (relative to the project)", fix)]
    missing = [p for p in packages if not (folder / p).is_dir()]
    if missing:
        return [
            Problem(
                path,
                f"the folder '{given}' has no {', '.join(f'{m}/' for m in missing)} (one pip --target folder per "
                "Function package the stack builds)",
                fix,
            )
        ]
    return []
