"""The Azure Function Apps' hardening, on the staging plan's JSON (the documents ARM would receive), and the
apps' storage grants decided by the Azure RBAC evaluator in ``tests/iam``.

* publishing: SCM and FTP basic-auth credentials off for both apps (``basicPublishingCredentialsPolicies``);
* inbound: both apps deny by default, the SCM site follows the main site; the rotation app admits only
  Event Grid (its one caller);
* host storage: no shared key (Entra ID only) and, the apps being VNet-integrated, a firewall that admits
  only their subnet;
* code: each app reads its package from an account it cannot write to (Storage Blob Data Reader on the
  package container, nothing else there), so a compromised app cannot replace its own code.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import yaml

from infra.offline import MOCK_SUBSCRIPTION_ID, PROJECT_ROOT
from infra.plan import build_plan
from tests.iam import azure_rbac
from tests.program.access_model import azure_environment

BLOB_READ = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
BLOB_WRITE = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"
BLOB_DELETE = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete"


@cache
def plan() -> dict[str, Any]:
    return json.loads(json.dumps(build_plan("staging").to_json()))


def of(typ: str) -> list[dict[str, Any]]:
    return [r for r in plan()["resources"] if r["type"] == typ]


def apps() -> dict[str, dict[str, Any]]:
    return {r["inputs"]["name"]: r for r in of("azure-native:web:WebApp")}


def settings(app: dict[str, Any]) -> dict[str, str]:
    return {s["name"]: s["value"] for s in app["inputs"]["siteConfig"]["appSettings"]}


def test_both_apps_have_basic_auth_publishing_off():
    names = set(apps())
    assert names == {"func-makini-staging-webhooks", "func-makini-staging-rotation"}
    for typ in ("azure-native:web:WebAppScmAllowed", "azure-native:web:WebAppFtpAllowed"):
        policies = {r["inputs"]["name"]: r["inputs"] for r in of(typ)}
        assert set(policies) == names, typ
        assert all(p["allow"] is False for p in policies.values()), typ
    for app in apps().values():
        assert app["inputs"]["siteConfig"]["ftpsState"] == "Disabled"


def test_both_apps_deny_by_default_and_the_scm_site_follows():
    for name, app in apps().items():
        site = app["inputs"]["siteConfig"]
        assert site["ipSecurityRestrictionsDefaultAction"] == "Deny", name
        assert site["scmIpSecurityRestrictionsUseMain"] is True, name
        rules = site.get("ipSecurityRestrictions") or []
        assert all(r["action"] == "Allow" for r in rules), name
    receiver = apps()["func-makini-staging-webhooks"]["inputs"]["siteConfig"]["ipSecurityRestrictions"]
    assert receiver, "the receiver admits Makini's addresses"
    # the rotation app runs on its own timer: nothing may call it
    assert not apps()["func-makini-staging-rotation"]["inputs"]["siteConfig"].get("ipSecurityRestrictions")


def test_host_storage_is_keyless_and_reachable_only_from_the_apps_subnet():
    subnet = yaml.safe_load((PROJECT_ROOT / "Pulumi.staging.yaml").read_text())["config"]["makini:azure"][
        "functionsSubnetId"
    ]
    accounts = {r["inputs"]["accountName"]: r["inputs"] for r in of("azure-native:storage:StorageAccount")}
    for name, app in apps().items():
        host = accounts[settings(app)["AzureWebJobsStorage__accountName"]]
        assert host["allowSharedKeyAccess"] is False and host["defaultToOAuthAuthentication"] is True, name
        rules = host["networkRuleSet"]
        assert rules["defaultAction"] == "Deny" and rules["bypass"] == "None", name
        assert [r["virtualNetworkResourceId"] for r in rules["virtualNetworkRules"]] == [subnet], name
        assert "AzureWebJobsStorage" not in settings(app)
        package = settings(app)["WEBSITE_RUN_FROM_PACKAGE"].split("//", 1)[1].split(".", 1)[0]
        assert package != settings(app)["AzureWebJobsStorage__accountName"], name
        assert accounts[package]["allowBlobPublicAccess"] is False


@pytest.mark.parametrize("component", ["makini-staging-azure-webhooks", "makini-staging-azure-rotation"])
def test_each_app_reads_its_package_and_cannot_write_it(component):
    env = azure_environment(
        plan(), yaml.safe_load((PROJECT_ROOT / "Pulumi.staging.yaml").read_text())["config"], MOCK_SUBSCRIPTION_ID
    )
    mine = [r for r in of("azure-native:authorization:RoleAssignment") if r["parent"].endswith(f"::{component}")]
    (principal,) = {r["inputs"]["principalId"] for r in mine}
    app = next(a for a in apps().values() if a["parent"].endswith(f"::{component}"))
    url = settings(app)["WEBSITE_RUN_FROM_PACKAGE"]
    account, path = url.split("//", 1)[1].split(".", 1)[0], url.split(".net/", 1)[1]
    container, blob = path.split("/", 1)
    group = f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{app['inputs']['resourceGroupName']}"
    package = (
        f"{group}/providers/Microsoft.Storage/storageAccounts/{account}/blobServices/default/containers/{container}"
        f"/blobs/{blob}"
    )
    host = settings(app)["AzureWebJobsStorage__accountName"]
    host_blob = f"{group}/providers/Microsoft.Storage/storageAccounts/{host}/blobServices/default/containers/azure-webjobs-hosts/blobs/x"

    def may(action: str, scope: str) -> bool:
        request = azure_rbac.AzureRequest(principal, action, scope, data=True)
        return bool(azure_rbac.evaluate(request, assignments=env.assignments, roles=env.roles))

    assert may(BLOB_READ, package)
    assert not may(BLOB_WRITE, package) and not may(BLOB_DELETE, package)
    other = package.replace(f"/containers/{container}/", "/containers/anything-else/")
    assert not may(BLOB_READ, other)
    assert may(BLOB_WRITE, host_blob)  # its host state, in the other account
