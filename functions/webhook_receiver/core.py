"""Verification core of the Makini webhook receiver: pure, standard library only.

Everything a platform handler (``aws_lambda``, ``azure_function``) needs before it touches a
queue: method / source / size checks, strict decoding of the presented signature, HMAC-SHA256
over the raw body bytes with several accepted secrets, the optional ``JSON.stringify``
compatibility mode, the dedupe id and the queued message's shape.

Every rejection is a :class:`WebhookError` subclass carrying its HTTP status and a reason that
never contains request data, secrets or signatures (so it is safe to log and to answer with).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from functions.shared import jsonlog

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_SIGNATURE_HEADER",
    "MAX_SIGNATURE_HEADER_CHARS",
    "MAX_SIGNATURES",
    "MODE_RAW",
    "MODE_RAW_JS",
    "ConfigurationError",
    "InProgress",
    "MalformedRequest",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "SignatureInvalid",
    "SignatureMissing",
    "SourceNotAllowed",
    "Unavailable",
    "Verified",
    "WebhookError",
    "authenticate",
    "build_message",
    "check_method",
    "check_source",
    "decode_signatures",
    "dedupe_id",
    "event_body_bytes",
    "header",
    "js_stringify",
    "log_event",
    "normalise_headers",
    "parse_networks",
    "parse_payload",
    "required_setting",
    "response",
    "utc_iso",
    "verify",
]

DEFAULT_SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_MAX_BODY_BYTES = 262_144
MODE_RAW = "raw"
MODE_RAW_JS = "raw+js-stringify"
SIGNATURE_MODES = (MODE_RAW, MODE_RAW_JS)

#: At most this many comma-separated signatures are tried (a duplicated header arrives joined
#: by commas); more than that is rejected without decoding anything.
MAX_SIGNATURES = 4
#: A signature header longer than this is rejected before any splitting or decoding, so an
#: absurd header (10,000 values) costs one length check.
MAX_SIGNATURE_HEADER_CHARS = 256

# base64 of exactly 32 bytes, standard alphabet, canonical: 43 characters then one "=". The
# 43rd character carries 4 data bits and 2 zero bits, so only these 16 characters are canonical.
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_a2b = binascii.a2b_base64
_hmac_digest = hmac.digest
_compare = hmac.compare_digest
_OWS = " \t"
# A base64 event body: standard alphabet, length a multiple of 4, padding only at the end.
_B64_BODY_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")

log = logging.getLogger("webhook_receiver")


# --------------------------------------------------------------------------------------------
# Typed errors -> status codes
# --------------------------------------------------------------------------------------------


class WebhookError(Exception):
    """A request the receiver refuses. ``reason`` never contains request data."""

    status = 503
    code = "unavailable"

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.code)
        self.reason = reason or self.code


class MalformedRequest(WebhookError):
    status = 400
    code = "malformed"


class SignatureMissing(WebhookError):
    status = 401
    code = "signature_missing"


class SignatureInvalid(WebhookError):
    status = 401
    code = "signature_invalid"


class SourceNotAllowed(WebhookError):
    status = 403
    code = "source_not_allowed"


class MethodNotAllowed(WebhookError):
    status = 405
    code = "method_not_allowed"


class InProgress(WebhookError):
    """The same webhook is being queued by another delivery right now: retry later."""

    status = 409
    code = "in_progress"


class PayloadTooLarge(WebhookError):
    status = 413
    code = "payload_too_large"


class Unavailable(WebhookError):
    """A dependency (secret, queue, dedupe table) cannot be reached: 503 so Makini retries."""

    status = 503
    code = "unavailable"


class ConfigurationError(Unavailable):
    """The function's settings are wrong; 503 so deliveries are retried once it is fixed."""

    code = "misconfigured"


# --------------------------------------------------------------------------------------------
# Responses and logs
# --------------------------------------------------------------------------------------------

_JSON_HEADERS = {"content-type": "application/json"}


def response(status: int, body: Mapping[str, Any], extra_headers: Mapping[str, str] | None = None) -> dict:
    """``{statusCode, headers, body}`` as API Gateway / function URLs expect it."""
    headers = dict(_JSON_HEADERS)
    if extra_headers:
        headers.update(extra_headers)
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_body(err: WebhookError) -> dict:
    return {
        "status": "rejected" if err.status < 500 and err.status != 409 else "retry",
        "error": err.code,
        "message": err.reason,
    }


