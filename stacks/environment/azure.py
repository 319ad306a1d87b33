"""Azure composition: the Key Vault store, then per-secret RBAC for the consumers."""

from __future__ import annotations

import pulumi

from components.azure.access import AzureConsumerGrant, KeyVaultAccess, KeyVaultAccessArgs
from components.azure.store import KeyVaultSecretArgs, KeyVaultStore, KeyVaultStoreArgs

from ..catalog import SecretKind
from ..naming import key_vault_name, key_vault_secret_name, resource_group_name
from .common import Context, by_kind, secret_tags, secret_value

CONTENT_TYPES = {
    SecretKind.OAUTH_CLIENT: "application/json",
    SecretKind.CONNECTION_TOKEN: "application/json",
    SecretKind.WEBHOOK_SECRET: "text/plain",
    SecretKind.NETSUITE_M2M_KEY: "application/x-pem-file",
}


class AzureBackend:
    """Everything on Azure for one environment, as children of the environment component."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.store = self._store()
        self.access = self._access()

    def _store(self) -> KeyVaultStore:
        ctx, cfg = self.ctx, self.ctx.config
        az = cfg.azure
        assert az is not None  # checks._backend_sections refuses azure without its section
        secrets = []
        for s in ctx.catalog.secrets:
            tags = secret_tags(cfg, s)
            if "makini:connection-id" in tags:
                # The tag the Key Vault rotation function looks for (functions/rotation/azure_function.py).
                tags["makini-connection-id"] = tags["makini:connection-id"]
            secrets.append(
                KeyVaultSecretArgs(
                    path=s.path,
                    secret_name=key_vault_secret_name(s.path),
                    slug=s.slug,
                    content_type=CONTENT_TYPES[s.kind],
                    value=secret_value(cfg, s, ctx.generated),
                    tags=tags,
                )
            )
        return KeyVaultStore(
            f"{ctx.name}-azure",
            KeyVaultStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                location=az.location,
                vault_name=key_vault_name(cfg.environment, pulumi.get_project(), pulumi.get_organization(), az.vault_name),
                secrets=secrets,
                soft_delete_retention_days=az.retention_days(cfg.production),
                purge_protection=az.purge_protection_enabled(cfg.production),
                existing_resource_group_name=az.resource_group_name,
                resource_group_name=resource_group_name(cfg.environment),
                allowed_ip_ranges=az.allowed_ip_ranges,
                allowed_subnet_ids=az.allowed_subnet_ids,
                private_endpoint_subnet_ids=az.private_endpoint_subnet_ids,
                log_analytics_workspace_id=az.log_analytics_workspace_id,
                tags=ctx.tags,
            ),
            opts=ctx.opts(),
        )

    def _access(self) -> KeyVaultAccess:
        ctx, cfg = self.ctx, self.ctx.config
        grants = [
            AzureConsumerGrant(
                consumer=n,
                principal_id=c.azure.principal_id,
                principal_type=c.azure.principal_type,
                paths=[s.path for s in ctx.catalog.readable_by(n)],
            )
            for n, c in sorted(cfg.consumers.items())
            if c.azure is not None
        ]
        return KeyVaultAccess(
            f"{ctx.name}-azure-access",
            KeyVaultAccessArgs(environment=cfg.environment, secret_ids=self.store.secret_ids, consumers=grants),
            opts=ctx.opts(),
        )

    def outputs(self) -> dict[str, object]:
        return {
            "vaultName": self.store.vault_name,
            "vaultUri": self.store.vault_uri,
            "secretIds": by_kind(self.ctx.catalog, self.store.secret_ids),
            "secretNames": by_kind(self.ctx.catalog, self.store.secret_names),
        }
