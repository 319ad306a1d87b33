"""One environment's Azure webhook endpoint: a Linux Function App running the receiver's Azure handler
(functions/webhook_receiver/azure_function.py), a Service Bus queue with duplicate detection, and the
function identity's two role assignments (read the webhook secret, send to the queue), nothing more.

The webhook secret comes from the Key Vault store as Inputs (its versionless URI and ARM id), so the
component stands alone; stacks/environment/azure.py wires it to the store.

Code: the receiver's package (components/azure/function_package.py) is uploaded to a private container
of the app's package storage account and run from there (WEBSITE_RUN_FROM_PACKAGE with the app's managed
identity, which may only read that container). The host storage is another account, identity-based
(AzureWebJobsStorage__accountName, no connection string) with shared-key access off and, with a subnet,
a firewall that admits only the app's subnet. SCM/FTP basic-auth publishing is off.

Network: with ``subnet_id`` the app is VNet-integrated (all outbound traffic routed through the
subnet), which is how it reaches a Key Vault whose firewall denies by default; Linux Consumption (Y1)
has no VNet integration, so a subnet needs another plan SKU.

Alerts (the AWS endpoint's alarms, as Azure Monitor metric alerts to one action group):
``5xx`` (the app's ``Http5xx`` count > 0 in 5 minutes: an Azure metric alert has no metric arithmetic,
so unlike AWS it cannot alert on a percentage), ``dead-letter`` (the queue's ``DeadletteredMessages``
> 0) and, with ``silence_hours``, ``silence`` (the queue's ``IncomingMessages`` < 1 over the window).
Metric alert windows are a fixed set (at most one day), so the silence window is the smallest
allowed one that covers ``silence_hours`` (see :func:`silence_window`). Lambda-style errors and
throttles have no separate Azure metric: a failing or overloaded function answers 5xx.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_azure_native as azure_native

from .access import role_definition_id
from .alerts import email_action_group
from .function_package import (
    RECEIVER_PACKAGE,
    disable_basic_publishing,
    function_storage,
    host_storage_grants,
    linux_function_app,
    linux_plan,
    telemetry_publisher_grant,
)

SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"  # Key Vault Secrets User
SERVICE_BUS_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"  # Azure Service Bus Data Sender

#: Window sizes an Azure Monitor metric alert accepts, in hours (PT1H, PT6H, PT12H, P1D; the shorter
#: PT1M-PT30M ones are below the silence alert's one-hour granularity).
ALERT_WINDOW_HOURS: tuple[int, ...] = (1, 6, 12, 24)
#: Action group short names (shown in e-mail and SMS) are at most 12 characters.
SHORT_NAME_MAX = 12


def silence_window(hours: int) -> str:
    """The smallest metric alert window covering ``hours`` without a webhook (ISO 8601: PT1H, PT6H, PT12H, P1D).

    Azure accepts only fixed windows, so 8 hours becomes PT12H: the alert fires after 12 quiet hours, never
    earlier than asked. Raises ValueError outside 1-24 hours (Azure evaluates at most one day)."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= ALERT_WINDOW_HOURS[-1]:
        raise ValueError(
            f"silence_hours {hours!r} is not a whole number of hours from 1 to 24 "
            "(an Azure metric alert looks back at most one day, P1D); use 1-24 or None for no silence alert"
        )
    window = next(h for h in ALERT_WINDOW_HOURS if h >= hours)
    return "P1D" if window == 24 else f"PT{window}H"


def action_group_short_name(env: str) -> str:
    """``mk-<env>-wh`` when it fits Azure's 12 characters, else ``mk-<env>`` cut to 12."""
    full = f"mk-{env}-wh"
    return full if len(full) <= SHORT_NAME_MAX else f"mk-{env}"[:SHORT_NAME_MAX].rstrip("-")


def key_vault_reference(secret_uri: str) -> str:
    """An app-setting Key Vault reference; a versionless URI follows the secret's current version."""
    return f"@Microsoft.KeyVault(SecretUri={secret_uri})"


def ip_restrictions(cidrs: Sequence[str]) -> list[azure_native.web.IpSecurityRestrictionArgs]:
    """One Allow rule per CIDR (the site's default action is Deny); empty: no rule (any source)."""
    rules = []
    for i, cidr in enumerate(cidrs):
        net = ipaddress.ip_network(cidr)
        rules.append(
            azure_native.web.IpSecurityRestrictionArgs(
                ip_address=str(net),
                action="Allow",
                priority=100 + i,
                name=f"makini-{i + 1}",
                description="Makini webhook source",
            )
        )
    return rules