def error_headers(err: WebhookError) -> dict[str, str]:
    if err.status == 405:
        return {"allow": "POST"}
    if err.status in (409, 503):
        return {"retry-after": "30"}
    return {}


def log_event(level: int, message: str, **fields: Any) -> None:
    """One JSON object per log record (the logger every function shares). Callers pass only safe
    fields: never a secret, a signature (presented or computed) or the body of a rejected request."""
    jsonlog.log_record(log, level, message, **fields)


def utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Request checks
# --------------------------------------------------------------------------------------------


def check_method(method: Any) -> None:
    if not isinstance(method, str) or method.upper() != "POST":
        raise MethodNotAllowed("only POST is accepted")


def parse_networks(value: str | None) -> tuple:
    """``ALLOWED_SOURCE_IPS``: comma-separated CIDRs (or bare addresses); empty means any."""
    if not value or not value.strip():
        return ()
    import ipaddress

    networks = []
    for i, part in enumerate(value.split(",")):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"ALLOWED_SOURCE_IPS entry {i + 1} is not an IP address or CIDR; "
                "use comma-separated values such as 15.204.75.108/32,148.113.140.236/32"
            ) from None
    return tuple(networks)


def check_source(source_ip: Any, networks: Sequence) -> None:
    if not networks:
        return
    import ipaddress

    if not isinstance(source_ip, str):
        raise SourceNotAllowed("source address unknown")
    try:
        addr = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        raise SourceNotAllowed("source address unknown") from None
    candidates = [addr]
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        candidates.append(mapped)
    for net in networks:
        for a in candidates:
            if a.version == net.version and a in net:
                return
    raise SourceNotAllowed("source address not allowed")


def normalise_headers(headers: Any) -> dict[str, str]:
    """Lower-cased header names; values of names that differ only in case are joined by commas
    (as HTTP API payload 2.0 joins duplicates). Non-string entries are ignored."""
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        key = name.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name.lower())


def event_body_bytes(body: Any, is_base64: Any, max_bytes: int) -> bytes:
    """Raw body bytes of an API Gateway HTTP API / function URL event, size-checked before and
    after decoding."""
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedRequest("event body must be a string")
    if is_base64 not in (None, False, True):
        raise MalformedRequest("isBase64Encoded must be a boolean")
    if is_base64:
        if len(body) > 4 * math.ceil(max_bytes / 3):
            raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
        if _B64_BODY_RE.fullmatch(body) is None:
            raise MalformedRequest("isBase64Encoded body is not valid base64")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest("isBase64Encoded body is not valid base64") from None
    else:
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedRequest("body is not encodable as UTF-8") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
    return raw


# --------------------------------------------------------------------------------------------
# Signature
# --------------------------------------------------------------------------------------------


def decode_signatures(value: Any) -> list[bytes]:
    """Strictly decode the signature header into 1..MAX_SIGNATURES 32-byte digests.

    Accepted: standard-alphabet, padded, canonical base64 of exactly 32 bytes, optionally
    surrounded by HTTP optional whitespace; a duplicated header (values joined by commas) is
    split and each part decoded, at most ``MAX_SIGNATURES`` parts. Rejected with
    :class:`SignatureInvalid`: hex, ``sha256=`` prefixes, URL-safe alphabet, missing padding,
    31/33 bytes, embedded whitespace or junk, non-ASCII, and anything longer than
    ``MAX_SIGNATURE_HEADER_CHARS`` (checked first, so the work is bounded).
    """
    if value.__class__ is str and len(value) == 44 and _SIGNATURE_RE.fullmatch(value) is not None:
        return [_a2b(value)]  # the common case: one well-formed signature
    if value is None:
        raise SignatureMissing("signature header missing")
    if not isinstance(value, str):
        raise SignatureInvalid("signature header malformed")
    if len(value) > MAX_SIGNATURE_HEADER_CHARS:
        raise SignatureInvalid("signature header too long")
    value = value.strip(_OWS)
    if not value:
        raise SignatureMissing("signature header empty")
    if "," in value:
        parts = value.split(",")
        if len(parts) > MAX_SIGNATURES:
            raise SignatureInvalid("too many signatures")
    else:
        parts = (value,)
    out = []
    for part in parts:
        part = part.strip(_OWS)
        if _SIGNATURE_RE.fullmatch(part) is None:
            raise SignatureInvalid("signature is not base64 of a 32-byte HMAC-SHA256")
        out.append(binascii.a2b_base64(part))
    return out


