"""An in-memory double of azure-keyvault-secrets' ``SecretClient`` at the SDK boundary.

It offers only what the code under test calls (``get_secret``, ``set_secret``) with the SDK's shapes:
``KeyVaultSecret``-like objects with ``.value`` and ``.properties`` (name, version, tags, expires_on,
content_type, enabled), and ``azure.core.exceptions.ResourceNotFoundError`` for an unknown name.
No Azure engine installs here; the behaviour follows the SDK's documentation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from azure.core.exceptions import ResourceNotFoundError


@dataclass
class Props:
    name: str
    version: str
    tags: dict | None
    expires_on: datetime | None
    content_type: str | None
    enabled: bool = True


@dataclass
class Secret:
    value: str
    properties: Props


@dataclass
class FakeSecretClient:
    """Only what azure-keyvault-secrets' SecretClient offers and the callers use."""

    vault_url: str
    versions: dict[str, list[Secret]] = field(default_factory=dict)
    writes: list[dict] = field(default_factory=list)

    def get_secret(self, name, version=None, **kwargs):
        history = self.versions.get(name)
        if not history:
            raise ResourceNotFoundError(f"Secret not found: {name}")
        if version is None:
            return history[-1]
        return next(s for s in history if s.properties.version == version)

    def set_secret(
        self, name, value, *, enabled=None, tags=None, content_type=None, not_before=None, expires_on=None, **kwargs
    ):
        assert isinstance(value, str)
        secret = Secret(value, Props(name, uuid.uuid4().hex, dict(tags or {}), expires_on, content_type))
        self.versions.setdefault(name, []).append(secret)
        self.writes.append({"name": name, "tags": tags, "expires_on": expires_on, "content_type": content_type})
        return secret
