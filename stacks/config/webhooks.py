"""Webhook endpoint settings: where and how Makini's webhooks for one environment are received.

Everything the endpoint components (``components/aws/webhook.py``, ``components/azure/webhook.py``)
need, validated at the edge. The rules that also read the stack's production flag and backends are at
the end of this module.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from ..errors import Problem
from .base import Model

# Makini's documented production source addresses (FACTS.md, "Source addresses").
MAKINI_SOURCE_IPS: tuple[str, ...] = (
    "15.204.75.108/32",
    "15.204.73.75/32",
    "15.204.77.147/32",
    "148.113.140.236/32",
    "51.79.101.4/32",
)

#: Retention values CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
#: Makini retries a failed delivery for up to 24 hours; dedupe memory must outlast that, with margin.
MAKINI_RETRY_WINDOW = timedelta(hours=24)
MIN_DEDUPE_WINDOW = timedelta(hours=25)
#: Service Bus accepts duplicate detection windows from 20 seconds to 7 days.
MAX_SERVICEBUS_WINDOW = timedelta(days=7)
#: Makini wants an answer within 10 seconds.
MAKINI_TIMEOUT_SECONDS = 10

_ROUTE_RE = re.compile(r"(?:/[A-Za-z0-9._~-]+)+")
_DOMAIN_RE = re.compile(r"(?=.{4,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_ACM_ARN_RE = re.compile(r"arn:aws(?:-us-gov|-cn)?:acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]{1,128}")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")
_ISO_RE = re.compile(
    r"P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def parse_iso_duration(text: str) -> timedelta:
    """``P2D``, ``PT25H``, ``P1DT2H`` -> timedelta (weeks, days, hours, minutes, seconds; no years or months,
    whose length is ambiguous). Raises ValueError naming the accepted form."""
    match = _ISO_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"the value {text!r} is not an ISO 8601 duration such as P2D, PT36H or P1DT12H (weeks, days, hours, minutes, seconds)"
        )
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


def iso_duration(value: timedelta) -> str:
    """timedelta -> canonical ISO 8601 (``P2D``, ``P1DT1H``, ``PT90M`` as ``PT1H30M``)."""
    total = int(value.total_seconds())
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    out = "P" + (f"{days}D" if days else "")
    time = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{seconds}S" if seconds else "")
    return out + ("T" + time if time else "") if (days or time) else "PT0S"


def _cidr(value: str) -> str:
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(
            f"{value!r} is not an IPv4/IPv6 address or CIDR with no host bits set (e.g. 15.204.75.108/32 or 203.0.113.0/24)"
        ) from None
    if net.prefixlen == 0:
        raise ValueError(f"{value!r} allows every address; use allowAnySource: true (non-production only) instead")
    return str(net)


Cidr = Annotated[str, AfterValidator(_cidr)]


class Throttling(Model):
    """API Gateway stage throttling (default route settings)."""

    burst_limit: int = Field(default=100, ge=1, le=5000, description="Concurrent request burst the stage accepts.")
    rate_limit: float = Field(default=50.0, gt=0, le=10000, description="Steady-state requests per second.")


class CustomDomain(Model):
    """A custom domain for the AWS endpoint, with a regional ACM certificate in the stack's region."""

    domain_name: str = Field(description="Lower-case DNS name, e.g. webhooks.dev.example.com.")
    certificate_arn: str = Field(description="ARN of the ACM certificate for domainName (same region as the API).")

    @field_validator("domain_name")
    @classmethod
    def _domain(cls, value: str) -> str:
        if not _DOMAIN_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a lower-case DNS name such as webhooks.example.com")
        return value

    @field_validator("certificate_arn")
    @classmethod
    def _cert(cls, value: str) -> str:
        if not _ACM_ARN_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not an ACM certificate ARN such as arn:aws:acm:eu-west-1:123456789012:certificate/<id>"
            )
        return value