def _matches(message: bytes, presented: Sequence[bytes], keys: Sequence[bytes]) -> bool:
    if len(keys) == 1 and len(presented) == 1:
        return _compare(_hmac_digest(keys[0], message, "sha256"), presented[0])
    ok = False
    for key in keys:
        mac = _hmac_digest(key, message, "sha256")
        for sig in presented:
            # compare_digest is constant time on bytes; no early exit across candidates either
            ok |= _compare(mac, sig)
    return ok


def verify(body: bytes, presented: Sequence[bytes], keys: Sequence[bytes], mode: str = MODE_RAW) -> str:
    """Return the mode that matched (``"raw"`` or ``"js-stringify"``) or raise SignatureInvalid.

    ``keys`` must be non-empty byte strings (an empty key is refused by the caller)."""
    if not keys:
        raise Unavailable("no webhook secret available")
    if _matches(body, presented, keys):
        return "raw"
    if mode == MODE_RAW_JS:
        try:
            canonical = js_stringify(_loads_strict(body.decode("utf-8"))).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            canonical = None
        if canonical is not None and canonical != body and _matches(canonical, presented, keys):
            return "js-stringify"
    raise SignatureInvalid("signature does not match")


class Verified:
    """A body whose signature matched, parsed, with its dedupe id."""

    __slots__ = ("body", "text", "payload", "dedupe_id", "matched")

    def __init__(self, body: bytes, text: str, payload: Any, matched: str) -> None:
        if matched == "js-stringify":
            # The signature covers only the canonical form, not these bytes: every re-formatting
            # of the signed value (whitespace, 1 vs 1.0, escapes) verifies too, so the event's
            # identity and the queued text are the canonical ones. One signed webhook -> one id.
            text = js_stringify(payload)
            body = text.encode("utf-8")
        self.body = body
        self.text = text
        self.payload = payload
        self.dedupe_id = dedupe_id(body)
        self.matched = matched


def authenticate(
    body: bytes,
    signature_header: Any,
    load_keys: Callable[[bool], Sequence[bytes]],
    mode: str = MODE_RAW,
) -> Verified:
    """Decode the signature, verify against the keys and parse the verified body.

    ``load_keys(refresh)`` returns the accepted secrets; on a mismatch it is called once more
    with ``refresh=True`` so a freshly rotated secret is picked up without waiting for the
    cache to expire (the loader rate-limits refreshes)."""
    presented = decode_signatures(signature_header)
    keys = load_keys(False)
    try:
        matched = verify(body, presented, keys, mode)
    except SignatureInvalid:
        fresh = load_keys(True)
        if fresh is keys or list(fresh) == list(keys):
            raise
        matched = verify(body, presented, fresh, mode)
    text, payload = parse_payload(body)
    return Verified(body, text, payload, matched)


# --------------------------------------------------------------------------------------------
# Payload, dedupe id, message
# --------------------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey("duplicate object key")
    return obj


def _loads_strict(text: str) -> Any:
    """Like JavaScript's ``JSON.parse`` (and Python's default): a duplicated key keeps its last
    value. Used only to compute the ``JSON.stringify`` form a signature may cover."""
    return json.loads(text, parse_constant=_reject_constant)


def _loads_unique(text: str) -> Any:
    """The verified body as it is accepted: NaN/Infinity and duplicate object keys refused."""
    return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)


def parse_payload(body: bytes) -> tuple[str, Any]:
    if not body:
        raise MalformedRequest("verified body is empty, expected JSON")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("verified body is not UTF-8") from None
    try:
        return text, _loads_unique(text)
    except _DuplicateKey:
        # Parsers disagree on which value of a duplicated key wins (Python and JS: the last; many
        # others: the first), so such a body could smuggle a value past this receiver.
        raise MalformedRequest("verified body has a duplicated key in a JSON object; keys must be unique") from None
    except (ValueError, RecursionError):
        raise MalformedRequest("verified body is not JSON") from None


def dedupe_id(body: bytes) -> str:
    """Makini signs only the body: the event's identity is the SHA-256 of the verified body (the
    raw bytes when they matched, the canonical ``JSON.stringify`` bytes when only those did)."""
    return hashlib.sha256(body).hexdigest()


def _scalar_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int):
        return str(value)
    return None


