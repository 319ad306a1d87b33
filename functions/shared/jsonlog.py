"""Structured JSON log lines that never carry a secret: the one logger of every function.

Callers pass only non-secret fields (ids, steps, statuses). As a second line of defence, any field
named like a secret (token, client_secret, ...) is replaced by "[redacted]" and any string value
registered with :func:`register_secret` is masked wherever it appears.

Each function's record shape is part of its documented contract (its README):

* :func:`log` (rotation): ``{"event": ..., <fields>}``, keys sorted;
* :func:`log_record` (webhook receiver): ``{"level", "time", "message", <fields>}``, compact, fields
  that are None left out.

Shipped in every function's archive as ``functions/shared/jsonlog.py`` (see components/packaging.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime

# Field names that must never carry a value into a log line (exact names, lower case).
_SECRET_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "system_token",
        "connection_token",
        "refresh_token",
        "client_secret",
        "secret_string",
        "secret_value",
        "value",
        "password",
        "authorization",
        "credentials",
    }
)

_lock = threading.Lock()
_known_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so it is masked if it ever reaches a log line."""
    if value and len(value) >= 6:
        with _lock:
            _known_secrets.add(value)


def mask(text: str) -> str:
    with _lock:
        secrets = list(_known_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, "[redacted]")
    return text


def _clean(key: str, value: object) -> object:
    if key.lower() in _SECRET_FIELDS:
        return "[redacted]"
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return mask(str(value))


def log(logger: logging.Logger, level: int, event: str, **fields: object) -> None:
    """``{"event": event, <fields>}``, keys sorted (the rotation functions' records)."""
    record: dict[str, object] = {"event": event}
    record.update({k: _clean(k, v) for k, v in fields.items()})
    logger.log(level, json.dumps(record, sort_keys=True, default=str))


def log_record(logger: logging.Logger, level: int, message: str, **fields: object) -> None:
    """``{"level", "time", "message", <fields>}``, compact, None fields left out (the webhook receiver's
    records). Nothing is formatted when the level is off."""
    if not logger.isEnabledFor(level):
        return
    record: dict[str, object] = {
        "level": logging.getLevelName(level),
        "time": _utc_iso(time.time()),
        "message": message,
    }
    record.update({k: _clean(k, v) for k, v in fields.items() if v is not None})
    logger.log(level, json.dumps(record, separators=(",", ":"), default=str))


def _utc_iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
