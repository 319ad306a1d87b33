"""Each consumer's view (output ``consumer-<name>``, the plan's "Consumer views") equals what the independent
evaluators say that identity can read.

The view is what an application team wires; if it lists a secret the identity cannot read, the service fails
at run time, and if it misses one (or its class pattern is wider than the grant) the team is told something
the clouds do not enforce. The oracle is the same as the effective-access proof's
(``tests/program/access_model.py`` and ``tests/iam``: AWS's, Microsoft's and Vault's documented evaluation, not
our policy builders), applied to the plan's documents:

* AWS (every example stack): a secret is in the view (by exact ARN, or matched by one of its class patterns)
  exactly when GetSecretValue and the KMS decrypt Secrets Manager makes succeed for the view's role; the
  role is the identity the policies name; the queue is in the view exactly when the role may receive from it.
* Azure (staging): a secret is in the view (by URI, or its vault is one of the view's class vaults) exactly
  when the principal may ``get`` it from every role assignment in the plan.
* Vault (staging): a secret's data path is in the view (exactly, or under one of its globs) exactly when the
  policy of the view's auth role grants ``read`` there (tests/iam/vault_acl.py), and the role logs in on the
  view's auth mount.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.iam.aws_policy import Request, evaluate
from tests.iam.vault_acl import Acl
from tests.program.test_effective_access import aws, azure, plan, stack_config

AWS_STACKS = ("dev", "staging", "prod")


def views(stack: str) -> dict[str, dict[str, Any]]:
    return {k.removeprefix("consumer-"): v for k, v in plan(stack)["outputs"].items() if k.startswith("consumer-")}


def test_every_consumer_has_a_view_on_every_backend_of_its_stack():
    for stack in AWS_STACKS:
        consumers = set(stack_config(stack)["makini:consumers"])
        got = views(stack)
        assert set(got) == consumers, stack
        for name, view in got.items():
            assert view["consumer"] == name and view["environment"] == plan(stack)["environment"]
            assert set(view) == {"consumer", "environment", *plan(stack)["backends"]}
    assert set(plan("staging")["consumers"]) == set(views("staging")), "the plan's section is the outputs"


# --------------------------------------------------------------------------------------------------
# AWS


def aws_view_covers(view: dict[str, Any], path: str, arn: str) -> bool:
    if path in view["secretArns"]:
        assert view["secretArns"][path] == arn, f"{path}: the view's ARN is not the secret's"
        return True
    return any(fnmatchcase(arn, pattern) for pattern in view["classArnPatterns"].values())


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_view_is_exactly_what_the_role_can_read(stack):
    env = aws(stack)
    wrong = []
    for name, view in views(stack).items():
        v = view["aws"]
        identity = env.identities[name]
        assert v["roleArn"] == identity.arn, name
        assert set(v["secretArns"]) <= set(env.secrets), f"{name}: the view names a secret the plan does not hold"
        for path, secret in env.secrets.items():
            readable, listed = env.reads(identity, secret), aws_view_covers(v, path, secret.arn)
            if readable != listed:
                wrong.append(f"{stack} {name} {path}: reads {readable}, in view {listed}")
    assert wrong == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_view_names_the_queue_exactly_when_the_role_may_consume_it(stack):
    env = aws(stack)
    queue_arn = plan(stack)["outputs"].get("awsWebhookQueueArn")
    for name, view in views(stack).items():
        v, identity = view["aws"], env.identities[name]
        may = queue_arn is not None and bool(
            evaluate(
                Request(identity.arn, "sqs:ReceiveMessage", queue_arn, principal_tags=identity.tags),
                identity_policies=identity.policies,
                boundary=identity.boundary,
            )
        )
        if may:
            assert v["webhookQueue"] == {"arn": queue_arn, "url": plan(stack)["outputs"]["awsWebhookQueueUrl"]}, name
        else:
            assert v["webhookQueue"] == {}, name


def test_aws_view_check_can_fail():
    """A view whose class pattern were the environment's whole prefix would list the OAuth client too."""
    env, view = aws("staging"), views("staging")["work-orders"]["aws"]
    widened = {
        **view,
        "classArnPatterns": {"standard": view["classArnPatterns"]["standard"].split("connections/")[0] + "*"},
    }
    oauth = env.secrets["oauth/client"]
    assert aws_view_covers(widened, "oauth/client", oauth.arn)
    assert not env.reads(env.identities["work-orders"], oauth)


