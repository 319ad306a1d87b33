"""Pure specs of the Azure deploy identities: federated credentials and constrained role assignments.

One user-assigned managed identity per Azure stack, ``makini-infra-<stack>-deploy``, with one federated
identity credential. Microsoft Entra matches a federated credential to a token by exact, case-sensitive
comparison of issuer, subject and audience ("Workload identity federation" overview and "Configure a
user-assigned managed identity to trust an external identity provider", learn.microsoft.com): no
wildcard, so the credential names exactly the deploy job (``main.yml`` on ``main`` in the stack's
environment, by repository id) through the repository's custom subject template.

Pull requests get no Azure identity at all: a subject that names the branch (as the deploy subject must,
or any branch naming the environment would match) carries the pull request's number, so no exact
credential can name "every pull request"; stacks on Azure are reviewed in pull requests through the
offline plan, and previewed on main before their deploy. Pull requests and deploys therefore never share
an Azure identity (they never did share an app registration, since there is none for pull requests).

Role assignments of a deploy identity, at the configured scope (the stack's subscription or resource
group): Contributor (create the environment's resources) and Role Based Access Control Administrator
with a condition (Azure ABAC, "Delegate Azure role assignment management to others with conditions")
that lets it assign and remove only the data-plane roles the program assigns (:func:`assignable_roles`:
:data:`ASSIGNABLE_ROLES` and the rotator's custom role, which the bootstrap creates once per subscription,
:func:`rotator_role_definition`), so it can never grant Owner, User Access Administrator or itself more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stacks.naming import (
    onboarding_role_definition,
    onboarding_role_guid,
    rotator_role_definition_guid,
    rotator_role_name,
)

from .model import DeliveryStack, deploy_role_name
from .oidc import AZURE_AUDIENCE, ISSUER, deploy_requirement, drift_jobs, token_claims

CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
#: Reader: the drift check's management-plane read (``pulumi preview --refresh``); no data plane, no
#: ``list`` actions (keys, app settings, connection strings).
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
#: The daily drift check's identity, one per bootstrap (``.github/workflows/drift.yml`` takes one Azure
#: identity from the repository variables ``AZURE_DRIFT_*`` for every stack).
DRIFT_IDENTITY_NAME = "makini-infra-drift"
#: Every built-in role definition the program assigns (components/azure): the deploy identity may assign
#: these and the rotator's custom role (:func:`assignable_roles`) only.
ASSIGNABLE_ROLES: dict[str, str] = {
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
    "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

#: What the token rotation function does with a token secret (functions/rotation/azure_function.py: it
#: gets the current version, then sets a new one with its tags and expiry), as Key Vault's RBAC data actions:
#: get (getSecret) and set (setSecret, update), plus reading the metadata that comes with them. No delete,
#: recover, backup, restore or purge: the closest built-in role, Key Vault Secrets Officer, has all of those
#: (``Microsoft.KeyVault/vaults/secrets/*``), and Secrets User has no set.
ROTATOR_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "Microsoft.KeyVault/vaults/secrets/update/action",
)


def rotator_role_definition(scope: str) -> dict[str, Any]:
    """The custom role, shaped as the role definitions REST API and Microsoft's built-in role pages print one.

    ``scope`` (a subscription or resource group id) is its assignable scope: the program assigns it per
    token secret within it. Created by the bootstrap: the deploy identity may not write role definitions
    (it could then widen a role it may assign)."""
    subscription = scope.split("/")[2]
    guid = rotator_role_definition_guid(subscription)
    return {
        "id": f"/subscriptions/{subscription}/providers/Microsoft.Authorization/roleDefinitions/{guid}",
        "name": guid,
        "roleName": rotator_role_name(subscription),
        "roleType": "CustomRole",
        "description": "makini-infra: reads a connection token and writes its next version (rotation); nothing else.",
        "assignableScopes": [scope],
        "permissions": [
            {"actions": [], "notActions": [], "dataActions": list(ROTATOR_DATA_ACTIONS), "notDataActions": []}
        ],
    }


#: The role definitions REST API version the manual creation uses (docs/azure-functions.md).
ROLE_DEFINITIONS_API = "2022-04-01"


def rotator_role_request(scope: str) -> tuple[str, dict[str, Any]]:
    """The ARM request that creates the custom role by hand (without the bootstrap): ``PUT <url>`` with the
    body (``az rest --method put --url <url> --body @role.json``)."""
    d = rotator_role_definition(scope)
    url = f"https://management.azure.com{d['id']}?api-version={ROLE_DEFINITIONS_API}"
    properties = {k: d[k] for k in ("roleName", "description", "assignableScopes", "permissions")}
    return url, {"properties": {**properties, "type": "CustomRole"}}


@dataclass(frozen=True)
class FederatedCredential:
    name: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]

    def matches(self, claims: dict[str, str] | None) -> bool:
        """Entra's documented rule: issuer, subject and one audience equal, exactly."""
        if claims is None:
            return False
        return (
            claims.get("iss") == self.issuer
            and claims.get("sub") == self.subject
            and claims.get("aud") in self.audiences
        )


