"""Known answers for the Azure RBAC evaluator, from Microsoft's documentation (not from our code).

``RBAC/`` is https://learn.microsoft.com/en-us/azure/role-based-access-control/. Each test names the
page and section and asserts what the page states.
"""

from __future__ import annotations

import json

import pytest

from tests.iam.azure_rbac import (
    ALL_PRINCIPALS,
    BUILTIN_ROLES_FILE,
    SECRET_DATA_ACTIONS,
    SECRET_GET,
    SECRET_SET,
    AzureRbacError,
    AzureRequest,
    DenyAssignment,
    RoleAssignment,
    RoleDefinition,
    builtin_roles,
    covers,
    evaluate,
)

SUB = "/subscriptions/11111111-1111-1111-1111-111111111111"
RG = f"{SUB}/resourceGroups/prod"
OTHER_RG = f"{SUB}/resourceGroups/dev"
ACCOUNT = f"{RG}/providers/Microsoft.Storage/storageAccounts/acct"
CONTAINER = f"{ACCOUNT}/blobServices/default/containers/c"
VAULT = f"{RG}/providers/Microsoft.KeyVault/vaults/kv-prod"
SECRET_A = f"{VAULT}/secrets/connections-a-token"
SECRET_B = f"{VAULT}/secrets/connections-b-token"
ALICE, BOB = "aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"
ROLES = builtin_roles()


def role_id(name: str) -> str:
    return f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{ROLES.by_name(name).id}"


def allowed(principal: str, action: str, scope: str, assignments: list[RoleAssignment], **request: object) -> bool:
    return evaluate(AzureRequest(principal, action, scope, **request), assignments=assignments, roles=ROLES).allowed  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# RBAC/role-definitions


def test_contributor_actions_minus_not_actions():
    """ "Role definition example": Contributor's "*" lets it "manage everything"; "NotActions removes this
    role's ability to manage access to resources"."""
    a = [RoleAssignment(ALICE, role_id("Contributor"), SUB)]
    assert allowed(
        ALICE,
        "Microsoft.Compute/virtualMachines/write",
        f"{RG}/providers/Microsoft.Compute/virtualMachines/vm",
        a,
        data=False,
    )
    assert not allowed(ALICE, "Microsoft.Authorization/roleAssignments/write", VAULT, a, data=False)
    assert not allowed(
        ALICE, "microsoft.authorization/roleassignments/DELETE", VAULT, a, data=False
    )  # case-insensitive
    assert not allowed(ALICE, "Microsoft.Authorization/elevateAccess/Action", SUB, a, data=False)
    assert allowed(ALICE, "Microsoft.Authorization/roleAssignments/read", VAULT, a, data=False)


COST_EXPORTS = [
    "Microsoft.CostManagement/exports/action",
    "Microsoft.CostManagement/exports/read",
    "Microsoft.CostManagement/exports/write",
    "Microsoft.CostManagement/exports/delete",
    "Microsoft.CostManagement/exports/run/action",
]


@pytest.mark.parametrize("not_actions", [[], ["Microsoft.CostManagement/exports/delete"]])
def test_effective_control_plane_permissions_table(not_actions):
    """ "NotActions": the table of effective permissions for Microsoft.CostManagement/exports/* with and
    without NotActions exports/delete."""
    role = RoleDefinition.from_json(
        {
            "name": "11111111-2222-4333-8444-555555555555",
            "roleName": "exports",
            "permissions": [{"actions": ["Microsoft.CostManagement/exports/*"], "notActions": not_actions}],
        }
    )
    effective = {op for op in COST_EXPORTS if role.allows(op, data=False)}
    expected = set(COST_EXPORTS) - set(not_actions)
    assert effective == expected


QUEUE_MESSAGES = [
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/read",
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete",
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/add/action",
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/process/action",
]


def test_effective_data_plane_permissions_table():
    """ "NotDataActions": messages/* minus messages/delete."""
    role = RoleDefinition.from_json(
        {
            "name": "11111111-2222-4333-8444-666666666666",
            "roleName": "queue",
            "permissions": [
                {
                    "dataActions": ["Microsoft.Storage/storageAccounts/queueServices/queues/messages/*"],
                    "notDataActions": ["Microsoft.Storage/storageAccounts/queueServices/queues/messages/delete"],
                }
            ],
        }
    )
    assert {op for op in QUEUE_MESSAGES if role.allows(op, data=True)} == set(QUEUE_MESSAGES) - {QUEUE_MESSAGES[2]}
    assert not any(role.allows(op, data=False) for op in QUEUE_MESSAGES)  # data actions are not control actions


