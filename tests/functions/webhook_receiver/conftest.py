"""Fixtures for the webhook receiver: moto AWS resources, an injectable clock, log capture and
signatures computed independently with openssl (never with the code under test)."""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import os
import subprocess
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from functions.webhook_receiver import aws_lambda
from functions.webhook_receiver.logs import log as receiver_log

REGION = "eu-west-1"
SECRET = "whsec-makini-dev-3f9a1c0e5b7d"
NEW_SECRET = "whsec-makini-dev-rotated-77c2e1"
MAKINI_IP = "15.204.75.108"
OPENSSL = "/usr/bin/openssl"


@functools.cache
def openssl_signature(key: str, body: bytes) -> str:
    """base64(HMAC-SHA256(key, body)) by `openssl dgst -sha256 -hmac KEY -binary | base64`."""
    out = subprocess.run(
        ["sh", "-c", f'{OPENSSL} dgst -sha256 -hmac "$HMAC_KEY" -binary | base64'],
        input=body,
        env={"HMAC_KEY": key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        check=True,
    )
    sig = out.stdout.decode("ascii").strip()
    assert len(sig) == 44 and len(base64.b64decode(sig)) == 32
    return sig


def make_event(
    body: bytes | str | None,
    signature: str | None = None,
    *,
    method: str = "POST",
    b64: bool = False,
    source_ip: str = MAKINI_IP,
    header_name: str = "x-webhook-signature",
    headers: dict | None = None,
    request_id: str = "req-123",
) -> dict:
    """An API Gateway HTTP API payload 2.0 event (function URLs send the same shape)."""
    h = {"content-type": "application/json", "user-agent": "Makini-Webhooks"}
    if signature is not None:
        h[header_name] = signature
    h.update(headers or {})
    body_field = body
    if isinstance(body, bytes):
        body_field = base64.b64encode(body).decode() if b64 else body.decode("utf-8")
    return {
        "version": "2.0",
        "routeKey": "POST /makini/webhooks",
        "rawPath": "/makini/webhooks",
        "rawQueryString": "",
        "headers": h,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "http": {
                "method": method,
                "path": "/makini/webhooks",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": "Makini-Webhooks",
            },
            "requestId": request_id,
            "routeKey": "POST /makini/webhooks",
            "stage": "$default",
            "time": "29/Nov/2025:11:00:00 +0000",
            "timeEpoch": 1764414000000,
        },
        "body": body_field,
        "isBase64Encoded": b64,
    }


def signed_event(body: bytes, key: str = SECRET, **kw: Any) -> dict:
    return make_event(body, openssl_signature(key, body), **kw)


def payload(event: str = "assets.updated", ids=(1, 2, 3), **extra: Any) -> bytes:
    """Compact JSON as Makini serialises it."""
    return json.dumps({"event": event, "body": list(ids), **extra}, separators=(",", ":")).encode()


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class AwsEnv:
    """moto resources (fresh, uniquely named per test) plus a factory for receivers wired to them."""

    def __init__(self, clients: dict, n: int) -> None:
        self.sm, self.sqs, self.ddb = clients["secretsmanager"], clients["sqs"], clients["dynamodb"]
        self.n = n
        self.secret_arn = self.sm.create_secret(Name=f"makini/dev/webhook/secret-{n}", SecretString=SECRET)["ARN"]
        self.queue_url = self.sqs.create_queue(QueueName=f"makini-dev-webhooks-{n}")["QueueUrl"]
        self.table = f"makini-dev-webhook-dedupe-{n}"
        self.ddb.create_table(
            TableName=self.table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        self.ddb.update_time_to_live(
            TableName=self.table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        self.clock = Clock()

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "WEBHOOK_SECRET_ARN": self.secret_arn,
            "QUEUE_URL": self.queue_url,
            "DEDUPE_TABLE": self.table,
        }
        env.update(overrides)
        return env

    def receiver(self, *, sm=None, sqs=None, ddb=None, **overrides: str) -> aws_lambda.Receiver:
        return aws_lambda.Receiver.from_env(
            self.env(**overrides),
            secretsmanager=sm or self.sm,
            sqs=sqs or self.sqs,
            dynamodb=ddb or self.ddb,
            clock=self.clock,
        )

    def messages(self, queue_url: str | None = None) -> list[dict]:
        out = []
        while True:
            got = self.sqs.receive_message(
                QueueUrl=queue_url or self.queue_url,
                MaxNumberOfMessages=10,
                MessageAttributeNames=["All"],
                VisibilityTimeout=3600,
            ).get("Messages", [])
            if not got:
                return out
            out.extend(got)

    def items(self) -> list[dict]:
        return self.ddb.scan(TableName=self.table, ConsistentRead=True)["Items"]


_FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


@pytest.fixture(scope="package")
def _moto():
    """One in-process moto for this package's tests (client creation is the slow part); every test
    gets its own uniquely named secret, queue and table, so tests stay independent. Package scope, not
    session: a mock left active would leak into every later test module of the suite."""
    saved = {k: os.environ.get(k) for k in (*_FAKE_AWS_ENV, "AWS_PROFILE", "AWS_ENDPOINT_URL")}
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(_FAKE_AWS_ENV)
    counter = itertools.count()
    try:
        with mock_aws():
            clients = {name: boto3.client(name, region_name=REGION) for name in ("secretsmanager", "sqs", "dynamodb")}
            yield clients, counter
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture
def aws(_moto):
    clients, counter = _moto
    return AwsEnv(clients, next(counter))


class LogCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())

    @property
    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture(autouse=True)
def logs():
    """Everything the receiver logs, as the formatted lines (one JSON object each)."""
    logger = receiver_log
    cap = LogCapture()
    old_level, old_handlers, old_propagate = logger.level, list(logger.handlers), logger.propagate
    logger.handlers = [cap]
    logger.setLevel(logging.DEBUG)
    logger.propagate = True
    try:
        yield cap
    finally:
        logger.handlers = old_handlers
        logger.setLevel(old_level)
        logger.propagate = old_propagate
        aws_lambda.reset()


def body_of(resp: dict) -> dict:
    assert resp["headers"]["content-type"] == "application/json"
    return json.loads(resp["body"])
