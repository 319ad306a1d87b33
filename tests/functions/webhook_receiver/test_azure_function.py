"""The Azure Functions handler with real azure.functions.HttpRequest objects and a fake at the
Service Bus SDK boundary (ServiceBusClient.get_queue_sender -> sender.send_messages)."""

from __future__ import annotations

import base64
import hashlib
import json

import azure.functions as func
import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import MessageSizeExceededError, ServiceBusConnectionError

from functions.webhook_receiver import azure_function as az

from .conftest import NEW_SECRET, SECRET, openssl_signature, payload

NS = "makini-dev.servicebus.windows.net"
QUEUE = "makini-webhooks"


class FakeSender:
    def __init__(self, client):
        self.client = client
        self.closed = False

    def send_messages(self, message):
        assert isinstance(message, ServiceBusMessage)
        if self.client.fail is not None:
            raise self.client.fail
        # Service Bus duplicate detection: a repeated message_id inside the window is dropped
        if message.message_id not in {m.message_id for m in self.client.stored}:
            self.client.stored.append(message)
        self.client.sent.append(message)

    def close(self):
        self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class FakeServiceBusClient:
    def __init__(self):
        self.sent: list[ServiceBusMessage] = []
        self.stored: list[ServiceBusMessage] = []
        self.senders: list[FakeSender] = []
        self.fail: Exception | None = None

    def get_queue_sender(self, queue_name):
        assert queue_name == QUEUE
        sender = FakeSender(self)
        self.senders.append(sender)
        return sender


def env(**overrides):
    e = {
        "WEBHOOK_SECRET": SECRET,
        "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": NS,
        "SERVICEBUS_QUEUE_NAME": QUEUE,
    }
    e.update(overrides)
    return {k: v for k, v in e.items() if v is not None}


def request(body: bytes, signature: str | None = None, *, method="POST", headers=None) -> func.HttpRequest:
    h = {"Content-Type": "application/json", "X-Forwarded-For": "15.204.75.108:50312"}
    if signature is not None:
        h["X-Webhook-Signature"] = signature
    h.update(headers or {})
    return func.HttpRequest(
        method=method,
        url="https://makini-dev.azurewebsites.net/api/makini/webhooks",
        headers=h,
        params={},
        route_params={},
        body=body,
    )


def signed(body: bytes, key: str = SECRET, **kw) -> func.HttpRequest:
    return request(body, openssl_signature(key, body), **kw)


@pytest.fixture
def sb():
    return FakeServiceBusClient()


def receiver(sb, **overrides):
    return az.Receiver.from_env(env(**overrides), servicebus_client=sb)


def status(resp: func.HttpResponse) -> int:
    assert resp.mimetype == "application/json"
    json.loads(resp.get_body())
    return resp.status_code


def test_accepts_and_sends_with_message_id_dedupe_id(sb):
    body = payload(connection_id="conn-1")
    resp = receiver(sb).handle(signed(body), "inv-1")
    assert status(resp) == 200
    assert json.loads(resp.get_body())["status"] == "accepted"
    (msg,) = sb.sent
    assert msg.message_id == hashlib.sha256(body).hexdigest()
    assert msg.content_type == "application/json"
    assert msg.subject == "assets.updated"
    assert msg.application_properties == {"dedupe_id": msg.message_id, "event": "assets.updated"}
    content = json.loads(str(msg))
    assert content["body"] == body.decode()
    assert content["connection_id"] == "conn-1"
    assert content["request_id"] == "inv-1"
    assert content["dedupe_id"] == msg.message_id
    assert set(content) == {"body", "event", "connection_id", "received_at", "dedupe_id", "request_id"}


def test_duplicate_delivery_is_200_and_service_bus_keeps_one(sb):
    r = receiver(sb)
    assert status(r.handle(signed(payload()), "a")) == 200
    assert status(r.handle(signed(payload()), "b")) == 200
    assert len(sb.sent) == 2 and sb.sent[0].message_id == sb.sent[1].message_id
    assert len(sb.stored) == 1


def test_sender_is_reused_and_rebuilt_after_an_error(sb):
    r = receiver(sb)
    for i in range(3):
        assert status(r.handle(signed(payload(ids=[i])), "x")) == 200
    assert len(sb.senders) == 1
    sb.fail = ServiceBusConnectionError(message="link detached")
    assert status(r.handle(signed(payload(ids=[9])), "x")) == 503
    assert sb.senders[0].closed
    sb.fail = None
    assert status(r.handle(signed(payload(ids=[9])), "x")) == 200
    assert len(sb.senders) == 2


