"""Key Vault rotation under mocks: a timer function with its bindings, no Event Grid, role scopes exactly the rotated secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.azure.function_package import (
    MONITORING_METRICS_PUBLISHER,
    STORAGE_BLOB_DATA_OWNER,
    STORAGE_BLOB_DATA_READER,
    STORAGE_TABLE_DATA_CONTRIBUTOR,
)
from components.azure.rotation import SCHEDULE, SECRETS_USER
from infra.offline import MOCK_SUBSCRIPTION_ID, OfflineMocks, run_program
from stacks.naming import rotator_role_definition_guid

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


def test_no_event_grid_a_timer_and_the_bindings_in_the_package(program):
    """Finding 1: rotation no longer hangs on SecretNearExpiry (30 days before a fabricated exp, once per
    version): the function's own timer fires on the schedule, and its package carries the bindings."""
    assert program.of_type("azure-native:eventgrid:SystemTopic") == []
    assert program.of_type("azure-native:eventgrid:SystemTopicEventSubscription") == []
    [blob] = [
        b for b in program.of_type("azure-native:storage:Blob") if b.plain_inputs["blobName"].startswith("rotation-")
    ]
    archive = blob.inputs["source"]
    bindings = json.loads(archive.assets["rotation/bindings.json"].text)
    assert bindings["backend"] == "azure" and bindings["bindings"] == {
        "kv-makini-dev/connections-acme-sap-token": "0900001"
    }
    assert "rotation/azure_function.py" in archive.assets and "rotation/bindings.py" in archive.assets
    from functions.rotation import azure_function

    assert SCHEDULE == azure_function.SCHEDULE == "0 17 * * * *"  # the plan says what the code runs


def test_function_app_settings(program):
    [app] = program.of_type("azure-native:web:WebApp")
    i = app.plain_inputs
    assert i["kind"] == "functionapp,linux" and i["identity"]["type"] == "SystemAssigned" and i["httpsOnly"] is True
    settings = {s["name"]: s["value"] for s in i["siteConfig"]["appSettings"]}
    assert settings["OAUTH_CLIENT_SECRET_NAME"] == "oauth-client"
    assert "ROTATION_PERIOD_DAYS" not in settings and "NEAR_EXPIRY_LEAD_DAYS" not in settings  # the bindings say
    assert settings["KEY_VAULT_URL"] == "https://kv-makini-dev.vault.azure.net"
    assert i["siteConfig"]["linuxFxVersion"].startswith("Python|")


def test_roles_are_scoped_to_exactly_the_rotated_secrets(program):
    grants = {
        (r.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1], r.plain_inputs["scope"])
        for r in program.of_type("azure-native:authorization:RoleAssignment")
    }
    account = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/mkrotdev"
    package = f"{GROUP}/providers/Microsoft.Storage/storageAccounts/mkrotdevpkg"
    storage = {
        (STORAGE_BLOB_DATA_OWNER, account),
        (STORAGE_TABLE_DATA_CONTRIBUTOR, account),
        # Read on its code package only, in an account it does not own.
        (STORAGE_BLOB_DATA_READER, f"{package}/blobServices/default/containers/function-packages"),
    }
    telemetry = {
        (MONITORING_METRICS_PUBLISHER, f"{GROUP}/providers/Microsoft.Insights/components/appi-makini-dev-rotation")
    }
    rotator = rotator_role_definition_guid(MOCK_SUBSCRIPTION_ID)
    assert (
        grants
        == {(rotator, t) for t in TOKENS} | {(SECRETS_USER, f"{VAULT}/secrets/oauth-client")} | storage | telemetry
    )
    for r in program.of_type("azure-native:authorization:RoleAssignment"):
        assert r.plain_inputs["principalId"] == PRINCIPAL
        assert r.plain_inputs["principalType"] == "ServicePrincipal"
        assert r.plain_inputs["roleDefinitionId"].startswith("/subscriptions/00000000-0000-0000-0000-000000000000/")


