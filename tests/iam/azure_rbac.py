"""An Azure RBAC evaluator written from Microsoft's documentation, for access proofs without Azure.

There is no Azure emulator that evaluates role assignments, so this module does, from the published
rules, and the tests in ``tests/iam/test_azure_known_answers.py`` check it against Microsoft's own
examples. Usage (see ``tests/iam/README.md``)::

    roles = builtin_roles()
    decision = evaluate(
        AzureRequest(principal_id, SECRET_GET, secret_id),
        assignments=[RoleAssignment(principal_id, roles.by_name("Key Vault Secrets User").id, vault_id)],
        roles=roles,
    )

Rules, and the pages they come from (https://learn.microsoft.com/en-us/azure/role-based-access-control/,
abbreviated ``RBAC/``):

1. A role definition's effective permissions are ``Actions - NotActions`` (control plane) and
   ``DataActions - NotDataActions`` (data plane), computed per role; ``NotActions`` is not a deny: another
   role can grant what one role's ``NotActions`` removed (``RBAC/role-definitions``, "NotActions",
   "NotDataActions"). Control-plane permissions never grant data actions: an Owner (``*``) cannot read
   blob data (same page, "Control and data actions", "Data actions example").
2. Operation strings (``{Company}.{ProviderName}/{resourceType}/{action}``) match with ``*`` wildcards
   (``*/read``, ``Microsoft.Compute/*``), case-insensitively (same page, "Actions format"; the page
   itself writes ``microsoft.web/sites/restart/Action``).
3. A role assignment applies to its scope and every child scope: management group > subscription >
   resource group > resource > child resource, so an assignment at a Key Vault's scope covers its
   secrets, and one at a secret covers that secret only (``RBAC/scope-overview``; Key Vault:
   https://learn.microsoft.com/en-us/azure/key-vault/general/rbac-guide, "Secret scope role
   assignment"). Scopes are resource IDs, compared case-insensitively, parent by path prefix.
4. Permissions from several assignments add up (``RBAC/overview``, "Multiple role assignments"); an
   assignment to a group applies to its members (same page, "How Azure RBAC determines if a user has
   access to a resource": the token carries group memberships).
5. Deny assignments take precedence over role assignments; the all-zero principal id of type
   ``SystemDefined`` means every principal; ``ExcludePrincipals`` are spared; ``DoNotApplyToChildScopes``
   limits one to its own scope (``RBAC/deny-assignments``).

Key Vault secret operations are the data actions listed by Microsoft
(https://learn.microsoft.com/en-us/azure/role-based-access-control/permissions/security#microsoftkeyvault
and the access-policy mapping in https://learn.microsoft.com/en-us/azure/key-vault/general/rbac-migration):
see :data:`SECRET_DATA_ACTIONS`. The built-in roles used by the project are copied, with their page, in
``tests/iam/azure_builtin_roles.json``.

Not modelled (a proof that depends on one of these must say so): role-assignment conditions (ABAC; an
assignment or role with a condition is refused with :class:`AzureRbacError`, never ignored),
management-group hierarchy (a management-group scope is refused), ``AssignableScopes``, classic
administrators, Microsoft Entra roles, PIM eligibility, Key Vault access policies (the vault must use the
RBAC permission model), network rules and firewalls, and the delay before a new assignment takes effect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "ALL_PRINCIPALS",
    "SECRET_DATA_ACTIONS",
    "SECRET_GET",
    "SECRET_SET",
    "AzureDecision",
    "AzureRbacError",
    "AzureRequest",
    "DenyAssignment",
    "RoleAssignment",
    "RoleCatalog",
    "RoleDefinition",
    "builtin_roles",
    "covers",
    "evaluate",
]

BUILTIN_ROLES_FILE = Path(__file__).with_name("azure_builtin_roles.json")

#: The data actions of Key Vault secrets, by the access-policy permission they replace (Microsoft's
#: mapping; "Set" is two data actions).
SECRET_DATA_ACTIONS: dict[str, tuple[str, ...]] = {
    "get": ("Microsoft.KeyVault/vaults/secrets/getSecret/action",),
    "list": ("Microsoft.KeyVault/vaults/secrets/readMetadata/action",),
    "set": ("Microsoft.KeyVault/vaults/secrets/setSecret/action", "Microsoft.KeyVault/vaults/secrets/update/action"),
    "delete": ("Microsoft.KeyVault/vaults/secrets/delete",),
    "recover": ("Microsoft.KeyVault/vaults/secrets/recover/action",),
    "backup": ("Microsoft.KeyVault/vaults/secrets/backup/action",),
    "restore": ("Microsoft.KeyVault/vaults/secrets/restore/action",),
    "purge": ("Microsoft.KeyVault/vaults/secrets/purge/action",),
}
SECRET_GET = "Microsoft.KeyVault/vaults/secrets/getSecret/action"
SECRET_SET = "Microsoft.KeyVault/vaults/secrets/setSecret/action"
#: The system-defined principal of a deny assignment: every principal.
ALL_PRINCIPALS = "00000000-0000-0000-0000-000000000000"


class AzureRbacError(ValueError):
    """Input this evaluator refuses rather than misreads (an unknown role, a condition, a bad scope)."""


@lru_cache(maxsize=4096)
def _pattern(operation: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in operation.split("*")), re.IGNORECASE)


def _any_match(patterns: Iterable[str], operation: str) -> bool:
    return any(_pattern(p).fullmatch(operation) for p in patterns)


@dataclass(frozen=True)
class _Permission:
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()

    def allows(self, operation: str, data: bool) -> bool:
        if data:
            return _any_match(self.data_actions, operation) and not _any_match(self.not_data_actions, operation)
        return _any_match(self.actions, operation) and not _any_match(self.not_actions, operation)


def _permission(raw: Mapping[str, Any], where: str) -> _Permission:
    if raw.get("condition"):
        raise AzureRbacError(f"{where}: role definition conditions (ABAC) are not modelled")
    keys = {"actions", "notActions", "dataActions", "notDataActions", "condition", "conditionVersion"}
    lowered = {k[0].lower() + k[1:]: v for k, v in raw.items()}
    unknown = set(lowered) - keys
    if unknown:
        raise AzureRbacError(f"{where}: unknown permission field(s) {sorted(unknown)}")

    def strings(key: str) -> tuple[str, ...]:
        value = lowered.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise AzureRbacError(f"{where}: {key} must be a list of operation strings")
        return tuple(value)

    return _Permission(strings("actions"), strings("notActions"), strings("dataActions"), strings("notDataActions"))


@dataclass(frozen=True)
class RoleDefinition:
    """A role: its GUID, name and permissions (each permission block is ``Actions - NotActions``)."""

    id: str
    name: str
    permissions: tuple[_Permission, ...]
    source: str = ""

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> RoleDefinition:
        """A role as the REST API, the CLI or the built-in roles pages print it (``name`` is the GUID)."""
        role_id = str(doc.get("name") or doc.get("Id") or "").lower()
        name = str(doc.get("roleName") or doc.get("Name") or role_id)
        if not re.fullmatch(r"[0-9a-f-]{36}", role_id):
            raise AzureRbacError(f"role {name!r}: 'name' must be the role definition GUID, got {role_id!r}")
        blocks = doc.get("permissions")
        if blocks is None and "Actions" in doc:  # PowerShell shape
            blocks = [{k: doc.get(k, []) for k in ("Actions", "NotActions", "DataActions", "NotDataActions")}]
        if not isinstance(blocks, list) or not blocks:
            raise AzureRbacError(f"role {name!r}: needs a non-empty 'permissions' list")
        return cls(role_id, name, tuple(_permission(b, f"role {name!r}") for b in blocks), str(doc.get("source", "")))

    def allows(self, operation: str, data: bool) -> bool:
        return any(p.allows(operation, data) for p in self.permissions)


@dataclass(frozen=True)
class RoleCatalog:
    """Role definitions by GUID."""

    roles: Mapping[str, RoleDefinition]

    @classmethod
    def of(cls, roles: Iterable[RoleDefinition]) -> RoleCatalog:
        return cls({r.id: r for r in roles})

    def __getitem__(self, role_definition_id: str) -> RoleDefinition:
        guid = role_definition_id.rstrip("/").rsplit("/", 1)[-1].lower()
        try:
            return self.roles[guid]
        except KeyError:
            raise AzureRbacError(
                f"unknown role definition {role_definition_id!r}: add it (copied from Microsoft's page) to "
                f"{BUILTIN_ROLES_FILE.name} or pass it in the catalog"
            ) from None

    def by_name(self, name: str) -> RoleDefinition:
        for role in self.roles.values():
            if role.name.lower() == name.lower():
                return role
        raise KeyError(name)

    def with_roles(self, *roles: RoleDefinition) -> RoleCatalog:
        return RoleCatalog({**self.roles, **{r.id: r for r in roles}})


@lru_cache(maxsize=1)
def builtin_roles() -> RoleCatalog:
    """The built-in roles copied into ``azure_builtin_roles.json`` (each with the page it comes from)."""
    doc = json.loads(BUILTIN_ROLES_FILE.read_text(encoding="utf-8"))
    return RoleCatalog.of(RoleDefinition.from_json(r) for r in doc["roles"])


def _scope(value: str, what: str) -> str:
    scope = value.strip().rstrip("/").lower()
    if value.strip() == "/":
        return ""
    if not scope.startswith("/"):
        raise AzureRbacError(f"{what} {value!r} is not an Azure resource ID (it must start with '/')")
    if scope.startswith("/providers/microsoft.management/managementgroups"):
        raise AzureRbacError(f"{what} {value!r}: management-group scopes are not modelled")
    return scope


def covers(scope: str, resource: str) -> bool:
    """Whether an assignment at ``scope`` applies to ``resource`` (the same resource or a child of it)."""
    s, r = _scope(scope, "scope"), _scope(resource, "resource")
    return s == "" or r == s or r.startswith(s + "/")


@dataclass(frozen=True)
class RoleAssignment:
    principal_id: str
    #: A role definition ID (``/subscriptions/.../roleDefinitions/<guid>``) or its GUID.
    role_definition_id: str
    scope: str
    condition: str | None = None
    #: A label for decisions (e.g. the Pulumi resource name).
    name: str = ""

    def __str__(self) -> str:
        label = f" {self.name!r}" if self.name else ""
        return f"role assignment{label} ({self.role_definition_id.rsplit('/', 1)[-1]} at {self.scope})"


@dataclass(frozen=True)
class DenyAssignment:
    scope: str
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    principals: tuple[str, ...] = (ALL_PRINCIPALS,)
    exclude_principals: tuple[str, ...] = ()
    do_not_apply_to_child_scopes: bool = False
    name: str = ""

    def applies(self, request: AzureRequest) -> bool:
        ids = {request.principal_id.lower(), *(g.lower() for g in request.group_ids)}
        targeted = ALL_PRINCIPALS in self.principals or bool(ids & {p.lower() for p in self.principals})
        if not targeted or ids & {p.lower() for p in self.exclude_principals}:
            return False
        if self.do_not_apply_to_child_scopes:
            if _scope(self.scope, "deny assignment scope") != _scope(request.scope, "resource"):
                return False
        elif not covers(self.scope, request.scope):
            return False
        return _Permission(self.actions, self.not_actions, self.data_actions, self.not_data_actions).allows(
            request.action, request.is_data
        )


@dataclass(frozen=True)
class AzureRequest:
    """``principal_id`` performs ``action`` on the resource ``scope``; ``data`` says whether the action is
    a data action (resource providers define which are: ``isDataAction``). Key Vault secret operations
    (:data:`SECRET_DATA_ACTIONS`) are data actions, so ``data`` defaults to whether the action names
    ``/vaults/secrets/`` with one of those operations."""

    principal_id: str
    action: str
    scope: str
    data: bool | None = None
    group_ids: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.data is None:
            known = {a.lower() for actions in SECRET_DATA_ACTIONS.values() for a in actions}
            object.__setattr__(self, "data", self.action.lower() in known)

    @property
    def is_data(self) -> bool:
        return bool(self.data)


@dataclass(frozen=True)
class AzureDecision:
    allowed: bool
    reason: str
    #: The role assignments that grant it (allowed) or the deny assignments that block it.
    by: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        return ("allowed: " if self.allowed else "denied: ") + self.reason


def evaluate(
    request: AzureRequest,
    *,
    assignments: Sequence[RoleAssignment],
    roles: RoleCatalog | None = None,
    deny_assignments: Sequence[DenyAssignment] = (),
) -> AzureDecision:
    """Decide ``request`` from the role and deny assignments (rules: see the module docstring)."""
    catalog = roles or builtin_roles()
    blocking = [d for d in deny_assignments if d.applies(request)]
    if blocking:
        names = tuple(d.name or f"deny assignment at {d.scope}" for d in blocking)
        return AzureDecision(False, f"{request.action} on {request.scope} is blocked by {', '.join(names)}", names)
    ids = {request.principal_id.lower(), *(g.lower() for g in request.group_ids)}
    granting: list[str] = []
    for a in assignments:
        if a.principal_id.lower() not in ids or not covers(a.scope, request.scope):
            continue
        if a.condition:
            raise AzureRbacError(f"{a}: role assignment conditions (ABAC) are not modelled")
        role = catalog[a.role_definition_id]
        if role.allows(request.action, request.is_data):
            granting.append(f"{a} [{role.name}]")
    plane = "data action" if request.is_data else "action"
    if granting:
        return AzureDecision(
            True, f"{plane} {request.action} on {request.scope} granted by {'; '.join(granting)}", tuple(granting)
        )
    return AzureDecision(
        False,
        f"no role assignment of {request.principal_id} at {request.scope} or a parent scope grants the {plane} "
        f"{request.action}",
    )