# --------------------------------------------------------------------------------------------------
# Azure


def test_azure_view_is_exactly_what_the_principal_can_get():
    env = azure("staging")
    uris = plan("staging")["outputs"]["azureSecretUris"]
    wrong = []
    for name, view in views("staging").items():
        v = view["azure"]
        assert env.principals[name] == v["principalId"], name
        for path in env.secrets:
            listed = (path in v["secretUris"] and v["secretUris"][path] == uris[path]) or any(
                uris[path].startswith(vault) for vault in v["classVaultUris"].values()
            )
            if env.may(name, "get", path) != listed:
                wrong.append(f"{name} {path}: get {env.may(name, 'get', path)}, in view {listed}")
    assert wrong == []


def test_azure_view_names_the_queue_exactly_when_the_principal_may_receive_from_it():
    """Azure Service Bus Data Receiver (role 4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0, Microsoft's built-in roles)
    assigned to the principal at the queue's scope, read from the plan's role assignments."""
    doc = plan("staging")
    queue_ids = [r for r in doc["resources"] if r["type"] == "azure-native:servicebus:Queue"]
    receivers = {
        r["inputs"]["principalId"]
        for r in doc["resources"]
        if r["type"] == "azure-native:authorization:RoleAssignment"
        and r["inputs"]["roleDefinitionId"].endswith("4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0")
        and "/queues/" in r["inputs"]["scope"]
    }
    assert queue_ids
    for name, view in views("staging").items():
        v = view["azure"]
        if v["principalId"] in receivers:
            assert v["webhookQueue"] == {
                "serviceBusNamespace": doc["outputs"]["azureWebhookServiceBusNamespace"],
                "queueName": doc["outputs"]["azureWebhookQueueName"],
            }, name
        else:
            assert v["webhookQueue"] == {}, name


# --------------------------------------------------------------------------------------------------
# Vault


def _glob(pattern: str) -> re.Pattern[str]:
    """A Vault policy path: ``+`` is one segment, a trailing ``*`` a prefix (Vault's policy documentation)."""
    body = re.escape(pattern.removesuffix("*")).replace(r"\+", "[^/]+")
    return re.compile(body + (".*" if pattern.endswith("*") else ""))


def vault_policies_and_roles(doc: dict[str, Any]) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """The plan's Vault policies (name -> HCL) and auth roles (name -> inputs)."""
    policies = {
        r["inputs"]["name"]: r["inputs"]["policy"] for r in doc["resources"] if r["type"] == "vault:index/policy:Policy"
    }
    roles = {
        r["inputs"]["roleName"]: r["inputs"]
        for r in doc["resources"]
        if r["type"].startswith("vault:") and r["type"].endswith("authBackendRole:AuthBackendRole")
    }
    return policies, roles


def test_vault_view_is_exactly_what_the_role_can_read():
    doc = plan("staging")
    policies, roles = vault_policies_and_roles(doc)
    data_paths = doc["outputs"]["vaultPaths"]
    wrong = []
    for name, view in views("staging").items():
        v = view["vault"]
        role = roles[v["authRole"]]
        assert role["backend"] == v["authMount"], name
        acl = Acl.of(*(policies[p] for p in role["tokenPolicies"]))
        for path, data in data_paths.items():
            listed = (path in v["secretPaths"] and v["secretPaths"][path] == data) or any(
                _glob(g).fullmatch(data) for g in v["classPathGlobs"].values()
            )
            if acl.allows(data, "read") != listed:
                wrong.append(f"{name} {path}: read {acl.allows(data, 'read')}, in view {listed}")
    assert wrong == []


