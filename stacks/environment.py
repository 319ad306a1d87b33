"""Composition: one environment, built from its validated config on every backend it uses.

The only module in ``stacks/`` that imports Pulumi and the components. It materialises the pure
catalog on each backend and gathers the stack outputs (never a secret value).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi

from components.aws.access import ConsumerAccess, ConsumerAccessArgs, ConsumerGrant
from components.aws.identity import ConsumerRoles, ConsumerRolesArgs
from components.aws.store import SecretStore, SecretStoreArgs, StoreSecretArgs
from components.aws.webhook import WebhookEndpoint, WebhookEndpointArgs, receiver_role
from components.aws.rotation import Reminder, TokenRotation, TokenRotationArgs, rotation_role
from components.azure.access import AzureConsumerGrant, KeyVaultAccess, KeyVaultAccessArgs
from components.netsuite.certificate import M2MCertificate, M2MCertificateArgs
from components.azure.store import KeyVaultSecretArgs, KeyVaultStore, KeyVaultStoreArgs
from components.vault.access import VaultAccess, VaultAccessArgs, VaultConsumerGrant
from components.vault.store import VaultSecretArgs, VaultStore, VaultStoreArgs

from .access import matrix_dict
from .catalog import netsuite_m2m_key_path, WEBHOOK_SECRET_PATH, Catalog, CatalogSecret, SecretKind, SystemIdentity, build_catalog
from .config.model import StackConfig
from .config.vault import VaultSettings
from .credits import CreditReport, credit_report
from .rotation import calendar_dict, reminder_deadlines, reminder_moment
from .naming import key_vault_name, key_vault_secret_name, resource_group_name

MANAGED_BY = "makini-infra"


@dataclass(frozen=True)
class EnvironmentArgs:
    config: StackConfig
    #: "Today" for the rotation calendar and reminder dates (default: the current UTC date).
    today: date | None = None


def common_tags(cfg: StackConfig) -> dict[str, str]:
    """Tags for every resource: environment, ownership, and who manages it."""
    return {
        **cfg.tags.extra,
        "environment": cfg.environment,
        "owner": cfg.tags.owner,
        "cost-center": cfg.tags.cost_center,
        "managed-by": MANAGED_BY,
    }


def secret_value(
    cfg: StackConfig, secret: CatalogSecret, generated: Mapping[str, pulumi.Input[str]] | None = None
) -> pulumi.Output[str] | None:
    """The initial value from config for a catalog secret, as a Pulumi secret (None: filled out of band).

    Formats: OAuth client ``{"client_id", "client_secret"}``; connection token ``{"token",
    "connection_id"}``; webhook secret: the secret itself.
    """
    if generated is not None and secret.path in generated:
        # Values the stack generates (NetSuite M2M private keys): always secret.
        return pulumi.Output.secret(generated[secret.path])
    if secret.kind is SecretKind.OAUTH_CLIENT and cfg.oauth_client_secret is not None:
        client_id, value = cfg.oauth.client_id, cfg.oauth_client_secret.get_secret_value()
        return pulumi.Output.secret(json.dumps({"client_id": client_id, "client_secret": value}))
    if secret.kind is SecretKind.WEBHOOK_SECRET and cfg.webhook_secret is not None:
        return pulumi.Output.secret(cfg.webhook_secret.get_secret_value())
    if secret.kind is SecretKind.CONNECTION_TOKEN and secret.connection in cfg.connection_tokens:
        conn = cfg.connection(secret.connection)
        token = cfg.connection_tokens[secret.connection].get_secret_value()
        return pulumi.Output.secret(json.dumps({"token": token, "connection_id": conn.makini_id}))
    return None


def secret_tags(cfg: StackConfig, secret: CatalogSecret) -> dict[str, str]:
    tags = {"makini:kind": secret.kind.value}
    if secret.connection is not None:
        conn = cfg.connection(secret.connection)
        tags["makini:connection"] = conn.key
        if conn.makini_id:
            tags["makini:connection-id"] = conn.makini_id
    return tags


class Environment(pulumi.ComponentResource):
    """Everything makini-infra manages for one environment, grouped under one component."""

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:environment:Environment", name, None, opts)
        cfg = args.config
        self.config = cfg
        self.catalog: Catalog = build_catalog(cfg)
        self.credits: CreditReport = credit_report(cfg.connections, cfg.credits)
        # NetSuite M2M key pairs first: every store keeps their private keys.
        self.netsuite_certificates: dict[str, M2MCertificate] = self._netsuite_certificates(name)
        self.generated_values: dict[str, pulumi.Output[str]] = {
            netsuite_m2m_key_path(key): c.private_key_pem for key, c in self.netsuite_certificates.items()
        }
        self.aws_store: SecretStore | None = None
        self.aws_roles: ConsumerRoles | None = None
        self.aws_access: ConsumerAccess | None = None
        self.aws_webhook: WebhookEndpoint | None = None
        # The webhook receiver's role exists before the store, whose secret policy names it as a reader.
        self.aws_system_arns: dict[SystemIdentity, pulumi.Output[str]] = {}
        if "aws" in cfg.backends and cfg.webhooks.enabled:
            self.aws_webhook_role = receiver_role(
                f"{name}-webhook-receiver-role", cfg.environment, common_tags(cfg),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.aws_system_arns[SystemIdentity.WEBHOOK_RECEIVER] = self.aws_webhook_role.arn
        self.today = args.today or datetime.now(timezone.utc).date()
        self.aws_rotation: TokenRotation | None = None
        self.aws_rotation_role = None
        if "aws" in cfg.backends and any(SystemIdentity.ROTATION in s.writers for s in self.catalog.secrets):
            # Likewise the rotation role: the token secrets name it as writer, the OAuth client as reader.
            self.aws_rotation_role = rotation_role(
                f"{name}-rotation-role", cfg.environment, common_tags(cfg), opts=pulumi.ResourceOptions(parent=self)
            )
            self.aws_system_arns[SystemIdentity.ROTATION] = self.aws_rotation_role.arn
        if "aws" in cfg.backends:
            # Created roles first: the store names every reader in its KMS key policy.
            self.aws_roles = self._aws_roles(name)
            self.aws_store = self._aws_store(name)
            self.aws_access = self._aws_access(name, self.aws_store)
            self.aws_rotation = self._aws_rotation(name, self.aws_store)
        if self.aws_store is not None and cfg.webhooks.enabled:
            self.aws_webhook = self._aws_webhook(name)
        self.azure_store: KeyVaultStore | None = None
        self.azure_access: KeyVaultAccess | None = None
        if "azure" in cfg.backends:
            self.azure_store = self._azure_store(name)
            self.azure_access = self._azure_access(name, self.azure_store)
        self.vault_store: VaultStore | None = None
        self.vault_access: VaultAccess | None = None
        if "vault" in cfg.backends:
            self.vault_store = self._vault_store(name)
            self.vault_access = self._vault_access(name, self.vault_store)
        self.register_outputs({})

    def _azure_access(self, name: str, store: KeyVaultStore) -> KeyVaultAccess:
        cfg = self.config
        grants = [
            AzureConsumerGrant(
                consumer=n,
                principal_id=c.azure.principal_id,
                principal_type=c.azure.principal_type,
                paths=[s.path for s in self.catalog.readable_by(n)],
            )
            for n, c in sorted(cfg.consumers.items())
            if c.azure is not None
        ]
        return KeyVaultAccess(
            f"{name}-azure-access",
            KeyVaultAccessArgs(environment=cfg.environment, secret_ids=store.secret_ids, consumers=grants),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _vault_access(self, name: str, store: VaultStore) -> VaultAccess:
        cfg = self.config
        grants = [
            VaultConsumerGrant(consumer=n, identity=c.vault, paths=[s.path for s in self.catalog.readable_by(n)])
            for n, c in sorted(cfg.consumers.items())
            if c.vault is not None
        ]
        return VaultAccess(
            f"{name}-vault-access",
            VaultAccessArgs(environment=cfg.environment, mount=store.mount_path, consumers=grants),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _netsuite_certificates(self, name: str) -> dict[str, M2MCertificate]:
        cfg = self.config
        out = {}
        for conn in cfg.connections:
            ns = conn.netsuite
            if ns is None:
                continue
            out[conn.key] = M2MCertificate(
                f"{name}-netsuite-{conn.key}",
                M2MCertificateArgs(
                    environment=cfg.environment,
                    connection=conn.key,
                    validity_days=ns.certificate_validity_days,
                    renewal_reminder_days=ns.renewal_reminder_days,
                    key_algorithm=ns.key_algorithm,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        return out

    def _azure_store(self, name: str) -> KeyVaultStore:
        cfg = self.config
        az = cfg.azure
        assert az is not None  # checks._backend_sections refuses azure without its section
        content_types = {
            SecretKind.OAUTH_CLIENT: "application/json",
            SecretKind.CONNECTION_TOKEN: "application/json",
            SecretKind.WEBHOOK_SECRET: "text/plain",
            SecretKind.NETSUITE_M2M_KEY: "application/x-pem-file",
        }
        secrets = []
        for s in self.catalog.secrets:
            tags = secret_tags(cfg, s)
            if "makini:connection-id" in tags:
                # The name the Key Vault rotation function looks for (functions/rotation/azure_function.py).
                tags["makini-connection-id"] = tags["makini:connection-id"]
            secrets.append(
                KeyVaultSecretArgs(
                    path=s.path,
                    secret_name=key_vault_secret_name(s.path),
                    slug=s.slug,
                    content_type=content_types[s.kind],
                    value=secret_value(cfg, s, self.generated_values),
                    tags=tags,
                )
            )
        return KeyVaultStore(
            f"{name}-azure",
            KeyVaultStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                location=az.location,
                vault_name=key_vault_name(
                    cfg.environment, pulumi.get_project(), pulumi.get_organization(), az.vault_name
                ),
                secrets=secrets,
                soft_delete_retention_days=az.retention_days(cfg.production),
                purge_protection=az.purge_protection_enabled(cfg.production),
                existing_resource_group_name=az.resource_group_name,
                resource_group_name=resource_group_name(cfg.environment),
                allowed_ip_ranges=az.allowed_ip_ranges,
                allowed_subnet_ids=az.allowed_subnet_ids,
                private_endpoint_subnet_ids=az.private_endpoint_subnet_ids,
                log_analytics_workspace_id=az.log_analytics_workspace_id,
                tags=common_tags(cfg),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _vault_store(self, name: str) -> VaultStore:
        cfg = self.config
        settings = cfg.vault or VaultSettings()
        days = cfg.rotation.connection_token_days
        secrets = []
        for s in self.catalog.secrets:
            meta = {
                "environment": cfg.environment,
                "owner": cfg.tags.owner,
                "kind": s.kind.value,
                "managed_by": MANAGED_BY,
            }
            if s.connection is not None:
                meta["connection"] = s.connection
                conn = cfg.connection(s.connection)
                if conn.makini_id:
                    meta["makini_connection_id"] = conn.makini_id  # read by functions/rotation/vault_rotator.py
                if days is not None:
                    meta["rotation_period_days"] = str(days)
            secrets.append(VaultSecretArgs(path=s.path, slug=s.slug, custom_metadata=meta, value=secret_value(cfg, s, self.generated_values)))
        return VaultStore(
            f"{name}-vault",
            VaultStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                secrets=secrets,
                max_versions=settings.max_versions,
                cas_required=settings.cas_required,
                delete_version_after_seconds=settings.delete_version_after_seconds,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _aws_store(self, name: str) -> SecretStore:
        cfg = self.config
        aws_cfg = cfg.aws
        consumer_arn = self._aws_consumer_arns()
        secrets = [
            StoreSecretArgs(
                path=s.path,
                slug=s.slug,
                description=s.description,
                reader_arns=[consumer_arn[r] for r in s.readers]
                + [self.aws_system_arns[i] for i in s.system_readers if i in self.aws_system_arns],
                writer_arns=[self.aws_system_arns[i] for i in s.writers if i in self.aws_system_arns],
                value=secret_value(cfg, s, self.generated_values),
                tags=secret_tags(cfg, s),
            )
            for s in self.catalog.secrets
        ]
        return SecretStore(
            f"{name}-aws",
            SecretStoreArgs(
                environment=cfg.environment,
                production=cfg.production,
                secrets=secrets,
                recovery_window_days=cfg.recovery_window_days,
                kms_deletion_window_days=aws_cfg.kms_deletion_window_days if aws_cfg else 30,
                key_admin_arns=aws_cfg.key_admin_arns if aws_cfg else (),
                operator_arns=aws_cfg.operator_arns if aws_cfg else (),
                tags=common_tags(cfg),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _aws_webhook(self, name: str) -> WebhookEndpoint:
        cfg, w = self.config, self.config.webhooks
        domain = w.aws.custom_domain
        return WebhookEndpoint(
            f"{name}-aws-webhooks",
            WebhookEndpointArgs(
                environment=cfg.environment,
                production=cfg.production,
                role=self.aws_webhook_role,
                secret_arn=self.aws_store.secret_arns[WEBHOOK_SECRET_PATH],
                kms_key_arn=self.aws_store.kms_key_arn,
                route_path=w.route_path,
                throttle_burst=w.aws.throttling.burst_limit,
                throttle_rate=w.aws.throttling.rate_limit,
                log_retention_days=w.log_retention_days(cfg.production),
                memory_mb=w.aws.memory_mb,
                timeout_seconds=w.aws.timeout_seconds,
                reserved_concurrency=w.aws.reserved_concurrency,
                custom_domain=(domain.domain_name, domain.certificate_arn) if domain else None,
                allowed_source_ips=w.source_ips(),
                signature_mode=w.signature_mode,
                grace_seconds=w.grace_seconds,
                dedupe_ttl_seconds=w.dedupe_ttl_seconds,
                silence_hours=w.alarms.effective_silence_hours(cfg.production),
                error_rate_percent=w.alarms.error_rate_percent,
                alarm_email=w.alarms.email,
                tags=common_tags(cfg),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _aws_rotation(self, name: str, store: SecretStore) -> TokenRotation:
        cfg, r = self.config, self.config.rotation
        rotated = {
            s.path: store.secret_arns[s.path] for s in self.catalog.secrets if SystemIdentity.ROTATION in s.writers
        }
        labels = {"webhook/secret": ("webhook secret", "webhookSecretRotatedOn", "Makini's Webhooks page"),
                  "oauth/client": ("OAuth client secret", "oauthClientSecretRotatedOn", "Makini's API credentials page")}
        reminders = []
        for path, deadline in reminder_deadlines(cfg).items():
            what, key, where = labels[path]
            slug = path.replace("/", "-")
            if deadline is None:
                reminders.append(Reminder(path, slug, None, "", "", note=(
                    f"{cfg.environment}: no reminder for the {what}: it needs the date the current one was issued "
                    f"(pulumi config set --path 'makini:rotation.{key}' YYYY-MM-DD)")))
                continue
            moment = reminder_moment(deadline, self.today)
            subject = f"makini-infra {cfg.environment}: rotate the {what} by {deadline.due.isoformat()}"
            message = (
                f"The Makini {what} of environment {cfg.environment} (makini/{cfg.environment}/{path}) was issued on "
                f"{deadline.rotated_on.isoformat()} and reaches its {deadline.max_age_days}-day maximum age on "
                f"{deadline.due.isoformat()}. Issue a new one on {where}, store it, then set "
                f"makini:rotation.{key} to the new date."
            )
            note = "" if moment else (
                f"{cfg.environment}: the {what} is past its maximum age ({deadline.due.isoformat()}): no reminder "
                "is scheduled; rotate it now")
            reminders.append(Reminder(path, slug, moment, subject, message, note=note))
        return TokenRotation(
            f"{name}-aws-rotation",
            TokenRotationArgs(
                environment=cfg.environment,
                production=cfg.production,
                role=self.aws_rotation_role,
                token_secret_arns=rotated,
                oauth_client_secret_arn=store.secret_arns["oauth/client"],
                kms_key_arn=store.kms_key_arn,
                period_days=r.connection_token_days or 1,
                rotation_window=r.rotation_window,
                rotate_immediately=r.rotate_immediately,
                log_retention_days=cfg.webhooks.log_retention_days(cfg.production),
                reminders=reminders,
                notify_email=r.notify_email,
                tags=common_tags(cfg),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _aws_roles(self, name: str) -> ConsumerRoles | None:
        cfg = self.config
        trust = {
            n: c.aws.create_role.trust_policy
            for n, c in cfg.consumers.items()
            if c.aws is not None and c.aws.create_role is not None
        }
        if not trust:
            return None
        return ConsumerRoles(
            f"{name}-aws-roles",
            ConsumerRolesArgs(
                environment=cfg.environment, production=cfg.production, trust_policies=trust, tags=common_tags(cfg)
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _aws_consumer_arns(self) -> dict[str, pulumi.Input[str]]:
        """Consumer -> its AWS role ARN: the configured one, or the role this stack created."""
        created = self.aws_roles.arns if self.aws_roles is not None else {}
        return {
            n: c.aws.role_arn if c.aws.role_arn is not None else created[n]
            for n, c in self.config.consumers.items()
            if c.aws is not None
        }

    def _aws_access(self, name: str, store: SecretStore) -> ConsumerAccess:
        cfg = self.config
        arns = self._aws_consumer_arns()
        grants = [
            ConsumerGrant(consumer=n, role_arn=arns[n], paths=[s.path for s in self.catalog.readable_by(n)])
            for n in sorted(arns)
        ]
        return ConsumerAccess(
            f"{name}-aws-access",
            ConsumerAccessArgs(
                environment=cfg.environment,
                consumers=grants,
                secret_arns=store.secret_arns,
                kms_key_arn=store.kms_key_arn,
                tags=common_tags(cfg),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def outputs(self) -> dict[str, object]:
        """Stack outputs: where each secret lives and the credit figures; never a value."""
        out: dict[str, object] = {
            "environment": self.config.environment,
            "backends": list(self.config.backends),
            "creditsUsed": self.credits.used,
            "creditsFree": self.credits.free,
            "accessMatrix": matrix_dict(self.config, self.catalog),
            "rotation": calendar_dict(self.config, self.today, self.catalog),
        }
        if self.aws_rotation is not None:
            out["rotation"]["aws"] = {
                "functionArn": self.aws_rotation.function_arn,
                "reminderTopicArn": self.aws_rotation.topic_arn,
                "reminderSchedules": sorted(self.aws_rotation.schedules),
                "notes": list(self.aws_rotation.notes),
            }
        if self.netsuite_certificates:
            # Upload certPem to the integration record's M2M setup; renew before renewBy.
            out["netsuiteCertificates"] = {
                key: {"certPem": c.cert_pem, "notAfter": c.not_after, "renewBy": c.renew_by}
                for key, c in self.netsuite_certificates.items()
            }
        if self.aws_webhook is not None:
            out.setdefault("webhooks", {})["aws"] = {
                "url": self.aws_webhook.url,
                "queueUrl": self.aws_webhook.queue_url,
                "queueArn": self.aws_webhook.queue_arn,
                "dlqArn": self.aws_webhook.dlq_arn,
                "alarmTopicArn": self.aws_webhook.alarm_topic_arn,
            }
        if self.aws_store is not None:
            out["aws"] = {
                "kmsKeyArn": self.aws_store.kms_key_arn,
                "secretArns": {
                    "oauthClient": self.aws_store.secret_arns["oauth/client"],
                    "webhookSecret": self.aws_store.secret_arns["webhook/secret"],
                    "connections": {
                        s.connection: self.aws_store.secret_arns[s.path]
                        for s in self.catalog.of_kind(SecretKind.CONNECTION_TOKEN)
                    },
                },
            }
        if self.azure_store is not None:
            ids = self.azure_store.secret_ids
            out["azure"] = {
                "vaultName": self.azure_store.vault_name,
                "vaultUri": self.azure_store.vault_uri,
                "secretIds": self._by_kind(ids),
                "secretNames": self._by_kind(self.azure_store.secret_names),
            }
        if self.vault_store is not None:
            out["vault"] = {"mount": self.vault_store.mount_path, "paths": self._by_kind(self.vault_store.paths)}
        return out

    def _by_kind(self, by_path: dict[str, object]) -> dict[str, object]:
        """``{oauthClient, webhookSecret, connections: {key: ...}}`` from a catalog-path mapping."""
        return {
            "oauthClient": by_path["oauth/client"],
            "webhookSecret": by_path["webhook/secret"],
            "connections": {
                s.connection: by_path[s.path] for s in self.catalog.of_kind(SecretKind.CONNECTION_TOKEN)
            },
        }


def build_environment(cfg: StackConfig) -> Environment:
    return Environment(f"makini-{cfg.environment}", EnvironmentArgs(config=cfg))


def export_outputs(env: Environment) -> None:
    for key, value in env.outputs().items():
        pulumi.export(key, value)
