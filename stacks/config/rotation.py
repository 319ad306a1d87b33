"""Rotation settings of one environment.

Connection tokens are rotated automatically (Secrets Manager, the Key Vault rotation timer, the Vault
rotator); the secrets Makini issues by hand (webhook secret, OAuth client secret) have a maximum age
and a reminder before it. The rules across the section's keys are at the end of this module; the
default period depends on ``production`` and is filled in by :func:`fill_defaults` (called from the
top-level model before validation).
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from ..errors import Problem
from .base import Model

#: A Makini access token expires 30 days after it is issued (FACTS.md, "Authentication").
TOKEN_LIFETIME_DAYS = 30
PRODUCTION_TOKEN_DAYS = 7
DEFAULT_TOKEN_DAYS = 21
#: Secrets Manager rotation windows: ``<hours>h`` from 1 to 24.
_WINDOW_RE = re.compile(r"([1-9]|1[0-9]|2[0-4])h")
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]{1,64}@(?:[A-Za-z0-9-]{1,63}\.)+[A-Za-z]{2,63}")


def default_token_days(production: bool) -> int:
    return PRODUCTION_TOKEN_DAYS if production else DEFAULT_TOKEN_DAYS


class RotationSettings(Model):
    """How often each kind of secret rotates in this environment, and the reminders for the others."""

    enabled: bool = Field(default=True, description="Rotate connection tokens automatically.")
    connection_token_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Rotate connection tokens every N days (shorter than Makini's 30-day token lifetime). "
        "Default: 7 in production, 21 elsewhere.",
    )
    rotation_window: str | None = Field(
        default=None,
        description="Secrets Manager rotation window, '<hours>h' from 1h to 24h (e.g. 3h). Default: AWS's (the whole day).",
    )
    rotate_immediately: bool = Field(
        default=False, description="Rotate as soon as the schedule is created (else at the first scheduled time)."
    )
    webhook_secret_max_age_days: int = Field(
        default=90, ge=1, le=3650, description="Maximum age of the webhook secret."
    )
    webhook_secret_rotated_on: date | None = Field(
        default=None, description="Date (YYYY-MM-DD) the current webhook secret was issued; enables its reminder."
    )
    oauth_client_secret_max_age_days: int = Field(
        default=180, ge=1, le=3650, description="Maximum age of the OAuth client secret."
    )
    oauth_client_secret_rotated_on: date | None = Field(
        default=None, description="Date (YYYY-MM-DD) the current OAuth client secret was issued; enables its reminder."
    )
    reminder_days_before: int = Field(
        default=14, ge=1, le=365, description="Days before a hand-issued secret's maximum age that the reminder fires."
    )
    notify_email: str | None = Field(default=None, description="Subscribe this address to the reminders (optional).")

    @field_validator("connection_token_days")
    @classmethod
    def _days(cls, value: int | None) -> int | None:
        if value is not None and value >= TOKEN_LIFETIME_DAYS:
            raise ValueError(
                f"a schedule of {value} days is refused: it is not shorter than Makini's {TOKEN_LIFETIME_DAYS}-day "
                f"token lifetime, so tokens would expire before they rotate; use 1-{TOKEN_LIFETIME_DAYS - 1} "
                f"(default {PRODUCTION_TOKEN_DAYS} in production, {DEFAULT_TOKEN_DAYS} elsewhere)"
            )
        return value

    @field_validator("rotation_window")
    @classmethod
    def _window(cls, value: str | None) -> str | None:
        if value is not None and not _WINDOW_RE.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a Secrets Manager rotation window; use whole hours from 1h to 24h, e.g. 3h"
            )
        return value

    @field_validator("notify_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not an e-mail address such as oncall@example.com")
        return value

    @model_validator(mode="after")
    def _enabled(self) -> RotationSettings:
        if not self.enabled and self.connection_token_days is not None:
            raise ValueError(
                "connectionTokenDays is set but enabled is false, so no token would rotate; remove one of them"
            )
        return self


def fill_defaults(data: Any, production: bool) -> Any:
    """Raw ``rotation`` section -> the same with ``connectionTokenDays`` defaulted from ``production``
    (only when rotation is enabled and the key is absent; anything malformed is left to validation)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return data
    if data.get("enabled", True) is False or "connectionTokenDays" in data:
        return data
    return {**data, "connectionTokenDays": default_token_days(production)}


# --------------------------------------------------------------------------------------------------
# Rules about the rotation section (stacks.checks runs them in the order of the error list)


def rotation_problems(rotation: RotationSettings) -> list[Problem]:
    """Rotation rules that span keys: reminders before the maximum ages, a window inside the period."""
    r = rotation
    problems: list[Problem] = []
    for key, max_age in (
        ("webhookSecretMaxAgeDays", r.webhook_secret_max_age_days),
        ("oauthClientSecretMaxAgeDays", r.oauth_client_secret_max_age_days),
    ):
        if r.reminder_days_before >= max_age:
            problems.append(
                Problem(
                    "makini:rotation.reminderDaysBefore",
                    f"is {r.reminder_days_before} days, not shorter than makini:rotation.{key} ({max_age}); "
                    "the reminder would fire before the secret is issued",
                    f"pulumi config set --path 'makini:rotation.reminderDaysBefore' {max(1, min(14, max_age - 1))}",
                )
            )
    if r.rotation_window is not None and r.connection_token_days is not None:
        hours = int(r.rotation_window[:-1])
        if hours >= r.connection_token_days * 24:
            problems.append(
                Problem(
                    "makini:rotation.rotationWindow",
                    f"a {r.rotation_window} window does not fit in a {r.connection_token_days}-day schedule "
                    "(Secrets Manager refuses a window that reaches the next rotation)",
                    "pulumi config set --path 'makini:rotation.rotationWindow' 3h",
                )
            )
    return problems


def rotation_date_problems(rotation: RotationSettings, today: date) -> list[Problem]:
    """Issue dates of hand-issued secrets are in the past (a future date would silence the reminder until
    long after the secret is due). One day of slack for time zones ahead of UTC."""
    problems = []
    for key, value in (
        ("webhookSecretRotatedOn", rotation.webhook_secret_rotated_on),
        ("oauthClientSecretRotatedOn", rotation.oauth_client_secret_rotated_on),
    ):
        if value is not None and value > today + timedelta(days=1):
            problems.append(
                Problem(
                    f"makini:rotation.{key}",
                    f"is {value.isoformat()}, in the future (today is {today.isoformat()}, UTC); it is the date the "
                    "current secret was issued, and a future date would hold its reminder back",
                    f"pulumi config set --path 'makini:rotation.{key}' <YYYY-MM-DD the secret was issued>",
                )
            )
    return problems
