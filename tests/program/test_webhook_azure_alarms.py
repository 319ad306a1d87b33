"""The Azure webhook endpoint's alerts under mocks: the AWS alarms' equivalents, scoped to this environment only."""

from __future__ import annotations

import asyncio
import json

import pulumi
import pytest
import yaml
from pulumi.runtime.settings import ROOT

from components.azure.webhook import (
    AzureWebhookEndpoint,
    AzureWebhookEndpointArgs,
    action_group_short_name,
    silence_window,
)
from infra import plan
from infra.offline import PROJECT_ROOT, OfflineMocks, RecordingMonitor
from stacks.config.stack_file import dump_stack_yaml

SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
ALERT = "azure-native:monitor:MetricAlert"
GROUP = "azure-native:monitor:ActionGroup"


def endpoint_args(env: str, **overrides) -> AzureWebhookEndpointArgs:
    rg = f"rg-makini-{env}"
    args = dict(
        environment=env,
        production=env == "prod",
        location="westeurope",
        resource_group_name=rg,
        secret_uri=f"https://kv-makini-{env}.vault.azure.net/secrets/webhook-secret",
        secret_id=f"{SUB}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/kv-makini-{env}/secrets/webhook-secret",
    )
    args.update(overrides)
    return AzureWebhookEndpointArgs(**args)


def build(*endpoints: tuple[str, AzureWebhookEndpointArgs]):
    """Runs one program holding the given endpoints (name, args); returns the recorded resources."""
    mocks = OfflineMocks()
    monitor = RecordingMonitor(mocks)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        ROOT.set(None)
        pulumi.runtime.set_mocks(mocks, project="makini-infra", stack="alarms", preview=False, monitor=monitor)

        @pulumi.runtime.test
        def program():
            built = [AzureWebhookEndpoint(name, args) for name, args in endpoints]
            return pulumi.Output.all(*[e.url for e in built])

        program()
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return list(monitor.records.values())


def app_id(env: str) -> str:
    return f"{SUB}/resourceGroups/rg-makini-{env}/providers/Microsoft.Web/sites/func-makini-{env}-webhooks"


def namespace_id(env: str) -> str:
    return f"{SUB}/resourceGroups/rg-makini-{env}/providers/Microsoft.ServiceBus/namespaces/sb-makini-{env}-webhooks"


def group_id(env: str) -> str:
    return f"{SUB}/resourceGroups/rg-makini-{env}/providers/Microsoft.Insights/actionGroups/ag-makini-{env}-webhooks"


def alerts_of(records, env: str) -> dict[str, dict]:
    prefix = f"makini-{env}-webhooks-"
    return {
        r.plain_inputs["ruleName"].removeprefix(prefix): r.plain_inputs
        for r in records
        if r.type == ALERT and r.plain_inputs["ruleName"].startswith(prefix)
    }


@pytest.fixture(scope="module")
def both():
    """dev (no silence alert, no e-mail) and prod (24 h silence, e-mail) side by side in one program."""
    return build(
        ("dev-wh", endpoint_args("dev")),
        ("prod-wh", endpoint_args("prod", silence_hours=24, alarm_email="oncall@example.com")),
    )


def criterion(alert: dict) -> dict:
    crit = alert["criteria"]
    assert crit["odataType"] == "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria"
    (one,) = crit["allOf"]
    assert one["criterionType"] == "StaticThresholdCriterion"
    return one


def test_each_alert_watches_exactly_this_environments_app_or_namespace(both):
    for env in ("dev", "prod"):
        alerts = alerts_of(both, env)
        assert alerts["5xx"]["scopes"] == [app_id(env)]
        assert alerts["dead-letter"]["scopes"] == [namespace_id(env)]
        c = criterion(alerts["5xx"])
        assert (c["metricNamespace"], c["metricName"], c["operator"], c["threshold"], c["timeAggregation"]) == (
            "Microsoft.Web/sites",
            "Http5xx",
            "GreaterThan",
            0,
            "Total",
        )
        assert "dimensions" not in c
        c = criterion(alerts["dead-letter"])
        assert (c["metricNamespace"], c["metricName"], c["operator"], c["threshold"]) == (
            "Microsoft.ServiceBus/namespaces",
            "DeadletteredMessages",
            "GreaterThan",
            0,
        )
        assert c["dimensions"] == [{"name": "EntityName", "operator": "Include", "values": ["webhooks"]}]


def test_the_queue_dimension_is_the_components_own_queue(both):
    queues = {
        r.plain_inputs["namespaceName"]: r.plain_inputs["queueName"]
        for r in both
        if r.type == "azure-native:servicebus:Queue"
    }
    for env in ("dev", "prod"):
        for suffix, alert in alerts_of(both, env).items():
            if alert["scopes"] == [namespace_id(env)]:
                (dim,) = criterion(alert)["dimensions"]
                assert dim["values"] == [queues[f"sb-makini-{env}-webhooks"]], suffix


