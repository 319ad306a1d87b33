"""Structured JSON log lines that never carry a secret.

Callers pass only non-secret fields (ids, steps, statuses). As a second line of defence,
any field named like a secret (token, client_secret, ...) is replaced by "[redacted]" and any string value
registered with :func:`register_secret` is masked wherever it appears.
"""

from __future__ import annotations

import json
import logging
import threading

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
    record = {"event": event}
    record.update({k: _clean(k, v) for k, v in fields.items()})
    logger.log(level, json.dumps(record, sort_keys=True, default=str))
