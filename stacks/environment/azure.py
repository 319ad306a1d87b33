"""Azure composition: the Key Vault store, RBAC for the consumers, token rotation, the webhook endpoint.

Who grants what on the vaults' secrets: KeyVaultAccess grants the consumers (Secrets User per secret
outside an access class they read, and on the vault of each access class they read); KeyVaultRotation
grants its own identity (the custom rotator role, get and set, on each rotated token outside a class and on
each class's vault, Secrets User on the OAuth client); AzureWebhookEndpoint grants its own (Secrets User on
the webhook secret, Data Sender on its queue); QueueAccess grants the webhook-queue consumers (Data Receiver
on that queue). Each identity's grants are made in exactly one place: the rotation identity is never handed
to KeyVaultAccess.
"""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pulumi

from components.azure.access import (
    AzureConsumerGrant,
    AzureOnboardingGrant,
    KeyVaultAccess,
    KeyVaultAccessArgs,
    QueueAccess,
    QueueAccessArgs,
    QueueConsumerGrant,
)
from components.azure.rotation import SCHEDULE, KeyVaultRotation, KeyVaultRotationArgs
from components.azure.store import KeyVaultSecretArgs, KeyVaultStore, KeyVaultStoreArgs
from components.azure.webhook import AzureWebhookEndpoint, AzureWebhookEndpointArgs

from ..catalog import OAUTH_CLIENT_PATH, WEBHOOK_SECRET_PATH, SecretKind, SystemIdentity
from ..naming import class_key_vault_name, key_vault_name, key_vault_secret_name, resource_group_name
from ..rotation import bindings_document, rotated_runtime_classes, rotation_bindings, runtime_prefix
from .common import Context, key_vault_secret_tags, secret_value