def test_every_alert_is_wired_to_its_own_action_group_and_auto_mitigates(both):
    for env in ("dev", "prod"):
        alerts = alerts_of(both, env)
        assert alerts
        for suffix, alert in alerts.items():
            assert alert["actions"] == [{"actionGroupId": group_id(env)}], suffix
            assert alert["enabled"] is True and alert["autoMitigate"] is True, suffix
            assert alert["severity"] in (0, 1, 2, 3, 4) and alert["location"] == "global"
            assert alert["resourceGroupName"] == f"rg-makini-{env}"
    groups = {r.plain_inputs["actionGroupName"]: r.plain_inputs for r in both if r.type == GROUP}
    assert set(groups) == {"ag-makini-dev-webhooks", "ag-makini-prod-webhooks"}
    assert all(len(g["groupShortName"]) <= 12 and g["enabled"] is True for g in groups.values())
    assert groups["ag-makini-dev-webhooks"].get("emailReceivers", []) == []
    (receiver,) = groups["ag-makini-prod-webhooks"]["emailReceivers"]
    assert receiver["emailAddress"] == "oncall@example.com"


def test_dev_and_prod_alerts_never_mention_the_other_environment(both):
    names = {
        "dev": ("makini-dev-", "-dev-webhooks", "rg-makini-dev"),
        "prod": ("makini-prod-", "-prod-webhooks", "rg-makini-prod"),
    }
    for env, other in (("dev", "prod"), ("prod", "dev")):
        owned = [r for r in both if r.type in (ALERT, GROUP) and r.name.startswith(f"{env}-wh-")]
        assert len(owned) == len(alerts_of(both, env)) + 1
        for r in owned:
            text = json.dumps(r.plain_inputs)
            assert not any(marker in text for marker in names[other]), (r.name, text)


def test_silence_alert_only_when_configured_with_an_allowed_window(both):
    assert "silence" not in alerts_of(both, "dev")
    silence = alerts_of(both, "prod")["silence"]
    assert silence["scopes"] == [namespace_id("prod")]
    assert (silence["windowSize"], silence["evaluationFrequency"]) == ("P1D", "PT1H")
    c = criterion(silence)
    assert (c["metricName"], c["operator"], c["threshold"], c["timeAggregation"]) == (
        "IncomingMessages",
        "LessThan",
        1,
        "Total",
    )
    assert c["dimensions"] == [{"name": "EntityName", "operator": "Include", "values": ["webhooks"]}]
    # The short alerts look back five minutes, evaluated every minute.
    for suffix in ("5xx", "dead-letter"):
        a = alerts_of(both, "prod")[suffix]
        assert (a["windowSize"], a["evaluationFrequency"]) == ("PT5M", "PT1M")


@pytest.mark.parametrize(
    ("hours", "window"), [(1, "PT1H"), (2, "PT6H"), (6, "PT6H"), (8, "PT12H"), (12, "PT12H"), (13, "P1D"), (24, "P1D")]
)
def test_silence_hours_round_up_to_an_azure_window(hours, window):
    assert silence_window(hours) == window


@pytest.mark.parametrize("hours", [0, -1, 25, 48, 1.5, True])
def test_silence_hours_outside_one_day_are_refused_with_the_rule(hours):
    with pytest.raises(ValueError, match="1-24"):
        silence_window(hours)
    with pytest.raises(ValueError, match="P1D"):
        AzureWebhookEndpoint("x", endpoint_args("dev", silence_hours=hours))


def test_action_group_short_names_fit_twelve_characters():
    assert action_group_short_name("dev") == "mk-dev-wh"
    assert action_group_short_name("staging") == "mk-staging"
    for env in ("a", "qa-eu-west-1", "production-eu"):
        assert 1 <= len(action_group_short_name(env)) <= 12


def staging_file(tmp_path, alarms: dict | None) -> str:
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.staging.yaml").read_text())
    if alarms is not None:
        document["config"]["makini:webhooks"]["alarms"] = alarms
    path = tmp_path / "Pulumi.staging-alarms.yaml"
    path.write_text(dump_stack_yaml(document))
    return str(path)


def test_offline_plan_lists_the_azure_alerts_and_where_they_go(tmp_path, capsys):
    path = staging_file(tmp_path, {"silenceHours": 8, "email": "oncall@example.com"})
    assert plan.main(["staging", "--config-file", path, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    azure = doc["webhooks"]["azure"]
    assert azure["alarms"] == [
        "makini-staging-webhooks-5xx",
        "makini-staging-webhooks-dead-letter",
        "makini-staging-webhooks-silence",
    ]
    assert azure["alarmActionGroup"] == "ag-makini-staging-webhooks"
    rules = {r["inputs"]["ruleName"]: r["inputs"] for r in doc["resources"] if r["type"] == ALERT}
    assert rules["makini-staging-webhooks-silence"]["windowSize"] == "PT12H"

    assert plan.main(["staging", "--config-file", path]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.strip().startswith("azure ") and "webhooks" in line)
    assert "5xx, dead-letter, silence" in row
    assert "e-mailed to oncall@example.com" in text and "PT12H (8 h rounded up" in text


def test_offline_plan_says_when_azure_alerts_go_nowhere(tmp_path, capsys):
    assert plan.main(["staging", "--config-file", staging_file(tmp_path, None)]) == 0
    text = capsys.readouterr().out
    assert "NOT SENT ANYWHERE: the group has no receivers" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("azure ") and "webhooks" in line)
    assert row.rstrip().endswith("5xx, dead-letter")
