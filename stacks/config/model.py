"""The stack configuration model: everything under the ``makini:`` namespace of a Pulumi stack file.

The rules about the top-level keys (production, the backend sections, connection tokens) are at the end
of this module; each section's own rules are in its module; rules across sections are in
:mod:`stacks.checks`.
"""

from __future__ import annotations

import difflib
from functools import cached_property
from typing import Any, Literal

from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator, model_validator

from ..errors import Problem
from .access import AccessSettings
from .aws import AwsSettings
from .azure import AzureSettings
from .base import ConnectionKey, ConsumerName, EnvName, Model, TagValue
from .classes import AccessClass, ClassName
from .connections import Connection, Credits
from .consumers import Consumer
from .rotation import RotationSettings
from .rotation import fill_defaults as fill_rotation_defaults
from .vault import VaultSettings
from .webhooks import WebhookSettings

Backend = Literal["aws", "azure", "vault"]
BACKENDS: tuple[Backend, ...] = ("aws", "azure", "vault")

#: Environment names that are always production (and so always protected).
PRODUCTION_NAMES = frozenset({"prod", "production", "prd"})


class Tags(Model):
    """Tags put on every resource that supports them."""

    owner: TagValue = Field(description="Team that owns this environment's Makini integration.")
    cost_center: TagValue = Field(description="Cost centre billed for the environment's resources.")
    extra: dict[str, TagValue] = Field(default_factory=dict, description="Further tags, key -> value.")


class OAuthClient(Model):
    """The Makini OAuth client of this environment (its secret is the secret key makini:oauthClientSecret)."""

    client_id: str = Field(min_length=1, max_length=256, description="The OAuth client id (not secret).")