@pytest.mark.parametrize("exc", [ServiceBusConnectionError(message="down"), TimeoutError(), RuntimeError("x")])
def test_queue_down_is_503(sb, exc):
    sb.fail = exc
    resp = receiver(sb).handle(signed(payload()), "x")
    assert status(resp) == 503
    assert resp.headers["retry-after"] == "30"


def test_message_too_large_for_queue_is_413(sb):
    sb.fail = MessageSizeExceededError(message="too big")
    assert status(receiver(sb).handle(signed(payload()), "x")) == 413


def test_forged_missing_and_junk_signatures_are_401(sb):
    r = receiver(sb)
    body = payload()
    good = openssl_signature(SECRET, body)
    for sig in (
        openssl_signature("forged", body),
        None,
        "",
        good.rstrip("="),
        "sha256=" + good,
        base64.b64decode(good).hex(),
        ",".join([good] * 10_000),
    ):
        assert status(r.handle(request(body, sig), "x")) == 401, sig
    assert sb.sent == []


def test_headers_case_insensitive(sb):
    body = payload()
    req = request(body, headers={"x-WEBHOOK-signature": openssl_signature(SECRET, body)})
    assert status(receiver(sb).handle(req, "x")) == 200


@pytest.mark.parametrize("method", ["GET", "PUT", "HEAD", "OPTIONS", "DELETE"])
def test_non_post_is_405(sb, method):
    resp = receiver(sb).handle(signed(payload(), method=method), "x")
    assert status(resp) == 405
    assert resp.headers["allow"] == "POST"


def test_oversize_is_413_and_not_json_is_400(sb):
    r = receiver(sb, MAX_BODY_BYTES="32")
    assert status(r.handle(signed(payload()), "x")) == 413
    assert status(receiver(sb).handle(signed(b"plain text"), "x")) == 400
    assert status(receiver(sb).handle(signed(b""), "x")) == 400


def test_previous_secret_accepted_while_configured(sb):
    r = receiver(sb, WEBHOOK_SECRET=NEW_SECRET, WEBHOOK_SECRET_PREVIOUS=SECRET)
    assert status(r.handle(signed(payload(ids=[1]), key=SECRET), "x")) == 200
    assert status(r.handle(signed(payload(ids=[2]), key=NEW_SECRET), "x")) == 200
    r2 = receiver(sb, WEBHOOK_SECRET=NEW_SECRET)
    assert status(r2.handle(signed(payload(ids=[3]), key=SECRET), "x")) == 401