@dataclass(frozen=True)
class AzureWebhookEndpointArgs:
    environment: str
    production: bool
    location: str
    resource_group_name: pulumi.Input[str]
    #: Versionless Key Vault URI of the webhook secret (https://<vault>.vault.azure.net/secrets/<name>).
    secret_uri: pulumi.Input[str]
    #: ARM id of the webhook secret (the scope of the Secrets User assignment).
    secret_id: pulumi.Input[str]
    #: A pinned previous version's URI during a rotation's grace period, else None.
    previous_secret_uri: pulumi.Input[str] | None = None
    #: When the previous version stops being accepted (ISO 8601, UTC): the receiver refuses it from then on.
    previous_secret_expires_at: str | None = None
    plan_sku: str = "Y1"
    duplicate_detection_window: str = "P2D"
    allowed_source_ips: Sequence[str] = ()
    signature_mode: str = "raw"
    storage_account_name: str | None = None
    #: Subnet (delegated to Microsoft.Web/serverFarms) for VNet integration; None: no integration.
    subnet_id: str | None = None
    #: pip --target folder of the package's requirements, shipped in the zip (see function_package).
    dependencies_dir: Path | None = None
    #: Alert when no webhook reached the queue for this many hours (1-24); None = no such alert.
    silence_hours: int | None = None
    #: The action group's e-mail receiver; None: an action group with no receivers (alerts go nowhere).
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


