"""End to end on one machine: moto's server on 127.0.0.1 holds the queue, dead-letter queue, dedupe
table and webhook secret, created with the settings the AWS component gives them; the receiver's real
Lambda entry point (configured by the environment the component sets) runs behind a small local HTTP
server that turns requests into HTTP API payload 2.0 events, as API Gateway does; signed webhooks are
POSTed over real HTTP; the queue is read back. Everything started here is stopped here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import threading
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
from moto.server import ThreadedMotoServer

from components.aws.webhook import MAX_MESSAGE_BYTES, MAX_RECEIVE_COUNT, RETENTION_SECONDS, receiver_environment
from functions.webhook_receiver import aws_lambda

REGION = "eu-west-1"
ENV = "e2e"
SECRET = "whsec-e2e-6b1d0f4c9a2e"
ROUTE = "/makini/webhooks"
TIMEOUT = 5  # seconds, every HTTP call


@pytest.fixture
def moto_endpoint(monkeypatch):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        _reset(endpoint)  # moto's backends are process-global: start from nothing
        for k, v in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
        }.items():
            monkeypatch.setenv(k, v)
        monkeypatch.delenv("AWS_PROFILE", raising=False)
        yield endpoint
        _reset(endpoint)
    finally:
        server.stop()


def _reset(endpoint: str) -> None:
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
        assert resp.status == 200


@pytest.fixture
def aws_resources(moto_endpoint):
    """Queue, DLQ, table and secret as components/aws/webhook.py configures them."""
    kms = boto3.client("kms")
    sm = boto3.client("secretsmanager")
    sqs = boto3.client("sqs")
    ddb = boto3.client("dynamodb")
    key = kms.create_key(Description=f"makini-infra: encrypts the Makini secrets of {ENV}")["KeyMetadata"]["Arn"]
    secret = sm.create_secret(Name=f"makini/{ENV}/webhook/secret", KmsKeyId=key, SecretString=SECRET)["ARN"]
    common = {
        "KmsMasterKeyId": key,
        "KmsDataKeyReusePeriodSeconds": "300",
        "MessageRetentionPeriod": str(RETENTION_SECONDS),
        "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
    }
    dlq_url = sqs.create_queue(QueueName=f"makini-{ENV}-webhooks-dlq", Attributes=common)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"makini-{ENV}-webhooks",
        Attributes={
            **common,
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVE_COUNT}),
        },
    )["QueueUrl"]
    table = f"makini-{ENV}-webhook-dedupe"
    ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        SSESpecification={"Enabled": True},
    )
    ddb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
    return {"secret": secret, "queue_url": queue_url, "dlq_url": dlq_url, "table": table}


class _ApiGateway(BaseHTTPRequestHandler):
    """HTTP request -> API Gateway HTTP API payload 2.0 event -> the Lambda handler -> HTTP response."""

    protocol_version = "HTTP/1.1"

    def _invoke(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        for name, value in self.headers.items():  # lower-cased, duplicates joined with commas
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        try:
            body, b64 = raw.decode("utf-8"), False
        except UnicodeDecodeError:
            body, b64 = base64.b64encode(raw).decode("ascii"), True
        rid = uuid.uuid4().hex
        event = {
            "version": "2.0",
            "routeKey": f"POST {ROUTE}",
            "rawPath": self.path,
            "rawQueryString": "",
            "headers": headers,
            "requestContext": {
                "requestId": rid,
                "http": {
                    "method": self.command,
                    "path": self.path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": self.client_address[0],
                    "userAgent": headers.get("user-agent", ""),
                },
            },
            "body": body if raw else None,
            "isBase64Encoded": b64,
        }
        result = aws_lambda.handler(event, None)
        out = result.get("body", "").encode("utf-8")
        self.send_response(result["statusCode"])
        for k, v in (result.get("headers") or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_POST = do_GET = do_PUT = _invoke

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def endpoint(aws_resources, monkeypatch):
    env = receiver_environment(
        secret_arn=aws_resources["secret"],
        queue_url=aws_resources["queue_url"],
        table_name=aws_resources["table"],
        dedupe_ttl_seconds=172_800,
        grace_seconds=86_400,
        allowed_source_ips=["127.0.0.1/32"],
        signature_mode="raw",
    )
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    aws_lambda.reset()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ApiGateway)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(TIMEOUT)
        aws_lambda.reset()


def sign(body: bytes, secret: str = SECRET) -> str:
    # What Makini does (FACTS.md): base64(HMAC-SHA256(secret, body)). Computed here with the standard
    # library on the client side, independently of the receiver's verification code.
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def post(port: int, body: bytes, signature: str | None, *, source: str = "127.0.0.1", method: str = "POST"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT, source_address=(source, 0))
    try:
        headers = {"content-type": "application/json", "user-agent": "Makini-Webhooks"}
        if signature is not None:
            headers["X-Webhook-Signature"] = signature
        conn.request(method, ROUTE, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def drain(queue_url: str) -> list[dict]:
    sqs = boto3.client("sqs")
    messages: list[dict] = []
    for _ in range(10):  # bounded
        got = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=60
        ).get("Messages", [])
        if not got:
            break
        messages.extend(got)
    return messages


def webhook(event: str, *ids: str, connection: str = "0900001") -> bytes:
    return json.dumps({"event": event, "body": list(ids), "connection_id": connection}, separators=(",", ":")).encode()


def test_signed_webhooks_are_queued_exactly_once(endpoint, aws_resources):
    a = webhook("assets.updated", "A-1", "A-2")
    b = webhook("work_orders.inserted", "WO-9")
    c = webhook("sites.updated", "S-3")

    assert post(endpoint, a, sign(a)) == (200, {"status": "accepted", "dedupe_id": hashlib.sha256(a).hexdigest()})
    status, body = post(endpoint, a, sign(a))  # Makini's retry of the same delivery
    assert (status, body["status"]) == (200, "duplicate")
    assert post(endpoint, b, sign(b))[0] == 200

    # the same webhook delivered five times at once: one message
    with ThreadPoolExecutor(max_workers=5) as pool:
        statuses = list(pool.map(lambda _: post(endpoint, c, sign(c))[0], range(5)))
    assert statuses.count(200) >= 1 and set(statuses) <= {200, 409, 503}

    # rejected: forged, unsigned, signed with another environment's secret, oversize, wrong source
    forged = webhook("assets.updated", "EVIL")
    assert post(endpoint, forged, sign(a))[0] == 401
    assert post(endpoint, forged, None)[0] == 401
    assert post(endpoint, forged, sign(forged, "whsec-prod-other"))[0] == 401
    big = webhook("assets.updated", *(f"id-{i:06d}" for i in range(30_000)))
    assert len(big) > 262_144
    assert post(endpoint, big, sign(big))[0] == 413
    assert post(endpoint, b, sign(b), source="127.0.0.2")[0] == 403
    assert post(endpoint, a, sign(a), method="GET")[0] == 405

    messages = drain(aws_resources["queue_url"])
    bodies = sorted(json.loads(m["Body"])["body"] for m in messages)
    assert bodies == sorted([a.decode(), b.decode(), c.decode()])  # exactly once each, nothing else
    first = next(json.loads(m["Body"]) for m in messages if json.loads(m["Body"])["body"] == a.decode())
    assert first["event"] == "assets.updated" and first["connection_id"] == "0900001"
    assert first["dedupe_id"] == hashlib.sha256(a).hexdigest()
    assert drain(aws_resources["dlq_url"]) == []

    items = boto3.client("dynamodb").scan(TableName=aws_resources["table"])["Items"]
    assert sorted(i["id"]["S"] for i in items) == sorted(hashlib.sha256(x).hexdigest() for x in (a, b, c))
    assert {i["status"]["S"] for i in items} == {"done"}


def test_queue_unreachable_answers_503_and_the_retry_is_delivered(endpoint, aws_resources, monkeypatch):
    """Makini retries a 503: with the queue gone the claim is released, and once the queue is back the
    retry is queued (once)."""
    a = webhook("assets.updated", "R-1")
    sqs = boto3.client("sqs")
    attrs = sqs.get_queue_attributes(QueueUrl=aws_resources["queue_url"], AttributeNames=["All"])["Attributes"]
    sqs.delete_queue(QueueUrl=aws_resources["queue_url"])
    assert post(endpoint, a, sign(a))[0] == 503
    assert boto3.client("dynamodb").scan(TableName=aws_resources["table"])["Items"] == []
    keep = {k: attrs[k] for k in ("KmsMasterKeyId", "MessageRetentionPeriod", "MaximumMessageSize", "RedrivePolicy")}
    sqs.create_queue(QueueName=f"makini-{ENV}-webhooks", Attributes=keep)
    assert post(endpoint, a, sign(a))[0] == 200
    assert [json.loads(m["Body"])["body"] for m in drain(aws_resources["queue_url"])] == [a.decode()]
