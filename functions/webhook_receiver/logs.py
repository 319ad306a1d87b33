"""The receiver's logger: one JSON object per line, through the logger every function shares.

Callers pass only safe fields: never a secret, a signature (presented or computed) or the body of a
rejected request (README, "Logs").
"""

from __future__ import annotations

import logging
from typing import Any

from functions.shared import jsonlog

log = logging.getLogger("webhook_receiver")


def log_event(level: int, message: str, **fields: Any) -> None:
    """One JSON object per log record: level, time, message, then the fields that are not None."""
    jsonlog.log_record(log, level, message, **fields)


def protect_keys(keys: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """Register the webhook secrets with the shared logger's masking (a second line of defence:
    callers never log them), so a secret that reaches a log line anyway is printed as "[redacted]"."""
    for key in keys:
        jsonlog.register_secret(key.decode("utf-8", errors="replace"))
    return keys
