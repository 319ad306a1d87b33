"""The HTTP answers: a JSON body and headers, as API Gateway and the Functions host take them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import WebhookError

_JSON_HEADERS = {"content-type": "application/json"}


def response(status: int, body: Mapping[str, Any], extra_headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``{statusCode, headers, body}`` as API Gateway / function URLs expect it."""
    headers = dict(_JSON_HEADERS)
    if extra_headers:
        headers.update(extra_headers)
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(body, separators=(",", ":")),
    }


def error_body(err: WebhookError) -> dict[str, Any]:
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
