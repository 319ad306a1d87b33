"""The pure verification core: strict decoding, verification, JSON.stringify compatibility."""

from __future__ import annotations

import base64
import binascii
import json
import random
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from functions.webhook_receiver import errors, js_stringify, payload, request, signature

from .conftest import SECRET, openssl_signature

KEY = SECRET.encode()


def _keys(refresh: bool = False):
    return (KEY,)


# ------------------------------------------------------------------------------------------
# Strict signature decoding
# ------------------------------------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32))
def test_any_canonical_32_byte_signature_decodes(raw):
    sig = base64.b64encode(raw).decode()
    assert signature.decode_signatures(sig) == [raw]
    assert signature.decode_signatures(f" \t{sig} ") == [raw]  # HTTP optional whitespace


def _oracle_ok(text: str) -> bool:
    """Independent statement of "canonical standard base64 of exactly 32 bytes"."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    return len(raw) == 32 and base64.b64encode(raw).decode() == text


_B64ISH = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ é\n", min_size=40, max_size=48
)


@settings(max_examples=400)
@given(st.one_of(_B64ISH, st.text(max_size=60)))
def test_decoder_agrees_with_oracle_and_only_raises_typed_errors(text):
    if "," in text or text != text.strip(" \t") or not text.strip(" \t"):
        # separators and OWS have their own rules (below); still only typed errors
        try:
            signature.decode_signatures(text)
        except errors.WebhookError as err:
            assert err.status == 401
        return
    try:
        got = signature.decode_signatures(text)
    except errors.WebhookError as err:
        assert err.status == 401
        assert not _oracle_ok(text)
    else:
        assert _oracle_ok(text)
        assert got == [base64.b64decode(text)]


@pytest.mark.parametrize("n", [1, 2, 4])
def test_up_to_four_joined_signatures(n):
    sig = base64.b64encode(bytes(range(32))).decode()
    assert signature.decode_signatures(",".join([sig] * n)) == [bytes(range(32))] * n


def test_absurd_headers_are_refused_before_decoding(monkeypatch):
    class Boom:
        def fullmatch(self, *_):
            raise AssertionError("decoder ran on an oversized header")

    monkeypatch.setattr(signature, "_SIGNATURE_RE", Boom())
    sig = base64.b64encode(bytes(32)).decode()
    for value in (",".join([sig] * 10_000), "A" * 1_000_000, ",".join([sig] * 5)):
        with pytest.raises(errors.SignatureInvalid):
            signature.decode_signatures(value)


# ------------------------------------------------------------------------------------------
# verify / authenticate
# ------------------------------------------------------------------------------------------


@settings(max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_openssl_signatures_verify_and_bit_flips_do_not(body):
    sig = base64.b64decode(openssl_signature(SECRET, body))
    assert signature.verify(body, [sig], (KEY,)) == "raw"
    flipped = bytes([sig[0] ^ 0x80]) + sig[1:]
    with pytest.raises(errors.SignatureInvalid):
        signature.verify(body, [flipped], (KEY,))
    if body:
        with pytest.raises(errors.SignatureInvalid):
            signature.verify(body[:-1], [sig], (KEY,))


def test_any_of_several_keys_matches():
    body = b'{"event":"sites.inserted","body":[1]}'
    sig = base64.b64decode(openssl_signature("previous-secret", body))
    assert signature.verify(body, [sig], (KEY, b"previous-secret")) == "raw"
    with pytest.raises(errors.SignatureInvalid):
        signature.verify(body, [sig], (KEY,))


def test_no_keys_is_unavailable_never_a_match():
    with pytest.raises(errors.Unavailable):
        signature.verify(b"{}", [bytes(32)], ())
    assert signature.usable_keys(["", b"", None, "k"]) == (b"k",)


def test_authenticate_refreshes_once_on_mismatch():
    body = b'{"event":"assets.updated","body":[]}'
    sig = openssl_signature("rotated", body)
    calls = []

    def load(refresh):
        calls.append(refresh)
        return (b"rotated",) if refresh else (KEY,)

    v = signature.authenticate(body, sig, load)
    assert calls == [False, True]
    assert v.dedupe_id == __import__("hashlib").sha256(body).hexdigest()
    assert v.payload == {"event": "assets.updated", "body": []}


# ------------------------------------------------------------------------------------------
# JSON.stringify compatibility, checked against node itself
# ------------------------------------------------------------------------------------------


def _node_stringify(texts: list[str]) -> list[str]:
    script = (
        "const xs=JSON.parse(require('fs').readFileSync(0,'utf8'));"
        "process.stdout.write(JSON.stringify(xs.map(t=>JSON.stringify(JSON.parse(t)))));"
    )
    out = subprocess.run(
        ["/usr/bin/node", "-e", script], input=json.dumps(texts).encode(), capture_output=True, check=True
    )
    return json.loads(out.stdout)


def _random_json(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return rng.choice([None, True, False])
    if kind == 1:
        return rng.choice([0, -0.0, 1, -1, 2**53 + 1, 10**21, 10**22, 123456789012345678901234567890, 10**400])
    if kind == 2:
        return rng.choice(
            [0.1, 1.5, -2.5e-7, 1e-6, 1e-7, 1e21, 1.7976931348623157e308, 5e-324, 100.0, 0.000001234, 123e-20]
        )
    if kind == 3:
        return rng.uniform(-1e6, 1e6) * 10 ** rng.randrange(-30, 30)
    if kind in (4, 5):
        alphabet = 'ab"\\/\n\t\x00\x1f\x7f é€😀\u2028\ud800'
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(6)))
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["b", "a", "1", "0", "10", "01", "-1", "4294967294", "4294967295", "é", "", "__proto__x"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_js_stringify_matches_node():
    rng = random.Random(20251129)
    texts = [
        '{"event": "assets.updated", "body": [1, 2, 3]}',
        '{"b":1,"a":2,"2":3,"1":4}',
        '{"x":1.0,"y":1e2,"z":-0,"w":1E-7}',
        '{"s":"\\u00e9\\u2028\\ud83d\\ude00\\ud800\\/"}',
        '{"a":1,"a":2}',
        "[12345678901234567890, 0.1, 100, 1e400]".replace("1e400", "1"),
    ]
    for _ in range(400):
        value = _random_json(rng)
        texts.append(json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])))
    expected = _node_stringify(texts)
    for text, want in zip(texts, expected, strict=True):  # node answered every text
        assert js_stringify.js_stringify(json.loads(text)) == want, text


def test_js_mode_accepts_stringify_signature_only_when_enabled():
    pretty = b'{\n  "body": [1, 2],\n  "event": "assets.updated",\n  "1": "x"\n}'
    compact = _node_stringify([pretty.decode()])[0].encode()
    sig = base64.b64decode(openssl_signature(SECRET, compact))
    with pytest.raises(errors.SignatureInvalid):
        signature.verify(pretty, [sig], (KEY,), signature.MODE_RAW)
    assert signature.verify(pretty, [sig], (KEY,), signature.MODE_RAW_JS) == "js-stringify"
    assert signature.verify(compact, [sig], (KEY,), signature.MODE_RAW_JS) == "raw"
    for junk in (b"not json", b"\xff", b"[" * 100_000, b'{"a":NaN}'):
        with pytest.raises(errors.SignatureInvalid):
            signature.verify(junk, [sig], (KEY,), signature.MODE_RAW_JS)


# ------------------------------------------------------------------------------------------
# Small pieces
# ------------------------------------------------------------------------------------------


def test_event_body_size_is_checked_before_and_after_decoding():
    assert request.event_body_bytes(base64.b64encode(b"x" * 10).decode(), True, 10) == b"x" * 10
    with pytest.raises(errors.PayloadTooLarge):
        request.event_body_bytes(base64.b64encode(b"x" * 11).decode(), True, 10)
    with pytest.raises(errors.PayloadTooLarge):
        request.event_body_bytes("é" * 6, False, 10)
    with pytest.raises(errors.MalformedRequest):
        request.event_body_bytes("x", "true", 10)
    with pytest.raises(errors.MalformedRequest):
        request.event_body_bytes("\ud800", False, 10)
    with pytest.raises(errors.MalformedRequest):
        request.event_body_bytes({"a": 1}, False, 10)


def test_utc_iso():
    assert payload.utc_iso(0) == "1970-01-01T00:00:00.000Z"


def test_error_statuses():
    expected = {
        errors.MalformedRequest: 400,
        errors.SignatureMissing: 401,
        errors.SignatureInvalid: 401,
        errors.SourceNotAllowed: 403,
        errors.MethodNotAllowed: 405,
        errors.InProgress: 409,
        errors.PayloadTooLarge: 413,
        errors.Unavailable: 503,
        errors.ConfigurationError: 503,
    }
    for cls, status in expected.items():
        assert cls("x").status == status
