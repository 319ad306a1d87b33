"""Azure webhook endpoint and Key Vault rotation wired into the environment (whole program under mocks)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from components.azure.function_lock import locked_requirements
from components.azure.function_package import (
    FUNCTIONS_DIR,
    PYTHON_VERSION,
    RECEIVER_PACKAGE,
    ROTATION_PACKAGE,
    SITE_PACKAGES,
    package_digest,
    package_files,
)
from infra.offline import MOCK_SUBSCRIPTION_ID, is_secret_marker, unwrap_secrets
from stacks.config import ConfigError
from stacks.naming import rotator_role_definition_guid
from tests.pyparse import parse_python
from tests.support import AZURE_FUNCTIONS_SUBNET, azure_section, base_config, load, run

SUB = "00000000-0000-0000-0000-000000000000"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"  # Key Vault Secrets Officer: nobody holds it
ROTATOR = rotator_role_definition_guid(MOCK_SUBSCRIPTION_ID)
SB_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
PRINCIPALS = {"orders": "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", "assets": "1b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"}
TOKENS = ("connections-acme-sap-token", "connections-globex-mx-token")


def azure_config(env: str = "dev", **webhooks) -> dict:
    c = base_config(env)
    c["makini:backends"] = ["azure"]
    c["makini:azure"] = azure_section()
    for name, pid in PRINCIPALS.items():
        c["makini:consumers"][name] = {"azure": {"principalId": pid}}
    c["makini:webhooks"] = {"enabled": True, **webhooks}
    return c


@pytest.fixture(scope="module")
def dev():
    return run(azure_config())


def role(a) -> str:
    return a.plain_inputs["roleDefinitionId"].rsplit("/", 1)[1]


def test_endpoint_and_rotation_are_children_of_the_environment(dev):
    env = dev.named("makini-dev")
    for name, typ in (
        ("makini-dev-azure-webhooks", "makini:azure:WebhookEndpoint"),
        ("makini-dev-azure-rotation", "makini:azure:TokenRotation"),
    ):
        comp = dev.named(name)
        assert comp.type == typ and comp.parent == env.urn
    sites = {a.plain_inputs["name"] for a in dev.of_type("azure-native:web:WebApp")}
    assert sites == {"func-makini-dev-webhooks", "func-makini-dev-rotation"}


def test_no_secret_gets_a_fabricated_exp():
    """exp used to be creation + period + 30 days, so that SecretNearExpiry fired a period later; the timer
    needs none, and a config-supplied token's expiry is unknown: no exp (a rotation sets the token's own)."""
    r = run(azure_config())
    for s in r.of_type("azure-native:keyvault:Secret"):
        assert s.plain_inputs["properties"]["attributes"].get("expires") is None, s.plain_inputs["secretName"]


def test_no_exp_and_no_rotation_when_rotation_is_off():
    c = azure_config()
    c["makini:rotation"] = {"enabled": False}
    r = run(c)
    assert not r.of_type("makini:azure:TokenRotation")
    assert all(
        s.plain_inputs["properties"]["attributes"].get("expires") is None
        for s in r.of_type("azure-native:keyvault:Secret")
    )
    assert not {"azureRotationFunctionApp", "azureRotationSystemTopic"} & set(r.outputs)


def test_webhook_settings_reference_the_versionless_secret_uri(dev):
    [app] = [a for a in dev.of_type("azure-native:web:WebApp") if a.plain_inputs["name"].endswith("-webhooks")]
    settings = {s["name"]: s["value"] for s in app.plain_inputs["siteConfig"]["appSettings"]}
    vault = dev.outputs["azureVaultName"]
    assert (
        settings["WEBHOOK_SECRET"]
        == f"@Microsoft.KeyVault(SecretUri=https://{vault}.vault.azure.net/secrets/webhook-secret)"
    )
    assert "WEBHOOK_SECRET_PREVIOUS" not in settings
    assert app.plain_inputs["virtualNetworkSubnetId"] == AZURE_FUNCTIONS_SUBNET
    assert app.plain_inputs["siteConfig"]["vnetRouteAllEnabled"] is True


def test_previous_secret_only_when_configured():
    version = "0123456789abcdef0123456789abcdef"
    r = run(
        azure_config(azure={"previousSecretVersion": version, "previousSecretExpiresAt": "2026-12-02T11:00:00+01:00"})
    )
    [app] = [a for a in r.of_type("azure-native:web:WebApp") if a.plain_inputs["name"].endswith("-webhooks")]
    settings = {s["name"]: s["value"] for s in app.plain_inputs["siteConfig"]["appSettings"]}
    assert settings["WEBHOOK_SECRET_PREVIOUS"].endswith(f"/secrets/webhook-secret/{version})")
    assert settings["WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT"] == "2026-12-02T10:00:00Z"
    with pytest.raises(ConfigError, match="previousSecretVersion"):
        load(azure_config(azure={"previousSecretVersion": "latest", "previousSecretExpiresAt": "2026-12-02T10:00:00Z"}))


@pytest.mark.parametrize(
    ("azure", "match"),
    [
        ({"previousSecretVersion": "0123456789abcdef0123456789abcdef"}, "go together"),
        ({"previousSecretExpiresAt": "2026-12-02T10:00:00Z"}, "go together"),
        (
            {
                "previousSecretVersion": "0123456789abcdef0123456789abcdef",
                "previousSecretExpiresAt": "2026-12-02T10:00:00",
            },
            "no time zone",
        ),
    ],
)
def test_the_previous_secret_always_has_an_expiry(azure, match):
    """Finding 5: Azure's previous webhook secret expires like AWS's; a version without an expiry is refused."""
    with pytest.raises(ConfigError, match=match):
        load(azure_config(azure=azure))


def test_roles_are_scoped_exactly(dev):
    by_parent: dict[str, set[tuple[str, str]]] = {}
    for a in dev.of_type("azure-native:authorization:RoleAssignment"):
        owner = a.parent.rsplit("::", 1)[1]
        by_parent.setdefault(owner, set()).add((role(a), a.plain_inputs["scope"].rsplit("/", 1)[1]))
    receiver = by_parent["makini-dev-azure-webhooks"]
    rotation = by_parent["makini-dev-azure-rotation"]
    access = by_parent["makini-dev-azure-access"]
    # Secrets User on the webhook secret only, for the receiver; Data Sender on the queue only.
    assert {g for g in receiver if g[0] == SECRETS_USER} == {(SECRETS_USER, "webhook-secret")}
    assert {g for g in receiver if g[0] == SB_SENDER} == {(SB_SENDER, "webhooks")}
    [sender] = [a for a in dev.of_type("azure-native:authorization:RoleAssignment") if role(a) == SB_SENDER]
    assert (
        "/providers/Microsoft.ServiceBus/namespaces/sb-makini-dev-webhooks/queues/webhooks"
        in sender.plain_inputs["scope"]
    )
    # The rotator role on the rotated token secrets only, granted once, by the rotation component; no Officer.
    rotators = [a for a in dev.of_type("azure-native:authorization:RoleAssignment") if role(a) == ROTATOR]
    assert sorted(a.plain_inputs["scope"].rsplit("/", 1)[1] for a in rotators) == sorted(TOKENS)
    assert all(a.parent.endswith("::makini-dev-azure-rotation") for a in rotators)
    assert not [a for a in dev.of_type("azure-native:authorization:RoleAssignment") if role(a) == SECRETS_OFFICER]
    assert {g for g in rotation if g[0] == SECRETS_USER} == {(SECRETS_USER, "oauth-client")}
    # The consumers' grants hold only Secrets User, never for a system identity
    assert {g[0] for g in access} == {SECRETS_USER}
    principals = {
        a.plain_inputs["principalId"]
        for a in dev.of_type("azure-native:authorization:RoleAssignment")
        if a.parent.endswith("::makini-dev-azure-access")
    }
    assert principals == set(PRINCIPALS.values())


def test_packages_hold_only_runtime_files(dev):
    blobs = {b.plain_inputs["blobName"].split("-")[0]: b for b in dev.of_type("azure-native:storage:Blob")}
    assert set(blobs) == {"webhook_receiver", "rotation"}
    expect = {
        "webhook_receiver": {
            f"webhook_receiver/{m}"
            for m in (
                "__init__.py",
                "azure_function.py",
                "errors.py",
                "js_stringify.py",
                "logs.py",
                "payload.py",
                "request.py",
                "responses.py",
                "settings.py",
                "signature.py",
            )
        },
        "rotation": {
            f"rotation/{m}"
            for m in (
                "__init__.py",
                "azure_function.py",
                "bindings.py",
                "makini_client.py",
                "oauth_client.py",
                "backoff.py",
                "token_lifetime.py",
                "bindings.json",
            )
        },
    }
    shared = {"functions/__init__.py", "functions/shared/__init__.py", "functions/shared/jsonlog.py"}
    # the rotation reads run-time token names with the rule every function shares
    shared_of = {"webhook_receiver": shared, "rotation": shared | {"functions/shared/names.py"}}
    for pkg, blob in blobs.items():
        assets = blob.plain_inputs["source"].assets
        assert set(assets) == expect[pkg] | shared_of[pkg] | {"function_app.py", "host.json", "requirements.txt"}
        assert assets["function_app.py"].text.startswith(f"from {pkg}.azure_function import app")
        reqs = [r for r in assets["requirements.txt"].text.splitlines() if r and not r.startswith((" ", "#"))]
        assert reqs and all("==" in r and r.endswith(" \\") for r in reqs)  # exact versions, hashes follow
        assert blob.plain_inputs["blobName"].endswith(".zip") and blob.plain_inputs["type"] == "Block"
    assert "\nazure-keyvault-secrets==" in blobs["rotation"].plain_inputs["source"].assets["requirements.txt"].text
    assert "\nazure-servicebus==" in blobs["webhook_receiver"].plain_inputs["source"].assets["requirements.txt"].text
    for c in dev.of_type("azure-native:storage:BlobContainer"):
        assert c.plain_inputs["publicAccess"] == "None"


def test_apps_run_from_the_package_with_identity_based_storage(dev):
    for app in dev.of_type("azure-native:web:WebApp"):
        settings = {s["name"]: s["value"] for s in app.plain_inputs["siteConfig"]["appSettings"]}
        assert settings["WEBSITE_RUN_FROM_PACKAGE"].startswith("https://") and settings[
            "WEBSITE_RUN_FROM_PACKAGE"
        ].endswith(".zip")
        assert "/function-packages/" in settings["WEBSITE_RUN_FROM_PACKAGE"]
        assert settings["WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID"] == "SystemAssigned"
        assert "AzureWebJobsStorage__accountName" in settings and "AzureWebJobsStorage" not in settings
        assert not any("AccountKey=" in str(v) for v in settings.values())


def test_module_closure_and_no_pulumi_in_packages():
    for spec in (RECEIVER_PACKAGE, ROTATION_PACKAGE):
        for module in spec.modules:
            tree = parse_python((FUNCTIONS_DIR / spec.package / module).read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 1:
                    for n in [node.module] if node.module else [a.name for a in node.names]:
                        assert f"{n}.py" in spec.modules, (spec.package, module, n)
                if isinstance(node, ast.Import):
                    assert not any(a.name.startswith("pulumi") for a in node.names)


def test_dependencies_folder_is_shipped_under_site_packages(tmp_path: Path):
    (tmp_path / "azure" / "servicebus").mkdir(parents=True)
    (tmp_path / "azure" / "servicebus" / "__init__.py").write_text("x = 1\n")
    (tmp_path / "azure" / "__pycache__").mkdir()
    (tmp_path / "azure" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    for p in locked_requirements(RECEIVER_PACKAGE.requirements, PYTHON_VERSION):  # what pip --target leaves
        info = tmp_path / f"{p.name.replace('-', '_')}-{p.version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {p.name}\nVersion: {p.version}\n")
    files = package_files(RECEIVER_PACKAGE, tmp_path)
    assert f"{SITE_PACKAGES}/azure/servicebus/__init__.py" in files
    assert not any("__pycache__" in f for f in files)
    without = package_files(RECEIVER_PACKAGE)
    assert package_digest(files) != package_digest(without)
    with pytest.raises(ValueError, match="does not exist"):
        package_files(RECEIVER_PACKAGE, tmp_path / "missing")


def test_outputs_never_hold_values(dev):
    w = {k: v for k, v in dev.outputs.items() if k.startswith("azureWebhook")}
    assert w == {
        "azureWebhookUrl": "https://func-makini-dev-webhooks.azurewebsites.net/api/makini/webhooks",
        "azureWebhookServiceBusNamespace": "sb-makini-dev-webhooks",
        "azureWebhookQueueName": "webhooks",
        "azureWebhookAlarms": ["makini-dev-webhooks-5xx", "makini-dev-webhooks-dead-letter"],
        "azureWebhookAlarmActionGroup": "ag-makini-dev-webhooks",
        "azureWebhookQueueConsumers": [],
    }
    assert dev.outputs["azureRotationFunctionApp"] == "func-makini-dev-rotation"
    assert dev.outputs["azureRotationSchedule"] == "0 17 * * * *"
    assert dev.outputs["azureRotationAlert"] == "makini-dev-rotation-failures"

    def walk(v):
        assert not is_secret_marker(v)
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        if isinstance(v, list):
            for x in v:
                walk(x)

    walk(dev.outputs)


def test_prod_protects_what_the_store_protects():
    c = azure_config("prod")
    r = run(c)
    for typ in (
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Secret",
        "azure-native:servicebus:Namespace",
        "azure-native:servicebus:Queue",
    ):
        assert r.of_type(typ) and all(x.protect for x in r.of_type(typ)), typ
    dev_run = run(azure_config())
    assert not any(x.protect for x in dev_run.of_type("azure-native:servicebus:Queue"))


@pytest.mark.parametrize(
    "azure, webhooks, key",
    [
        ({"location": "westeurope"}, {}, "makini:azure.functionsSubnetId"),
        ({"location": "westeurope", "functionsSubnetId": AZURE_FUNCTIONS_SUBNET}, {}, "makini:azure.allowedSubnetIds"),
        (None, {"azure": {"planSku": "Y1"}}, "makini:webhooks.azure.planSku"),
        (
            {
                "location": "westeurope",
                "functionsSubnetId": AZURE_FUNCTIONS_SUBNET,
                "privateEndpointSubnetIds": [AZURE_FUNCTIONS_SUBNET.replace("vnet-test", "vnet-other")],
            },
            {},
            "makini:azure.functionsSubnetId",
        ),
    ],
)
def test_unreachable_vault_is_refused_naming_the_key(azure, webhooks, key):
    c = azure_config(**webhooks)
    if azure is not None:
        c["makini:azure"] = azure
    with pytest.raises(ConfigError) as err:
        load(c)
    msg = str(err.value)
    assert key in msg
    assert "pulumi config set" in msg or "privateEndpointSubnetIds" in msg


def test_reachable_configurations_are_accepted():
    load(azure_config())  # allowed subnet
    c = azure_config()
    c["makini:azure"] = azure_section(
        privateEndpointSubnetIds=[AZURE_FUNCTIONS_SUBNET.replace("snet-functions", "snet-pe")]
    )
    load(c)
    c = azure_config(enabled=False)
    c["makini:rotation"] = {"enabled": False}
    c["makini:azure"] = {"location": "westeurope"}
    load(c)  # no Function Apps: nothing to reach the vault


def test_the_rotation_alert_goes_to_the_receivers_action_group(dev):
    """Finding 6: with a receiver, rotation failures alert where the receiver's alerts go."""
    [alert] = [
        a
        for a in dev.of_type("azure-native:monitor:MetricAlert")
        if a.plain_inputs["ruleName"].endswith("rotation-failures")
    ]
    [group] = dev.of_type("azure-native:monitor:ActionGroup")
    assert group.plain_inputs["actionGroupName"] == "ag-makini-dev-webhooks"
    [action] = alert.plain_inputs["actions"]
    assert action["actionGroupId"].endswith("/providers/Microsoft.Insights/actionGroups/ag-makini-dev-webhooks")


