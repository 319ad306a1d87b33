"""Connection-token rotation on Azure Key Vault: a timer-triggered Function App over the deployment's bindings.

The function (``functions/rotation/azure_function.py``) runs every hour, like the Vault rotator's CronJob:
it walks the bindings the program ships in its package (``rotation/bindings.json``: ``<vault>/<secret>`` ->
Makini connection, and the period; the only source it takes a connection from) and rotates each secret whose
current version is a period old, whatever the token's lifetime. Key Vault's ``SecretNearExpiry`` event is
not used: it fires 30 days before ``exp`` and once per version, which tied the schedule to a fabricated
``exp``, refused Makini's 30-day tokens and never fired again after a delivery that failed for a day.

The app's system-assigned identity gets the custom role "makini-infra Key Vault Secret Rotator" (get and
set a secret, read its metadata: bootstrap/azure_ci.py creates it once per subscription, because the deploy
identity may not write role definitions) on each rotated token secret outside an access class and on each
access class's own vault (the class is the unit: one assignment per class, whatever its number of
connections), and Key Vault Secrets User on the OAuth client secret; nothing on the environment's vault
itself. Not Key Vault Secrets Officer: that also deletes, purges, backs up and restores. A class token's
binding names its class's vault; the function reads the OAuth client from the environment's vault
(``KEY_VAULT_URL``). Nothing calls the app (it runs on its timer): inbound is denied, SCM follows the main
site, basic-auth publishing is off. Secret ids come in as inputs,
so this component does not depend on the store's internals. These are the only Key Vault grants of the
rotation identity: the environment does not hand it to KeyVaultAccess as well.

Code: the rotation package (components/azure/function_package.py: ``rotation/`` runtime modules, the
bindings, a root ``function_app.py``, host.json, requirements.txt) runs from a blob in a separate package storage
account, which the app's identity reads but does not own (function_package.function_storage); host storage is identity-based (the timer's schedule monitor keeps
its state there).

Alert: the app sends its telemetry to its own Application Insights (``appi-makini-<env>-rotation``, Entra ID
only: the identity holds Monitoring Metrics Publisher on it), where each run of the timer is a request; the
metric alert ``makini-<env>-rotation-failures`` fires on any failed run (a run fails when one secret failed,
after trying the others) and goes to the receiver's action group when the stack has a receiver, else to the
rotation's own (``ag-makini-<env>-rotation``, e-mail ``makini:rotation.notifyEmail``).

Network: with ``subnet_id`` the app is VNet-integrated (all outbound traffic through the subnet), which
lets its SDK calls reach a vault whose firewall denies by default (Y1 has no VNet integration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_azure_native as azure_native

from components.aliases import formerly
from stacks.naming import rotator_role_definition_guid

from .access import role_definition_id
from .alerts import email_action_group
from .function_package import (
    BINDINGS_FILE,
    ROTATION_PACKAGE,
    disable_basic_publishing,
    function_storage,
    host_storage_grants,
    linux_function_app,
    linux_plan,
    telemetry_publisher_grant,
)

FUNCTION_NAME = "makini_rotate_connection_tokens"
#: The function's timer (functions/rotation/azure_function.py, SCHEDULE): hourly, UTC.
SCHEDULE = "0 17 * * * *"
SECRETS_USER = "4633458b-17de-408a-b874-0445c86b69e6"


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
    #: The deployment's rotation bindings (stacks.rotation.bindings_document): shipped in the package as
    #: rotation/bindings.json, the only source the function takes a secret's connection and the period from.
    bindings_document: str = ""
    storage_account_name: str | None = None
    plan_sku: str = "Y1"
    #: Subnet (delegated to Microsoft.Web/serverFarms) for VNet integration; None: no integration.
    subnet_id: str | None = None
    #: pip --target folder of the package's requirements, shipped in the zip (see function_package).
    dependencies_dir: Path | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Access class -> (its vault's resource id, its vault's URI), for every class the function rotates.
    class_vaults: Mapping[str, tuple[pulumi.Input[str], pulumi.Input[str]]] = field(default_factory=dict)
    #: Where the failed-run alert goes: the receiver's action group; None: the rotation's own, to ``alarm_email``.
    action_group_id: pulumi.Input[str] | None = None
    alarm_email: str | None = None


class KeyVaultRotation(pulumi.ComponentResource):
    def __init__(self, name: str, args: KeyVaultRotationArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:azure:KeyVaultRotation.
        super().__init__("makini:azure:TokenRotation", name, None, formerly(opts, "makini:azure:KeyVaultRotation"))
        if args.subnet_id and args.plan_sku == "Y1":
            raise ValueError(
                "plan_sku Y1 (Linux Consumption) has no VNet integration; use EP1-EP3, B, S or P with subnet_id"
            )
        child = pulumi.ResourceOptions(parent=self)
        env, rg, tags = args.environment, args.resource_group_name, dict(args.tags)
        storage_name = args.storage_account_name or f"mkrot{args.environment}"[:24].replace("-", "")
        self.storage = function_storage(
            name,
            storage_name,
            ROTATION_PACKAGE,
            rg,
            args.location,
            tags,
            parent=self,
            subnet_id=args.subnet_id,
            dependencies_dir=args.dependencies_dir,
            generated={BINDINGS_FILE: args.bindings_document},
        )
        self.insights = azure_native.applicationinsights.Component(
            f"{name}-insights",
            resource_name_=f"appi-makini-{env}-rotation",
            resource_group_name=rg,
            location=args.location,
            kind="web",
            application_type="other",
            disable_local_auth=True,
            tags=tags,
            opts=child,
        )
        self.package = self.storage.package
        self.plan = linux_plan(name, f"asp-makini-{env}-rotation", args.plan_sku, rg, args.location, tags, child)
        self.app = linux_function_app(
            name,
            f"func-makini-{env}-rotation",
            resource_group_name=rg,
            location=args.location,
            plan=self.plan,
            storage=self.storage.host,
            package_url=self.package.url,
            subnet_id=args.subnet_id,
            settings={
                "OAUTH_CLIENT_SECRET_NAME": args.oauth_client_secret_name,
                "KEY_VAULT_URL": pulumi.Output.from_input(args.vault_uri).apply(lambda u: u.rstrip("/")),
                "APPLICATIONINSIGHTS_CONNECTION_STRING": self.insights.connection_string,
                "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
            },
            tags=tags,
            opts=child,
            http20_enabled=True,
            # Like the receiver: default Deny, the SCM site following the main site. The function runs on its
            # own timer, so nothing needs to call it: no inbound rule at all.
            ip_security_restrictions=[],
            ip_security_restrictions_default_action="Deny",
            scm_ip_security_restrictions_use_main=True,
        )
        self.principal_id = self.app.identity.apply(lambda i: i.principal_id if i else None)
        subscription_id = azure_native.authorization.get_client_config_output(
            opts=pulumi.InvokeOutputOptions(parent=self)
        ).subscription_id
        self.publishing = disable_basic_publishing(name, self.app, rg, child)
        self.storage_grants = host_storage_grants(
            name,
            self.principal_id,
            self.storage,
            subscription_id,
            f"the token rotation of {env}",
            parent=self,
        )
        self.role_assignments: dict[str, azure_native.authorization.RoleAssignment] = {}
        rotator_role = subscription_id.apply(lambda s: role_definition_id(s, rotator_role_definition_guid(s)))
        for secret_name, secret_id in sorted(args.token_secret_ids.items()):
            self.role_assignments[secret_name] = azure_native.authorization.RoleAssignment(
                f"{name}-rotator-{secret_name}",
                principal_id=self.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=rotator_role,
                scope=secret_id,
                description=f"makini-infra: the token rotation of {env} reads {secret_name} and writes its next version",
                opts=child,
            )
        for klass in sorted(args.class_vaults):
            self.role_assignments[f"class:{klass}"] = azure_native.authorization.RoleAssignment(
                f"{name}-rotator-class-{klass}",
                principal_id=self.principal_id,
                principal_type="ServicePrincipal",
                role_definition_id=rotator_role,
                scope=args.class_vaults[klass][0],
                description=f"makini-infra: the token rotation of {env} reads and writes the tokens of class {klass}",
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
        self.telemetry_publisher = telemetry_publisher_grant(
            name, self.principal_id, self.insights.id, subscription_id, f"the token rotation of {env}", parent=self
        )
        if args.action_group_id is not None:
            action_group_id = pulumi.Output.from_input(args.action_group_id)
        else:
            self.action_group = email_action_group(
                name,
                group_name=f"ag-makini-{env}-rotation",
                short_name=f"mk-{env}-rot"[:12].rstrip("-"),
                resource_group_name=rg,
                email=args.alarm_email,
                tags=tags,
                opts=child,
            )
            action_group_id = self.action_group.id
        self.alert = azure_native.monitor.MetricAlert(
            f"{name}-failures",
            rule_name=f"makini-{env}-rotation-failures",
            resource_group_name=rg,
            location="global",
            description=(
                f"A run of the token rotation func-makini-{env}-rotation failed (a secret could not be rotated; the "
                "others were tried): read the run's rotation_failed lines in appi-makini-"
                f"{env}-rotation (docs/operations.md, 'Rotation alarms'). The next run, within the hour, retries."
            ),
            enabled=True,
            severity=1,
            scopes=[self.insights.id],
            evaluation_frequency="PT5M",
            window_size="PT1H",
            auto_mitigate=True,
            criteria=azure_native.monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    azure_native.monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name="failed-runs",
                        metric_namespace="microsoft.insights/components",
                        metric_name="requests/failed",
                        time_aggregation="Count",
                        operator="GreaterThan",
                        threshold=0,
                    )
                ],
            ),
            actions=[azure_native.monitor.MetricAlertActionArgs(action_group_id=action_group_id)],
            tags=tags,
            opts=child,
        )
        self.alert_name = f"makini-{env}-rotation-failures"
        self.function_app_name = self.app.name
        self.register_outputs(
            {
                "functionAppId": self.app.id,
                "functionAppName": self.app.name,
                "principalId": self.principal_id,
                "schedule": SCHEDULE,
            }
        )
