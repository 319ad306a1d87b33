"""The receiver at its edges: header and body limits, source networks, constant-time comparison, the
JSON.stringify form after a key refresh, numbers JSON cannot carry, and the exact bytes it answers and queues.

Each test names a behaviour the mutation run (bench/mutation.py) found unguarded. Signatures come from openssl,
canonical forms from node, never from the code under test.
"""

from __future__ import annotations

import base64
import functools
import hmac
import ipaddress
import json
import math
import subprocess

import pytest

from functions.webhook_receiver import errors, js_stringify, payload, request, responses, settings, signature

from .conftest import SECRET, openssl_signature

KEY = SECRET.encode()
SIG = base64.b64encode(bytes(range(32))).decode()  # a well-formed 44-character signature


@functools.cache
def node_stringify(text: str) -> str:
    """``JSON.stringify(JSON.parse(text))`` by node."""
    script = "process.stdout.write(JSON.stringify(JSON.parse(require('fs').readFileSync(0,'utf8'))))"
    return subprocess.run(
        ["/usr/bin/node", "-e", script], input=text.encode(), capture_output=True, check=True
    ).stdout.decode()


# --- the signature header ------------------------------------------------------------------------------------


def test_the_signature_header_limit_is_256_characters():
    assert signature.MAX_SIGNATURE_HEADER_CHARS == 256
    padded = SIG + " " * (256 - len(SIG))  # trailing optional whitespace is allowed
    assert len(padded) == 256
    assert signature.decode_signatures(padded) == [bytes(range(32))]
    with pytest.raises(errors.SignatureInvalid, match="too long"):
        signature.decode_signatures(padded + " ")


def test_four_signatures_are_tried_a_fifth_is_refused():
    four = ", ".join([SIG] * 4)
    assert signature.decode_signatures(four) == [bytes(range(32))] * 4
    with pytest.raises(errors.SignatureInvalid, match="too many"):
        signature.decode_signatures(",".join([SIG] * 5))


@pytest.mark.parametrize(
    ("value", "error"),
    [
        (None, errors.SignatureMissing),
        ("", errors.SignatureMissing),
        (" \t ", errors.SignatureMissing),
        (b"x" * 44, errors.SignatureInvalid),
        (SIG + "," + SIG[:-1], errors.SignatureInvalid),
        (SIG[:20] + " " + SIG[21:], errors.SignatureInvalid),
    ],
)
def test_missing_and_malformed_headers(value, error):
    with pytest.raises(error) as raised:
        signature.decode_signatures(value)
    assert type(raised.value) is error


def test_the_comparison_is_constant_time_and_never_stops_early(monkeypatch):
    """Every presented signature is compared with every key's MAC by hmac.compare_digest, even after a match."""
    calls: list[tuple[bytes, bytes]] = []

    def spy(a, b):
        calls.append((a, b))
        return hmac.compare_digest(a, b)

    monkeypatch.setattr(signature, "_compare", spy)
    body = b'{"event":"assets.updated"}'
    good = base64.b64decode(openssl_signature(SECRET, body))
    assert signature.verify(body, [good], (KEY,)) == "raw"
    assert calls == [(hmac.new(KEY, body, "sha256").digest(), good)]
    calls.clear()
    assert signature.verify(body, [good, bytes(32)], (KEY, b"other-secret")) == "raw"
    assert len(calls) == 4  # 2 keys x 2 signatures, no early exit after the first match
    calls.clear()
    with pytest.raises(errors.SignatureInvalid):
        signature.verify(body, [bytes(32)], (b"other-secret",))
    assert len(calls) == 1


def test_the_module_compares_with_hmac_compare_digest():
    assert signature._compare is hmac.compare_digest


def test_after_a_key_refresh_the_js_stringify_form_still_verifies():
    pretty = b'{\n  "event": "assets.updated",\n  "body": [1]\n}'
    canonical = node_stringify(pretty.decode()).encode()
    sig = openssl_signature("rotated-secret", canonical)
    calls = []

    def load(refresh: bool):
        calls.append(refresh)
        return (b"rotated-secret",) if refresh else (KEY,)

    verified = signature.authenticate(pretty, sig, load, signature.MODE_RAW_JS)
    assert calls == [False, True]
    assert verified.matched == "js-stringify"
    assert verified.body == canonical
    with pytest.raises(errors.SignatureInvalid):
        signature.authenticate(pretty, sig, load, signature.MODE_RAW)  # raw mode: never the canonical form


