"""Composition: one environment, built from its validated config on every backend it uses.

The only module in ``stacks/`` that imports Pulumi and the components. It materialises the pure
catalog on each backend and gathers the stack outputs (never a secret value).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from components.aws.store import SecretStore, SecretStoreArgs, StoreSecretArgs

from .catalog import Catalog, CatalogSecret, SecretKind, build_catalog
from .config.model import StackConfig
from .credits import CreditReport, credit_report

MANAGED_BY = "makini-infra"


@dataclass(frozen=True)
class EnvironmentArgs:
    config: StackConfig


def common_tags(cfg: StackConfig) -> dict[str, str]:
    """Tags for every resource: environment, ownership, and who manages it."""
    return {
        **cfg.tags.extra,
        "environment": cfg.environment,
        "owner": cfg.tags.owner,
        "cost-center": cfg.tags.cost_center,
        "managed-by": MANAGED_BY,
    }


def secret_value(cfg: StackConfig, secret: CatalogSecret) -> pulumi.Output[str] | None:
    """The initial value from config for a catalog secret, as a Pulumi secret (None: filled out of band).

    Formats: OAuth client ``{"client_id", "client_secret"}``; connection token ``{"token",
    "connection_id"}``; webhook secret: the secret itself.
    """
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
        self.aws_store: SecretStore | None = None
        if "aws" in cfg.backends:
            self.aws_store = self._aws_store(name)
        self.register_outputs({})

    def _aws_store(self, name: str) -> SecretStore:
        cfg = self.config
        aws_cfg = cfg.aws
        consumer_arn = {n: c.aws.role_arn for n, c in cfg.consumers.items() if c.aws is not None}
        secrets = [
            StoreSecretArgs(
                path=s.path,
                slug=s.slug,
                description=s.description,
                reader_arns=[consumer_arn[r] for r in s.readers],
                writer_arns=[],
                value=secret_value(cfg, s),
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

    def outputs(self) -> dict[str, object]:
        """Stack outputs: where each secret lives and the credit figures; never a value."""
        out: dict[str, object] = {
            "environment": self.config.environment,
            "backends": list(self.config.backends),
            "creditsUsed": self.credits.used,
            "creditsFree": self.credits.free,
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
        return out


def build_environment(cfg: StackConfig) -> Environment:
    return Environment(f"makini-{cfg.environment}", EnvironmentArgs(config=cfg))


def export_outputs(env: Environment) -> None:
    for key, value in env.outputs().items():
        pulumi.export(key, value)
