"""Never a 500, whatever the event: hypothesis over arbitrary and near-valid events (moto)."""

from __future__ import annotations

import base64
import hmac
import json

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from .conftest import SECRET, make_event

ALLOWED = {200, 400, 401, 403, 405, 409, 413, 503}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _sign(body: bytes) -> str:
    # Only used to reach the deep paths (dedupe, queue) with random bodies; the known-answer
    # checks of the HMAC itself use openssl (test_core, test_aws_lambda).
    return base64.b64encode(hmac.digest(SECRET.encode(), body, "sha256")).decode()


@st.composite
def near_valid_events(draw):
    body = draw(st.binary(max_size=300) | _json.map(lambda v: json.dumps(v).encode()))
    sig = draw(st.sampled_from(["good", "none", "junk"]))
    signature = {"good": _sign(body), "none": None, "junk": draw(st.text(max_size=60))}[sig]
    ev = make_event(body if draw(st.booleans()) else b"", signature, b64=True)
    ev["body"] = base64.b64encode(body).decode() if ev["isBase64Encoded"] else body.decode("utf-8", "replace")
    if sig == "good" and not ev["isBase64Encoded"]:
        ev["headers"]["x-webhook-signature"] = _sign(ev["body"].encode("utf-8"))
    # then damage any part of it
    for _ in range(draw(st.integers(0, 3))):
        path = draw(
            st.sampled_from(
                [
                    ("body",),
                    ("isBase64Encoded",),
                    ("headers",),
                    ("requestContext",),
                    ("requestContext", "http"),
                    ("requestContext", "http", "method"),
                    ("requestContext", "http", "sourceIp"),
                    ("requestContext", "requestId"),
                    ("headers", "x-webhook-signature"),
                ]
            )
        )
        target = ev
        for key in path[:-1]:
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, dict):
            target[path[-1]] = draw(_json)
    return ev


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(st.one_of(_json, near_valid_events()))
def test_never_500_and_always_a_well_formed_response(aws, ev):
    r = aws.receiver(ALLOWED_SOURCE_IPS="15.204.75.108/32", SIGNATURE_MODE="raw+js-stringify")
    resp = r.handle(ev, None)
    event(f"status {resp['statusCode']}")
    assert resp["statusCode"] in ALLOWED
    assert resp["headers"]["content-type"] == "application/json"
    assert isinstance(json.loads(resp["body"]), dict)
