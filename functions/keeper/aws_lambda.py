"""The keeper's Lambda handler: ``keeper.aws_lambda.handler``.

Two kinds of event, nothing else:

- the schedule (an EventBridge rule, ``{"source": "aws.events", "detail-type": "Scheduled Event", ...}``): sweep
  every run-time class (governance.Keeper.sweep), at most :data:`MAX_CALLS_PER_RUN` per-secret calls and within
  the function's time;
- a direct invoke by the onboarding client right after it created a secret: ``{"secretId": "<name or ARN>"}``
  (governance.Keeper.keep). The keeper takes nothing else from the event: the class, the policy and the rotation
  come from the name and the deployment's settings. Any other event is logged and ignored.

The settings are ``settings.json`` beside this module, written by the deployment (components/aws/keeper.py). The
function never reads a secret's value; a run that could not keep a secret raises (the errors alarm).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from functions.shared import jsonlog

from .governance import Keeper, Settings

SETTINGS_FILE = Path(__file__).with_name("settings.json")
#: Secrets one run checks (one GetResourcePolicy each, plus PutResourcePolicy and RotateSecret when they differ).
#: The policy calls share 50 per second per region and account with every deployment (Secrets Manager quotas,
#: not adjustable); the adaptive retries slow down when throttled, and a run stops 30 s before its timeout.
MAX_SECRETS_PER_RUN = 500

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)

_keeper: Keeper | None = None


def _client() -> Any:
    import boto3  # noqa: PLC0415 - the Lambda runtime provides boto3
    from botocore.config import Config  # noqa: PLC0415

    # Adaptive retries slow the client down when Secrets Manager throttles, instead of failing the run.
    return boto3.client("secretsmanager", config=Config(retries={"mode": "adaptive", "max_attempts": 8}))


def keeper() -> Keeper:
    global _keeper  # noqa: PLW0603 - one client and one settings read per container
    if _keeper is None:
        _keeper = Keeper(_client(), Settings.from_document(json.loads(SETTINGS_FILE.read_text())))
    return _keeper


def _remaining(context: Any) -> float:
    millis = getattr(context, "get_remaining_time_in_millis", None)
    return float(millis()) / 1000 if callable(millis) else float("inf")


def handler(event: Any, context: Any) -> dict[str, Any]:
    if (
        isinstance(event, dict)
        and event.get("source") == "aws.events"
        and event.get("detail-type") == "Scheduled Event"
    ):
        return keeper().sweep(
            now=time.time(), remaining_seconds=lambda: _remaining(context), max_secrets=MAX_SECRETS_PER_RUN
        )
    if isinstance(event, dict) and set(event) == {"secretId"}:
        return keeper().keep(event["secretId"])
    jsonlog.log(logger, logging.WARNING, "ignored", reason="unknown event")
    return {"ignored": "unknown event"}
