"""From a consumer's view (the makini-infra output ``consumer-<name>``) to a Lambda's settings. Pure: no Pulumi.

The view names the role the function must run as (the secrets' resource policies name exactly that role) and
exactly the secrets it may read: by ARN outside access classes, by ARN pattern for a whole class. The function
gets both as environment variables, and service/makini_tokens.py resolves a catalog path to a SecretId.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

#: Secrets Manager ARNs have ``:secret:<name>-<6 random characters>``; a class pattern ends ``/*/token-*``.
_CLASS_PATTERN_TAIL = "*/token-*"


class ViewError(ValueError):
    """The view is not what this stack needs (say what and how to fix it)."""


def class_name_prefix(pattern: str) -> str:
    """``arn:...:secret:makini/dev/connections/standard/*/token-*`` -> ``makini/dev/connections/standard/``:
    a class token's secret name is that prefix plus ``<connection>/token``."""
    if ":secret:" not in pattern or not pattern.endswith(_CLASS_PATTERN_TAIL):
        raise ViewError(f"not a makini-infra class ARN pattern: {pattern!r}")
    return pattern.split(":secret:", 1)[1].removesuffix(_CLASS_PATTERN_TAIL)


def lambda_environment(view: Mapping[str, Any], consume_queue: bool) -> dict[str, str]:
    """The Lambda's environment variables from a consumer view's ``aws`` part."""
    if "aws" not in view:
        raise ViewError(
            f"consumer {view.get('consumer')!r} has no AWS view: its makini-infra stack does not use the aws backend"
        )
    aws = view["aws"]
    env = {
        "MAKINI_ENVIRONMENT": str(view["environment"]),
        "MAKINI_SECRET_ARNS": json.dumps(aws["secretArns"], sort_keys=True),
        "MAKINI_CLASS_PREFIXES": json.dumps(
            {c: class_name_prefix(p) for c, p in sorted(aws["classArnPatterns"].items())}, sort_keys=True
        ),
    }
    if consume_queue:
        if not aws["webhookQueue"]:
            raise ViewError(
                f"consumer {view['consumer']!r} may not consume the webhook queue: set webhookQueue: true for it in "
                "the makini-infra stack, or consumeWebhookQueue: false here"
            )
        env["MAKINI_WEBHOOK_QUEUE_URL"] = str(aws["webhookQueue"]["url"])
    return env


def lambda_settings(view: Mapping[str, Any], consume_queue: bool) -> dict[str, Any]:
    """Everything the stack needs from the view, checked once: ``role``, ``environment``, ``queueArn``."""
    env = lambda_environment(view, consume_queue)
    aws = view["aws"]
    return {"role": aws["roleArn"], "environment": env, "queueArn": aws["webhookQueue"].get("arn", "")}
