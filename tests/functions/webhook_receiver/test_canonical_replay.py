"""One signed webhook is one event: in ``raw+js-stringify`` mode every re-formatting of a body
whose canonical ``JSON.stringify`` form is signed verifies, so the dedupe id and the queued body
must be the canonical ones; and a body with a duplicated object key is refused in both modes (a
consumer that keeps the first value would read something Python never saw).

Canonical forms come from node (``JSON.stringify(JSON.parse(text))``), signatures from openssl:
neither from the code under test."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest

from functions.webhook_receiver import azure_function as az
from functions.webhook_receiver import signature

from .conftest import SECRET, body_of, make_event, openssl_signature
from .test_azure_function import FakeServiceBusClient, env, request, status

CTX = type("Ctx", (), {"aws_request_id": "lambda-req-1"})()
JS = "raw+js-stringify"


def node_stringify(text: bytes) -> bytes:
    out = subprocess.run(
        [
            "/usr/bin/node",
            "-e",
            "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0,'utf8'))))",
        ],
        input=text,
        capture_output=True,
        check=True,
    )
    return out.stdout


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# The webhook Makini signed (over JSON.stringify of its data) ...
SIGNED_DATA = b'{"event":"Assets.updated","connection_id":"conn-42","body":[1,2.5,"A"],"n":1}'
# ... and variants of it that parse to the same value, so JSON.stringify gives the same bytes.
VARIANTS = [
    b'{"event": "Assets.updated", "connection_id": "conn-42", "body": [1, 2.5, "A"], "n": 1}',
    b'{\n  "event":"Assets.updated",\n  "connection_id":"conn-42",\n  "body":[1.0,2.50,"A"],\n  "n":1.0\n}',
    b'{"event":"\\u0041ssets.updated","connection_id":"conn-42","body":[1,25e-1,"\\u0041"],"n":10E-1}',
    b'  {"event":"Assets.updated","connection_id":"conn-42","body":[1,2.5,"A"],"n":1}\t\r\n',
]
# Same canonical form too, but a duplicated key: JS and Python keep the last value, others the first.
DUPLICATE_KEY_VARIANTS = [
    b'{"event":"assets.deleted","event":"Assets.updated","connection_id":"conn-42","body":[1,2.5,"A"],"n":1}',
    b'{"event":"Assets.updated","connection_id":"conn-42","body":[1,2.5,"A"],"n":7,"n":1}',
]


def test_oracle_agrees_the_variants_are_one_value():
    canonical = node_stringify(SIGNED_DATA)
    assert canonical == SIGNED_DATA
    for v in VARIANTS + DUPLICATE_KEY_VARIANTS:
        assert v != canonical and node_stringify(v) == canonical, v


# ------------------------------------------------------------------------------------------
# AWS Lambda (moto SQS + DynamoDB)
# ------------------------------------------------------------------------------------------


def test_js_mode_variants_of_one_signed_body_queue_one_canonical_message(aws):
    r = aws.receiver(SIGNATURE_MODE=JS)
    sig = openssl_signature(SECRET, SIGNED_DATA)
    answers = [r.handle(make_event(v, sig, request_id=f"req-{i}"), CTX) for i, v in enumerate(VARIANTS)]
    answers.append(r.handle(make_event(SIGNED_DATA, sig, request_id="req-canonical"), CTX))
    assert [a["statusCode"] for a in answers] == [200] * (len(VARIANTS) + 1)
    bodies = [body_of(a) for a in answers]
    assert [b["status"] for b in bodies] == ["accepted"] + ["duplicate"] * len(VARIANTS)
    assert {b["dedupe_id"] for b in bodies} == {sha(SIGNED_DATA)}

    (msg,) = aws.messages()
    content = json.loads(msg["Body"])
    assert content["body"] == SIGNED_DATA.decode()  # canonical text, not the first variant's bytes
    assert content["dedupe_id"] == sha(SIGNED_DATA)
    assert msg["MessageAttributes"]["dedupe_id"]["StringValue"] == sha(SIGNED_DATA)
    assert content["event"] == "Assets.updated" and content["connection_id"] == "conn-42"
    (item,) = aws.items()
    assert item["id"]["S"] == sha(SIGNED_DATA)


@pytest.mark.parametrize("mode", ["raw", JS])
def test_duplicate_keys_are_400_and_never_queued(aws, mode):
    r = aws.receiver(SIGNATURE_MODE=mode)
    for body in DUPLICATE_KEY_VARIANTS + [b'{"a":{"b":1,"b":2}}', b'[{"x":1},{"y":2,"y":2}]']:
        # signed over its own raw bytes: accepted by the HMAC in both modes, refused as JSON
        resp = r.handle(make_event(body, openssl_signature(SECRET, body)), CTX)
        assert resp["statusCode"] == 400, (mode, body)
        assert body_of(resp)["error"] == "malformed"
        assert "duplicate" in body_of(resp)["message"]
    if mode == JS:  # signed over the canonical form: matches via js-stringify, refused all the same
        for body in DUPLICATE_KEY_VARIANTS:
            resp = r.handle(make_event(body, openssl_signature(SECRET, SIGNED_DATA)), CTX)
            assert resp["statusCode"] == 400 and body_of(resp)["error"] == "malformed"
    assert aws.messages() == []
    assert aws.items() == []


def test_raw_mode_queues_the_raw_bytes_verbatim(aws):
    r = aws.receiver()  # SIGNATURE_MODE=raw (default)
    for body in VARIANTS:
        resp = r.handle(make_event(body, openssl_signature(SECRET, body)), CTX)
        assert resp["statusCode"] == 200 and body_of(resp) == {"status": "accepted", "dedupe_id": sha(body)}
    # a variant under the canonical form's signature does not verify in raw mode
    assert r.handle(make_event(VARIANTS[0], openssl_signature(SECRET, SIGNED_DATA)), CTX)["statusCode"] == 401
    got = {json.loads(m["Body"])["dedupe_id"]: json.loads(m["Body"])["body"] for m in aws.messages()}
    assert got == {sha(v): v.decode() for v in VARIANTS}


def test_js_mode_raw_match_still_queues_raw_bytes(aws):
    """A body whose own bytes are signed matched over the raw bytes: queued verbatim."""
    r = aws.receiver(SIGNATURE_MODE=JS)
    body = VARIANTS[1]
    resp = r.handle(make_event(body, openssl_signature(SECRET, body)), CTX)
    assert body_of(resp) == {"status": "accepted", "dedupe_id": sha(body)}
    (msg,) = aws.messages()
    assert json.loads(msg["Body"])["body"] == body.decode()


# ------------------------------------------------------------------------------------------
# Azure Functions (fake Service Bus: duplicate detection keys on message_id)
# ------------------------------------------------------------------------------------------


def test_azure_js_mode_variants_send_one_message_id_with_canonical_body():
    sb = FakeServiceBusClient()
    r = az.Receiver.from_env(env(SIGNATURE_MODE=JS), servicebus_client=sb)
    sig = openssl_signature(SECRET, SIGNED_DATA)
    for i, v in enumerate(VARIANTS + [SIGNED_DATA]):
        assert status(r.handle(request(v, sig), f"inv-{i}")) == 200
    assert {m.message_id for m in sb.sent} == {sha(SIGNED_DATA)}
    assert {json.loads(str(m))["body"] for m in sb.sent} == {SIGNED_DATA.decode()}
    for body in DUPLICATE_KEY_VARIANTS:
        assert status(r.handle(request(body, sig), "dup")) == 400
        assert status(r.handle(request(body, openssl_signature(SECRET, body)), "dup-raw")) == 400
    assert len(sb.sent) == len(VARIANTS) + 1


# ------------------------------------------------------------------------------------------
# The core directly
# ------------------------------------------------------------------------------------------


def test_authenticate_reports_canonical_identity_for_js_matches():
    key = SECRET.encode()
    sig = openssl_signature(SECRET, SIGNED_DATA)
    for v in VARIANTS:
        got = signature.authenticate(v, sig, lambda refresh: (key,), signature.MODE_RAW_JS)
        assert got.matched == "js-stringify"
        assert (got.text, got.dedupe_id) == (SIGNED_DATA.decode(), sha(SIGNED_DATA))
    raw = signature.authenticate(
        VARIANTS[0], openssl_signature(SECRET, VARIANTS[0]), lambda refresh: (key,), signature.MODE_RAW
    )
    assert (raw.matched, raw.text, raw.dedupe_id) == ("raw", VARIANTS[0].decode(), sha(VARIANTS[0]))