#: Project root: makini:azure.functionDependenciesDir is relative to it.
PROJECT_DIR = Path(__file__).resolve().parents[2]

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
        # Tokens outside a class the rotation identity writes (one assignment each); classes it writes whole.
        self.rotated_paths = [s.path for s in ctx.catalog.explicit_secrets if SystemIdentity.ROTATION in s.writers]
        self.rotated_classes = [c.name for c in ctx.catalog.classes_written_by(SystemIdentity.ROTATION)]
        self.store = self._store()
        self.access = self._access()
        self.webhook = self._webhook() if ctx.config.webhooks.enabled else None
        self.queue_access = self._queue_access() if self.webhook is not None else None
        # After the receiver: the rotation's alert goes to its action group when there is one.
        self.rotation = self._rotation() if self.rotated_paths or self.rotated_classes else None

    def _store(self) -> KeyVaultStore:
        ctx, cfg = self.ctx, self.ctx.config
        az = cfg.azure
        assert az is not None  # checks._backend_sections refuses azure without its section
        secrets = []
        for s in ctx.catalog.secrets:
            tags = key_vault_secret_tags(cfg, s)
            secrets.append(
                KeyVaultSecretArgs(
                    path=s.path,
                    secret_name=key_vault_secret_name(s.path),
                    slug=s.slug,
                    content_type=CONTENT_TYPES[s.kind],
                    value=secret_value(cfg, s, ctx.generated),
                    tags=tags,
                    access_class=s.access_class,
                )
            )
        return KeyVaultStore(
            f"{ctx.name}-azure",
            KeyVaultStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                location=az.location,
                vault_name=self.vault_name,
                class_vaults=self.class_vault_names(),
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

    def class_vault_names(self) -> dict[str, str]:
        """Access class -> the name of its own Key Vault (derived, or makini:azure.classVaultNames)."""
        cfg = self.ctx.config
        az = cfg.azure
        assert az is not None
        project, organization = pulumi.get_project(), pulumi.get_organization()
        return {
            c.name: class_key_vault_name(
                cfg.environment, c.name, project, organization, az.class_vault_names.get(c.name)
            )
            for c in self.ctx.catalog.classes
        }

    def _access(self) -> KeyVaultAccess:
        ctx, cfg = self.ctx, self.ctx.config
        grants = [
            AzureConsumerGrant(
                consumer=n,
                principal_id=c.azure.principal_id,
                principal_type=c.azure.principal_type,
                paths=[s.path for s in ctx.catalog.explicitly_readable_by(n)],
                classes=[k.name for k in ctx.catalog.classes_read_by(n)],
            )
            for n, c in sorted(cfg.consumers.items())
            if c.azure is not None
        ]
        onboarding = None
        name = ctx.catalog.onboarding_identity
        if name is not None and cfg.consumers[name].azure is not None:
            identity = cfg.consumers[name].azure
            assert identity is not None
            onboarding = AzureOnboardingGrant(
                consumer=name,
                principal_id=identity.principal_id,
                principal_type=identity.principal_type,
                classes=[k.name for k in ctx.catalog.classes_created_by(name)],
            )
        return KeyVaultAccess(
            f"{ctx.name}-azure-access",
            KeyVaultAccessArgs(
                environment=cfg.environment,
                secret_ids=self.store.secret_ids,
                consumers=grants,
                class_vault_ids={k: v.id for k, v in self.store.class_vaults.items()},
                onboarding=onboarding,
            ),
            opts=ctx.opts(),
        )

    @property
    def vault_name(self) -> str:
        az = self.ctx.config.azure
        assert az is not None
        return key_vault_name(
            self.ctx.config.environment, pulumi.get_project(), pulumi.get_organization(), az.vault_name
        )

    # -- shared by the Function Apps ------------------------------------------------------------------

    @property
    def resource_group_name(self) -> pulumi.Input[str]:
        az = self.ctx.config.azure
        assert az is not None
        rg = self.store.resource_group
        if rg is not None:
            created: pulumi.Output[str] = rg.name
            return created
        assert az.resource_group_name is not None  # the store creates a group unless one is named
        return az.resource_group_name

    def _dependencies(self, package: str) -> Path | None:
        az = self.ctx.config.azure
        assert az is not None
        if az.function_dependencies_dir is None:
            pulumi.log.warn(
                f"{self.ctx.config.environment}: the Azure {package} package carries no dependencies "
                "(makini:azure.functionDependenciesDir is not set), so the Function App would fail at its first "
                "Azure SDK import; see docs/azure-functions.md"
            )
            return None
        return PROJECT_DIR / az.function_dependencies_dir / package

    # -- rotation -------------------------------------------------------------------------------------

    def _rotation(self) -> KeyVaultRotation:
        ctx, cfg = self.ctx, self.ctx.config
        az = cfg.azure
        assert az is not None
        # A class token lives in its class's vault: its binding names that vault.
        class_vaults = self.class_vault_names()
        vaults = {s.path: class_vaults[s.access_class] for s in ctx.catalog.secrets if s.access_class is not None}
        return KeyVaultRotation(
            f"{ctx.name}-azure-rotation",
            KeyVaultRotationArgs(
                environment=cfg.environment,
                location=az.location,
                resource_group_name=self.resource_group_name,
                vault_id=self.store.vault.id,
                vault_uri=self.store.vault_uri,
                token_secret_ids={self.store.secret_names[p]: self.store.secret_ids[p] for p in self.rotated_paths},
                oauth_client_secret_name=self.store.secret_names[OAUTH_CLIENT_PATH],
                oauth_client_secret_id=self.store.secret_ids[OAUTH_CLIENT_PATH],
                bindings_document=bindings_document(
                    cfg.environment,
                    "azure",
                    cfg.rotation.connection_token_days,
                    {
                        f"{vaults.get(path, self.vault_name)}/{key_vault_secret_name(path)}": makini_id
                        for path, makini_id in rotation_bindings(cfg, ctx.catalog).items()
                    },
                    {
                        c: runtime_prefix("azure", cfg.environment, c, class_vaults[c])
                        for c in rotated_runtime_classes(ctx.catalog)
                    },
                ),
                plan_sku=cfg.webhooks.azure.plan_sku,
                subnet_id=az.functions_subnet_id,
                dependencies_dir=self._dependencies("rotation"),
                tags=ctx.tags,
                class_vaults={
                    k: (self.store.class_vaults[k].id, self.store.class_vault_uris[k]) for k in self.rotated_classes
                },
                action_group_id=self.webhook.action_group.id if self.webhook is not None else None,
                alarm_email=cfg.rotation.notify_email,
            ),
            opts=ctx.opts(),
        )

    # -- webhooks -------------------------------------------------------------------------------------

    def _webhook(self) -> AzureWebhookEndpoint:
        ctx, cfg, w = self.ctx, self.ctx.config, self.ctx.config.webhooks
        az = cfg.azure
        assert az is not None
        uri = self.secret_uri(WEBHOOK_SECRET_PATH)
        previous = w.azure.previous_secret_version
        return AzureWebhookEndpoint(
            f"{ctx.name}-azure-webhooks",
            AzureWebhookEndpointArgs(
                environment=cfg.environment,
                production=cfg.production,
                location=az.location,
                resource_group_name=self.resource_group_name,
                secret_uri=uri,
                secret_id=self.store.secret_ids[WEBHOOK_SECRET_PATH],
                previous_secret_uri=uri.apply(lambda u: f"{u}/{previous}") if previous else None,
                previous_secret_expires_at=(
                    w.azure.previous_secret_expires_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                    if w.azure.previous_secret_expires_at is not None
                    else None
                ),
                plan_sku=w.azure.plan_sku,
                duplicate_detection_window=w.azure.duplicate_detection_window,
                allowed_source_ips=w.source_ips(),
                signature_mode=w.signature_mode,
                subnet_id=az.functions_subnet_id,
                dependencies_dir=self._dependencies("webhook_receiver"),
                silence_hours=w.alarms.effective_silence_hours(cfg.production),
                alarm_email=w.alarms.email,
                tags=ctx.tags,
            ),
            opts=ctx.opts(),
        )

    def _queue_access(self) -> QueueAccess | None:
        """Data Receiver on the endpoint's queue for each consumer with ``webhookQueue: true`` (AWS parity)."""
        ctx, cfg = self.ctx, self.ctx.config
        assert self.webhook is not None
        grants = [
            QueueConsumerGrant(consumer=n, principal_id=c.azure.principal_id, principal_type=c.azure.principal_type)
            for n, c in sorted(cfg.consumers.items())
            if c.webhook_queue and c.azure is not None
        ]
        if not grants:
            return None
        return QueueAccess(
            f"{ctx.name}-azure-queue-access",
            QueueAccessArgs(environment=cfg.environment, queue_id=self.webhook.queue.id, consumers=grants),
            opts=ctx.opts(),
        )

    # -- outputs --------------------------------------------------------------------------------------

    def outputs(self) -> dict[str, object]:
        store = self.store
        out: dict[str, object] = {
            "azureVaultName": store.vault_name,
            "azureVaultUri": store.vault_uri,
            "azureSecretIds": dict(store.secret_ids),
            "azureSecretNames": dict(store.secret_names),
            "azureSecretUris": {s.path: self.secret_uri(s.path) for s in self.ctx.catalog.secrets},
        }
        if store.class_vaults:
            out["azureClassVaultNames"] = {k: v.name for k, v in store.class_vaults.items()}
            out["azureClassVaultUris"] = dict(store.class_vault_uris)
        return out

    def vault_uri_of(self, path: str) -> pulumi.Output[str]:
        """The URI of the Key Vault that holds catalog secret ``path`` (its class's, or the environment's)."""
        klass = self.ctx.catalog.by_path()[path].access_class
        return self.store.vault_uri if klass is None else self.store.class_vault_uris[klass]

    def secret_uri(self, path: str) -> pulumi.Output[str]:
        """The versionless Key Vault URI of catalog secret ``path`` (``https://<vault>.vault.azure.net/secrets/<name>``;
        a Key Vault reference follows its current version)."""
        name = self.store.secret_names[path]
        return self.vault_uri_of(path).apply(lambda uri: f"{uri.rstrip('/')}/secrets/{name}")

    def consumer_view(self, consumer: str) -> dict[str, object]:
        identity = self.ctx.config.consumers[consumer].azure
        assert identity is not None  # the config requires an identity on every backend in use
        catalog = self.ctx.catalog
        creates = catalog.classes_created_by(consumer)
        return {
            "principalId": identity.principal_id,
            "principalType": identity.principal_type,
            "secretUris": {s.path: self.secret_uri(s.path) for s in catalog.explicitly_readable_by(consumer)},
            "classVaultUris": {c.name: self.store.class_vault_uris[c.name] for c in catalog.classes_read_by(consumer)},
            # The queue it may receive from (Azure Service Bus Data Receiver on exactly that queue), or {}.
            "webhookQueue": {
                "serviceBusNamespace": self.webhook.namespace.name,
                "queueName": self.webhook.queue.name,
            }
            if self.webhook is not None and self.queue_access is not None and consumer in self.queue_access.assignments
            else {},
            # The onboarding identity's write rights (issue 19): the run-time class vaults it may set secrets in, and
            # the role it holds there (the custom onboarding role, from its assignments). Empty for everyone else.
            "createVaultUris": {c.name: self.store.class_vault_uris[c.name] for c in creates},
            "createRoleDefinitionId": self.access.assignments[
                (consumer, f"onboard:connections/{creates[0].name}/*")
            ].role_definition_id
            if creates
            else "",
        }

    def rotation_outputs(self) -> dict[str, object] | None:
        if self.rotation is None:
            return None
        return {
            "azureRotationFunctionApp": self.rotation.function_app_name,
            "azureRotationSchedule": SCHEDULE,
            "azureRotationAlert": self.rotation.alert_name,
        }

    def webhook_outputs(self) -> dict[str, object] | None:
        if self.webhook is None:
            return None
        return {
            "azureWebhookUrl": self.webhook.url,
            "azureWebhookServiceBusNamespace": self.webhook.namespace.name,
            "azureWebhookQueueName": self.webhook.queue.name,
            "azureWebhookAlarms": self.webhook.alert_names,
            "azureWebhookAlarmActionGroup": self.webhook.action_group.name,
            "azureWebhookQueueConsumers": sorted(self.queue_access.assignments)
            if self.queue_access is not None
            else [],
        }