def connection_id(payload: Any) -> str | None:
    if not isinstance(payload, dict):
        return None
    for key in ("connection_id", "connectionId"):
        found = _scalar_id(payload.get(key))
        if found is not None:
            return found
    conn = payload.get("connection")
    if isinstance(conn, dict):
        return _scalar_id(conn.get("id"))
    return None


def event_type(payload: Any) -> str | None:
    if isinstance(payload, dict):
        ev = payload.get("event")
        if isinstance(ev, str) and ev:
            return ev
    return None


def build_message(verified: Verified, request_id: str, received_at: float) -> dict:
    """The queued message (JSON): the verified text (raw, or canonical for a js-stringify match)
    plus routing fields."""
    return {
        "body": verified.text,
        "event": event_type(verified.payload),
        "connection_id": connection_id(verified.payload),
        "received_at": utc_iso(received_at),
        "dedupe_id": verified.dedupe_id,
        "request_id": request_id,
    }


def encode_message(message: Mapping[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


# --------------------------------------------------------------------------------------------
# JSON.stringify compatibility (SIGNATURE_MODE=raw+js-stringify)
# --------------------------------------------------------------------------------------------

_JS_ESCAPE_RE = re.compile(r'[\x00-\x1f"\\\ud800-\udfff]')
_JS_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ARRAY_INDEX_RE = re.compile(r"0|[1-9][0-9]*")


def _js_escape(match: re.Match) -> str:
    ch = match.group()
    return _JS_SHORT.get(ch) or f"\\u{ord(ch):04x}"


def _js_string(s: str) -> str:
    return '"' + _JS_ESCAPE_RE.sub(_js_escape, s) + '"'


def _js_number(value: int | float) -> str:
    """ECMAScript Number::toString of the double nearest to ``value``."""
    try:
        x = float(value)
    except OverflowError:  # an integer beyond the double range: JS parses it as Infinity
        return "null"
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    digits_t, exp = Decimal(repr(abs(x))).normalize().as_tuple()[1:]
    s = "".join(map(str, digits_t))
    k = len(s)
    n = exp + k  # value = 0.s * 10**n
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        e = n - 1
        esign = "+" if e >= 0 else "-"
        mant = s if k == 1 else s[0] + "." + s[1:]
        out = f"{mant}e{esign}{abs(e)}"
    return sign + out


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX_RE.fullmatch(key) is not None and int(key) < 2**32 - 1


def js_stringify(value: Any) -> str:
    """What JavaScript's ``JSON.stringify(JSON.parse(text))`` produces for a JSON value parsed by
    Python's ``json`` module: compact separators, integer-like keys first in ascending order
    (JS property order), numbers as JS prints doubles, only the escapes JS emits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = list(value)
        index_keys = sorted((k for k in keys if _is_array_index(k)), key=int)
        if index_keys:
            keys = index_keys + [k for k in keys if not _is_array_index(k)]
        return "{" + ",".join(_js_string(k) + ":" + js_stringify(value[k]) for k in keys) + "}"
    raise ValueError("not a JSON value")


# --------------------------------------------------------------------------------------------
# Settings shared by both platforms
# --------------------------------------------------------------------------------------------


def required_setting(env: Mapping[str, str], name: str, hint: str) -> str:
    """A setting the handler cannot run without; missing or blank -> ConfigurationError (503)."""
    value = (env.get(name) or "").strip()
    if not value:
        raise ConfigurationError(f"{name} is not set; set it to {hint}")
    return value


def int_setting(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer (got a non-integer value)") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}")
    return value


def mode_setting(env: Mapping[str, str]) -> str:
    mode = (env.get("SIGNATURE_MODE") or MODE_RAW).strip()
    if mode not in SIGNATURE_MODES:
        raise ConfigurationError(f"SIGNATURE_MODE must be one of {', '.join(SIGNATURE_MODES)}")
    return mode


def header_setting(env: Mapping[str, str]) -> str:
    name = (env.get("SIGNATURE_HEADER") or DEFAULT_SIGNATURE_HEADER).strip()
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
        raise ConfigurationError("SIGNATURE_HEADER must be an HTTP header name")
    return name


def usable_keys(values: Iterable[Any]) -> tuple[bytes, ...]:
    """Non-empty secrets as bytes (str secrets are UTF-8 encoded). An empty secret is never a key."""
    out = []
    for v in values:
        if isinstance(v, str):
            v = v.encode("utf-8")
        if isinstance(v, (bytes, bytearray)) and len(v) > 0:
            out.append(bytes(v))
    return tuple(out)