def test_not_actions_is_not_a_deny():
    """Note under "NotActions": "If a user is assigned a role that excludes an action in NotActions, and is
    assigned a second role that grants access to the same action, the user is allowed"."""
    delete = "Microsoft.CostManagement/exports/delete"
    excluding = RoleDefinition.from_json(
        {
            "name": "11111111-2222-4333-8444-777777777777",
            "permissions": [{"actions": ["Microsoft.CostManagement/exports/*"], "notActions": [delete]}],
        }
    )
    granting = RoleDefinition.from_json(
        {"name": "11111111-2222-4333-8444-888888888888", "permissions": [{"actions": [delete]}]}
    )
    catalog = ROLES.with_roles(excluding, granting)
    one = [RoleAssignment(ALICE, excluding.id, SUB)]
    both = [*one, RoleAssignment(ALICE, granting.id, RG)]
    assert not evaluate(AzureRequest(ALICE, delete, RG, data=False), assignments=one, roles=catalog)
    assert evaluate(AzureRequest(ALICE, delete, RG, data=False), assignments=both, roles=catalog)


def test_data_actions_example_owner_versus_blob_data_contributor():
    """ "Data actions example": Alice is Owner at the subscription: "Alice can read, write, and delete
    containers. However, Alice cannot perform data plane actions ... Alice cannot read the blobs"; Bob,
    Storage Blob Data Contributor at the storage account, "can read, write, and delete containers in the
    specified storage account and can also read, write, and delete the blobs". The page lists both roles'
    actions; they are used as printed there."""
    owner = RoleDefinition.from_json(
        {"name": "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "roleName": "Owner", "permissions": [{"actions": ["*"]}]}
    )
    blob_contributor = RoleDefinition.from_json(
        {
            "name": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
            "roleName": "Storage Blob Data Contributor",
            "permissions": [
                {
                    "actions": [
                        "Microsoft.Storage/storageAccounts/blobServices/containers/delete",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/read",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/write",
                        "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action",
                    ],
                    "dataActions": [
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/move/action",
                        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
                    ],
                }
            ],
        }
    )
    catalog = ROLES.with_roles(owner, blob_contributor)
    assignments = [RoleAssignment(ALICE, owner.id, SUB), RoleAssignment(BOB, blob_contributor.id, ACCOUNT)]
    read_blob = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
    write_container = "Microsoft.Storage/storageAccounts/blobServices/containers/write"
    blob = f"{CONTAINER}/blobs/report.csv"

    def can(who: str, action: str, scope: str, data: bool) -> bool:
        return evaluate(AzureRequest(who, action, scope, data=data), assignments=assignments, roles=catalog).allowed

    assert can(ALICE, write_container, CONTAINER, data=False)
    assert not can(ALICE, read_blob, blob, data=True)
    assert can(BOB, write_container, CONTAINER, data=False)
    assert can(BOB, read_blob, blob, data=True)
    other_account = f"{RG}/providers/Microsoft.Storage/storageAccounts/other/blobServices/default/containers/c/blobs/x"
    assert not can(BOB, read_blob, other_account, data=True)


def test_storage_blob_data_reader_as_printed_on_the_page():
    """ "Control and data actions": Storage Blob Data Reader "allows you to read the blob container and also
    the underlying blob data" (the copy in azure_builtin_roles.json)."""
    a = [RoleAssignment(ALICE, role_id("Storage Blob Data Reader"), ACCOUNT)]
    assert allowed(ALICE, "Microsoft.Storage/storageAccounts/blobServices/containers/read", CONTAINER, a, data=False)
    assert allowed(
        ALICE,
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
        f"{CONTAINER}/blobs/x",
        a,
        data=True,
    )
    assert not allowed(
        ALICE,
        "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
        f"{CONTAINER}/blobs/x",
        a,
        data=True,
    )


# --------------------------------------------------------------------------------------------------
# RBAC/scope-overview and the Key Vault RBAC guide


def test_scope_inheritance_subscription_resource_group_resource_child():
    """RBAC/scope-overview: "When you grant access at a parent scope, those permissions are inherited to the
    child scopes"; a child scope does not grant its parent or a sibling."""
    assert covers(SUB, SECRET_A) and covers(RG, SECRET_A) and covers(VAULT, SECRET_A) and covers(SECRET_A, SECRET_A)
    assert not covers(SECRET_A, VAULT) and not covers(SECRET_A, SECRET_B) and not covers(OTHER_RG, SECRET_A)
    assert not covers(
        f"{RG}/providers/Microsoft.KeyVault/vaults/kv", f"{RG}/providers/Microsoft.KeyVault/vaults/kv-prod"
    )  # not a prefix match
    assert covers("/", SECRET_A)
    assert covers(VAULT.upper(), SECRET_A)  # resource IDs are case-insensitive


def test_key_vault_secrets_user_at_vault_or_at_one_secret():
    """https://learn.microsoft.com/en-us/azure/key-vault/general/rbac-guide: a role "assigned at the key
    vault scope" applies to all secrets; "Secret scope role assignment" to one secret."""
    at_vault = [RoleAssignment(ALICE, role_id("Key Vault Secrets User"), VAULT)]
    at_secret = [RoleAssignment(ALICE, role_id("Key Vault Secrets User"), SECRET_A)]
    assert allowed(ALICE, SECRET_GET, SECRET_A, at_vault) and allowed(ALICE, SECRET_GET, SECRET_B, at_vault)
    assert allowed(ALICE, SECRET_GET, SECRET_A, at_secret) and not allowed(ALICE, SECRET_GET, SECRET_B, at_secret)
    assert not allowed(BOB, SECRET_GET, SECRET_A, at_vault)


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        # "Read secret contents."
        ("Key Vault Secrets User", {"get", "list"}),
        # "Perform any action on the secrets of a key vault, except manage permissions."
        ("Key Vault Secrets Officer", set(SECRET_DATA_ACTIONS)),
        # "Cannot read sensitive values such as secret contents"
        ("Key Vault Reader", {"list"}),
        # "Perform all data plane operations on a key vault and all objects in it"
        ("Key Vault Administrator", set(SECRET_DATA_ACTIONS)),
        # "Read certificate contents": it includes getSecret (a certificate's private key is a secret)
        ("Key Vault Certificate User", {"get", "list"}),
        # "does not allow you to access secrets"
        ("Key Vault Contributor", set()),
    ],
)
def test_key_vault_roles_on_secrets(role, expected):
    """RBAC/built-in-roles/security: each Key Vault role's description against its data actions on a
    secret (the Key Vault permission names as mapped in key-vault/general/rbac-migration)."""
    a = [RoleAssignment(ALICE, role_id(role), VAULT)]
    granted = {
        perm for perm, actions in SECRET_DATA_ACTIONS.items() if all(allowed(ALICE, op, SECRET_A, a) for op in actions)
    }
    assert granted == expected


