"""The example service's Lambda: connection tokens through makini_tokens, webhook messages from the queue.

A real service calls Makini with the token (``call_with_token`` retries once after a 401 with a fresh read);
this one only shows the wiring, and never returns or logs a token.
"""

from __future__ import annotations

import json
import os
from typing import Any

from makini_tokens import TokenCache, aws_fetcher

_cache: TokenCache | None = None


def cache() -> TokenCache:
    """One cache per Lambda container: tokens are read once per TTL, not per invocation."""
    global _cache
    if _cache is None:
        arns = json.loads(os.environ["MAKINI_SECRET_ARNS"])
        prefixes = json.loads(os.environ["MAKINI_CLASS_PREFIXES"])
        _cache = TokenCache(aws_fetcher(arns, prefixes))
    return _cache


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:  # webhook messages: {"event": "<entity>.<action>", "body": [...ids...]}
        failures = []
        for record in event["Records"]:
            try:
                json.loads(record["body"])["event"]
            except (KeyError, ValueError, TypeError):
                failures.append({"itemIdentifier": record.get("messageId", "")})
        return {"batchItemFailures": failures}
    token = cache().get(event["path"])  # e.g. {"path": "connections/acme-maintainx/token"}
    return {"path": event["path"], "tokenLoaded": bool(token)}
