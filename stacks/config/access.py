"""Access settings: policy choices that span consumers and environments."""

from __future__ import annotations

from pydantic import Field

from .base import Model


class AccessSettings(Model):
    """How strictly identities are kept apart."""

    allow_shared_identities: bool = Field(
        default=False,
        description="Allow a workload identity to be granted in this and another environment (both stacks must "
        "allow it). Off: each environment's consumers use their own identities, so one leak never spans two.",
    )
