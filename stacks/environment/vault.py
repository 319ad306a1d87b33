"""HashiCorp Vault composition: the KV v2 store, a policy and auth role per consumer, and the token rotator.

The config model stops here: the components get plain frozen dataclasses built from it.
"""

from __future__ import annotations

import functools
from typing import Any

import pulumi
import yaml

from components.vault.access import (
    AppRoleRole,
    JwtRole,
    KubernetesRole,
    VaultAccess,
    VaultAccessArgs,
    VaultAuthRole,
    VaultConsumerGrant,
)
from components.vault.policies import class_token_glob
from components.vault.rotation import (
    VaultRotation,
    VaultRotationArgs,
    bindings_config_map,
    cronjob_document,
    prometheus_rule,
)
from components.vault.store import VaultSecretArgs, VaultStore, VaultStoreArgs

from ..catalog import OAUTH_CLIENT_PATH, SystemIdentity
from ..config.consumers import VaultIdentity
from ..config.vault import VaultRotator, VaultSettings
from ..naming import consumer_role_name, vault_rotator_role_name
from ..rotation import bindings_document, rotated_runtime_classes, rotation_bindings, runtime_prefix
from .common import Context, secret_value, vault_custom_metadata


def auth_role(identity: VaultIdentity) -> VaultAuthRole:
    """The component's auth role from a consumer's (validated: exactly one method) Vault identity."""
    auth = identity.auth
    if auth.jwt is not None:
        j = auth.jwt
        return JwtRole(
            bound_audiences=tuple(j.bound_audiences),
            bound_subject=j.bound_subject,
            bound_claims=dict(j.bound_claims) if j.bound_claims else None,
            user_claim=j.user_claim,
            mount_path=j.mount_path,
        )
    if auth.kubernetes is not None:
        k = auth.kubernetes
        return KubernetesRole(
            service_account_names=tuple(k.service_account_names),
            namespaces=tuple(k.namespaces),
            mount_path=k.mount_path,
        )
    if auth.approle is not None:
        a = auth.approle
        return AppRoleRole(
            secret_id_ttl=a.secret_id_ttl,
            token_bound_cidrs=tuple(a.token_bound_cidrs),
            secret_id_bound_cidrs=tuple(a.secret_id_bound_cidrs),
            mount_path=a.mount_path,
        )
    raise ValueError("a Vault identity needs one auth method (the config checks refuse this before here)")