class AwsWebhookSettings(Model):
    """The AWS endpoint: HTTP API, Lambda, logs."""

    memory_mb: int = Field(default=256, ge=128, le=10240, description="Lambda memory in MB (128-10240).")
    timeout_seconds: int = Field(
        default=6, le=900, description="Lambda timeout in seconds; below Makini's 10 s answer budget (1-9)."
    )
    reserved_concurrency: int | None = Field(
        default=None,
        ge=1,
        le=100_000,
        description="Reserved concurrent executions of the receiver. Default: unreserved.",
    )
    log_retention_days: int | None = Field(
        default=None,
        le=3653,
        description="Retention of the access and function logs. Default: 365 in production, 30 elsewhere.",
    )
    throttling: Throttling = Field(default_factory=Throttling, description="Stage throttling.")
    custom_domain: CustomDomain | None = Field(
        default=None, description="Optional custom domain with an ACM certificate."
    )

    @field_validator("timeout_seconds")
    @classmethod
    def _timeout(cls, value: int) -> int:
        if value >= MAKINI_TIMEOUT_SECONDS:
            raise ValueError(
                f"{value} s is not inside Makini's {MAKINI_TIMEOUT_SECONDS} s answer budget; "
                "use at most 9 (6 is the default: the receiver's own calls time out after 2 s)"
            )
        if value < 1:
            raise ValueError(f"{value} s is too short; use 1-9 seconds")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int | None) -> int | None:
        if value is not None and value not in LOG_RETENTION_DAYS:
            near = min(LOG_RETENTION_DAYS, key=lambda v: abs(v - value))
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention; use one of {', '.join(map(str, LOG_RETENTION_DAYS))} "
                f"(nearest: {near})"
            )
        return value


