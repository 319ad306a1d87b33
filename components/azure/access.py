"""Least-privilege Key Vault access (RBAC only) for the consumers of one environment.

* "Key Vault Secrets User" per (consumer, secret outside an access class it may read), scoped to that
  secret, not the environment's vault;
* "Key Vault Secrets User" per (consumer, access class it reads), scoped to the class's own vault, which
  holds exactly the class's tokens: one assignment per class, not per connection (role assignments are a
  subscription-wide quota of 4,000);
* the custom "makini-infra Key Vault Secret Rotator" (get and set, no delete/purge/backup/restore: see
  bootstrap/azure_ci.py) only for the rotation identity, scoped to each secret it rotates (or its class's vault).
* "Azure Service Bus Data Receiver" per consumer of the webhook queue (``webhookQueue: true``), scoped to
  exactly that queue (:class:`QueueAccess`): the namespace has local (SAS) auth disabled, so without it a
  consumer could not receive at all. Receive covers peek-lock, complete, abandon and dead-lettering, and the
  queue's dead-letter subqueue; it gives no send and nothing on any other queue;
* the onboarding identity (issue 19): the custom role ``makini-<env>-onboarding-<subscription>``
  (:data:`stacks.naming.ONBOARDING_KEY_VAULT_DATA_ACTIONS`: set a secret and read secrets' metadata; never a
  value, never delete, purge, back up or restore) on each run-time class's vault. No built-in role is that
  narrow: Key Vault Secrets Officer is ``Microsoft.KeyVault/vaults/secrets/*`` (it reads every value and
  deletes), and Secrets User only reads. bootstrap/ defines the role: defining roles is not the deploy
  identity's right (it could widen a role it may assign), so the program only assigns it, by its fixed GUID.
Role assignment names are GUIDs derived (uuid5) from environment, identity, secret path, role and
principal, so a re-run never creates duplicates. Secret ids come in as Inputs: this component does not
depend on how the store builds them.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components.aliases import formerly
from stacks.naming import onboarding_role_guid, rotator_role_definition_guid

SECRETS_USER_ROLE_ID = "4633458b-17de-408a-b874-0445c86b69e6"
SERVICE_BUS_RECEIVER_ROLE_ID = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"  # Azure Service Bus Data Receiver
_NAMESPACE = uuid.UUID("6f1c7f8e-8f0e-5a39-9d53-6d616b696e69")  # fixed: names must never change


def role_definition_id(subscription_id: str, role_id: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_id}"


def assignment_name(environment: str, identity: str, path: str, role_id: str, principal_id: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{environment}|{identity}|{path}|{role_id}|{principal_id.lower()}"))


def _rotation_assignment_name(environment: str, path: str, values: list[str]) -> str:
    """``values``: the rotation principal and the subscription (the rotator role's GUID depends on it)."""
    principal_id, subscription_id = values
    return assignment_name(environment, "rotation", path, rotator_role_definition_guid(subscription_id), principal_id)


@dataclass(frozen=True)
class AzureConsumerGrant:
    consumer: str
    principal_id: str
    principal_type: str  # ServicePrincipal | User | Group
    #: Catalog paths outside any access class it may read.
    paths: Sequence[str]
    #: Access classes it reads (Secrets User on each class's vault).
    classes: Sequence[str] = ()


@dataclass(frozen=True)
class AzureOnboardingGrant:
    """The onboarding identity: sets secrets in the vaults of these run-time classes, and nothing else."""

    consumer: str
    principal_id: str
    principal_type: str
    classes: Sequence[str]


@dataclass(frozen=True)
class KeyVaultAccessArgs:
    environment: str
    #: Catalog path -> the secret's Azure resource id (from the store).
    secret_ids: Mapping[str, pulumi.Input[str]]
    consumers: Sequence[AzureConsumerGrant]
    #: The rotation identity (a managed identity's principal id), supplied by the rotation capability.
    rotation_principal_id: pulumi.Input[str] | None = None
    #: Paths the rotation identity rotates.
    rotated_paths: Sequence[str] = field(default_factory=tuple)
    #: Access class -> the resource id of its Key Vault.
    class_vault_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    #: The onboarding identity, when the environment takes run-time connections.
    onboarding: AzureOnboardingGrant | None = None


def _onboarding_assignment_name(environment: str, consumer: str, pattern: str, principal_id: str, sub: str) -> str:
    return assignment_name(environment, consumer, pattern, onboarding_role_guid(sub, environment), principal_id)


class KeyVaultAccess(pulumi.ComponentResource):
    """Per-secret role assignments for one environment's Key Vault."""

    def __init__(self, name: str, args: KeyVaultAccessArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:azure:KeyVaultAccess.
        super().__init__("makini:azure:ConsumerAccess", name, None, formerly(opts, "makini:azure:KeyVaultAccess"))
        client = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        user_role = client.subscription_id.apply(lambda s: role_definition_id(s, SECRETS_USER_ROLE_ID))
        rotator_role = client.subscription_id.apply(lambda s: role_definition_id(s, rotator_role_definition_guid(s)))
        self.assignments: dict[tuple[str, str], azure_native.authorization.RoleAssignment] = {}
        env = args.environment

        def scope(identity: str, path: str) -> pulumi.Input[str]:
            if path not in args.secret_ids:
                raise ValueError(f"{identity}: no Key Vault secret for {path}")
            return args.secret_ids[path]

        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            for klass in sorted(set(grant.classes)):
                if klass not in args.class_vault_ids:
                    raise ValueError(f"{grant.consumer}: no Key Vault for access class {klass}")
                pattern = f"connections/{klass}/*"
                self.assignments[(grant.consumer, pattern)] = azure_native.authorization.RoleAssignment(
                    f"{name}-{grant.consumer}-class-{klass}",
                    role_assignment_name=assignment_name(
                        env, grant.consumer, pattern, SECRETS_USER_ROLE_ID, grant.principal_id
                    ),
                    scope=args.class_vault_ids[klass],
                    principal_id=grant.principal_id,
                    principal_type=grant.principal_type,
                    role_definition_id=user_role,
                    description=f"makini-infra: {grant.consumer} reads the tokens of access class {klass} of {env}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
            for path in sorted(set(grant.paths)):
                self.assignments[(grant.consumer, path)] = azure_native.authorization.RoleAssignment(
                    f"{name}-{grant.consumer}-{path.replace('/', '-')}",
                    role_assignment_name=assignment_name(
                        env, grant.consumer, path, SECRETS_USER_ROLE_ID, grant.principal_id
                    ),
                    scope=scope(grant.consumer, path),
                    principal_id=grant.principal_id,
                    principal_type=grant.principal_type,
                    role_definition_id=user_role,
                    description=f"makini-infra: {grant.consumer} reads {path} of {env}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
        if args.rotation_principal_id is not None:
            for path in sorted(set(args.rotated_paths)):
                pid = pulumi.Output.from_input(args.rotation_principal_id)
                self.assignments[("rotation", path)] = azure_native.authorization.RoleAssignment(
                    f"{name}-rotation-{path.replace('/', '-')}",
                    role_assignment_name=pulumi.Output.all(pid, client.subscription_id).apply(
                        functools.partial(_rotation_assignment_name, env, path)
                    ),
                    scope=scope("rotation", path),
                    principal_id=pid,
                    principal_type="ServicePrincipal",
                    role_definition_id=rotator_role,
                    description=f"makini-infra: rotation writes new versions of {path} of {env}",
                    opts=pulumi.ResourceOptions(parent=self),
                )
        if args.onboarding is not None:
            self._onboarding(name, env, args.onboarding, args.class_vault_ids, client.subscription_id)
        self.register_outputs({"assignmentCount": len(self.assignments)})

    def _onboarding(
        self,
        name: str,
        env: str,
        grant: AzureOnboardingGrant,
        class_vault_ids: Mapping[str, pulumi.Input[str]],
        subscription_id: pulumi.Output[str],
    ) -> None:
        role = subscription_id.apply(lambda sub: role_definition_id(sub, onboarding_role_guid(sub, env)))
        for klass in sorted(set(grant.classes)):
            if klass not in class_vault_ids:
                raise ValueError(f"{grant.consumer}: no Key Vault for run-time class {klass}")
            pattern = f"onboard:connections/{klass}/*"
            self.assignments[(grant.consumer, pattern)] = azure_native.authorization.RoleAssignment(
                f"{name}-{grant.consumer}-onboard-{klass}",
                role_assignment_name=subscription_id.apply(
                    functools.partial(_onboarding_assignment_name, env, grant.consumer, pattern, grant.principal_id)
                ),
                scope=class_vault_ids[klass],
                principal_id=grant.principal_id,
                principal_type=grant.principal_type,
                role_definition_id=role,
                description=f"makini-infra: {grant.consumer} stores new customers' tokens in run-time class {klass} "
                f"of {env} (custom role makini-{env}-onboarding-*, defined by bootstrap/: set secrets, read metadata)",
                opts=pulumi.ResourceOptions(parent=self),
            )


@dataclass(frozen=True)
class QueueConsumerGrant:
    consumer: str
    principal_id: str
    principal_type: str  # ServicePrincipal | User | Group


@dataclass(frozen=True)
class QueueAccessArgs:
    environment: str
    #: The webhook queue's resource id (from the webhook endpoint).
    queue_id: pulumi.Input[str]
    consumers: Sequence[QueueConsumerGrant]


class QueueAccess(pulumi.ComponentResource):
    """Azure Service Bus Data Receiver for each webhook-queue consumer, on exactly the environment's queue."""

    def __init__(self, name: str, args: QueueAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:azure:QueueAccess", name, None, opts)
        client = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        receiver = client.subscription_id.apply(lambda s: role_definition_id(s, SERVICE_BUS_RECEIVER_ROLE_ID))
        env = args.environment
        self.assignments: dict[str, azure_native.authorization.RoleAssignment] = {}
        for grant in sorted(args.consumers, key=lambda g: g.consumer):
            self.assignments[grant.consumer] = azure_native.authorization.RoleAssignment(
                f"{name}-{grant.consumer}",
                role_assignment_name=assignment_name(
                    env, grant.consumer, "webhook-queue", SERVICE_BUS_RECEIVER_ROLE_ID, grant.principal_id
                ),
                scope=args.queue_id,
                principal_id=grant.principal_id,
                principal_type=grant.principal_type,
                role_definition_id=receiver,
                description=f"makini-infra: {grant.consumer} receives from the webhook queue of {env}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"consumers": sorted(self.assignments)})
