"""The Azure Key Vault store under mocks: resources, security properties, protection, secrets, outputs."""

from __future__ import annotations

import json

import pytest

from components.azure.store import PLACEHOLDER_VALUE
from infra.offline import is_secret_marker
from tests.support import AZURE_FUNCTIONS_SUBNET, azure_section, base_config, run

RG = "azure-native:resources:ResourceGroup"
VAULT = "azure-native:keyvault:Vault"
SECRET = "azure-native:keyvault:Secret"
PE = "azure-native:network:PrivateEndpoint"
DIAG = "azure-native:monitor:DiagnosticSetting"
SUB = "6f1c2d3e-4b5a-4c7d-8e9f-0a1b2c3d4e5f"
SUBNET_A = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/apps"
SUBNET_B = f"/subscriptions/{SUB}/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/ops/providers/Microsoft.OperationalInsights/workspaces/ops-logs"
TENANT = "33333333-3333-3333-3333-333333333333"  # what OfflineMocks answers for getClientConfig
CANARY = "CANARY-azure-5ee7-do-not-print"


def azure_config(env: str, azure: dict) -> dict:
    cfg = base_config(env)
    cfg["makini:backends"] = ["azure"]
    cfg["makini:azure"] = azure_section(**azure)
    cfg["makini:consumers"] = {}  # consumer identities on Azure are the access issue's
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)
    return cfg


@pytest.fixture(scope="module")
def dev():
    cfg = azure_config(
        "dev",
        {
            "softDeleteRetentionDays": 7,
            "purgeProtection": False,
            "allowedIpRanges": ["15.204.75.108/32", "148.113.140.0/24"],
            "allowedSubnetIds": [SUBNET_A],
            "logAnalyticsWorkspaceId": WORKSPACE,
        },
    )
    cfg["makini:webhookSecret"] = CANARY
    cfg["makini:connectionTokens"] = {"acme-sap": CANARY + "-token"}
    return run(cfg, ["makini:webhookSecret", "makini:connectionTokens"])


@pytest.fixture(scope="module")
def prod():
    return run(azure_config("prod", {"privateEndpointSubnetIds": [SUBNET_A, SUBNET_B]}))


def test_vault_is_rbac_only_with_a_closed_firewall(dev):
    [vault] = dev.of_type(VAULT)
    p = vault.plain_inputs["properties"]
    assert p["enableRbacAuthorization"] is True
    assert p["accessPolicies"] == []
    assert p["tenantId"] == TENANT
    assert p["sku"] == {"family": "A", "name": "standard"}
    acls = p["networkAcls"]
    assert acls["defaultAction"] == "Deny" and acls["bypass"] == "AzureServices"
    assert acls["ipRules"] == [{"value": "15.204.75.108"}, {"value": "148.113.140.0/24"}]
    assert acls["virtualNetworkRules"] == [{"id": SUBNET_A}, {"id": AZURE_FUNCTIONS_SUBNET}]
    assert p["publicNetworkAccess"] == "Enabled"
    assert p["enabledForTemplateDeployment"] is False and p["enabledForDeployment"] is False
    assert vault.plain_inputs["vaultName"].startswith("kv-mk-dev-")
    assert vault.plain_inputs["location"] == "westeurope"


def test_dev_retention_and_purge_protection_follow_config(dev):
    [vault] = dev.of_type(VAULT)
    p = vault.plain_inputs["properties"]
    assert p["softDeleteRetentionInDays"] == 7
    assert "enablePurgeProtection" not in p  # Key Vault refuses an explicit false once on: left unset


def test_prod_has_90_day_retention_purge_protection_and_no_public_access(prod):
    [vault] = prod.of_type(VAULT)
    p = vault.plain_inputs["properties"]
    assert p["softDeleteRetentionInDays"] == 90
    assert p["enablePurgeProtection"] is True
    assert p["publicNetworkAccess"] == "Disabled"
    assert p["networkAcls"]["defaultAction"] == "Deny"


def test_private_endpoint_per_subnet_to_the_vault_group(prod):
    [vault] = prod.of_type(VAULT)
    vault_id = prod.outputs["azureSecretIds"]["oauth/client"].split("/secrets/")[0]
    assert vault_id.endswith("/providers/Microsoft.KeyVault/vaults/" + vault.plain_inputs["vaultName"])
    endpoints = prod.of_type(PE)
    assert sorted(e.plain_inputs["subnet"]["id"] for e in endpoints) == sorted([SUBNET_A, SUBNET_B])
    for e in endpoints:
        [conn] = e.plain_inputs["privateLinkServiceConnections"]
        assert conn["groupIds"] == ["vault"]
        assert conn["privateLinkServiceId"] == vault_id
        assert e.protect