@pytest.mark.parametrize(
    "pretty",
    [
        '{"b": 1, "10": 2, "2": 3, "a": {"1": [], "0": null}}',  # integer-like keys go first, ascending
        '{"4294967294": 1, "4294967295": 2, "1": 3, "01": 4}',  # 2**32-2 is an array index, 2**32-1 is not
        '{"x": 1e400, "y": -1e400, "z": 100000000000000000000000}',  # beyond the double range: null in JS
    ],
)
def test_js_stringify_mode_verifies_what_node_signs(pretty):
    canonical = node_stringify(pretty).encode()
    sig = base64.b64decode(openssl_signature(SECRET, canonical))
    assert signature.verify(pretty.encode(), [sig], (KEY,), signature.MODE_RAW_JS) == "js-stringify"
    assert js_stringify.js_stringify(json.loads(pretty)).encode() == canonical


def test_integers_beyond_doubles_print_as_javascript_does():
    assert js_stringify.js_stringify(10**400) == node_stringify("1" + "0" * 400) == "null"
    assert js_stringify.js_stringify(float("nan")) == "null"
    with pytest.raises(ValueError) as raised:
        js_stringify.js_stringify(object())
    assert str(raised.value) == "not a JSON value"


@pytest.mark.parametrize("body", [b'{"a":NaN}', b'{"a":Infinity}', b"[-Infinity]", b"NaN"])
def test_nan_and_infinity_bodies_are_not_json(body):
    with pytest.raises(errors.MalformedRequest, match="not JSON"):
        payload.parse_payload(body)
    sig = base64.b64decode(openssl_signature(SECRET, body))
    with pytest.raises(errors.SignatureInvalid):  # nor is there a JSON.stringify form to match in js mode
        signature.verify(body, [bytes(32)], (KEY,), signature.MODE_RAW_JS)
    assert signature.verify(body, [sig], (KEY,), signature.MODE_RAW_JS) == "raw"  # the bytes themselves are signed


def test_a_1e400_body_parses_to_infinity_and_is_queued_as_sent():
    body = b'{"event":"x","v":1e400}'
    text, value = payload.parse_payload(body)
    assert text == body.decode() and value["v"] == math.inf
    verified = payload.Verified(body, text, value, "raw")
    assert verified.body == body and verified.text == body.decode()


def test_verified_bodies_must_be_utf8_json_with_unique_keys():
    for body, reason in [
        (b"", "verified body is empty, expected JSON"),
        (b"\xff{}", "verified body is not UTF-8"),
        (b'{"a":1,"a":2}', "verified body has a duplicated key in a JSON object; keys must be unique"),
        (b"{", "verified body is not JSON"),
        (b"[NaN]", "verified body is not JSON"),
    ]:
        with pytest.raises(errors.MalformedRequest) as raised:
            payload.parse_payload(body)
        assert raised.value.reason == reason
    assert payload.loads_strict('{"a":1,"a":2}') == {"a": 2}  # JSON.parse semantics for the canonical form
    with pytest.raises(ValueError) as raised_nan:
        payload.loads_strict("[NaN]")
    assert str(raised_nan.value) == "NaN and Infinity are not JSON"


# --- the body limit ----------------------------------------------------------------------------------------


def test_the_default_body_limit_is_256_kib_and_its_edge_is_inclusive():
    limit = settings.Settings.shared_from_env({})["max_body_bytes"]
    assert limit == settings.DEFAULT_MAX_BODY_BYTES == 262_144
    assert request.event_body_bytes("x" * limit, False, limit) == b"x" * limit
    with pytest.raises(errors.PayloadTooLarge, match=f"larger than {limit} bytes"):
        request.event_body_bytes("x" * (limit + 1), False, limit)
    exact = base64.b64encode(b"y" * limit).decode()
    assert request.event_body_bytes(exact, True, limit) == b"y" * limit
    with pytest.raises(errors.PayloadTooLarge):
        request.event_body_bytes(base64.b64encode(b"y" * (limit + 1)).decode(), True, limit)


