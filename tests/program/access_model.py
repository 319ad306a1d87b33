"""Who can do what to an environment's secrets, computed from an offline plan's JSON by the policy
evaluators in ``tests/iam`` (which follow AWS's and Microsoft's documentation, not our code).

The inputs are what a reviewer sees and what the clouds would receive: the plan JSON
(``python -m infra.plan <stack> --json``, or :func:`infra.plan.build_plan`) and the stack file's
``config:`` mapping (for the identities the stack does not create: the consumers' role ARNs and Azure
principal IDs). Nothing here imports the program's policy builders or its access model.

AWS: for each identity (every consumer role, every role the stack creates) and each secret, a request
is decided with the identity's policies as the plan attaches them (managed and inline), the secret's
resource policy and, for the KMS calls Secrets Manager makes on the caller's behalf
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html: ``kms:Decrypt``
on GetSecretValue, ``kms:GenerateDataKey`` on PutSecretValue, with ``kms:ViaService``,
``kms:CallerAccount`` and the ``SecretARN``/``SecretVersionId`` encryption context), the key policy.

Azure: for each principal (consumers from the stack file; the stack's own managed identities, named by
the component that assigns them) and each Key Vault secret, data actions are decided from every role
assignment in the plan.

Assumptions, stated once: a consumer role has no permissions but those this stack attaches (its other
policies are outside the stack); no SCP, RCP, session policy or KMS grant applies; Azure principals have
no assignments outside this plan. Any policy a role uses that the plan does not contain (an AWS-managed
policy, say) is an error, never silently skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bootstrap.aws_policies import boundary_policy
from bootstrap.azure_ci import rotator_role_definition
from bootstrap.model import boundary_arn
from infra.offline import MOCK_DEPLOYER_ROLE, mock_secret_version_id
from stacks.naming import onboarding_role_definition
from tests.iam import azure_rbac
from tests.iam.aws_policy import Decision, Policy, Request, evaluate

#: Every Secrets Manager action that takes a secret as its resource (Service Authorization Reference,
#: https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecretsmanager.html).
SECRET_ACTIONS = (
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:GetSecretValue",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RestoreSecret",
    "secretsmanager:RotateSecret",
    "secretsmanager:StopReplicationToReplica",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:ValidateResourcePolicy",
)
#: What reading and writing a secret value may use; everything else in SECRET_ACTIONS is for no identity
#: of the matrix (DescribeSecret is metadata that comes with either).
READ_USES = frozenset({"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"})
WRITE_USES = frozenset(
    {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecretVersionStage", "secretsmanager:DescribeSecret"}
)

_SECRET_ARN = re.compile(r"arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:(?P<name>.+)-[A-Za-z0-9]{6}")


class AccessModelError(AssertionError):
    """The plan cannot be read into an access model (a missing document, an unknown principal)."""


def _resources(plan: Mapping[str, Any], typ: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == typ]


def _doc(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, str):
        raise AccessModelError(f"{where}: the policy is not a JSON string in the plan ({raw!r})")
    return json.loads(raw)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------------
# AWS


@dataclass(frozen=True)
class AwsIdentity:
    name: str
    #: The role ARN (a session of it makes the calls).
    arn: str
    policies: tuple[Policy, ...]
    boundary: Policy | None = None
    #: The role's tags (``aws:PrincipalTag/*``: the boundary scopes by ``environment``).
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AwsSecret:
    path: str
    arn: str
    policy: Policy
    tags: Mapping[str, str]
    #: The resource policy as the plan carries it (for tests that edit or search it).
    document: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class AwsEnvironment:
    environment: str
    account: str
    region: str
    key_arn: str
    key_policy: Policy
    secrets: dict[str, AwsSecret]
    #: Matrix identity name (consumer, "rotation", "webhook-receiver") -> identity.
    identities: dict[str, AwsIdentity]
    #: Roles the stack creates that are not in the access matrix (e.g. the reminder scheduler's).
    other_roles: dict[str, AwsIdentity] = field(default_factory=dict)
    key_tags: Mapping[str, str] = field(default_factory=dict)
    #: Principals the stack names outside the matrix (``makini:aws.*`` and the identity running the plan):
    #: their own identity policies are not in the plan; tests give them one (their worst case, or the
    #: bootstrap's document for the CI roles).
    deployers: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    break_glass: tuple[str, ...] = ()
    drift: tuple[str, ...] = ()
    #: Catalog path -> the version id of the initial value the deployment wrote (its SecretVersion).
    initial_versions: Mapping[str, str] = field(default_factory=dict)

    def decide_as(
        self,
        principal: str,
        policies: Iterable[Any],
        action: str,
        secret: AwsSecret,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """One request of ``principal`` (a role whose identity policies are ``policies``) on ``secret``:
        reading a value also needs the ``kms:Decrypt`` Secrets Manager makes for the caller, writing one the
        ``kms:GenerateDataKey`` (the KMS decision is returned when it is the one that refuses)."""
        parsed = tuple(p if isinstance(p, Policy) else Policy.parse(p, f"policy of {principal}") for p in policies)
        identity = AwsIdentity(principal.rsplit("/", 1)[-1], principal, parsed)
        decision = evaluate(
            Request(principal, action, secret.arn, context=dict(context or {}), resource_tags=secret.tags),
            identity_policies=parsed,
            resource_policy=secret.policy,
        )
        kms = {"secretsmanager:GetSecretValue": "kms:Decrypt", "secretsmanager:PutSecretValue": "kms:GenerateDataKey"}
        if decision.allowed and action in kms:
            key = evaluate(
                self.kms_request(identity, kms[action], secret),
                identity_policies=parsed,
                key_policy=self.key_policy,
            )
            if not key.allowed:
                return key
        return decision

    def secret_request(self, identity: AwsIdentity, action: str, secret: AwsSecret, **kw: Any) -> Request:
        kw.setdefault("principal_tags", identity.tags)
        return Request(identity.arn, action, secret.arn, resource_tags=secret.tags, **kw)

    def kms_request(self, identity: AwsIdentity, action: str, secret: AwsSecret, **kw: Any) -> Request:
        """The KMS call Secrets Manager makes for ``identity`` on ``secret`` (the documented context)."""
        context = {
            "kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com",
            "kms:CallerAccount": identity.arn.split(":")[4],
            "kms:EncryptionContext:SecretARN": secret.arn,
            "kms:EncryptionContext:SecretVersionId": "EXAMPLE1-90ab-cdef-fedc-ba987SECRET1",
            "kms:EncryptionContextKeys": ["SecretARN", "SecretVersionId"],
        }
        kw.setdefault("principal_tags", identity.tags)
        return Request(identity.arn, action, self.key_arn, context=context, resource_tags=self.key_tags, **kw)

    def decide(self, identity: AwsIdentity, action: str, secret: AwsSecret, **kw: Any) -> Decision:
        if action.startswith("kms:"):
            return evaluate(
                self.kms_request(identity, action, secret, **kw),
                identity_policies=identity.policies,
                boundary=identity.boundary,
                key_policy=self.key_policy,
            )
        return evaluate(
            self.secret_request(identity, action, secret, **kw),
            identity_policies=identity.policies,
            boundary=identity.boundary,
            resource_policy=secret.policy,
        )

    def reads(self, identity: AwsIdentity, secret: AwsSecret) -> bool:
        """GetSecretValue succeeds only if Secrets Manager may also decrypt for the caller."""
        return bool(self.decide(identity, "secretsmanager:GetSecretValue", secret)) and bool(
            self.decide(identity, "kms:Decrypt", secret)
        )

    def writes(self, identity: AwsIdentity, secret: AwsSecret) -> bool:
        """PutSecretValue succeeds only if Secrets Manager may also generate a data key for the caller."""
        return bool(self.decide(identity, "secretsmanager:PutSecretValue", secret)) and bool(
            self.decide(identity, "kms:GenerateDataKey", secret)
        )


def _role_arn(account: str, role: Mapping[str, Any]) -> str:
    path = role.get("path") or "/"
    return f"arn:aws:iam::{account}:role{path}{role['name']}"


def aws_environment(plan: Mapping[str, Any], config: Mapping[str, Any]) -> AwsEnvironment:
    """The AWS side of one stack's plan; ``config`` is the stack file's ``config:`` mapping."""
    env = plan["environment"]
    account = str(config["aws:allowedAccountIds"][0])
    region = str(config["aws:region"])
    by_type = {t: _resources(plan, t) for t in {r["type"] for r in plan["resources"]}}

    keys = [
        k for k in by_type.get("aws:kms/key:Key", []) if k["inputs"].get("tags", {}).get("makini:purpose") == "secrets"
    ]
    if len(keys) != 1:
        raise AccessModelError(f"{env}: expected one secrets key (tag makini:purpose=secrets), found {len(keys)}")
    key_ids = {s["inputs"]["kmsKeyId"] for s in by_type.get("aws:secretsmanager/secret:Secret", [])}
    if len(key_ids) != 1:
        raise AccessModelError(f"{env}: the secrets are not all encrypted with one key: {sorted(key_ids)}")
    (key_arn,) = key_ids
    aliases = [a for a in by_type.get("aws:kms/alias:Alias", []) if a["inputs"]["name"] == f"alias/makini/{env}"]
    if not aliases or not key_arn.endswith(f":key/{aliases[0]['inputs']['targetKeyId']}"):
        raise AccessModelError(f"{env}: the secrets' key {key_arn} is not the one alias/makini/{env} names")
    key_policy = Policy.parse(_doc(keys[0]["inputs"]["policy"], "key policy"), f"{env} key policy")

    policies_by_secret = {}
    for sp in by_type.get("aws:secretsmanager/secretPolicy:SecretPolicy", []):
        arn = sp["inputs"]["secretArn"]
        if arn in policies_by_secret:
            raise AccessModelError(f"{env}: two resource policies for {arn}")
        policies_by_secret[arn] = sp["inputs"]["policy"]
    secrets: dict[str, AwsSecret] = {}
    prefix = f"makini/{env}/"
    for arn, text in policies_by_secret.items():
        m = _SECRET_ARN.fullmatch(arn)
        if not m or not m["name"].startswith(prefix):
            raise AccessModelError(f"{env}: a resource policy for {arn}, not a secret of this environment")
        path = m["name"][len(prefix) :]
        resource = [s for s in by_type["aws:secretsmanager/secret:Secret"] if s["inputs"]["name"] == m["name"]]
        if len(resource) != 1:
            raise AccessModelError(f"{env}: no secret named {m['name']}")
        document = _doc(text, arn)
        secrets[path] = AwsSecret(
            path,
            arn,
            Policy.parse(document, f"resource policy of {path}"),
            resource[0]["inputs"].get("tags", {}),
            document,
        )
    unguarded = {s["inputs"]["name"] for s in by_type.get("aws:secretsmanager/secret:Secret", [])} - {
        prefix + p for p in secrets
    }
    if unguarded:
        raise AccessModelError(f"{env}: secrets without a resource policy: {sorted(unguarded)}")

    managed = {
        f"arn:aws:iam::{account}:policy{p['inputs'].get('path') or '/'}{p['inputs']['name']}": Policy.parse(
            _doc(p["inputs"]["policy"], p["name"]), f"managed policy {p['inputs']['name']}"
        )
        for p in by_type.get("aws:iam/policy:Policy", [])
    }

    def policies_of(role_name: str) -> tuple[Policy, ...]:
        out: list[Policy] = []
        for att in by_type.get("aws:iam/rolePolicyAttachment:RolePolicyAttachment", []):
            if att["inputs"]["role"] == role_name:
                arn = att["inputs"]["policyArn"]
                if arn not in managed:
                    raise AccessModelError(
                        f"{env}: role {role_name} has policy {arn}, whose document is not in the plan"
                    )
                out.append(managed[arn])
        for inline in by_type.get("aws:iam/rolePolicy:RolePolicy", []):
            if inline["inputs"]["role"] == role_name:
                out.append(
                    Policy.parse(
                        _doc(inline["inputs"]["policy"], inline["name"]), f"inline policy {inline['inputs']['name']}"
                    )
                )
        return tuple(out)

    def boundary_of(role: Mapping[str, Any]) -> Policy | None:
        arn = role.get("permissionsBoundary")
        if not arn:
            return None
        if arn == boundary_arn(account):  # created by bootstrap/, not by the stack: its builder's document
            return Policy.parse(boundary_policy(account), "permissions boundary makini-infra-boundary")
        if arn not in managed:
            raise AccessModelError(f"{env}: permissions boundary {arn} is not in the plan")
        return managed[arn]

    roles = {r["inputs"]["name"]: r["inputs"] for r in by_type.get("aws:iam/role:Role", [])}
    identities: dict[str, AwsIdentity] = {}
    other: dict[str, AwsIdentity] = {}
    for name, role in roles.items():
        tags = role.get("tags", {})
        identity = AwsIdentity(name, _role_arn(account, role), policies_of(name), boundary_of(role), tags)
        if "makini:consumer" in tags:
            identities[tags["makini:consumer"]] = identity
        elif tags.get("makini:purpose") in ("rotation", "webhook-receiver"):
            identities[tags["makini:purpose"]] = identity
        else:
            other[name] = identity
    for consumer, spec in (config.get("makini:consumers") or {}).items():
        role_arn = (spec.get("aws") or {}).get("roleArn")
        if role_arn:
            name = role_arn.rsplit("/", 1)[-1]
            identities[consumer] = AwsIdentity(consumer, role_arn, policies_of(name))
    key_tags = keys[0]["inputs"].get("tags", {})
    settings = config.get("makini:aws") or {}
    versions = {}
    for v in by_type.get("aws:secretsmanager/secretVersion:SecretVersion", []):
        (path,) = [p for p, sec in secrets.items() if sec.arn == v["inputs"]["secretId"]]
        versions[path] = mock_secret_version_id(v["name"])  # what the mock (and AWS) returns, not in the inputs
    return AwsEnvironment(
        env,
        account,
        region,
        key_arn,
        key_policy,
        secrets,
        identities,
        other,
        key_tags,
        deployers=(f"arn:aws:iam::{account}:role/{MOCK_DEPLOYER_ROLE}", *settings.get("deployerArns", ())),
        operators=tuple(settings.get("operatorArns", ())),
        break_glass=tuple(settings.get("breakGlassArns", ())),
        drift=tuple(settings.get("driftArns", ())),
        initial_versions=versions,
    )


# --------------------------------------------------------------------------------------------------
# Azure

#: The component types whose role assignments belong to one of the stack's own managed identities.
SYSTEM_COMPONENTS = {"makini:azure:TokenRotation": "rotation", "makini:azure:WebhookEndpoint": "webhook-receiver"}
_KINDS = {"oauth-client": "oauth/client", "webhook-secret": "webhook/secret"}


@dataclass
class AzureEnvironment:
    environment: str
    #: The environment's own vault (the OAuth client's); access classes have vaults of their own.
    vault_id: str
    #: Catalog path -> the secret's resource ID.
    secrets: dict[str, str]
    #: Matrix identity name -> principal ID.
    principals: dict[str, str]
    assignments: list[azure_rbac.RoleAssignment]
    #: Every Key Vault of the environment, by name.
    vault_ids: dict[str, str] = field(default_factory=dict)
    #: The built-in roles plus the custom roles the plan defines (the onboarding identity's).
    roles: azure_rbac.RoleCatalog = field(default_factory=azure_rbac.builtin_roles)

    #: The built-in roles, and the custom roles the bootstrap creates (the rotator's).
    roles: azure_rbac.RoleCatalog = field(default_factory=azure_rbac.builtin_roles)

    def decide(self, identity: str, action: str, path: str) -> azure_rbac.AzureDecision:
        return self.decide_on(identity, action, self.secrets[path])

    def decide_on(self, identity: str, action: str, resource_id: str) -> azure_rbac.AzureDecision:
        """Any resource id: e.g. a run-time token, which the plan does not hold."""
        return azure_rbac.evaluate(
            azure_rbac.AzureRequest(self.principals[identity], action, resource_id),
            assignments=self.assignments,
            roles=self.roles,
        )

    def may(self, identity: str, permission: str, path: str) -> bool:
        """A Key Vault secret permission (``get``, ``set``, ...) needs every data action it maps to."""
        return all(self.decide(identity, a, path) for a in azure_rbac.SECRET_DATA_ACTIONS[permission])


def _catalog_path(tags: Mapping[str, str], where: str) -> str:
    kind = tags.get("makini:kind")
    if kind in _KINDS:
        return _KINDS[kind]
    if kind == "connection-token":
        if "makini:class" in tags:  # filed under an access class: its own prefix (and vault)
            return f"connections/{tags['makini:class']}/{tags['makini:connection']}/token"
        return f"connections/{tags['makini:connection']}/token"
    if kind == "netsuite-m2m-key":
        return f"connections/{tags['makini:connection']}/m2m-key"
    raise AccessModelError(f"{where}: secret tags name no known kind ({tags})")


def azure_environment(plan: Mapping[str, Any], config: Mapping[str, Any], subscription_id: str) -> AzureEnvironment:
    env = plan["environment"]
    vault_ids = {
        v["inputs"]["vaultName"]: (
            f"/subscriptions/{subscription_id}/resourceGroups/{v['inputs']['resourceGroupName']}"
            f"/providers/Microsoft.KeyVault/vaults/{v['inputs']['vaultName']}"
        )
        for v in _resources(plan, "azure-native:keyvault:Vault")
    }
    if not vault_ids:
        raise AccessModelError(f"{env}: no Key Vault")
    secrets: dict[str, str] = {}
    homes: dict[str, str] = {}
    for s in _resources(plan, "azure-native:keyvault:Secret"):
        i = s["inputs"]
        if i["vaultName"] not in vault_ids:
            raise AccessModelError(
                f"{env}: secret {s['name']} is in a vault the plan does not create ({i['vaultName']})"
            )
        path = _catalog_path(i.get("tags", {}), s["name"])
        secrets[path] = f"{vault_ids[i['vaultName']]}/secrets/{i['secretName']}"
        homes[path] = i["vaultName"]
    vault_id = vault_ids[homes["oauth/client"]]
    principals = {
        name: spec["azure"]["principalId"]
        for name, spec in (config.get("makini:consumers") or {}).items()
        if (spec.get("azure") or {}).get("principalId")
    }
    assignments = []
    system: dict[str, set[str]] = {}
    for ra in _resources(plan, "azure-native:authorization:RoleAssignment"):
        i = ra["inputs"]
        assignments.append(
            azure_rbac.RoleAssignment(
                i["principalId"], i["roleDefinitionId"], i["scope"], i.get("condition"), ra["name"]
            )
        )
        component = ra["parent"].rsplit("::", 1)[0].rsplit("$", 1)[-1]
        if component in SYSTEM_COMPONENTS:
            system.setdefault(SYSTEM_COMPONENTS[component], set()).add(i["principalId"])
    for name, ids in system.items():
        if len(ids) != 1:
            raise AccessModelError(f"{env}: the {name} component assigns roles to {len(ids)} principals: {sorted(ids)}")
        principals[name] = ids.pop()
    # The custom roles the plan assigns, as the bootstrap defines them in this subscription (not built-ins):
    # the rotator's and the onboarding identity's (both from stacks.naming / bootstrap.azure_ci).
    custom = [
        azure_rbac.RoleDefinition.from_json(rotator_role_definition(f"/subscriptions/{subscription_id}")),
        azure_rbac.RoleDefinition.from_json(
            onboarding_role_definition(subscription_id, env, f"/subscriptions/{subscription_id}")
        ),
    ]
    roles = azure_rbac.builtin_roles().with_roles(*custom)
    return AzureEnvironment(env, vault_id, secrets, principals, assignments, vault_ids, roles)


def matrix_cells(plan: Mapping[str, Any]) -> Iterable[tuple[str, str, bool, bool]]:
    """(identity, path, read, write) for every cell of the plan's access matrix: the secrets outside a class
    as listed, and each token of an access class with its class's cell (the matrix holds those per class)."""
    matrix = plan["access_matrix"]
    classes = matrix.get("classes", {})
    for identity, entry in matrix["identities"].items():
        for path, cell in entry["secrets"].items():
            yield identity, path, bool(cell["read"]), bool(cell["write"])
        for name, klass in classes.items():
            cell = entry["classes"][name]
            for key in klass["connections"]:
                yield identity, f"{klass['prefix']}{key}/token", bool(cell["read"]), bool(cell["write"])
