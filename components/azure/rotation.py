"""Connection-token rotation on Azure Key Vault: Event Grid ``SecretNearExpiry`` -> a Function App.

Key Vault publishes ``Microsoft.KeyVault.SecretNearExpiry`` 30 days before a version's ``exp``. An Event
Grid system topic on the vault and one subscription (filtered to that event type and to the token
secrets' names) deliver it to ``makini_rotate_connection_token`` of the rotation Function App
(``functions/rotation/azure_function.py``), which issues a new Makini token and writes a new version with
``exp = now + period + lead`` (see functions/rotation/README.md). :func:`first_expiry` gives the first
version the same ``exp`` so the schedule starts right.

The app's system-assigned identity gets Key Vault Secrets Officer on each rotated token secret outside an
access class and on each access class's own vault (the class is the unit: one assignment and one system
topic per class, whatever its number of connections), and Key Vault Secrets User on the OAuth client
secret; nothing on the environment's vault itself. The function accepts events from exactly these vaults
(``TOKEN_VAULT_URLS``) and reads the OAuth client from the environment's vault (``KEY_VAULT_URL``). Secret ids come in as inputs,
so this component does not depend on the store's internals. These are the only Key Vault grants of the
rotation identity: the environment does not hand it to KeyVaultAccess as well.

Code: the rotation package (components/azure/function_package.py: ``rotation/`` runtime modules, a root
``function_app.py``, host.json, requirements.txt) runs from a blob of the app's storage account, read
with the app's identity; host storage is identity-based. Event Grid validates an Azure Function
destination when the subscription is created, so the subscription waits for the package and its read
grant; the host indexes the function only after it has started with the package, so a first deployment
may need a second ``pulumi up`` if the subscription is refused because the function is not found yet.

Network: with ``subnet_id`` the app is VNet-integrated (all outbound traffic through the subnet), which
lets its SDK calls reach a vault whose firewall denies by default (Y1 has no VNet integration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pulumi
import pulumi_azure_native as azure_native

from .access import role_definition_id
from .function_package import (
    ROTATION_PACKAGE,
    host_storage_account,
    host_storage_grants,
    linux_function_app,
    linux_plan,
    upload_package,
)

FUNCTION_NAME = "makini_rotate_connection_token"
NEAR_EXPIRY_EVENT = "Microsoft.KeyVault.SecretNearExpiry"
#: Key Vault raises SecretNearExpiry this many days before exp (fixed by Key Vault).
NEAR_EXPIRY_LEAD_DAYS = 30
SECRETS_OFFICER = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


def first_expiry(created: datetime, period_days: int, lead_days: int = NEAR_EXPIRY_LEAD_DAYS) -> int:
    """``exp`` (epoch seconds) of a token secret's first version: creation + period + near-expiry lead."""
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return int((created + timedelta(days=period_days + lead_days)).timestamp())


@dataclass(frozen=True)
class KeyVaultRotationArgs:
    environment: str
    location: str
    resource_group_name: pulumi.Input[str]
    vault_id: pulumi.Input[str]
    vault_uri: pulumi.Input[str]
    #: Key Vault secret name -> secret resource id, for every rotated connection token outside a class.
    token_secret_ids: Mapping[str, pulumi.Input[str]]
    oauth_client_secret_name: str
    oauth_client_secret_id: pulumi.Input[str]
    period_days: int
    lead_days: int = NEAR_EXPIRY_LEAD_DAYS
    #: Event subjects (secret names) of the token secrets: prefix and suffix.
    subject_begins_with: str = "connections-"
    subject_ends_with: str = "-token"
    storage_account_name: str | None = None
    plan_sku: str = "Y1"
    #: Subnet (delegated to Microsoft.Web/serverFarms) for VNet integration; None: no integration.
    subnet_id: str | None = None
    #: pip --target folder of the package's requirements, shipped in the zip (see function_package).
    dependencies_dir: Path | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Access class -> (its vault's resource id, its vault's URI), for every class the function rotates.
    class_vaults: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)