SB_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


def test_webhook_queue_consumers_may_receive_from_exactly_that_queue():
    """Finding 4: the namespace has local auth disabled and only the receiver had a role, so a consumer with
    ``webhookQueue: true`` could not read the queue at all. It now holds Data Receiver on that queue, decided
    by the RBAC evaluator (tests/iam/azure_rbac) with Microsoft's role definition: receive there, nothing
    else; a consumer without ``webhookQueue`` holds nothing on it."""
    from tests.iam import azure_rbac

    c = azure_config()
    c["makini:consumers"]["orders"]["webhookQueue"] = True
    result = run(c)
    [namespace] = result.of_type("azure-native:servicebus:Namespace")
    assert namespace.plain_inputs["disableLocalAuth"] is True
    [sender] = [a for a in result.of_type("azure-native:authorization:RoleAssignment") if role(a) == SB_SENDER]
    queue_id = sender.plain_inputs["scope"]  # the receiver's grant names the queue
    assert queue_id.endswith("/namespaces/sb-makini-dev-webhooks/queues/webhooks")
    grants = [a for a in result.of_type("azure-native:authorization:RoleAssignment") if role(a) == SB_RECEIVER]
    assert [(g.plain_inputs["principalId"], g.plain_inputs["scope"]) for g in grants] == [
        (PRINCIPALS["orders"], queue_id)
    ]
    assignments = [
        azure_rbac.RoleAssignment(
            a.plain_inputs["principalId"], a.plain_inputs["roleDefinitionId"], a.plain_inputs["scope"], name=a.name
        )
        for a in result.of_type("azure-native:authorization:RoleAssignment")
    ]

    def may(who: str, action: str, scope: str) -> bool:
        req = azure_rbac.AzureRequest(PRINCIPALS[who], action, scope, data=True)
        return azure_rbac.evaluate(req, assignments=assignments).allowed

    receive, send = "Microsoft.ServiceBus/namespaces/receive/action", "Microsoft.ServiceBus/namespaces/send/action"
    other_queue = queue_id.rsplit("/", 1)[0] + "/other"
    assert may("orders", receive, queue_id)
    assert not may("orders", send, queue_id)
    assert not may("orders", receive, other_queue)
    assert not may("assets", receive, queue_id)
    assert result.outputs["azureWebhookQueueConsumers"] == ["orders"]
    # The consumer views name the queue exactly for the principal the evaluator lets receive from it.
    for who in ("orders", "assets"):
        queue = unwrap_secrets(result.outputs[f"consumer-{who}"])["azure"]["webhookQueue"]
        assert bool(queue) is may(who, receive, queue_id), who
    assert unwrap_secrets(result.outputs["consumer-orders"])["azure"]["webhookQueue"]["queueName"] == "webhooks"


def test_no_queue_consumer_no_receiver_role(dev):
    assert [a for a in dev.of_type("azure-native:servicebus:Queue")]
    assert not [a for a in dev.of_type("azure-native:authorization:RoleAssignment") if role(a) == SB_RECEIVER]
    assert dev.outputs["azureWebhookQueueConsumers"] == []