class StackConfig(Model):
    """The whole validated configuration of one stack (one environment)."""

    environment: EnvName = Field(
        description="Environment name; part of every resource and secret name.",
        json_schema_extra={"default": "the stack name"},
    )
    production: bool = Field(
        default=False,
        description="Production environments are protected against deletion and get the strict defaults. "
        "Default: true for the environment names prod, production and prd (which cannot be switched off); "
        "false otherwise, except that a stack or environment whose name has prod, production, prd or live as "
        "a part (acme-prod, live-eu) must state it, true or false.",
    )
    tags: Tags = Field(description="Ownership tags.")
    backends: tuple[Backend, ...] = Field(
        description="Secret-store backends of this stack: any non-empty subset of aws, azure, vault."
    )
    oauth: OAuthClient = Field(description="The Makini OAuth client.")
    connections: tuple[Connection, ...] = Field(default=(), description="Customer connections of this environment.")
    consumers: dict[ConsumerName, Consumer] = Field(
        default_factory=dict, description="Services allowed to read, by name."
    )
    access_classes: dict[ClassName, AccessClass] = Field(
        default_factory=dict,
        description="Access classes, by name: the consumers that read every connection token filed under the "
        "class (connections[].class). Grants are per class, so they do not grow with the number of connections.",
    )
    credits: Credits = Field(description="Connection-credit budget.")
    aws: AwsSettings | None = Field(default=None, description="AWS store settings.")
    azure: AzureSettings | None = Field(default=None, description="Azure Key Vault store settings.")
    vault: VaultSettings | None = Field(default=None, description="HashiCorp Vault store settings.")
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings, description="Webhook endpoint settings.")
    rotation: RotationSettings = Field(default_factory=RotationSettings, description="Rotation settings.")
    access: AccessSettings = Field(default_factory=AccessSettings, description="Access settings.")

    # Secret keys: must be set with `pulumi config set --secret`.
    oauth_client_secret: SecretStr | None = Field(
        default=None, description="Secret. The OAuth client secret; omit it to fill the store out of band."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret. The webhook signing secret shown on Makini's Webhooks page."
    )
    connection_tokens: dict[ConnectionKey, SecretStr] = Field(
        default_factory=dict, description="Secret. Connection key -> bearer token; omit to fill out of band."
    )

    @model_validator(mode="before")
    @classmethod
    def _default_production(cls, data: Any) -> Any:
        if isinstance(data, dict) and "production" not in data and isinstance(data.get("environment"), str):
            data = {**data, "production": data["environment"] in PRODUCTION_NAMES}
        return data

    @model_validator(mode="before")
    @classmethod
    def _default_rotation(cls, data: Any) -> Any:
        # The token rotation period defaults from production (7 days) or not (21 days).
        if isinstance(data, dict):
            env = data.get("environment")
            production = _as_bool(data.get("production", isinstance(env, str) and env in PRODUCTION_NAMES))
            data = {**data, "rotation": fill_rotation_defaults(data.get("rotation"), production)}
        return data

    @field_validator("backends")
    @classmethod
    def _backends(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one backend: aws, azure or vault")
        dupes = sorted({b for b in value if value.count(b) > 1})
        if dupes:
            raise ValueError(f"lists {', '.join(dupes)} more than once")
        return value

    # Convenience accessors used by the pure modules.
    def connection(self, key: str) -> Connection:
        return self._connections_by_key[key]

    @cached_property
    def _connections_by_key(self) -> dict[str, Connection]:
        # First wins, as a linear search would (duplicate keys are refused by the config checks).
        out: dict[str, Connection] = {}
        for c in self.connections:
            out.setdefault(c.key, c)
        return out

    @property
    def recovery_window_days(self) -> int:
        explicit = self.aws.recovery_window_days if self.aws else None
        return explicit if explicit is not None else (30 if self.production else 7)


def _as_bool(value: Any) -> bool:
    """``production`` as validation will read it (Pulumi hands it over as the string "true"); anything
    invalid counts as false here and is reported by validation."""
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return False


#: Top-level keys that hold secret values, and how each is set.
SECRET_KEYS: dict[str, str] = {
    "oauthClientSecret": "pulumi config set --secret makini:oauthClientSecret <client-secret>",
    "webhookSecret": "pulumi config set --secret makini:webhookSecret <webhook-secret>",
    "connectionTokens": "pulumi config set --secret --path 'makini:connectionTokens.<connection-key>' <token>",
}


# --------------------------------------------------------------------------------------------------
# Rules about the top-level keys (stacks.checks runs them in the order of the error list)


def production_problems(cfg: StackConfig) -> list[Problem]:
    """The production environment names cannot be unprotected."""
    if cfg.environment in PRODUCTION_NAMES and not cfg.production:
        return [
            Problem(
                "makini:production",
                f"environment '{cfg.environment}' is a production environment and cannot be unprotected",
                "pulumi config rm makini:production",
            )
        ]
    return []


def backend_section_problems(cfg: StackConfig) -> list[Problem]:
    """A backend's section is there when the backend is used (azure needs it), and only then."""
    problems = []
    if "azure" in cfg.backends and cfg.azure is None:
        problems.append(
            Problem(
                "makini:azure",
                "backends includes azure, but the azure section is missing (it needs at least location)",
                "pulumi config set --path 'makini:azure.location' westeurope",
            )
        )
    for section in ("aws", "azure", "vault"):
        if getattr(cfg, section) is not None and section not in cfg.backends:
            problems.append(
                Problem(
                    f"makini:{section}",
                    f"settings for {section} are given, but '{section}' is not in makini:backends",
                    f"add {section} to makini:backends, or remove the makini:{section} section",
                )
            )
    return problems


def connection_token_problems(cfg: StackConfig) -> list[Problem]:
    """Every token in makini:connectionTokens belongs to a declared connection."""
    keys = [c.key for c in cfg.connections]
    problems = []
    for key in sorted(cfg.connection_tokens):
        if key not in keys:
            near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            problems.append(
                Problem(
                    f"makini:connectionTokens.{key}",
                    f"token for unknown connection '{key}'{hint}",
                    f"pulumi config rm --path 'makini:connectionTokens.{key}'",
                )
            )
    return problems