@pytest.mark.parametrize(
    "role", ["Key Vault Secrets Officer", "Key Vault Administrator", "Key Vault Reader", "Key Vault Secrets User"]
)
def test_key_vault_data_roles_cannot_manage_access(role):
    """Same page: "except manage permissions" / "Cannot manage ... role assignments"."""
    a = [RoleAssignment(ALICE, role_id(role), VAULT)]
    assert not allowed(ALICE, "Microsoft.Authorization/roleAssignments/write", VAULT, a, data=False)


def test_key_vault_contributor_manages_the_vault_but_not_purges():
    """Key Vault Contributor: "Manage key vaults" (Microsoft.KeyVault/*) with NotActions
    locations/deletedVaults/purge/action."""
    a = [RoleAssignment(ALICE, role_id("Key Vault Contributor"), RG)]
    assert allowed(ALICE, "Microsoft.KeyVault/vaults/write", VAULT, a, data=False)
    assert not allowed(ALICE, "Microsoft.KeyVault/locations/deletedVaults/purge/action", SUB, a, data=False)


# --------------------------------------------------------------------------------------------------
# RBAC/overview and RBAC/deny-assignments


def test_assignments_add_up_and_groups_count():
    """RBAC/overview, "Multiple role assignments": permissions are additive; "How Azure RBAC determines if a
    user has access": the token "includes the user's group memberships"."""
    group = "cccccccc-0000-4000-8000-000000000003"
    a = [
        RoleAssignment(ALICE, role_id("Key Vault Secrets User"), SECRET_A),
        RoleAssignment(group, role_id("Key Vault Secrets Officer"), SECRET_B),
    ]
    assert allowed(ALICE, SECRET_GET, SECRET_A, a)
    assert not allowed(ALICE, SECRET_SET, SECRET_B, a)
    assert allowed(ALICE, SECRET_SET, SECRET_B, a, group_ids=(group,))


