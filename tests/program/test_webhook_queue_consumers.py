"""Consumers of the webhook queue: exactly their environment's queue, receive/delete only, decrypt via SQS.

Proven on the document the program generates (under mocks), not on our builder: parliament lints it,
and moto, with IAM enforcement on, lets the dev consumer receive from the dev queue and refuses the prod
queue and sending. The mock account and region equal moto's, so queue ARNs match by construction.
"""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count
from parliament import analyze_policy_string

from stacks.config import ConfigError
from tests.support import base_config, load, run

REGION = "eu-west-1"


def config(env):
    c = base_config(env)
    c["makini:webhooks"] = {"enabled": True, "allowAnySource": env != "prod"}
    c["makini:consumers"]["assets"]["webhookQueue"] = True
    return c


@pytest.fixture(scope="module")
def documents():
    out = {}
    for env in ("dev", "prod"):
        r = run(config(env))
        out[env] = {p.name: json.loads(p.plain_inputs["policy"]) for p in r.of_type("aws:iam/policy:Policy")}
    return out


def consumer_doc(documents, env, consumer):
    return documents[env][f"makini-{env}-aws-access-{consumer}"]


def test_only_the_queue_consumer_gets_queue_statements(documents):
    assets = consumer_doc(documents, "dev", "assets")
    orders = consumer_doc(documents, "dev", "orders")
    sids = {s["Sid"]: s for s in assets["Statement"]}
    assert sids["ConsumeWebhookQueue"]["Resource"] == [
        f"arn:aws:sqs:{REGION}:123456789012:makini-dev-webhooks",
        f"arn:aws:sqs:{REGION}:123456789012:makini-dev-webhooks-dlq",  # drained directly: nothing is redriven
    ]
    assert set(sids["ConsumeWebhookQueue"]["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueAttributes",
    }
    decrypt = sids["DecryptWebhookQueueThroughSqs"]
    assert decrypt["Condition"] == {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}}
    assert not any("sqs" in json.dumps(s) for s in orders["Statement"])


def test_parliament_finds_nothing(documents):
    for env in documents:
        findings = analyze_policy_string(json.dumps(consumer_doc(documents, env, "assets"))).findings
        assert [f.issue for f in findings] == []


def _denied(call):
    with pytest.raises(ClientError) as info:
        call()
    text = json.dumps(info.value.response.get("Error", {}))
    assert "AccessDenied" in text, text


def test_moto_enforces_the_generated_document(documents):
    doc = consumer_doc(documents, "dev", "assets")
    queue_only = {
        "Version": "2012-10-17",
        "Statement": [s for s in doc["Statement"] if s["Sid"] == "ConsumeWebhookQueue"],
    }

    @mock_aws
    @set_initial_no_auth_action_count(7)
    def scenario():
        sqs_admin = boto3.client("sqs", region_name=REGION)
        dev = sqs_admin.create_queue(QueueName="makini-dev-webhooks")["QueueUrl"]
        dev_dlq = sqs_admin.create_queue(QueueName="makini-dev-webhooks-dlq")["QueueUrl"]
        prod = sqs_admin.create_queue(QueueName="makini-prod-webhooks")["QueueUrl"]
        iam = boto3.client("iam", region_name=REGION)
        iam.create_user(UserName="assets-dev")
        iam.put_user_policy(UserName="assets-dev", PolicyName="p", PolicyDocument=json.dumps(queue_only))
        key = iam.create_access_key(UserName="assets-dev")["AccessKey"]
        sqs = boto3.client(
            "sqs",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
        boto3.client("sts", region_name=REGION).get_caller_identity()  # the last unauthenticated call
        sqs.receive_message(QueueUrl=dev)
        sqs.receive_message(QueueUrl=dev_dlq)
        _denied(lambda: sqs.receive_message(QueueUrl=prod))
        _denied(lambda: sqs.send_message(QueueUrl=dev, MessageBody="{}"))
        _denied(lambda: sqs.send_message(QueueUrl=dev_dlq, MessageBody="{}"))
        _denied(
            lambda: sqs.start_message_move_task(SourceArn=f"arn:aws:sqs:{REGION}:123456789012:makini-dev-webhooks-dlq")
        )
        _denied(lambda: sqs.purge_queue(QueueUrl=dev))

    scenario()


def test_queue_consumer_without_webhooks_is_refused():
    c = base_config()
    c["makini:consumers"]["assets"]["webhookQueue"] = True
    with pytest.raises(ConfigError) as info:
        load(c)
    [p] = [p for p in info.value.problems if p.path == 'makini:consumers["assets"].webhookQueue']
    assert "no webhook endpoint" in p.message and "makini:webhooks.enabled" in p.fix


def test_a_consumer_that_only_consumes_the_queue_is_accepted():
    c = config("dev")
    c["makini:consumers"]["events"] = {
        "webhookQueue": True,
        "aws": {"roleArn": "arn:aws:iam::111111111111:role/events-dev"},
    }
    r = run(c)
    doc = json.loads(r.named("makini-dev-aws-access-events").plain_inputs["policy"])
    assert [s["Sid"] for s in doc["Statement"]] == ["ConsumeWebhookQueue", "DecryptWebhookQueueThroughSqs"]