class AzureWebhookSettings(Model):
    """The Azure endpoint: Function App plan and Service Bus queue."""

    plan_sku: Literal["Y1", "EP1", "EP2", "EP3", "B1", "B2", "B3", "S1", "S2", "S3", "P1v3", "P2v3", "P3v3"] = Field(
        default="EP1",
        description="App Service plan SKU of the Azure Function Apps (webhook receiver, rotation). Default EP1: "
        "they need VNet integration to reach the vault, which Y1 (Linux Consumption) lacks.",
    )
    duplicate_detection_window: str = Field(
        default="P2D",
        description="Service Bus duplicate detection window, ISO 8601 (at least PT25H: Makini retries for 24 h; "
        "at most P7D).",
    )
    previous_secret_version: str | None = Field(
        default=None,
        description="Key Vault version id (32 hex digits) of the previous webhook secret, accepted as "
        "WEBHOOK_SECRET_PREVIOUS during a rotation's grace period (set with previousSecretExpiresAt; "
        "`python -m infra.rotate STACK --webhook-secret` prints both); remove both when the grace period ends.",
    )
    previous_secret_expires_at: datetime | None = Field(
        default=None,
        description="When the previous webhook secret stops being accepted (ISO 8601 with a zone, e.g. "
        "2026-12-02T10:00:00Z: the rotation time plus graceSeconds, as infra.rotate prints it). The receiver "
        "refuses it from then on, like AWS's AWSPREVIOUS after graceSeconds. Required with previousSecretVersion.",
    )

    @field_validator("previous_secret_version")
    @classmethod
    def _version(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[0-9a-f]{32}", value):
            raise ValueError(
                f"{value!r} is not a Key Vault secret version id (32 lowercase hex digits, the last part of the "
                "version's id: az keyvault secret list-versions --vault-name V --name webhook-secret)"
            )
        return value

    @field_validator("previous_secret_expires_at")
    @classmethod
    def _expires_at(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(f"{value.isoformat()} has no time zone; write it in UTC with a Z (2026-12-02T10:00:00Z)")
        return value

    @model_validator(mode="after")
    def _previous_expires(self) -> AzureWebhookSettings:
        if (self.previous_secret_version is None) != (self.previous_secret_expires_at is None):
            raise ValueError(
                "previousSecretVersion and previousSecretExpiresAt go together: the previous webhook secret is "
                "accepted until previousSecretExpiresAt (python -m infra.rotate STACK --webhook-secret prints both); "
                "set both, or remove both once the grace period has ended"
            )
        return self

    @field_validator("duplicate_detection_window")
    @classmethod
    def _window(cls, value: str) -> str:
        window = parse_iso_duration(value)
        if window < MIN_DEDUPE_WINDOW:
            raise ValueError(
                f"the window {value} is shorter than Makini's 24 h retry window plus margin; use at least PT25H (default P2D)"
            )
        if window > MAX_SERVICEBUS_WINDOW:
            raise ValueError(f"the window {value} is longer than Service Bus allows (P7D)")
        return iso_duration(window)


class AlarmSettings(Model):
    """Alarms of the endpoint, sent to the environment's alarm topic."""

    silence_hours: int | None = Field(
        default=None,
        ge=0,
        le=24,
        description="Alarm when no webhook arrived for this many hours (Makini advises polling then); 0 = off. "
        "At most 24 (CloudWatch evaluates at most one day). Default: 24 in production, off elsewhere.",
    )
    error_rate_percent: float = Field(
        default=5.0,
        gt=0,
        le=100,
        description="Alarm when more than this percentage of requests get a 5xx in 5 minutes.",
    )
    email: str | None = Field(default=None, description="Subscribe this address to the alarm topic (optional).")

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not an e-mail address such as oncall@example.com")
        return value

    def effective_silence_hours(self, production: bool) -> int | None:
        hours = self.silence_hours if self.silence_hours is not None else (24 if production else 0)
        return hours or None


class WebhookSettings(Model):
    """Where and how Makini's webhooks for this environment are received."""

    enabled: bool = Field(default=False, description="Deploy a webhook endpoint for this environment.")
    allowed_source_ips: tuple[Cidr, ...] | None = Field(
        default=None,
        description="CIDRs allowed to call the endpoint. Default: Makini's documented production addresses.",
    )
    allow_any_source: bool = Field(default=False, description="Switch the source allow list off (development only).")
    route_path: str = Field(
        default="/makini/webhooks",
        description="Path of the AWS HTTP API route (POST). The Azure function's route is fixed at /api/makini/webhooks.",
    )
    signature_mode: Literal["raw", "raw+js-stringify"] = Field(
        default="raw", description="raw: HMAC over the body bytes; raw+js-stringify also accepts Makini's sample form."
    )
    grace_seconds: int = Field(
        default=86_400,
        ge=0,
        le=604_800,
        description="How long the previous webhook secret stays valid after a rotation.",
    )
    dedupe_ttl_seconds: int = Field(
        default=172_800,
        ge=int(MIN_DEDUPE_WINDOW.total_seconds()),
        le=2_592_000,
        description="How long a delivered webhook is remembered (at least 90000 = 25 h: Makini retries for 24 h).",
    )
    aws: AwsWebhookSettings = Field(default_factory=AwsWebhookSettings, description="AWS endpoint settings.")
    azure: AzureWebhookSettings = Field(default_factory=AzureWebhookSettings, description="Azure endpoint settings.")
    alarms: AlarmSettings = Field(default_factory=AlarmSettings, description="Alarm settings.")

    @field_validator("route_path")
    @classmethod
    def _route(cls, value: str) -> str:
        if not _ROUTE_RE.fullmatch(value) or len(value) > 256:
            raise ValueError(
                f"{value!r} is not a route path: start with '/', use letters, digits and . _ ~ - between slashes, "
                "no trailing slash, no {parameters} (e.g. /makini/webhooks)"
            )
        return value

    @field_validator("allowed_source_ips")
    @classmethod
    def _ips(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and not value:
            raise ValueError(
                "is empty, which would refuse every delivery; list CIDRs, or remove the key for Makini's addresses"
            )
        return value

    @model_validator(mode="after")
    def _any_source(self) -> WebhookSettings:
        if self.allow_any_source and self.allowed_source_ips is not None:
            raise ValueError("allowAnySource: true and allowedSourceIps contradict each other; remove one of them")
        return self

    def source_ips(self) -> tuple[str, ...]:
        """The effective allow list; empty means any source."""
        if self.allow_any_source:
            return ()
        return self.allowed_source_ips if self.allowed_source_ips is not None else MAKINI_SOURCE_IPS

    def log_retention_days(self, production: bool) -> int:
        explicit = self.aws.log_retention_days
        return explicit if explicit is not None else (365 if production else 30)


# --------------------------------------------------------------------------------------------------
# Rules about the webhooks section (stacks.checks runs them in the order of the error list)


def webhook_problems(webhooks: WebhookSettings, *, production: bool, backends: Sequence[str]) -> list[Problem]:
    """Webhook endpoint rules that depend on the stack's production flag and backends."""
    w = webhooks
    problems: list[Problem] = []
    if w.allow_any_source and production:
        problems.append(
            Problem(
                "makini:webhooks.allowAnySource",
                "production endpoints accept Makini's source addresses only; the allow list cannot be switched off",
                "pulumi config rm --path 'makini:webhooks.allowAnySource'",
            )
        )
    if w.enabled and not {"aws", "azure"} & set(backends):
        problems.append(
            Problem(
                "makini:webhooks.enabled",
                "webhook endpoints run on aws or azure, but makini:backends lists neither",
                "add aws or azure to makini:backends, or pulumi config set --path 'makini:webhooks.enabled' false",
            )
        )
    return problems
