"""The secret catalog: which secrets an environment holds, who reads them and who writes them.

Pure: takes the config model and returns plain data. Every backend materialises the same catalog,
so the three clouds, the access matrix, the rotation calendar and the offline plan never drift apart.

Paths are backend-neutral (``connections/<key>/token``, ``oauth/client``, ``webhook/secret``). AWS
names a secret ``makini/<env>/<path>``; Vault stores it at ``<path>`` in the ``makini-<env>`` mount;
Key Vault maps it to a valid secret name (see :mod:`stacks.naming`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .config.model import StackConfig


class SecretKind(StrEnum):
    OAUTH_CLIENT = "oauth-client"
    CONNECTION_TOKEN = "connection-token"
    WEBHOOK_SECRET = "webhook-secret"


class SystemIdentity(StrEnum):
    """Identities the stack itself creates (each its own identity, each with only its job's rights)."""

    WEBHOOK_RECEIVER = "webhook-receiver"
    ROTATION = "rotation"


@dataclass(frozen=True)
class CatalogSecret:
    kind: SecretKind
    path: str
    description: str
    connection: str | None = None
    #: Consumers (services named in config) that read it.
    readers: tuple[str, ...] = ()
    #: Identities created by the stack that read it (webhook receiver, rotation).
    system_readers: tuple[SystemIdentity, ...] = ()
    #: Identities created by the stack that write new versions of it.
    writers: tuple[SystemIdentity, ...] = ()
    #: True when the stack file supplies the value (as a Pulumi secret); else it is filled out of band.
    value_from_config: bool = False

    @property
    def slug(self) -> str:
        """A name fragment for Pulumi resource names, unique within the catalog."""
        return self.path.replace("/", "-")


@dataclass(frozen=True)
class Catalog:
    environment: str
    secrets: tuple[CatalogSecret, ...]

    def of_kind(self, kind: SecretKind) -> tuple[CatalogSecret, ...]:
        return tuple(s for s in self.secrets if s.kind == kind)

    def by_path(self) -> dict[str, CatalogSecret]:
        return {s.path: s for s in self.secrets}

    def readable_by(self, consumer: str) -> tuple[CatalogSecret, ...]:
        return tuple(s for s in self.secrets if consumer in s.readers)


def connection_token_path(key: str) -> str:
    return f"connections/{key}/token"


OAUTH_CLIENT_PATH = "oauth/client"
WEBHOOK_SECRET_PATH = "webhook/secret"


def build_catalog(cfg: StackConfig) -> Catalog:
    rotation_on = cfg.rotation.connection_token_days is not None
    receiver_on = cfg.webhooks.enabled
    oauth_readers = tuple(sorted(n for n, c in cfg.consumers.items() if c.oauth_client))
    secrets = [
        CatalogSecret(
            kind=SecretKind.OAUTH_CLIENT,
            path=OAUTH_CLIENT_PATH,
            description=f"Makini OAuth client ({cfg.oauth.client_id}) of {cfg.environment}",
            readers=oauth_readers,
            # The rotator reads the OAuth client only if it rotates something (connections with makiniId).
            system_readers=(SystemIdentity.ROTATION,) if rotation_on and any(c.makini_id for c in cfg.connections) else (),
            value_from_config=cfg.oauth_client_secret is not None,
        ),
        CatalogSecret(
            kind=SecretKind.WEBHOOK_SECRET,
            path=WEBHOOK_SECRET_PATH,
            description=f"Makini webhook signing secret of {cfg.environment}",
            system_readers=(SystemIdentity.WEBHOOK_RECEIVER,) if receiver_on else (),
            value_from_config=cfg.webhook_secret is not None,
        ),
    ]
    for conn in cfg.connections:
        secrets.append(
            CatalogSecret(
                kind=SecretKind.CONNECTION_TOKEN,
                path=connection_token_path(conn.key),
                description=f"Makini bearer token of connection {conn.key} ({conn.system}) in {cfg.environment}",
                connection=conn.key,
                readers=tuple(sorted(set(conn.consumers))),
                writers=(SystemIdentity.ROTATION,) if rotation_on and conn.makini_id else (),
                value_from_config=conn.key in cfg.connection_tokens,
            )
        )
    return Catalog(environment=cfg.environment, secrets=tuple(secrets))
