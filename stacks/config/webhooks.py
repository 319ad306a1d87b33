"""Webhook endpoint settings. The webhook endpoint issue fills these in; the foundation accepts the section."""

from __future__ import annotations

from pydantic import Field

from .base import Model

# Makini's documented production source addresses (FACTS.md, "Source addresses").
MAKINI_SOURCE_IPS: tuple[str, ...] = (
    "15.204.75.108/32",
    "15.204.73.75/32",
    "15.204.77.147/32",
    "148.113.140.236/32",
    "51.79.101.4/32",
)


class WebhookSettings(Model):
    """Where and how Makini's webhooks for this environment are received."""

    enabled: bool = Field(default=False, description="Deploy a webhook endpoint for this environment.")
    allowed_source_ips: tuple[str, ...] | None = Field(
        default=None,
        description="CIDRs allowed to call the endpoint. Default: Makini's documented production addresses.",
    )
    allow_any_source: bool = Field(
        default=False, description="Switch the source allow list off (development only)."
    )