def test_deny_assignments():
    """RBAC/deny-assignments: "Deny assignments block users from performing specific actions even if a role
    assignment grants them access"; the zero GUID "represents all principals"; ExcludePrincipals; and
    "DoNotApplyToChildScopes"."""
    grant = [
        RoleAssignment(ALICE, role_id("Key Vault Secrets Officer"), VAULT),
        RoleAssignment(BOB, role_id("Key Vault Secrets Officer"), VAULT),
    ]
    purge = SECRET_DATA_ACTIONS["purge"][0]
    everyone = DenyAssignment(
        VAULT,
        data_actions=("Microsoft.KeyVault/vaults/secrets/purge/action",),
        principals=(ALL_PRINCIPALS,),
        exclude_principals=(BOB,),
        name="no-purge",
    )
    decision = evaluate(AzureRequest(ALICE, purge, SECRET_A), assignments=grant, deny_assignments=[everyone])
    assert not decision and "no-purge" in decision.reason
    assert evaluate(AzureRequest(BOB, purge, SECRET_A), assignments=grant, deny_assignments=[everyone])
    assert evaluate(AzureRequest(ALICE, SECRET_GET, SECRET_A), assignments=grant, deny_assignments=[everyone])
    here_only = DenyAssignment(
        VAULT,
        data_actions=("Microsoft.KeyVault/vaults/secrets/*",),
        principals=(ALICE,),
        do_not_apply_to_child_scopes=True,
    )
    assert evaluate(AzureRequest(ALICE, SECRET_GET, SECRET_A), assignments=grant, deny_assignments=[here_only])
    children_too = DenyAssignment(VAULT, data_actions=("Microsoft.KeyVault/vaults/secrets/*",), principals=(ALICE,))
    assert not evaluate(AzureRequest(ALICE, SECRET_GET, SECRET_A), assignments=grant, deny_assignments=[children_too])


# --------------------------------------------------------------------------------------------------
# Inputs refused rather than misread


def test_refuses_what_it_does_not_model():
    with pytest.raises(AzureRbacError, match="unknown role definition"):
        evaluate(
            AzureRequest(ALICE, SECRET_GET, SECRET_A),
            assignments=[RoleAssignment(ALICE, "0" * 8 + "-0000-4000-8000-" + "0" * 12, VAULT)],
        )
    with pytest.raises(AzureRbacError, match="conditions"):
        evaluate(
            AzureRequest(ALICE, SECRET_GET, SECRET_A),
            assignments=[
                RoleAssignment(
                    ALICE, role_id("Key Vault Secrets User"), VAULT, condition="@Resource[x] StringEquals 'y'"
                )
            ],
        )
    with pytest.raises(AzureRbacError, match="management-group"):
        covers("/providers/Microsoft.Management/managementGroups/root", SECRET_A)
    with pytest.raises(AzureRbacError, match="resource ID"):
        covers("subscriptions/x", SECRET_A)


def test_builtin_roles_file_names_its_sources():
    """Every copied role says which Microsoft page it was copied from."""
    doc = json.loads(BUILTIN_ROLES_FILE.read_text())
    assert all(r["source"].startswith("https://learn.microsoft.com/") for r in doc["roles"])
    assert {r["roleName"] for r in doc["roles"]} >= {
        "Key Vault Secrets User",
        "Key Vault Secrets Officer",
        "Key Vault Administrator",
        "Key Vault Reader",
    }