def test_previous_secret_expires_at_its_configured_time(sb):
    """Finding 5: on AWS the previous secret is refused GRACE_SECONDS after the rotation; on Azure it was accepted
    for as long as the setting stayed. It now stops at WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT (rotation time plus
    graceSeconds, set by the program from makini:webhooks.azure.previousSecretExpiresAt)."""
    from datetime import UTC, datetime

    until = datetime(2026, 12, 2, 10, 0, tzinfo=UTC).timestamp()
    settings = env(
        WEBHOOK_SECRET=NEW_SECRET,
        WEBHOOK_SECRET_PREVIOUS=SECRET,
        WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT="2026-12-02T10:00:00Z",
    )
    assert (
        az.AppSettingKeys(settings, clock=lambda: until - 1).load()
        == az.AppSettingKeys({**settings, "WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": ""}, clock=lambda: until - 1).load()
    )
    before = az.AppSettingKeys(settings, clock=lambda: until - 1).load()
    after = az.AppSettingKeys(settings, clock=lambda: until).load()
    assert len(before) == 2 and len(after) == 1
    unreadable = az.AppSettingKeys({**settings, "WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT": "soon"}, clock=lambda: 0).load()
    assert len(unreadable) == 1  # fail closed
    # Through the receiver: the previous secret's signature is refused once the time has passed.
    now = datetime.now(UTC).timestamp()
    past = datetime.fromtimestamp(now - 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    future = datetime.fromtimestamp(now + 3600, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    live = receiver(
        sb, WEBHOOK_SECRET=NEW_SECRET, WEBHOOK_SECRET_PREVIOUS=SECRET, WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT=future
    )
    assert status(live.handle(signed(payload(ids=[11]), key=SECRET), "x")) == 200
    gone = receiver(
        sb, WEBHOOK_SECRET=NEW_SECRET, WEBHOOK_SECRET_PREVIOUS=SECRET, WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT=past
    )
    assert status(gone.handle(signed(payload(ids=[12]), key=SECRET), "x")) == 401
    assert status(gone.handle(signed(payload(ids=[13]), key=NEW_SECRET), "x")) == 200


@pytest.mark.parametrize(
    "value", ["", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/webhook/)", None]
)
def test_unavailable_secret_is_503_never_accepting(sb, value):
    import hmac

    body = payload()
    forged = base64.b64encode(hmac.digest((value or "").encode(), body, "sha256")).decode()
    r = receiver(sb, WEBHOOK_SECRET=value)
    assert status(r.handle(request(body, forged), "x")) == 503
    assert sb.sent == []


def test_unresolved_previous_reference_is_ignored(sb):
    r = receiver(sb, WEBHOOK_SECRET_PREVIOUS="@Microsoft.KeyVault(VaultName=kv;SecretName=webhook)")
    assert status(r.handle(signed(payload()), "x")) == 200


def test_source_allow_list_uses_front_end_address(sb):
    r = receiver(sb, ALLOWED_SOURCE_IPS="15.204.75.108/32")
    assert status(r.handle(signed(payload(ids=[1])), "x")) == 200
    spoofed = signed(payload(ids=[2]), headers={"X-Forwarded-For": "15.204.75.108, 1.2.3.4:5555"})
    assert status(r.handle(spoofed, "x")) == 403
    assert status(r.handle(signed(payload(ids=[3]), headers={"X-Forwarded-For": ""}), "x")) == 403


def test_js_stringify_mode(sb):
    pretty = b'{"event": "assets.updated", "body": [1]}'
    sig = openssl_signature(SECRET, b'{"event":"assets.updated","body":[1]}')
    assert status(receiver(sb).handle(request(pretty, sig), "x")) == 401
    assert status(receiver(sb, SIGNATURE_MODE="raw+js-stringify").handle(request(pretty, sig), "x")) == 200


def test_module_entry_point_and_registration(sb, monkeypatch):
    for k, v in env().items():
        monkeypatch.setenv(k, v)
    az.reset(az.Receiver.from_env(servicebus_client=sb))
    try:
        (fn,) = az.app.get_functions()
        binding = json.loads(fn.get_raw_bindings()[0])
        assert binding["route"] == "makini/webhooks"
        assert binding["authLevel"] == "ANONYMOUS"
        assert "POST" in binding["methods"] and "GET" in binding["methods"]
        user_fn = fn.get_user_function()
        ctx = type("Ctx", (), {"invocation_id": "inv-42"})()
        assert status(user_fn(signed(payload()), ctx)) == 200
        assert json.loads(str(sb.sent[0]))["request_id"] == "inv-42"
        assert status(user_fn(signed(payload(), method="GET"), ctx)) == 405
    finally:
        az.reset()


def test_module_entry_point_misconfigured_is_503(monkeypatch):
    monkeypatch.delenv("SERVICEBUS_QUEUE_NAME", raising=False)
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", NS)
    az.reset()
    resp = az.handle(signed(payload()), None)
    assert resp.status_code == 503
    assert "SERVICEBUS_QUEUE_NAME" in json.loads(resp.get_body())["message"]
    az.reset()


def test_real_sdk_client_is_built_lazily_with_managed_identity(monkeypatch):
    """Without an injected client, the SDK client is built on first send from the namespace
    and DefaultAzureCredential (no connection string)."""
    import azure.identity
    import azure.servicebus

    built = {}

    class SpyClient(FakeServiceBusClient):
        def __init__(self, **kw):
            super().__init__()
            built.update(kw)

    monkeypatch.setattr(azure.servicebus, "ServiceBusClient", SpyClient)
    monkeypatch.setattr(azure.identity, "DefaultAzureCredential", lambda: "managed-identity")
    r = az.Receiver.from_env(env())
    assert built == {}
    assert status(r.handle(signed(payload()), "x")) == 200
    assert built["fully_qualified_namespace"] == NS
    assert built["credential"] == "managed-identity"


def test_loaded_secrets_are_masked_if_they_ever_reach_a_log_line(sb, caplog):
    fresh_current, fresh_previous = "az-current-only-in-this-test", "az-previous-only-in-this-test"
    r = receiver(sb, WEBHOOK_SECRET=fresh_current, WEBHOOK_SECRET_PREVIOUS=fresh_previous)
    assert status(r.handle(signed(payload(ids=[1]), key=fresh_current), "x")) == 200
    caplog.set_level("DEBUG", logger="webhook_receiver")
    from functions.webhook_receiver.logs import log_event

    log_event(40, "oops", detail=f"{fresh_current} {fresh_previous}")
    assert fresh_current not in caplog.text and fresh_previous not in caplog.text
    assert caplog.text.count("[redacted]") == 2
