"""Hardening of the AWS webhook path: only the receiver may send to the queue, TLS only, and the
production audit trail, alarm plumbing and system roles survive a rename or a destroy."""

from __future__ import annotations

import json

import pytest
from parliament import analyze_policy_string

from tests.support import base_config, run


def config(env):
    c = base_config(env)
    c["makini:webhooks"] = {"enabled": True, "allowAnySource": env != "prod"}
    c["makini:aws"] = {"operatorArns": [f"arn:aws:iam::111111111111:role/secrets-operator-{env}"]}
    return c


@pytest.fixture(scope="module")
def runs():
    return {env: run(config(env)) for env in ("dev", "prod")}


def queue_policies(r):
    return {p.name: json.loads(p.plain_inputs["policy"]) for p in r.of_type("aws:sqs/queuePolicy:QueuePolicy")}


def test_only_the_receiver_and_operators_may_send_to_the_queue(runs):
    env = "dev"
    docs = queue_policies(runs[env])
    queue = {s["Sid"]: s for s in docs[f"makini-{env}-aws-webhooks-queue-policy"]["Statement"]}
    send = queue["DenySendOutsideReceiver"]
    assert send["Effect"] == "Deny" and send["Action"] == "sqs:SendMessage" and send["Principal"] == {"AWS": "*"}
    assert send["Resource"] == f"arn:aws:sqs:eu-west-1:123456789012:makini-{env}-webhooks"
    assert set(send["Condition"]["StringNotEquals"]["aws:PrincipalArn"]) == {
        f"arn:aws:iam::123456789012:role/makini-{env}-webhook-receiver",
        f"arn:aws:iam::111111111111:role/secrets-operator-{env}",
    }
    for doc in docs.values():
        tls = {s["Sid"]: s for s in doc["Statement"]}["DenyInsecureTransport"]
        assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    # the dead-letter queue takes SQS's own redrive: no sender condition there
    dlq = docs[f"makini-{env}-aws-webhooks-dlq-policy"]
    assert [s["Sid"] for s in dlq["Statement"]] == ["DenyInsecureTransport"]


def test_queue_policies_are_separated_and_lint_clean(runs):
    dev, prod = json.dumps(queue_policies(runs["dev"])), json.dumps(queue_policies(runs["prod"]))
    assert "makini-prod" not in dev and "makini-dev" not in prod
    for doc in queue_policies(runs["prod"]).values():
        findings = analyze_policy_string(json.dumps(doc), ignore_private_auditors=True).findings
        assert [f.issue for f in findings] == []


@pytest.mark.parametrize(
    "name",
    [
        "makini-{env}-aws-webhooks-function-logs",
        "makini-{env}-aws-webhooks-access-logs",
        "makini-{env}-aws-webhooks-alarm-key",
        "makini-{env}-aws-webhooks-alarms",
        "makini-{env}-webhook-receiver-role",
        "makini-{env}-rotation-role",
        "makini-{env}-aws-key-alias",
    ],
)
def test_production_keeps_audit_trail_alarms_and_system_roles(runs, name):
    prod = runs["prod"].named(name.format(env="prod"))
    dev = runs["dev"].named(name.format(env="dev"))
    assert prod.protect and prod.retain_on_delete
    assert not dev.protect and not dev.retain_on_delete
