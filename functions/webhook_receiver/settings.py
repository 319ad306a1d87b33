"""The settings both handlers read from their environment, validated once per container.

:class:`Settings` is the part both platforms share (signature header, body limit, source allow list,
signature mode); each handler extends it with its own (``aws_lambda.LambdaSettings``,
``azure_function.FunctionSettings``). A missing or invalid setting is a :class:`ConfigurationError`
(503, so deliveries are retried once it is fixed). The contract is in README.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .request import Network, parse_networks
from .signature import MODE_RAW, SIGNATURE_MODES

DEFAULT_SIGNATURE_HEADER = "X-Webhook-Signature"
DEFAULT_MAX_BODY_BYTES = 262_144


@dataclass(frozen=True, kw_only=True)
class Settings:
    """What both handlers check a request with."""

    signature_header: str
    max_body_bytes: int
    #: ``ALLOWED_SOURCE_IPS``; empty: any source.
    networks: tuple[Network, ...]
    mode: str

    @staticmethod
    def shared_from_env(env: Mapping[str, str]) -> dict[str, Any]:
        """The shared fields from the environment, validated in this order."""
        return {
            "signature_header": header_setting(env),
            "max_body_bytes": int_setting(env, "MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, 1),
            "networks": parse_networks(env.get("ALLOWED_SOURCE_IPS")),
            "mode": mode_setting(env),
        }


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
