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
    c["makini:consumers"]["assets"]["webhookQueue"] = True
    return c


@pytest.fixture(scope="module")
def runs():
    return {env: run(config(env)) for env in ("dev", "prod")}


def queue_policies(r):
    return {p.name: json.loads(p.plain_inputs["policy"]) for p in r.of_type("aws:sqs/queuePolicy:QueuePolicy")}


def test_only_the_receiver_sends_and_nobody_sends_to_the_dead_letter_queue(runs):
    """The documents (the evaluator decides them in test_webhook_queue_access.py): the queue refuses every
    sender but the receiver, operators included; the dead-letter queue refuses every sender and every
    redrive; both refuse every consumer the stack does not declare."""
    env = "dev"
    docs = queue_policies(runs[env])
    queue = {s["Sid"]: s for s in docs[f"makini-{env}-aws-webhooks-queue-policy"]["Statement"]}
    send = queue["DenySendOutsideReceiver"]
    assert send["Effect"] == "Deny" and send["Action"] == "sqs:SendMessage" and send["Principal"] == {"AWS": "*"}
    assert send["Resource"] == f"arn:aws:sqs:eu-west-1:123456789012:makini-{env}-webhooks"
    assert send["Condition"]["StringNotEquals"]["aws:PrincipalArn"] == [
        f"arn:aws:iam::123456789012:role/makini-{env}-webhook-receiver"
    ]
    for doc in docs.values():
        sids = {s["Sid"]: s for s in doc["Statement"]}
        assert sids["DenyInsecureTransport"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert "Condition" not in sids["DenyMessageMoves"]  # nobody redrives
        consume = sids["DenyConsumeOutsideConsumers"]["Condition"]["StringNotEquals"]["aws:PrincipalArn"]
        assert consume == ["arn:aws:iam::111111111111:role/assets-dev"]
        assert f"secrets-operator-{env}" not in json.dumps(doc)  # operators neither send nor redrive
    dlq = {s["Sid"]: s for s in docs[f"makini-{env}-aws-webhooks-dlq-policy"]["Statement"]}
    assert (
        dlq["DenySendToDeadLetterQueue"]["Action"] == "sqs:SendMessage"
        and "Condition" not in dlq["DenySendToDeadLetterQueue"]
    )


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
