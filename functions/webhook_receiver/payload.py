"""The verified body: strict JSON, the event's dedupe id and routing fields, the queued message's shape."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import MalformedRequest
from .js_stringify import js_stringify


def _reject_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey("duplicate object key")
    return obj


def loads_strict(text: str) -> Any:
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


def build_message(verified: Verified, request_id: str, received_at: float) -> dict[str, Any]:
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


def utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