def test_a_failed_run_alerts_its_own_action_group_without_a_receiver(program):
    """Finding 6 on Azure: every failed timer run (App Insights requests/failed) alerts. This program has no
    receiver, so the rotation has its own action group."""
    [alert] = program.of_type("azure-native:monitor:MetricAlert")
    a = alert.plain_inputs
    assert a["ruleName"] == "makini-dev-rotation-failures" and a["severity"] == 1 and a["autoMitigate"] is True
    [criterion] = a["criteria"]["allOf"]
    assert (criterion["metricNamespace"], criterion["metricName"]) == (
        "microsoft.insights/components",
        "requests/failed",
    )
    assert (criterion["operator"], criterion["threshold"], criterion["timeAggregation"]) == ("GreaterThan", 0, "Count")
    [insights] = program.of_type("azure-native:applicationinsights:Component")
    assert a["scopes"] == [f"{GROUP}/providers/Microsoft.Insights/components/appi-makini-dev-rotation"]
    assert insights.plain_inputs["disableLocalAuth"] is True
    [group] = program.of_type("azure-native:monitor:ActionGroup")
    assert group.plain_inputs["actionGroupName"] == "ag-makini-dev-rotation"
    assert [x["actionGroupId"] for x in a["actions"]] == [
        f"{GROUP}/providers/Microsoft.Insights/actionGroups/ag-makini-dev-rotation"
    ]
    [app] = program.of_type("azure-native:web:WebApp")
    settings = {s["name"]: s["value"] for s in app.plain_inputs["siteConfig"]["appSettings"]}
    assert settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] == "Authorization=AAD"


# --------------------------------------------------------------------------------------------------
# Run-time tokens (issue 19): the staging stack's run-time class ``linked`` has its own vault; the function's
# package names it in runtimeClasses, and the rotator's role there covers listing, reading and writing them.


@pytest.fixture(scope="module")
def staging_run():
    import yaml

    from infra.offline import PROJECT_ROOT
    from tests.support import flatten

    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.staging.yaml").read_text())["config"]
    return run_program("staging", flatten(config)), config


def test_the_package_names_the_run_time_class_vault_the_stack_creates(staging_run):
    from functions.rotation.bindings import Bindings

    run, _ = staging_run
    [blob] = [
        x
        for x in run.resources
        if x.type == "azure-native:storage:Blob" and str(x.plain_inputs.get("blobName", "")).startswith("rotation-")
    ]
    b = Bindings.parse(blob.inputs["source"].assets["rotation/bindings.json"].text, source="package", backend="azure")
    vaults = [x.plain_inputs["vaultName"] for x in run.of_type("azure-native:keyvault:Vault")]
    [linked] = [v for v in vaults if v.startswith("kvc-staging-linked-")]
    assert b.runtime_classes == {"linked": f"{linked}/connections-linked-"}  # the declared class is not there
    bound = b.with_runtime_names().require(f"{linked}/connections-linked-29000207611898-token")
    assert (bound.connection_id, bound.via) == ("29000207611898", "runtime-name")


def test_the_rotator_lists_reads_and_writes_run_time_tokens_in_their_class_vault_only(staging_run):
    from infra.offline import MOCK_SUBSCRIPTION_ID
    from infra.plan import build_plan
    from tests.iam.azure_rbac import SECRET_DATA_ACTIONS
    from tests.program.access_model import azure_environment

    _, config = staging_run
    plan = json.loads(json.dumps(build_plan("staging").to_json()))
    env = azure_environment(plan, config, MOCK_SUBSCRIPTION_ID)
    linked = next(v for n, v in env.vault_ids.items() if n.startswith("kvc-staging-linked-"))
    secret = f"{linked}/secrets/connections-linked-29000207611898-token"
    metadata = "Microsoft.KeyVault/vaults/secrets/readMetadata/action"

    def may(action: str, resource: str) -> bool:
        return env.decide_on("rotation", action, resource).allowed

    assert may(metadata, linked)  # Get Secrets (the listing) at the vault
    for permission in ("get", "set"):
        assert all(may(a, secret) for a in SECRET_DATA_ACTIONS[permission]), permission
    assert may(metadata, secret)  # the versions' listing
    for permission in ("delete", "purge", "backup", "restore"):
        assert not any(may(a, secret) for a in SECRET_DATA_ACTIONS[permission]), permission
    assert not may(metadata, linked.replace("staging", "prod"))
