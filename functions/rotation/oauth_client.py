"""The stored OAuth client, parsed by one rule for every reader (the three rotators and the operator commands).

A stored OAuth client is JSON ``{"client_id": "...", "client_secret": "..."}`` (Vault: that object as the KV
data), both non-empty strings; anything else (not JSON, not an object, a number or a list where a string
belongs, an empty value) is refused, never coerced into text that would be sent to Makini. A client secret read
is registered with the log masking at once. No I/O, no Pulumi: ``infra.stores.parse_oauth_client`` is this one.
"""

from __future__ import annotations

import json

from functions.shared import jsonlog


def oauth_client_of(value: object) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from a decoded stored OAuth client (e.g. Vault KV data), or None."""
    if not isinstance(value, dict):
        return None
    client_id, secret = value.get("client_id"), value.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(secret, str) or not secret:
        return None
    jsonlog.register_secret(secret)
    return client_id, secret


def parse_oauth_client(raw: str | None) -> tuple[str, str] | None:
    """``(client_id, client_secret)`` from a stored OAuth client's text (JSON), or None when it holds anything
    else. The secret is registered with the log masking."""
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    return oauth_client_of(value)
