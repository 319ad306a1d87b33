"""The Azure webhook endpoint component under mocks (standalone: the Key Vault secret comes in as Inputs)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime.settings import ROOT

from components.azure.webhook import (
    SECRETS_USER,
    SERVICE_BUS_SENDER,
    AzureWebhookEndpoint,
    AzureWebhookEndpointArgs,
)
from infra.offline import OfflineMocks, RecordingMonitor
from stacks.config.webhooks import MAKINI_SOURCE_IPS

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
SECRET_ID = (
    f"{SUB}/resourceGroups/rg-makini-dev/providers/Microsoft.KeyVault/vaults/kv-makini-dev/secrets/webhook-secret"
)
SECRET_URI = "https://kv-makini-dev.vault.azure.net/secrets/webhook-secret"


def build(**overrides):
    args = dict(
        environment="dev",
        production=False,
        location="westeurope",
        resource_group_name="rg-makini-dev",
        secret_uri=SECRET_URI,
        secret_id=SECRET_ID,
        allowed_source_ips=MAKINI_SOURCE_IPS,
    )
    args.update(overrides)
    mocks = OfflineMocks()
    monitor = RecordingMonitor(mocks)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    outputs = {}
    try:
        ROOT.set(None)
        pulumi.runtime.set_mocks(
            mocks, project="makini-infra", stack=args["environment"], preview=False, monitor=monitor
        )

        @pulumi.runtime.test
        def program():
            endpoint = AzureWebhookEndpoint("wh", AzureWebhookEndpointArgs(**args))
            return pulumi.Output.all(endpoint.url, endpoint.principal_id).apply(
                lambda v: outputs.update(url=v[0], principal=v[1])
            )

        program()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    records = list(monitor.records.values())
    return records, outputs


@pytest.fixture(scope="module")
def dev():
    return build()


def of(records, typ):
    return [r for r in records if r.type == typ]


def one(records, typ):
    (r,) = of(records, typ)
    return r


def test_service_bus_namespace_and_queue(dev):
    records, _ = dev
    ns = one(records, "azure-native:servicebus:Namespace").plain_inputs
    assert ns["sku"] == {"name": "Standard", "tier": "Standard"} and ns["disableLocalAuth"] is True
    q = one(records, "azure-native:servicebus:Queue").plain_inputs
    assert q["requiresDuplicateDetection"] is True
    assert q["duplicateDetectionHistoryTimeWindow"] == "P2D"
    assert q["deadLetteringOnMessageExpiration"] is True
    assert q["namespaceName"] == "sb-makini-dev-webhooks"


def test_function_app_linux_python_identity_and_settings(dev):
    records, out = dev
    plan = one(records, "azure-native:web:AppServicePlan").plain_inputs
    assert plan["kind"] == "linux" and plan["reserved"] is True and plan["sku"] == {"name": "Y1", "tier": "Dynamic"}
    app = one(records, "azure-native:web:WebApp").plain_inputs
    assert app["kind"] == "functionapp,linux" and app["httpsOnly"] is True
    assert app["identity"] == {"type": "SystemAssigned"}
    site = app["siteConfig"]
    assert site["linuxFxVersion"].startswith("Python|") and site["ftpsState"] == "Disabled"
    settings = {s["name"]: s["value"] for s in site["appSettings"]}
    assert settings["WEBHOOK_SECRET"] == f"@Microsoft.KeyVault(SecretUri={SECRET_URI})"
    assert "WEBHOOK_SECRET_PREVIOUS" not in settings
    assert settings["SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"] == "sb-makini-dev-webhooks.servicebus.windows.net"
    assert settings["SERVICEBUS_QUEUE_NAME"] == "webhooks"
    assert settings["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert settings["APPLICATIONINSIGHTS_CONNECTION_STRING"].startswith("InstrumentationKey=")
    assert settings["ALLOWED_SOURCE_IPS"] == ",".join(MAKINI_SOURCE_IPS)
    assert one(records, "azure-native:applicationinsights:Component").plain_inputs["applicationType"] == "web"
    assert out["url"] == "https://func-makini-dev-webhooks.azurewebsites.net/api/makini/webhooks"


def test_setting_names_match_the_receivers_contract():
    from functions.webhook_receiver import azure_function, settings

    source = Path(azure_function.__file__).read_text() + Path(settings.__file__).read_text()
    for name in (
        "WEBHOOK_SECRET",
        "WEBHOOK_SECRET_PREVIOUS",
        "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE",
        "SERVICEBUS_QUEUE_NAME",
        "ALLOWED_SOURCE_IPS",
        "SIGNATURE_MODE",
    ):
        assert f'"{name}"' in source, name
    assert azure_function.ROUTE == "makini/webhooks"


def test_access_restrictions_from_the_allow_list_default_deny(dev):
    records, _ = dev
    site = one(records, "azure-native:web:WebApp").plain_inputs["siteConfig"]
    rules = site["ipSecurityRestrictions"]
    assert [r["ipAddress"] for r in rules] == list(MAKINI_SOURCE_IPS)
    assert {r["action"] for r in rules} == {"Allow"}
    assert site["ipSecurityRestrictionsDefaultAction"] == "Deny"
    assert site["scmIpSecurityRestrictionsUseMain"] is True


def test_role_assignments_are_exactly_secret_reader_queue_sender_storage_and_telemetry(dev):
    records, out = dev
    grants = {
        (r.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1], r.plain_inputs["scope"])
        for r in of(records, "azure-native:authorization:RoleAssignment")
    }
    queue_id = f"{SUB}/resourceGroups/rg-makini-dev/providers/Microsoft.ServiceBus/namespaces/sb-makini-dev-webhooks/queues/webhooks"
    storage_id = f"{SUB}/resourceGroups/rg-makini-dev/providers/Microsoft.Storage/storageAccounts/stmkdevhooks"
    package_id = f"{SUB}/resourceGroups/rg-makini-dev/providers/Microsoft.Storage/storageAccounts/stmkdevhookspkg"
    container_id = f"{package_id}/blobServices/default/containers/function-packages"
    insights_id = f"{SUB}/resourceGroups/rg-makini-dev/providers/Microsoft.Insights/components/appi-makini-dev-webhooks"
    assert grants == {
        (SECRETS_USER, SECRET_ID),
        (SERVICE_BUS_SENDER, queue_id),
        ("b7e6dc6d-f1e8-4753-8033-0f276bb0955b", storage_id),  # Storage Blob Data Owner (host)
        ("0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3", storage_id),  # Storage Table Data Contributor (host)
        ("2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", container_id),  # Storage Blob Data Reader (package)
        # Monitoring Metrics Publisher on its own Application Insights, which takes Entra ID only
        # (disableLocalAuth): without it the receiver's requests, failures and logs never arrive.
        ("3913510d-42f4-4e42-8a64-420c390055eb", insights_id),
    }
    for r in of(records, "azure-native:authorization:RoleAssignment"):
        assert r.plain_inputs["principalId"] == out["principal"]
        assert r.plain_inputs["principalType"] == "ServicePrincipal"


def test_previous_secret_window_and_plan_settings():
    records, _ = build(
        previous_secret_uri=SECRET_URI + "/0123abcd",
        duplicate_detection_window="PT36H",
        plan_sku="EP1",
        allowed_source_ips=(),
    )
    app = one(records, "azure-native:web:WebApp").plain_inputs
    settings = {s["name"]: s["value"] for s in app["siteConfig"]["appSettings"]}
    assert settings["WEBHOOK_SECRET_PREVIOUS"] == f"@Microsoft.KeyVault(SecretUri={SECRET_URI}/0123abcd)"
    assert settings["ALLOWED_SOURCE_IPS"] == ""
    assert app["siteConfig"].get("ipSecurityRestrictions", []) == []
    assert one(records, "azure-native:servicebus:Queue").plain_inputs["duplicateDetectionHistoryTimeWindow"] == "PT36H"
    assert one(records, "azure-native:web:AppServicePlan").plain_inputs["sku"]["tier"] == "ElasticPremium"


def test_production_protects_namespace_and_queue(dev):
    records, _ = build(environment="prod", production=True)
    for typ in ("azure-native:servicebus:Namespace", "azure-native:servicebus:Queue"):
        assert one(records, typ).protect and one(records, typ).retain_on_delete
        assert not one(dev[0], typ).protect


def test_unknown_plan_sku_is_refused():
    with pytest.raises(Exception, match="plan_sku 'F1'"):
        build(plan_sku="F1")