class AzureWebhookEndpoint(pulumi.ComponentResource):
    """Function App ``func-makini-<env>-webhooks`` -> Service Bus queue ``webhooks``."""

    url: pulumi.Output[str]
    principal_id: pulumi.Output[str]
    #: Metric alert rule names (makini-<env>-webhooks-<suffix>), in creation order.
    alert_names: list[str]

    def __init__(self, name: str, args: AzureWebhookEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        # Refused before anything is registered: no half-built component.
        silence = silence_window(args.silence_hours) if args.silence_hours is not None else None
        super().__init__("makini:azure:WebhookEndpoint", name, None, opts)
        if args.subnet_id and args.plan_sku == "Y1":
            raise ValueError(
                "plan_sku Y1 (Linux Consumption) has no VNet integration; use EP1-EP3, B, S or P with subnet_id"
            )
        env, prod, rg, tags = args.environment, args.production, args.resource_group_name, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=prod, retain_on_delete=prod)
        client = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        # Service Bus ---------------------------------------------------------------------------------
        self.namespace = azure_native.servicebus.Namespace(
            f"{name}-sb",
            namespace_name=f"sb-makini-{env}-webhooks",
            resource_group_name=rg,
            location=args.location,
            sku=azure_native.servicebus.SBSkuArgs(name="Standard", tier="Standard"),
            disable_local_auth=True,  # Entra ID only: no connection strings
            minimum_tls_version="1.2",
            tags=tags,
            opts=keep,
        )
        self.queue = azure_native.servicebus.Queue(
            f"{name}-queue",
            queue_name="webhooks",
            namespace_name=self.namespace.name,
            resource_group_name=rg,
            requires_duplicate_detection=True,
            duplicate_detection_history_time_window=args.duplicate_detection_window,
            dead_lettering_on_message_expiration=True,
            default_message_time_to_live="P14D",
            max_delivery_count=10,
            opts=keep,
        )

        # Function App ----------------------------------------------------------------------------------
        self.storage = function_storage(
            name,
            args.storage_account_name or f"stmk{env.replace('-', '')}hooks"[:24],
            RECEIVER_PACKAGE,
            rg,
            args.location,
            tags,
            parent=self,
            subnet_id=args.subnet_id,
            dependencies_dir=args.dependencies_dir,
        )
        self.package = self.storage.package
        self.insights = azure_native.applicationinsights.Component(
            f"{name}-insights",
            resource_name_=f"appi-makini-{env}-webhooks",
            resource_group_name=rg,
            location=args.location,
            kind="web",
            application_type="web",
            disable_local_auth=True,
            tags=tags,
            opts=child,
        )
        self.plan = linux_plan(name, f"asp-makini-{env}-webhooks", args.plan_sku, rg, args.location, tags, child)
        settings: dict[str, pulumi.Input[str]] = {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": self.insights.connection_string,
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
            "WEBHOOK_SECRET": pulumi.Output.from_input(args.secret_uri).apply(key_vault_reference),
            "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE": self.namespace.name.apply(lambda n: f"{n}.servicebus.windows.net"),
            "SERVICEBUS_QUEUE_NAME": self.queue.name,
            "ALLOWED_SOURCE_IPS": ",".join(args.allowed_source_ips),
            "SIGNATURE_MODE": args.signature_mode,
        }
        if args.previous_secret_uri is not None:
            settings["WEBHOOK_SECRET_PREVIOUS"] = pulumi.Output.from_input(args.previous_secret_uri).apply(
                key_vault_reference
            )
            if args.previous_secret_expires_at is not None:
                settings["WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT"] = args.previous_secret_expires_at
        restrictions = ip_restrictions(args.allowed_source_ips)
        self.app = linux_function_app(
            name,
            f"func-makini-{env}-webhooks",
            resource_group_name=rg,
            location=args.location,
            plan=self.plan,
            storage=self.storage.host,
            package_url=self.package.url,
            subnet_id=args.subnet_id,
            settings=settings,
            tags=tags,
            opts=child,
            http20_enabled=True,
            ip_security_restrictions=restrictions,
            ip_security_restrictions_default_action="Deny" if restrictions else "Allow",
            scm_ip_security_restrictions_use_main=True,
        )
        self.principal_id = self.app.identity.apply(lambda i: i.principal_id if i else None)
        self.publishing = disable_basic_publishing(name, self.app, rg, child)

        # The identity's grants: exactly these ------------------------------------------------------
        def grant(
            suffix: str, role: str, scope: pulumi.Input[str], what: str
        ) -> azure_native.authorization.RoleAssignment:
            return azure_native.authorization.RoleAssignment(
                f"{name}-{suffix}",
                principal_id=self.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=client.subscription_id.apply(lambda s: role_definition_id(s, role)),
                scope=scope,
                description=f"makini-infra: the webhook receiver of {env} {what}",
                opts=child,
            )

        self.secret_reader = grant("secret-reader", SECRETS_USER, args.secret_id, "reads the webhook secret")
        self.queue_sender = grant("queue-sender", SERVICE_BUS_SENDER, self.queue.id, "sends to its queue")
        self.storage_grants = host_storage_grants(
            name,
            self.principal_id,
            self.storage,
            client.subscription_id,
            f"the webhook receiver of {env}",
            parent=self,
        )
        self.telemetry_publisher = telemetry_publisher_grant(
            name, self.principal_id, self.insights.id, client.subscription_id, f"the webhook receiver of {env}", self
        )

        # Alerts -----------------------------------------------------------------------------------------
        self.action_group = email_action_group(
            name,
            group_name=f"ag-makini-{env}-webhooks",
            short_name=action_group_short_name(env),
            resource_group_name=rg,
            email=args.alarm_email,
            tags=tags,
            opts=child,
        )
        self.alerts: dict[str, azure_native.monitor.MetricAlert] = {}

        def alert(
            suffix: str,
            description: str,
            scope: pulumi.Input[str],
            severity: int,
            window: str,
            frequency: str,
            criterion: azure_native.monitor.MetricCriteriaArgs,
        ) -> None:
            self.alerts[suffix] = azure_native.monitor.MetricAlert(
                f"{name}-{suffix}",
                rule_name=f"makini-{env}-webhooks-{suffix}",
                resource_group_name=rg,
                location="global",
                description=description,
                enabled=True,
                severity=severity,
                scopes=[scope],
                evaluation_frequency=frequency,
                window_size=window,
                auto_mitigate=True,
                criteria=azure_native.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                    odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    all_of=[criterion],
                ),
                actions=[azure_native.monitor.MetricAlertActionArgs(action_group_id=self.action_group.id)],
                tags=tags,
                opts=child,
            )

        queue_only = [
            azure_native.monitor.MetricDimensionArgs(name="EntityName", operator="Include", values=[self.queue.name])
        ]
        alert(
            "5xx",
            f"The webhook receiver func-makini-{env}-webhooks answered 5xx in the last 5 minutes: Makini retries, "
            "but check the function's logs in Application Insights.",
            self.app.id,
            1,
            "PT5M",
            "PT1M",
            azure_native.monitor.MetricCriteriaArgs(
                criterion_type="StaticThresholdCriterion",
                name="http5xx",
                metric_namespace="Microsoft.Web/sites",
                metric_name="Http5xx",
                time_aggregation="Total",
                operator="GreaterThan",
                threshold=0,
            ),
        )
        alert(
            "dead-letter",
            f"Webhook messages reached the dead-letter queue of sb-makini-{env}-webhooks/webhooks: a consumer "
            "failed them repeatedly, or they expired.",
            self.namespace.id,
            1,
            "PT5M",
            "PT1M",
            azure_native.monitor.MetricCriteriaArgs(
                criterion_type="StaticThresholdCriterion",
                name="deadlettered",
                metric_namespace="Microsoft.ServiceBus/namespaces",
                metric_name="DeadletteredMessages",
                time_aggregation="Maximum",
                operator="GreaterThan",
                threshold=0,
                dimensions=queue_only,
            ),
        )
        if silence is not None:
            alert(
                "silence",
                f"No webhook reached the queue for {silence} (silence_hours {args.silence_hours}, "
                "rounded up to an Azure alert window): poll Makini for changes (its advised fallback) and check the "
                "endpoint.",
                self.namespace.id,
                2,
                silence,
                "PT1H",
                azure_native.monitor.MetricCriteriaArgs(
                    criterion_type="StaticThresholdCriterion",
                    name="incoming",
                    metric_namespace="Microsoft.ServiceBus/namespaces",
                    metric_name="IncomingMessages",
                    time_aggregation="Total",
                    operator="LessThan",
                    threshold=1,
                    dimensions=queue_only,
                ),
            )
        self.alert_names = [f"makini-{env}-webhooks-{suffix}" for suffix in self.alerts]

        self.url = self.app.default_host_name.apply(lambda h: f"https://{h}/api/makini/webhooks")
        self.register_outputs(
            {
                "url": self.url,
                "queueName": self.queue.name,
                "namespace": self.namespace.name,
                "principalId": self.principal_id,
                "alerts": self.alert_names,
                "actionGroupId": self.action_group.id,
            }
        )