def test_a_consumer_with_nothing_on_a_backend_gets_an_explicit_empty_view():
    onboarding = views("staging")["onboarding"]
    for backend, keys in (("aws", ("secretArns", "classArnPatterns")), ("azure", ("secretUris", "classVaultUris"))):
        assert all(isinstance(onboarding[backend][k], dict) for k in keys)
    assert onboarding["aws"]["classArnPatterns"] == {} and onboarding["vault"]["classPathGlobs"] == {}
    assert onboarding["aws"]["webhookQueue"] == {}


# --------------------------------------------------------------------------------------------------
# Write rights: where the onboarding identity may create run-time tokens (issue 19). The view's create* keys
# equal what the evaluators say each consumer can create, at every class's place (run-time or declared), at the
# place of a token outside classes and in a class the stack does not have; empty for every other consumer.

SAMPLE_ID = "29000207611898"


def _places(stack: str) -> list[str]:
    """Where a token could be created: every class's place, the explicit place, a class the stack lacks."""
    classes = sorted(stack_config(stack).get("makini:accessClasses") or {})
    return [*(f"connections/{c}/{SAMPLE_ID}/token" for c in classes), f"connections/{SAMPLE_ID}/token"] + [
        f"connections/nosuch/{SAMPLE_ID}/token"
    ]


class _NewSecret:
    """A secret that does not exist yet: only its ARN (what the KMS call Secrets Manager makes names)."""

    def __init__(self, arn: str) -> None:
        self.arn = arn


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_view_says_exactly_where_the_role_may_create_tokens(stack):
    from stacks.naming import runtime_tags

    env, doc = aws(stack), plan(stack)
    arn_prefix = next(iter(env.secrets.values())).arn.split(":secret:")[0] + ":secret:"
    attached = {
        (r["inputs"]["role"], r["inputs"]["policyArn"])
        for r in doc["resources"]
        if r["type"] == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
    }
    wrong, creators = [], []
    for name, view in views(stack).items():
        v, identity = view["aws"], env.identities[name]
        for path in _places(stack):
            access_class = path.split("/")[1] if path.count("/") == 3 else "none"
            secret_name = f"makini/{env.environment}/{path}"
            arn = f"{arn_prefix}{secret_name}-AbCdEf"
            tags = runtime_tags(env.environment, access_class, SAMPLE_ID)
            create = Request(
                identity.arn,
                "secretsmanager:CreateSecret",
                arn,
                context={"secretsmanager:Name": secret_name, "secretsmanager:KmsKeyArn": env.key_arn},
                request_tags=tags,
                principal_tags=identity.tags,
            )
            tag = Request(
                identity.arn, "secretsmanager:TagResource", arn, request_tags=tags, principal_tags=identity.tags
            )
            kms = env.kms_request(identity, "kms:GenerateDataKey", _NewSecret(arn))  # type: ignore[arg-type]
            can = all(
                evaluate(r, identity_policies=identity.policies, boundary=identity.boundary, key_policy=key).allowed
                for r, key in ((create, None), (tag, None), (kms, env.key_policy))
            )
            listed = any(fnmatchcase(secret_name, p) for p in v["createNamePatterns"].values())
            if can != listed:
                wrong.append(f"{stack} {name} {path}: may create {can}, in view {listed}")
        if v["createNamePatterns"]:
            creators.append(name)
            role = v["roleArn"].rsplit("/", 1)[-1]
            assert (role, v["onboardingPolicyArn"]) in attached, f"{name}: the view's policy is not on its role"
        else:
            assert v["onboardingPolicyArn"] == "", name
    assert wrong == []
    runtime = [c for c, s in (stack_config(stack).get("makini:accessClasses") or {}).items() if s.get("runtime")]
    assert creators == (["onboarding"] if runtime else []), stack