@pytest.mark.parametrize("limit", [1, 9, 10, 11, 12])
def test_an_oversized_base64_body_is_refused_before_it_is_decoded(monkeypatch, limit):
    """The longest base64 text that can hold ``limit`` bytes is decoded; four characters more never are."""
    longest = 4 * math.ceil(limit / 3)
    decoded = []
    real = request.base64.b64decode

    def spy(text, validate=False):
        decoded.append(len(text))
        return real(text, validate=validate)

    monkeypatch.setattr(request.base64, "b64decode", spy)
    fits = base64.b64encode(b"z" * limit).decode()
    assert len(fits) == longest and request.event_body_bytes(fits, True, limit) == b"z" * limit
    with pytest.raises(errors.PayloadTooLarge):
        request.event_body_bytes("A" * (longest + 4), True, limit)
    assert decoded == [longest]


@pytest.mark.parametrize("body", ["QQ", "QQ=", "Q===", "QUJD\nRA==", "QUJ-", "QQ==QQ=="])
def test_base64_bodies_must_be_canonical(body):
    with pytest.raises(errors.MalformedRequest, match="not valid base64"):
        request.event_body_bytes(body, True, 100)


def test_no_body_is_empty_and_is_base64_must_be_a_boolean():
    assert request.event_body_bytes(None, True, 1) == b""
    assert request.event_body_bytes("", None, 1) == b""
    assert request.event_body_bytes("QQ==", True, 1) == b"A"
    with pytest.raises(errors.MalformedRequest, match="boolean"):
        request.event_body_bytes("QQ==", 1.5, 10)


# --- source networks -------------------------------------------------------------------------------------------


def test_a_cidr_with_host_bits_set_means_its_network():
    networks = request.parse_networks("10.0.0.5/24")
    assert networks == (ipaddress.ip_network("10.0.0.0/24"),)
    request.check_source("10.0.0.200", networks)
    request.check_source(" 10.0.0.1 ", networks)
    request.check_source("::ffff:10.0.0.7", networks)  # an IPv4-mapped IPv6 source is its IPv4 address
    for outside in ("10.0.1.1", "192.168.0.1", "::1"):
        with pytest.raises(errors.SourceNotAllowed, match="not allowed"):
            request.check_source(outside, networks)


def test_allowed_sources_parse_each_entry_and_name_the_bad_one():
    assert request.parse_networks(None) == request.parse_networks("  ") == ()
    assert request.parse_networks("15.204.75.108, ,148.113.140.236/32,") == (
        ipaddress.ip_network("15.204.75.108/32"),
        ipaddress.ip_network("148.113.140.236/32"),
    )
    with pytest.raises(errors.ConfigurationError, match="entry 3 is not an IP address or CIDR"):
        request.parse_networks("10.0.0.1,,10.0.0.300")


@pytest.mark.parametrize("source", [None, 42, "", "not-an-ip"])
def test_an_unknown_source_is_refused_when_a_list_is_set(source):
    with pytest.raises(errors.SourceNotAllowed, match="unknown"):
        request.check_source(source, request.parse_networks("10.0.0.0/8"))
    request.check_source(source, ())  # no list: any source


def test_only_post_and_header_case_folding():
    request.check_method("post")
    for method in ("GET", None, "POSTX"):
        with pytest.raises(errors.MethodNotAllowed):
            request.check_method(method)
    headers = request.normalise_headers({"X-Sig": "a", "x-sig": "b", 3: "c", "n": 4})
    assert headers == {"x-sig": "a,b"}
    assert request.header(headers, "X-SIG") == "a,b"
    assert request.normalise_headers(None) == {}


# --- what the receiver answers and queues ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("err", "status", "body", "headers"),
    [
        (
            errors.SignatureInvalid("signature does not match"),
            401,
            '{"status":"rejected","error":"signature_invalid","message":"signature does not match"}',
            {},
        ),
        (
            errors.MethodNotAllowed(),
            405,
            '{"status":"rejected","error":"method_not_allowed","message":"method_not_allowed"}',
            {"allow": "POST"},
        ),
        (
            errors.InProgress("busy"),
            409,
            '{"status":"retry","error":"in_progress","message":"busy"}',
            {"retry-after": "30"},
        ),
        (errors.PayloadTooLarge("big"), 413, '{"status":"rejected","error":"payload_too_large","message":"big"}', {}),
        (
            errors.ConfigurationError("x"),
            503,
            '{"status":"retry","error":"misconfigured","message":"x"}',
            {"retry-after": "30"},
        ),
    ],
)
def test_error_answers_are_compact_json_with_the_documented_fields(err, status, body, headers):
    answer = responses.response(err.status, responses.error_body(err), responses.error_headers(err))
    assert answer == {"statusCode": status, "headers": {"content-type": "application/json", **headers}, "body": body}