def deploy_identity_name(stack: DeliveryStack) -> str:
    return deploy_role_name(stack.name)


def deploy_credential(repository: str, repository_id: str, stack: DeliveryStack) -> FederatedCredential:
    need = deploy_requirement(repository, repository_id, stack.github_environment, AZURE_AUDIENCE)
    return FederatedCredential(
        name=f"github-{stack.name}-deploy", issuer=ISSUER, subject=need.equals["sub"], audiences=(AZURE_AUDIENCE,)
    )


def drift_credentials(repository: str, repository_id: str) -> tuple[FederatedCredential, ...]:
    """The drift check's federated credentials: one per event of ``drift.yml`` on ``main`` (Entra matches a
    subject exactly, and the subject names the event), so no other workflow, branch, environment or event
    gets a token for the drift identity."""
    out = []
    for job in drift_jobs(repository, repository_id):
        claims = token_claims(job, AZURE_AUDIENCE)
        assert claims is not None
        name = f"github-drift-{job.event_name.replace('_', '-')}"
        out.append(FederatedCredential(name=name, issuer=ISSUER, subject=claims["sub"], audiences=(AZURE_AUDIENCE,)))
    return tuple(out)


def onboarding_role(stack: DeliveryStack, subscription_id: str, scope: str) -> dict[str, object] | None:
    """The custom role of the stack's onboarding identity (issue 19), which bootstrap defines at ``scope`` (the
    deploy identity has no right to define roles: it could widen one it may assign). None without one."""
    if stack.onboarding_consumer is None:
        return None
    return onboarding_role_definition(subscription_id, stack.environment, scope)


def assignable_roles(stack: DeliveryStack, subscription_id: str) -> dict[str, str]:
    """The role definitions the deploy identity may assign in a subscription: the built-ins the program uses
    (:data:`ASSIGNABLE_ROLES`), the rotator's custom role there, and the stack's onboarding custom role when it
    has an onboarding identity."""
    roles = {**ASSIGNABLE_ROLES, rotator_role_definition_guid(subscription_id): rotator_role_name(subscription_id)}
    if stack.onboarding_consumer is not None:
        roles[onboarding_role_guid(subscription_id, stack.environment)] = f"makini-{stack.environment}-onboarding"
    return roles


def role_assignment_condition(roles: dict[str, str] = ASSIGNABLE_ROLES) -> str:
    """ABAC condition (version 2.0) for the RBAC Administrator assignment: write and delete only these roles."""
    guids = ", ".join(sorted(roles))
    write = (
        "(!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        f"(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{guids}}})"
    )
    delete = (
        "(!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR "
        f"(@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {{{guids}}})"
    )
    return f"(({write})) AND (({delete}))"
