"""What every backend's composition shares: its interface, tags, initial secret values, catalog-shaped outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Protocol

import pulumi

from ..catalog import Catalog, CatalogSecret, SecretKind
from ..config.model import StackConfig

MANAGED_BY = "makini-infra"


@dataclass(frozen=True)
class Context:
    """What a backend's builder needs to know about the environment it builds."""

    name: str
    config: StackConfig
    catalog: Catalog
    #: Values the stack generates itself (NetSuite M2M private keys), by catalog path; always secret.
    generated: Mapping[str, pulumi.Output[str]]
    today: date
    parent: pulumi.Resource

    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.parent)

    @property
    def tags(self) -> dict[str, str]:
        return common_tags(self.config)


class BackendComposition(Protocol):
    """One backend's composition (aws.py, azure.py, vault.py): built from a :class:`Context`, its
    components children of the environment; the environment loops over the backends for its outputs."""

    def outputs(self) -> dict[str, object]:
        """Stack outputs named ``<backend>...`` (stacks/outputs.py): where each secret lives there."""
        ...

    def rotation_outputs(self) -> dict[str, object] | None:
        """Stack outputs about what rotates connection tokens there, or None."""
        ...

    def webhook_outputs(self) -> dict[str, object] | None:
        """Stack outputs about the webhook endpoint there, or None."""
        ...

    def consumer_view(self, consumer: str) -> dict[str, object]:
        """What ``consumer`` needs on this backend: its identity and exactly the secret locations it may read
        (every key present, empty when it reads nothing here); see docs/outputs.md, "Consumer views"."""
        ...


#: Tag on every resource of a production stack: how the policy pack (and anyone reading tags) knows an
#: environment is production when its name is not prod/production/prd (``makini:production: true``).
PRODUCTION_TAG = "makini:production"


def common_tags(cfg: StackConfig) -> dict[str, str]:
    """Tags for every resource: environment, ownership, who manages it, and production (when it is)."""
    tags = {
        **cfg.tags.extra,
        "environment": cfg.environment,
        "owner": cfg.tags.owner,
        "cost-center": cfg.tags.cost_center,
        "managed-by": MANAGED_BY,
    }
    if cfg.production:
        tags[PRODUCTION_TAG] = "true"
    return tags


def secret_value(
    cfg: StackConfig, secret: CatalogSecret, generated: Mapping[str, pulumi.Input[str]] | None = None
) -> pulumi.Output[str] | None:
    """The initial value of a catalog secret, as a Pulumi secret (None: filled out of band).

    Formats: OAuth client ``{"client_id", "client_secret"}``; connection token ``{"token",
    "connection_id", "issued_at"}`` (the rotators' format; ``issued_at`` is null here: a token given in the
    stack's config was issued by Makini at a time the program cannot know, and the first rotation sets it);
    webhook secret: the secret itself; NetSuite M2M key: the PEM.
    """
    if generated is not None and secret.path in generated:
        return pulumi.Output.secret(generated[secret.path])
    if secret.kind is SecretKind.OAUTH_CLIENT and cfg.oauth_client_secret is not None:
        client_id, value = cfg.oauth.client_id, cfg.oauth_client_secret.get_secret_value()
        return pulumi.Output.secret(json.dumps({"client_id": client_id, "client_secret": value}))
    if secret.kind is SecretKind.WEBHOOK_SECRET and cfg.webhook_secret is not None:
        return pulumi.Output.secret(cfg.webhook_secret.get_secret_value())
    if secret.kind is SecretKind.CONNECTION_TOKEN and secret.connection in cfg.connection_tokens:
        conn = cfg.connection(secret.connection)
        token = cfg.connection_tokens[secret.connection].get_secret_value()
        return pulumi.Output.secret(json.dumps({"token": token, "connection_id": conn.makini_id, "issued_at": None}))
    return None


def secret_tags(cfg: StackConfig, secret: CatalogSecret) -> dict[str, str]:
    tags = {"makini:kind": secret.kind.value}
    if secret.connection is not None:
        conn = cfg.connection(secret.connection)
        tags["makini:connection"] = conn.key
        if conn.makini_id and secret.kind is SecretKind.CONNECTION_TOKEN:
            # Read by the rotation functions: only token secrets carry it, so nothing else is ever rotated.
            tags["makini:connection-id"] = conn.makini_id
    if secret.access_class is not None:
        # Informational (access follows the name prefix or the class's vault, never this tag).
        tags["makini:class"] = secret.access_class
    return tags


def key_vault_secret_tags(cfg: StackConfig, secret: CatalogSecret) -> dict[str, str]:
    """A Key Vault secret's own tags: :func:`secret_tags`, plus the one the Key Vault rotation function
    looks for (functions/rotation/azure_function.py: ``makini-connection-id``)."""
    tags = secret_tags(cfg, secret)
    if "makini:connection-id" in tags:
        tags["makini-connection-id"] = tags["makini:connection-id"]
    return tags


def vault_custom_metadata(cfg: StackConfig, secret: CatalogSecret) -> dict[str, str]:
    """A Vault KV entry's custom metadata (what the rotator reads: makini_connection_id, rotation_period_days)."""
    meta = {
        "environment": cfg.environment,
        "owner": cfg.tags.owner,
        "kind": secret.kind.value,
        "managed_by": MANAGED_BY,
    }
    if secret.connection is not None:
        meta["connection"] = secret.connection
        if secret.access_class is not None:
            meta["access_class"] = secret.access_class
        conn = cfg.connection(secret.connection)
        if conn.makini_id and secret.kind is SecretKind.CONNECTION_TOKEN:
            meta["makini_connection_id"] = conn.makini_id  # read by functions/rotation/vault_rotator.py
            days = cfg.rotation.connection_token_days
            if days is not None:
                meta["rotation_period_days"] = str(days)
    return meta