def test_a_server_side_status_is_always_retried():
    class Internal(errors.WebhookError):
        status = 500
        code = "internal"

    assert responses.error_body(Internal())["status"] == "retry"
    assert responses.error_headers(Internal()) == {}


def test_the_queued_message_is_compact_utf8_json_with_every_routing_field():
    body = '{"event":"assets.updated","connection":{"id":7},"note":"café ✓"}'
    verified = payload.Verified(body.encode(), body, json.loads(body), "raw")
    message = payload.build_message(verified, "req-9", 0.25)
    text = payload.encode_message(message)
    assert text == (
        '{"body":"{\\"event\\":\\"assets.updated\\",\\"connection\\":{\\"id\\":7},\\"note\\":\\"café ✓\\"}",'
        '"event":"assets.updated","connection_id":"7","received_at":"1970-01-01T00:00:00.250Z",'
        f'"dedupe_id":"{verified.dedupe_id}","request_id":"req-9"}}'
    )


@pytest.mark.parametrize(
    ("value", "connection", "event"),
    [
        ({"connection_id": "c1", "connectionId": "c2", "event": "e"}, "c1", "e"),
        ({"connection_id": "", "connectionId": 5, "event": ""}, "5", None),
        ({"connection_id": True, "connection": {"id": "c3"}}, "c3", None),
        ({"connection": {"id": False}, "event": 3}, None, None),
        ({"connection": "c4"}, None, None),
        ([1, 2], None, None),
    ],
)
def test_routing_fields(value, connection, event):
    assert payload.connection_id(value) == connection
    assert payload.event_type(value) == event


# --- every refusal says what is wrong (the "message" of the 401/503 answer and of the log line) ------------


@pytest.mark.parametrize(
    ("value", "error", "reason"),
    [
        (None, errors.SignatureMissing, "signature header missing"),
        (b"x" * 44, errors.SignatureInvalid, "signature header malformed"),
        (SIG + " " * 213, errors.SignatureInvalid, "signature header too long"),
        (" \t", errors.SignatureMissing, "signature header empty"),
        (",".join([SIG] * 5), errors.SignatureInvalid, "too many signatures"),
        ("sha256=" + SIG, errors.SignatureInvalid, "signature is not base64 of a 32-byte HMAC-SHA256"),
    ],
)
def test_header_refusals_name_the_problem(value, error, reason):
    with pytest.raises(error) as raised:
        signature.decode_signatures(value)
    assert raised.value.reason == reason


def test_verification_refusals_name_the_problem():
    with pytest.raises(errors.Unavailable) as raised:
        signature.verify(b"{}", [bytes(32)], ())
    assert raised.value.reason == "no webhook secret available"
    with pytest.raises(errors.SignatureInvalid) as raised:
        signature.verify(b"{}", [bytes(32)], (KEY,))
    assert raised.value.reason == "signature does not match"


@pytest.mark.parametrize(
    "value", [f"\n{SIG}", f"{SIG}\r", f"\x0b{SIG}", f"{SIG},\x0c{SIG}", f"{SIG}\n,{SIG}", f"X{SIG}", f"{SIG},{SIG}X"]
)
def test_only_spaces_and_tabs_surround_a_signature(value):
    """HTTP's optional whitespace is SP and HTAB; a line break or form feed is junk, not padding."""
    with pytest.raises(errors.SignatureInvalid):
        signature.decode_signatures(value)


def test_with_several_keys_or_signatures_a_wrong_signature_still_fails():
    body = b'{"event":"assets.updated"}'
    good = base64.b64decode(openssl_signature(SECRET, body))
    for presented, keys in [
        ([bytes(32)], (KEY, b"other-secret")),
        ([bytes(32), bytes(range(32))], (KEY,)),
        ([bytes(32), bytes(range(32))], (KEY, b"other-secret")),
    ]:
        with pytest.raises(errors.SignatureInvalid):
            signature.verify(body, presented, keys)
    assert signature.verify(body, [bytes(32), good], (KEY,)) == "raw"  # the second of two signatures
    assert signature.verify(body, [good, bytes(32)], (KEY,)) == "raw"