class KeyVaultRotation(pulumi.ComponentResource):
    def __init__(self, name: str, args: KeyVaultRotationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:azure:KeyVaultRotation", name, None, opts)
        if not 1 <= args.period_days <= 365:
            raise ValueError("period_days must be 1..365")
        if args.subnet_id and args.plan_sku == "Y1":
            raise ValueError(
                "plan_sku Y1 (Linux Consumption) has no VNet integration; use EP1-EP3, B, S or P with subnet_id"
            )
        child = pulumi.ResourceOptions(parent=self)
        env, rg, tags = args.environment, args.resource_group_name, dict(args.tags)
        storage_name = args.storage_account_name or f"mkrot{args.environment}"[:24].replace("-", "")
        self.storage = host_storage_account(name, storage_name, rg, args.location, tags, child)
        self.plan = linux_plan(name, f"asp-makini-{env}-rotation", args.plan_sku, rg, args.location, tags, child)
        self.package = upload_package(
            name, ROTATION_PACKAGE, self.storage, rg, parent=self, dependencies_dir=args.dependencies_dir
        )
        self.app = linux_function_app(
            name,
            f"func-makini-{env}-rotation",
            resource_group_name=rg,
            location=args.location,
            plan=self.plan,
            storage=self.storage,
            package_url=self.package.url,
            subnet_id=args.subnet_id,
            settings={
                "OAUTH_CLIENT_SECRET_NAME": args.oauth_client_secret_name,
                "ROTATION_PERIOD_DAYS": str(args.period_days),
                "NEAR_EXPIRY_LEAD_DAYS": str(args.lead_days),
                "KEY_VAULT_URL": pulumi.Output.from_input(args.vault_uri).apply(lambda u: u.rstrip("/")),
                **(
                    {
                        "TOKEN_VAULT_URLS": pulumi.Output.all(
                            args.vault_uri,
                            *(uri for _, uri in (args.class_vaults[k] for k in sorted(args.class_vaults))),
                        ).apply(lambda uris: ",".join(u.rstrip("/") for u in uris))
                    }
                    if args.class_vaults
                    else {}
                ),
            },
            tags=tags,
            opts=child,
        )
        self.principal_id = self.app.identity.apply(lambda i: i.principal_id if i else None)
        subscription_id = azure_native.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).subscription_id
        self.storage_grants = host_storage_grants(
            name,
            self.principal_id,
            self.storage,
            self.package,
            subscription_id,
            f"the token rotation of {env}",
            parent=self,
        )
        # One system topic per vault (Event Grid allows one per source) and one subscription on each.
        self.topic, self.subscription = self._near_expiry(name, f"evgt-makini-{env}-keyvault", args.vault_id, args)
        self.class_topics: dict[str, azure_native.eventgrid.SystemTopic] = {}
        for klass in sorted(args.class_vaults):
            topic, _ = self._near_expiry(
                f"{name}-{klass}", f"evgt-makini-{env}-class-{klass}", args.class_vaults[klass][0], args
            )
            self.class_topics[klass] = topic
        self.role_assignments: dict[str, azure_native.authorization.RoleAssignment] = {}
        for secret_name, secret_id in sorted(args.token_secret_ids.items()):
            self.role_assignments[secret_name] = azure_native.authorization.RoleAssignment(
                f"{name}-officer-{secret_name}",
                principal_id=self.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=subscription_id.apply(lambda s: role_definition_id(s, SECRETS_OFFICER)),
                scope=secret_id,
                opts=child,
            )
        officer = subscription_id.apply(lambda s: role_definition_id(s, SECRETS_OFFICER))
        for klass in sorted(args.class_vaults):
            self.role_assignments[f"class:{klass}"] = azure_native.authorization.RoleAssignment(
                f"{name}-officer-class-{klass}",
                principal_id=self.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=officer,
                scope=args.class_vaults[klass][0],
                opts=child,
            )
        self.oauth_reader = azure_native.authorization.RoleAssignment(
            f"{name}-oauth-reader",
            principal_id=self.principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=subscription_id.apply(lambda s: role_definition_id(s, SECRETS_USER)),
            scope=args.oauth_client_secret_id,
            opts=child,
        )
        self.function_app_name = self.app.name
        self.system_topic_name = self.topic.name
        self.register_outputs(
            {
                "functionAppId": self.app.id,
                "functionAppName": self.app.name,
                "principalId": self.principal_id,
                "systemTopicId": self.topic.id,
            }
        )

    def _near_expiry(
        self, name: str, topic_name: str, vault_id: pulumi.Input[str], args: KeyVaultRotationArgs
    ) -> tuple[azure_native.eventgrid.SystemTopic, azure_native.eventgrid.SystemTopicEventSubscription]:
        """A vault's system topic and its SecretNearExpiry subscription to the rotation function."""
        rg, tags = args.resource_group_name, dict(args.tags)
        topic = azure_native.eventgrid.SystemTopic(
            f"{name}-topic",
            system_topic_name=topic_name,
            resource_group_name=rg,
            location=args.location,
            source=vault_id,
            topic_type="Microsoft.KeyVault.vaults",
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        subscription = azure_native.eventgrid.SystemTopicEventSubscription(
            f"{name}-near-expiry",
            resource_group_name=rg,
            system_topic_name=topic.name,
            event_delivery_schema="EventGridSchema",
            destination=azure_native.eventgrid.AzureFunctionEventSubscriptionDestinationArgs(
                endpoint_type="AzureFunction",
                resource_id=self.app.id.apply(lambda i: f"{i}/functions/{FUNCTION_NAME}"),
                max_events_per_batch=1,
            ),
            filter=azure_native.eventgrid.EventSubscriptionFilterArgs(
                included_event_types=[NEAR_EXPIRY_EVENT],
                subject_begins_with=args.subject_begins_with,
                subject_ends_with=args.subject_ends_with,
            ),
            retry_policy=azure_native.eventgrid.RetryPolicyArgs(
                max_delivery_attempts=30, event_time_to_live_in_minutes=1440
            ),
            # Event Grid validates the function when the subscription is created: code first.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.package.blob, self.storage_grants["package-reader"]]
            ),
        )
        return topic, subscription