def test_azure_view_says_exactly_which_vaults_the_principal_may_set_secrets_in():
    from tests.iam.azure_rbac import SECRET_SET

    env, doc = azure("staging"), plan("staging")
    roles_at = {
        (r["inputs"]["principalId"], r["inputs"]["scope"]): r["inputs"]["roleDefinitionId"]
        for r in doc["resources"]
        if r["type"] == "azure-native:authorization:RoleAssignment"
    }
    wrong = []
    for name, view in views("staging").items():
        v = view["azure"]
        for vault_name, vault_id in env.vault_ids.items():
            for path in _places("staging"):
                secret_id = f"{vault_id}/secrets/{path.replace('/', '-')}"
                can = env.decide_on(name, SECRET_SET, secret_id).allowed
                listed = f"https://{vault_name}.vault.azure.net/" in v["createVaultUris"].values()
                if can != listed:
                    wrong.append(f"{name} {vault_name} {path}: may set {can}, in view {listed}")
            uri = f"https://{vault_name}.vault.azure.net/"
            if uri in v["createVaultUris"].values():
                assert roles_at[(v["principalId"], vault_id)] == v["createRoleDefinitionId"], name
        if not v["createVaultUris"]:
            assert v["createRoleDefinitionId"] == "", name
    assert wrong == []
    assert [n for n, view in views("staging").items() if view["azure"]["createVaultUris"]] == ["onboarding"]


def test_vault_view_says_exactly_where_the_role_may_create_tokens():
    doc = plan("staging")
    policies, roles = vault_policies_and_roles(doc)
    wrong = []
    for name, view in views("staging").items():
        v = view["vault"]
        role = roles[v["authRole"]]
        acl = Acl.of(*(policies[p] for p in role["tokenPolicies"]))
        for path in _places("staging"):
            data = f"{v['mount']}/data/{path}"
            listed = any(_glob(g).fullmatch(data) for g in v["createPathGlobs"].values())
            if acl.allows(data, "create") != listed:
                wrong.append(f"{name} {path}: create {acl.allows(data, 'create')}, in view {listed}")
        if v["createPathGlobs"]:
            assert v["onboardingPolicy"] in role["tokenPolicies"], name
        else:
            assert v["onboardingPolicy"] == "", name
    assert wrong == []
    assert [n for n, view in views("staging").items() if view["vault"]["createPathGlobs"]] == ["onboarding"]


def test_create_view_check_can_fail():
    """A view whose AWS pattern named every class would claim a declared class's place the policy refuses."""
    v = views("staging")["onboarding"]["aws"]
    widened = v["createNamePatterns"]["linked"].replace("/linked/", "/*/")
    assert fnmatchcase(f"makini/staging/connections/standard/{SAMPLE_ID}/token", widened)
    assert not fnmatchcase(f"makini/staging/connections/standard/{SAMPLE_ID}/token", v["createNamePatterns"]["linked"])


def test_the_plan_shows_each_run_time_class_governed_place_as_the_onboarding_view_grants_it():
    doc = plan("staging")
    view = views("staging")["onboarding"]
    section = doc["runtime_classes"]
    assert (
        set(section)
        == {c for c, s in stack_config("staging")["makini:accessClasses"].items() if s.get("runtime")}
        == {"linked"}
    )
    linked = section["linked"]
    assert linked["places"] == {
        "aws": view["aws"]["createNamePatterns"]["linked"],
        "azure": view["azure"]["createVaultUris"]["linked"],
        "vault": view["vault"]["createPathGlobs"]["linked"],
    }
    assert linked["creators"] == ["onboarding"]
    assert linked["readers"] == sorted(stack_config("staging")["makini:accessClasses"]["linked"]["consumers"])
    assert "runtime_classes" not in plan("dev") and "runtime_classes" not in plan("prod")  # no run-time class