def test_the_js_stringify_form_verifies_without_a_refresh():
    pretty = b'{\n  "event": "assets.updated",\n  "body": [1]\n}'
    sig = openssl_signature(SECRET, node_stringify(pretty.decode()).encode())
    verified = signature.authenticate(pretty, sig, lambda refresh: (KEY,), signature.MODE_RAW_JS)
    assert verified.matched == "js-stringify"


def test_a_refresh_that_brings_the_same_keys_is_not_tried_again(monkeypatch):
    compared = []
    monkeypatch.setattr(signature, "_compare", lambda a, b: compared.append(1) or hmac.compare_digest(a, b))
    with pytest.raises(errors.SignatureInvalid):
        signature.authenticate(b"{}", SIG, lambda refresh: [KEY])  # a new list each call, the same key
    assert compared == [1]


def test_the_verified_text_is_the_body_as_sent():
    body = b'{"event": "assets.updated", "body": [1]}'
    verified = signature.authenticate(body, openssl_signature(SECRET, body), lambda refresh: (KEY,))
    assert (verified.body, verified.text, verified.matched) == (body, body.decode(), "raw")
    assert verified.payload == {"event": "assets.updated", "body": [1]}


def test_the_signature_modes_are_the_documented_setting_values():
    assert settings.mode_setting({}) == signature.MODE_RAW == "raw"
    assert settings.mode_setting({"SIGNATURE_MODE": " raw "}) == "raw"
    assert settings.mode_setting({"SIGNATURE_MODE": "raw+js-stringify"}) == signature.MODE_RAW_JS
    with pytest.raises(errors.ConfigurationError, match="SIGNATURE_MODE must be one of raw, raw\\+js-stringify"):
        settings.mode_setting({"SIGNATURE_MODE": "RAW"})


@pytest.mark.parametrize(
    ("call", "error", "reason"),
    [
        (lambda: request.check_method("GET"), errors.MethodNotAllowed, "only POST is accepted"),
        (
            lambda: request.check_source(None, request.parse_networks("10.0.0.0/8")),
            errors.SourceNotAllowed,
            "source address unknown",
        ),
        (
            lambda: request.check_source("x", request.parse_networks("10.0.0.0/8")),
            errors.SourceNotAllowed,
            "source address unknown",
        ),
        (
            lambda: request.check_source("11.0.0.1", request.parse_networks("10.0.0.0/8")),
            errors.SourceNotAllowed,
            "source address not allowed",
        ),
        (lambda: request.event_body_bytes(b"{}", False, 10), errors.MalformedRequest, "event body must be a string"),
        (
            lambda: request.event_body_bytes("{}", "yes", 10),
            errors.MalformedRequest,
            "isBase64Encoded must be a boolean",
        ),
        (lambda: request.event_body_bytes("A" * 12, True, 3), errors.PayloadTooLarge, "body larger than 3 bytes"),
        (
            lambda: request.event_body_bytes("QQ=", True, 3),
            errors.MalformedRequest,
            "isBase64Encoded body is not valid base64",
        ),
        (lambda: request.event_body_bytes("QUJD", True, 2), errors.PayloadTooLarge, "body larger than 2 bytes"),
        (lambda: request.event_body_bytes("abc", False, 2), errors.PayloadTooLarge, "body larger than 2 bytes"),
        (
            lambda: request.event_body_bytes("\udc80", False, 10),
            errors.MalformedRequest,
            "body is not encodable as UTF-8",
        ),
        (
            lambda: request.parse_networks("10.0.0.0/33"),
            errors.ConfigurationError,
            "ALLOWED_SOURCE_IPS entry 1 is not an IP address or CIDR; "
            "use comma-separated values such as 15.204.75.108/32,148.113.140.236/32",
        ),
    ],
)
def test_request_refusals_name_the_problem(call, error, reason):
    with pytest.raises(error) as raised:
        call()
    assert type(raised.value) is error and raised.value.reason == reason


def test_a_non_string_header_is_skipped_not_the_rest():
    assert request.normalise_headers({1: "x", "X-Sig": "a", "n": None, "X-SIG": "b"}) == {"x-sig": "a,b"}
