"""Alarms when a rotation fails, on every backend (finding 6), routed where the receiver's alarms go.

AWS: the function's Errors alarm and an EventBridge rule on Secrets Manager's RotationFailed /
RotationAbandoned events; the rule's pattern is matched by moto's EventBridge pattern engine against an event
shaped as CloudTrail delivers it, and the topic's and key's policies are decided by the IAM evaluator
(tests/iam). Azure: a metric alert on the rotation app's failed executions. Vault: a PrometheusRule for the
CronJob's failed and missing runs (kube-state-metrics).
"""

from __future__ import annotations

import json

import pytest
from moto.events.models import EventPattern

from tests.iam.aws_policy import Request, evaluate
from tests.support import base_config, run

REGION, ACCOUNT = "eu-west-1", "111111111111"


def rotation_failed_event(environment: str, name: str = "RotationFailed") -> dict:
    """A Secrets Manager rotation failure as EventBridge delivers it (CloudTrail service event)."""
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/{environment}/connections/acme-sap/token-AbCdEf"
    return {
        "version": "0",
        "detail-type": "AWS Service Event via CloudTrail",
        "source": "aws.secretsmanager",
        "account": ACCOUNT,
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "userIdentity": {"accountId": ACCOUNT, "invokedBy": "secretsmanager.amazonaws.com"},
            "eventSource": "secretsmanager.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "errorMessage": "Error when executing lambda ... during testSecret step",
            "requestParameters": None,
            "responseElements": None,
            "additionalEventData": {"SecretId": arn},
            "eventType": "AwsServiceEvent",
        },
    }


def config(webhooks: bool, email: str | None = "oncall@example.com") -> dict:
    c = base_config("dev")
    c["aws:allowedAccountIds"] = [ACCOUNT]
    if webhooks:
        c["makini:webhooks"] = {"enabled": True, "allowAnySource": True, "alarms": {"email": "hooks@example.com"}}
    if email:
        c["makini:rotation"] = {"notifyEmail": email}
    return c


@pytest.fixture(scope="module")
def with_receiver():
    return run(config(webhooks=True))


@pytest.fixture(scope="module")
def alone():
    return run(config(webhooks=False))


def one(result, typ, suffix):
    [found] = [r for r in result.of_type(typ) if r.name.endswith(suffix)]
    return found


def test_aws_alarms_go_where_the_receiver_alarms_go(with_receiver):
    topic = with_receiver.outputs["awsWebhookAlarmTopicArn"]
    errors = one(with_receiver, "aws:cloudwatch/metricAlarm:MetricAlarm", "-rotation-errors").plain_inputs
    assert errors["name"] == "makini-dev-rotation-errors"
    assert (errors["namespace"], errors["metricName"]) == ("AWS/Lambda", "Errors")
    assert errors["dimensions"] == {"FunctionName": "makini-dev-rotation"}
    assert errors["alarmActions"] == [topic] and errors["okActions"] == [topic]
    target = one(with_receiver, "aws:cloudwatch/eventTarget:EventTarget", "-rotation-failed-notify").plain_inputs
    assert target["arn"] == topic and target["rule"] == "makini-dev-rotation-failed"
    assert with_receiver.outputs["awsRotationAlarmTopicArn"] == topic
    assert not [t for t in with_receiver.of_type("aws:sns/topic:Topic") if "rotation-alarms" in t.name]


def test_aws_without_a_receiver_the_rotation_has_its_own_channel(alone):
    [topic] = [
        t for t in alone.of_type("aws:sns/topic:Topic") if t.plain_inputs["name"] == "makini-dev-rotation-alarms"
    ]
    errors = one(alone, "aws:cloudwatch/metricAlarm:MetricAlarm", "-rotation-errors").plain_inputs
    assert errors["alarmActions"] == [alone.outputs["awsRotationAlarmTopicArn"]]
    sub = one(alone, "aws:sns/topicSubscription:TopicSubscription", "-rotation-alarms-email").plain_inputs
    assert (sub["protocol"], sub["endpoint"]) == ("email", "oncall@example.com")
    assert topic.plain_inputs["kmsMasterKeyId"] != alone.outputs["awsKmsKeyArn"]  # the secrets key is not used


