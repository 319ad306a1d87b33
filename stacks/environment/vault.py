"""HashiCorp Vault composition: the KV v2 store, then a policy and auth role per consumer."""

from __future__ import annotations

from components.vault.access import VaultAccess, VaultAccessArgs, VaultConsumerGrant
from components.vault.store import VaultSecretArgs, VaultStore, VaultStoreArgs

from ..catalog import SecretKind
from ..config.vault import VaultSettings
from .common import MANAGED_BY, Context, by_kind, secret_value


class VaultBackend:
    """Everything on Vault for one environment, as children of the environment component."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.store = self._store()
        self.access = self._access()

    def _store(self) -> VaultStore:
        ctx, cfg = self.ctx, self.ctx.config
        settings = cfg.vault or VaultSettings()
        days = cfg.rotation.connection_token_days
        secrets = []
        for s in ctx.catalog.secrets:
            meta = {"environment": cfg.environment, "owner": cfg.tags.owner, "kind": s.kind.value, "managed_by": MANAGED_BY}
            if s.connection is not None:
                meta["connection"] = s.connection
                conn = cfg.connection(s.connection)
                if conn.makini_id and s.kind is SecretKind.CONNECTION_TOKEN:
                    meta["makini_connection_id"] = conn.makini_id  # read by functions/rotation/vault_rotator.py
                    if days is not None:
                        meta["rotation_period_days"] = str(days)
            secrets.append(
                VaultSecretArgs(path=s.path, slug=s.slug, custom_metadata=meta, value=secret_value(cfg, s, ctx.generated))
            )
        return VaultStore(
            f"{ctx.name}-vault",
            VaultStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                secrets=secrets,
                max_versions=settings.max_versions,
                cas_required=settings.cas_required,
                delete_version_after_seconds=settings.delete_version_after_seconds,
            ),
            opts=ctx.opts(),
        )

    def _access(self) -> VaultAccess:
        ctx, cfg = self.ctx, self.ctx.config
        grants = [
            VaultConsumerGrant(consumer=n, identity=c.vault, paths=[s.path for s in ctx.catalog.readable_by(n)])
            for n, c in sorted(cfg.consumers.items())
            if c.vault is not None
        ]
        return VaultAccess(
            f"{ctx.name}-vault-access",
            VaultAccessArgs(environment=cfg.environment, mount=self.store.mount_path, consumers=grants),
            opts=ctx.opts(),
        )

    def outputs(self) -> dict[str, object]:
        return {"mount": self.store.mount_path, "paths": by_kind(self.ctx.catalog, self.store.paths)}