class VaultBackend:
    """Everything on Vault for one environment, as children of the environment component."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.store = self._store()
        self.access = self._access()
        self.rotation = self._rotation()

    def _store(self) -> VaultStore:
        ctx, cfg = self.ctx, self.ctx.config
        settings = cfg.vault or VaultSettings()
        secrets = []
        for s in ctx.catalog.secrets:
            meta = vault_custom_metadata(cfg, s)
            secrets.append(
                VaultSecretArgs(
                    path=s.path, slug=s.slug, custom_metadata=meta, value=secret_value(cfg, s, ctx.generated)
                )
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
            VaultConsumerGrant(
                consumer=n,
                auth=auth_role(c.vault),
                paths=[s.path for s in ctx.catalog.explicitly_readable_by(n)],
                token_ttl=c.vault.token_ttl,
                token_max_ttl=c.vault.token_max_ttl,
                classes=[k.name for k in ctx.catalog.classes_read_by(n)],
                creates=[k.name for k in ctx.catalog.classes_created_by(n)],
            )
            for n, c in sorted(cfg.consumers.items())
            if c.vault is not None
        ]
        return VaultAccess(
            f"{ctx.name}-vault-access",
            VaultAccessArgs(environment=cfg.environment, mount=self.store.mount_path, consumers=grants),
            opts=ctx.opts(),
        )

    @property
    def token_paths(self) -> list[str]:
        """Catalog paths outside any class the rotator writes (tokens with a makiniId while rotation is on)."""
        return sorted(s.path for s in self.ctx.catalog.explicit_secrets if SystemIdentity.ROTATION in s.writers)

    @property
    def rotated_classes(self) -> list[str]:
        """Access classes whose tokens the rotator writes (every class while rotation is on)."""
        return [c.name for c in self.ctx.catalog.classes_written_by(SystemIdentity.ROTATION)]

    @property
    def rotator(self) -> VaultRotator | None:
        return self.ctx.config.vault.rotator if self.ctx.config.vault is not None else None

    def _rotation(self) -> VaultRotation | None:
        ctx, cfg, rotator = self.ctx, self.ctx.config, self.rotator
        if not self.token_paths and not self.rotated_classes:
            return None
        if rotator is None:  # refused by the config checks (makini:vault.rotator); never built half-way
            raise ValueError("connection tokens rotate on Vault but makini:vault.rotator is not set")
        jwt = rotator.auth.jwt
        return VaultRotation(
            f"{ctx.name}-vault-rotation",
            VaultRotationArgs(
                environment=cfg.environment,
                mount=self.store.mount_path,
                token_paths=self.token_paths,
                classes=self.rotated_classes,
                runtime_classes=rotated_runtime_classes(ctx.catalog),
                oauth_client_path=OAUTH_CLIENT_PATH,
                kubernetes_auth_mount=rotator.auth.mount_path if jwt is None else None,
                namespace=rotator.namespace,
                service_account=rotator.service_account_name,
                token_ttl=rotator.token_ttl,
                jwt=None
                if jwt is None
                else JwtRole(
                    bound_audiences=tuple(jwt.bound_audiences),
                    bound_subject=jwt.bound_subject,
                    bound_claims=dict(jwt.bound_claims) if jwt.bound_claims else None,
                    user_claim=jwt.user_claim,
                    mount_path=jwt.mount_path,
                ),
            ),
            opts=ctx.opts(),
        )

    def cronjob(self) -> dict[str, Any] | None:
        """The rotator's CronJob manifest (an object; no secret in it), or None when nothing rotates on Vault."""
        rotator = self.rotator
        if self.rotation is None or rotator is None:
            return None
        jwt = rotator.auth.jwt
        return cronjob_document(
            environment=self.ctx.config.environment,
            vault_addr=rotator.vault_address,
            image=rotator.image,
            namespace=rotator.namespace,
            service_account=rotator.service_account_name,
            auth_role=vault_rotator_role_name(self.ctx.config.environment),
            auth_mount=rotator.auth.mount_path,
            oauth_client_path=OAUTH_CLIENT_PATH,
            schedule=rotator.schedule,
            auth_method=rotator.auth.method,
            jwt_audience=jwt.bound_audiences[0] if jwt is not None else None,
        )

    def bindings_config_map(self) -> str | None:
        """The rotator's bindings ConfigMap (YAML: KV path -> Makini connection id, from the config alone)."""
        rotator = self.rotator
        if self.rotation is None or rotator is None:
            return None
        cfg = self.ctx.config
        document = bindings_document(
            cfg.environment,
            "vault",
            cfg.rotation.connection_token_days,
            rotation_bindings(cfg, self.ctx.catalog),
            {c: runtime_prefix("vault", cfg.environment, c) for c in rotated_runtime_classes(self.ctx.catalog)},
        )
        return bindings_config_map(cfg.environment, rotator.namespace, document)

    def rotation_outputs(self) -> dict[str, object] | None:
        """The rotator's policy and role names, schedule, what it may write, and its manifests (bindings
        ConfigMap, CronJob, PrometheusRule) as objects (apply them with your Kubernetes tooling)."""
        if self.rotation is None or self.rotator is None:
            return None
        bindings = self.bindings_config_map()
        return {
            "vaultRotatorPolicy": self.rotation.policy_name,
            "vaultRotatorRole": self.rotation.role_name,
            "vaultRotatorAuthMethod": self.rotator.auth.method,
            "vaultRotatorSchedule": self.rotator.schedule,
            "vaultRotatorTokenPaths": list(self.token_paths),
            "vaultRotatorClassPrefixes": [f"connections/{c}/" for c in self.rotated_classes],
            "vaultRotatorCronJob": self.cronjob(),
            "vaultRotatorBindingsConfigMap": yaml.safe_load(bindings) if bindings is not None else {},
            "vaultRotatorPrometheusRule": yaml.safe_load(
                prometheus_rule(self.ctx.config.environment, self.rotator.namespace)
            ),
        }

    def consumer_view(self, consumer: str) -> dict[str, object]:
        identity = self.ctx.config.consumers[consumer].vault
        assert identity is not None  # the config requires an identity on every backend in use
        catalog, env, mount = self.ctx.catalog, self.ctx.config.environment, self.store.mount_path
        method = identity.auth.methods()[0]
        auth = getattr(identity.auth, method)
        return {
            "authMethod": method,
            "authMount": auth.mount_path,
            "authRole": consumer_role_name(env, consumer),
            "mount": mount,
            "secretPaths": {s.path: self.store.paths[s.path] for s in catalog.explicitly_readable_by(consumer)},
            "classPathGlobs": {
                c.name: pulumi.Output.from_input(mount).apply(functools.partial(class_token_glob, access_class=c.name))
                for c in catalog.classes_read_by(consumer)
            },
            # The onboarding identity's write rights (issue 19): the class paths it may create tokens at, and the
            # policy that allows it (on authRole). Empty for every other consumer.
            "createPathGlobs": {
                c.name: pulumi.Output.from_input(mount).apply(functools.partial(class_token_glob, access_class=c.name))
                for c in catalog.classes_created_by(consumer)
            },
            "onboardingPolicy": self.access.onboarding_policy_names.get(consumer, "")
            if catalog.classes_created_by(consumer)
            else "",
        }

    def webhook_outputs(self) -> None:
        """Vault has no webhook endpoint (the receivers run on AWS or Azure)."""
        return None

    def outputs(self) -> dict[str, object]:
        return {"vaultMount": self.store.mount_path, "vaultPaths": dict(self.store.paths)}
