"""Rotation settings. The rotation issue fills these in; the foundation accepts the section."""

from __future__ import annotations

from pydantic import Field

from .base import Model


class RotationSettings(Model):
    """How often each kind of secret rotates in this environment."""

    connection_token_days: int | None = Field(
        default=None, ge=1, description="Rotate connection tokens every N days (shorter than the 30-day token lifetime)."
    )