@pytest.mark.parametrize("fixture", ["with_receiver", "alone"])
def test_the_rule_matches_secrets_managers_failure_events_of_this_environment_only(fixture, request):
    result = request.getfixturevalue(fixture)
    rule = one(result, "aws:cloudwatch/eventRule:EventRule", "-rotation-failed").plain_inputs
    pattern = EventPattern.load(rule["eventPattern"])
    assert pattern.matches_event(rotation_failed_event("dev"))
    assert pattern.matches_event(rotation_failed_event("dev", "RotationAbandoned"))
    assert not pattern.matches_event(rotation_failed_event("dev", "RotationSucceeded"))
    assert not pattern.matches_event(rotation_failed_event("prod"))
    assert not pattern.matches_event(rotation_failed_event("devx"))


@pytest.mark.parametrize("fixture", ["with_receiver", "alone"])
def test_eventbridge_may_publish_to_the_encrypted_topic_for_this_environments_rules_only(fixture, request):
    result = request.getfixturevalue(fixture)
    [policy] = [p for p in result.of_type("aws:sns/topicPolicy:TopicPolicy") if "alarms" in p.name]
    topic_arn = policy.plain_inputs["arn"]
    [key] = [k for k in result.of_type("aws:kms/key:Key") if k.name.endswith("-alarm-key")]
    rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/makini-dev-rotation-failed"
    other = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/makini-prod-rotation-failed"

    def publish(source_arn, action, resource, doc, as_key=False):
        req = Request(
            principal="events.amazonaws.com",
            action=action,
            resource=resource,
            context={"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT},
        )
        return evaluate(req, key_policy=doc) if as_key else evaluate(req, resource_policy=doc)

    topic_doc, key_doc = json.loads(policy.plain_inputs["policy"]), json.loads(key.plain_inputs["policy"])
    key_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"
    assert publish(rule_arn, "sns:Publish", topic_arn, topic_doc).allowed
    assert publish(rule_arn, "kms:GenerateDataKey", key_arn, key_doc, as_key=True).allowed
    assert not publish(other, "sns:Publish", topic_arn, topic_doc).allowed
    assert not publish(other, "kms:GenerateDataKey", key_arn, key_doc, as_key=True).allowed
    assert not publish(rule_arn, "sns:Subscribe", topic_arn, topic_doc).allowed


def test_vault_the_cronjobs_failed_and_missing_runs_have_rules_for_the_clusters_prometheus():
    """Finding 6 on Vault: the rotator exits 1 when any secret failed (tests/functions/rotation/
    test_vault_rotator.py), so its Job fails; the PrometheusRule the stack outputs names exactly that CronJob
    (kube-state-metrics series). No Prometheus runs here: the expressions are checked for the names they
    select, not evaluated."""
    from tests.program.test_rotation_vault_wiring import vault_cfg

    result = run(vault_cfg())
    job = result.outputs["vaultRotatorCronJob"]
    rule = result.outputs["vaultRotatorPrometheusRule"]
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["metadata"]["namespace"] == job["metadata"]["namespace"] == "makini"
    [group] = rule["spec"]["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert set(rules) == {"MakiniTokenRotationFailed", "MakiniTokenRotationStale", "MakiniTokenRotatorMissing"}
    name, ns = job["metadata"]["name"], 'namespace="makini"'
    assert rules["MakiniTokenRotationFailed"]["expr"] == (
        f'sum(kube_job_status_failed{{{ns}, job_name=~"{name}-.*"}}) > 0'
    )
    assert f'cronjob="{name}"' in rules["MakiniTokenRotationStale"]["expr"]
    assert "kube_cronjob_status_last_successful_time" in rules["MakiniTokenRotationStale"]["expr"]
    assert rules["MakiniTokenRotatorMissing"]["expr"] == f'absent(kube_cronjob_info{{{ns}, cronjob="{name}"}})'
    for r in rules.values():
        assert r["labels"]["environment"] == "dev"
