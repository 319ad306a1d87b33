"""Key Vault rotation under mocks: Event Grid wiring, Function App settings, role scopes exactly the rotated secrets."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.azure.function_package import (
    STORAGE_BLOB_DATA_OWNER,
    STORAGE_BLOB_DATA_READER,
    STORAGE_TABLE_DATA_CONTRIBUTOR,
)
from components.azure.rotation import SECRETS_OFFICER, SECRETS_USER, first_expiry
from infra.offline import OfflineMocks, run_program

PROGRAM = Path(__file__).parent / "programs" / "azure_rotation.py"
GROUP = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-makini-dev"
VAULT = f"{GROUP}/providers/Microsoft.KeyVault/vaults/kv-makini-dev"
TOKENS = {f"{VAULT}/secrets/connections-acme-sap-token", f"{VAULT}/secrets/connections-globex-mx-token"}
PRINCIPAL = "44444444-4444-4444-4444-444444444444"


class Mocks(OfflineMocks):
    """Adds the system-assigned identity ARM returns for a Function App."""

    def new_resource(self, args):
        rid, state = super().new_resource(args)
        if args.typ == "azure-native:web:WebApp":
            state["identity"] = {"type": "SystemAssigned", "principalId": PRINCIPAL, "tenantId": "t"}
        return rid, state


@pytest.fixture(scope="module")
def program():
    return run_program("dev", {}, program=PROGRAM, mocks=Mocks())


def test_system_topic_is_on_the_vault(program):
    [topic] = program.of_type("azure-native:eventgrid:SystemTopic")
    assert topic.plain_inputs["source"] == VAULT
    assert topic.plain_inputs["topicType"] == "Microsoft.KeyVault.vaults"


def test_subscription_filters_near_expiry_of_token_secrets_and_targets_the_function(program):
    [sub] = program.of_type("azure-native:eventgrid:SystemTopicEventSubscription")
    [app] = program.of_type("azure-native:web:WebApp")
    f = sub.plain_inputs["filter"]
    assert f["includedEventTypes"] == ["Microsoft.KeyVault.SecretNearExpiry"]
    assert f["subjectBeginsWith"] == "connections-" and f["subjectEndsWith"] == "-token"
    dest = sub.plain_inputs["destination"]
    assert dest["endpointType"] == "AzureFunction"
    assert dest["resourceId"].endswith("/functions/makini_rotate_connection_token")
    site = app.plain_inputs["name"]
    assert site == "func-makini-dev-rotation"
    assert (
        dest["resourceId"] == f"{GROUP}/providers/Microsoft.Web/sites/{site}/functions/makini_rotate_connection_token"
    )
    # Event Grid validates the function on create: the subscription waits for the code and its read grant
    deps = set(sub.dependencies)
    assert program.named("makini-dev-azure-rotation-package").urn in deps
    assert program.named("makini-dev-azure-rotation-package-reader").urn in deps


def test_function_app_settings(program):
    [app] = program.of_type("azure-native:web:WebApp")
    i = app.plain_inputs
    assert i["kind"] == "functionapp,linux" and i["identity"]["type"] == "SystemAssigned" and i["httpsOnly"] is True
    settings = {s["name"]: s["value"] for s in i["siteConfig"]["appSettings"]}
    assert settings["OAUTH_CLIENT_SECRET_NAME"] == "oauth-client"
    assert settings["ROTATION_PERIOD_DAYS"] == "21"
    assert settings["NEAR_EXPIRY_LEAD_DAYS"] == "30"
    assert settings["KEY_VAULT_URL"] == "https://kv-makini-dev.vault.azure.net"
    assert i["siteConfig"]["linuxFxVersion"].startswith("Python|")


def test_roles_are_scoped_to_exactly_the_rotated_secrets(program):
    grants = {
        (r.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1], r.plain_inputs["scope"])
        for r in program.of_type("azure-native:authorization:RoleAssignment")
    }
    account = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/mkrotdev"
    storage = {
        (STORAGE_BLOB_DATA_OWNER, account),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, account),
        (STORAGE_BLOB_DATA_READER, f"{account}/blobServices/default/containers/function-packages"),
    }
    assert (
        grants == {(SECRETS_OFFICER, t) for t in TOKENS} | {(SECRETS_USER, f"{VAULT}/secrets/oauth-client")} | storage
    )
    for r in program.of_type("azure-native:authorization:RoleAssignment"):
        assert r.plain_inputs["principalId"] == PRINCIPAL
        assert r.plain_inputs["principalType"] == "ServicePrincipal"
        assert r.plain_inputs["roleDefinitionId"].startswith("/subscriptions/00000000-0000-0000-0000-000000000000/")


def test_first_expiry_known_value():
    # 2026-01-01T00:00Z + 7 + 30 days = 2026-02-07T00:00Z = 1770422400 (date -d 2026-02-07Z +%s)
    assert first_expiry(datetime(2026, 1, 1, tzinfo=UTC), 7) == 1770422400


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    st.integers(1, 365),
    st.integers(0, 30),
)
def test_first_expiry_near_expiry_event_fires_one_period_after_creation(created, period, lead):
    exp = first_expiry(created, period, lead)
    created_ts = created.replace(tzinfo=UTC).timestamp()
    assert exp - lead * 86400 - created_ts == pytest.approx(period * 86400, abs=1)