def test_diagnostic_settings_only_with_a_workspace(dev, prod):
    [diag] = dev.of_type(DIAG)
    assert diag.plain_inputs["workspaceId"] == WORKSPACE
    assert diag.plain_inputs["logs"] == [{"category": "AuditEvent", "enabled": True}]
    assert diag.plain_inputs["resourceUri"].endswith("/vaults/" + dev.outputs["azureVaultName"])
    assert prod.of_type(DIAG) == [] and dev.of_type(PE) == []


def test_one_secret_per_catalog_entry_with_mapped_names_content_type_and_tags(dev):
    secrets = {s.plain_inputs["secretName"]: s for s in dev.of_type(SECRET)}
    assert sorted(secrets) == [
        "connections-acme-sap-token",
        "connections-globex-mx-token",
        "oauth-client",
        "webhook-secret",
    ]
    token = secrets["connections-acme-sap-token"].plain_inputs
    assert token["properties"]["contentType"] == "application/json"
    assert token["tags"]["makini:connection"] == "acme-sap" and token["tags"]["environment"] == "dev"
    assert token["tags"]["makini-connection-id"] == "0900001"
    assert secrets["webhook-secret"].plain_inputs["properties"]["contentType"] == "text/plain"
    for s in secrets.values():
        assert s.plain_inputs["vaultName"] == dev.outputs["azureVaultName"]
        assert s.plain_inputs["resourceGroupName"] == "rg-makini-dev"
        assert set(s.ignore_changes) >= {"properties", "tags"}  # create-only: no PUT ever reverts a value


def test_values_from_config_are_secret_and_enabled_others_are_disabled_placeholders(dev):
    secrets = {s.plain_inputs["secretName"]: s for s in dev.of_type(SECRET)}
    for name, value in (("webhook-secret", CANARY), ("connections-acme-sap-token", None)):
        s = secrets[name]
        assert is_secret_marker(s.inputs["properties"])
        assert s.plain_inputs["properties"]["attributes"]["enabled"] is True
        if value:
            assert s.plain_inputs["properties"]["value"] == value
        else:
            value = json.loads(s.plain_inputs["properties"]["value"])
            assert value == {"token": CANARY + "-token", "connection_id": "0900001", "issued_at": None}  # finding 10
    for name in ("oauth-client", "connections-globex-mx-token"):
        p = secrets[name].plain_inputs["properties"]
        assert p["value"] == PLACEHOLDER_VALUE and CANARY not in p["value"]
        assert p["attributes"]["enabled"] is False


def test_prod_is_protected_and_retained(prod, dev):
    for typ in (RG, VAULT, SECRET):
        for r in prod.of_type(typ):
            assert r.protect and r.retain_on_delete, r.name
        for r in dev.of_type(typ):
            assert not r.protect and not r.retain_on_delete, r.name


def test_children_are_named_after_and_parented_by_the_component(dev):
    [store] = dev.of_type("makini:azure:SecretStore")
    assert store.name == "makini-dev-azure"
    for typ in (RG, VAULT, SECRET, DIAG):
        for r in dev.of_type(typ):
            assert r.parent == store.urn and r.name.startswith("makini-dev-azure-")


def test_existing_resource_group_is_used_not_created():
    r = run(azure_config("dev", {"resourceGroupName": "rg-platform-shared", "vaultName": "kv-acme-dev-01"}))
    assert r.of_type(RG) == []
    [vault] = r.of_type(VAULT)
    assert vault.plain_inputs["resourceGroupName"] == "rg-platform-shared"
    assert vault.plain_inputs["vaultName"] == "kv-acme-dev-01"
    assert r.outputs["azureVaultUri"] == "https://kv-acme-dev-01.vault.azure.net/"


def test_outputs_name_locations_never_values(dev):
    out = dev.outputs
    assert out["azureVaultUri"] == f"https://{out['azureVaultName']}.vault.azure.net/"
    ids = out["azureSecretIds"]
    assert ids["connections/acme-sap/token"].endswith(
        f"/vaults/{out['azureVaultName']}/secrets/connections-acme-sap-token"
    )
    assert (
        ids["webhook/secret"].startswith("/subscriptions/")
        and "/resourceGroups/rg-makini-dev/" in ids["webhook/secret"]
    )
    assert out["azureSecretUris"]["connections/acme-sap/token"] == (
        f"https://{out['azureVaultName']}.vault.azure.net/secrets/connections-acme-sap-token"
    )
    text = json.dumps(dev.outputs)
    assert CANARY not in text and PLACEHOLDER_VALUE not in text
