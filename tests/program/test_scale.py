"""At scale: a 1,000-connection stack on AWS, Azure and Vault plans within every documented limit, and every
identity's effective access equals the declared matrix exactly, on every backend.

The stack (tests.support.scale_config): 10 consumers (one reading every token, others subsets, one
reading the OAuth client, one consuming the webhook queue), four access classes, five explicit-list
connections. It is planned once (``infra.plan.build_plan``: the program under mocks) and everything below
reads that plan's JSON, the documents the clouds would receive.

Who decides, and what is structural:

* AWS: the evaluator in ``tests/iam/aws_policy.py`` (written from the IAM User Guide) decides every
  identity x secret for GetSecretValue + the kms:Decrypt Secrets Manager makes, and PutSecretValue +
  kms:GenerateDataKey, from the identity policies, each secret's resource policy (with its
  ``aws:PrincipalArn`` conditions) and the key policy. moto's IAM policy engine independently decides the
  consumers' identity policies (ARN patterns included); it does not evaluate resource policies, so for the
  rotation role (whose identity policy covers every token by one pattern) only the evaluator shows
  exactness. The KMS layer on its own is environment-wide (see test_effective_access.py's DEFECT note):
  exactness comes from the Secrets Manager layer, which is checked action by action.
* Azure: the RBAC evaluator in ``tests/iam/azure_rbac.py`` (Microsoft's role definitions and scope
  inheritance) decides get and set for every principal x secret from every role assignment in the plan:
  class vaults, per-secret assignments, the stack's own identities.
* Vault: the real server (OpenBao, tests/engines/openbao.py) answers for every consumer's and the rotator's
  policy, written to it, on every data path (``sys/capabilities``); the ACL evaluator in
  ``tests/iam/vault_acl.py`` (Vault's documented matching and priority) decides the same from the policies
  as python-hcl2 parses them. The Vault rotator writes tokens without reading them (the matrix's
  per-backend cell, issue 13).
"""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import pytest
import yaml

from infra.offline import MOCK_SUBSCRIPTION_ID
from infra.plan import build_plan
from stacks.catalog import build_catalog
from stacks.environment.preflight import Target, limits_context, predicted_resources
from stacks.limits import measure, report
from tests.iam.vault_acl import Acl
from tests.program.access_model import aws_environment, azure_environment, matrix_cells
from tests.support import SCALE_CLASSES, SCALE_CONSUMERS, SCALE_EXPLICIT, flatten, load, scale_config

N = 1000


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> tuple[dict[str, Any], dict[str, Any]]:
    config = scale_config(N)
    path = tmp_path_factory.mktemp("scale") / "Pulumi.dev.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    plan = json.loads(json.dumps(build_plan("dev", path).to_json()))
    return plan, config


@cache
def _expected_from_declaration() -> dict[tuple[str, str], tuple[bool, bool]]:
    """The matrix written from the raw declaration (SCALE_CLASSES, the explicit lists), not from the catalog."""
    out: dict[tuple[str, str], tuple[bool, bool]] = {}
    classes = list(SCALE_CLASSES)
    for i in range(N):
        key = f"customer-{i:05d}"
        if i < SCALE_EXPLICIT:
            path, readers = f"connections/{key}/token", ["reporting", "sync"] if i % 2 else ["reporting"]
        else:
            klass = classes[i % len(classes)]
            path, readers = f"connections/{klass}/{key}/token", SCALE_CLASSES[klass]
        for c in SCALE_CONSUMERS:
            out[(c, path)] = (c in readers, False)
        out[("rotation", path)] = (True, True)
        out[("webhook-receiver", path)] = (False, False)
    for c in SCALE_CONSUMERS:
        out[(c, "oauth/client")] = (c == "onboarding", False)
        out[(c, "webhook/secret")] = (False, False)
    out[("rotation", "oauth/client")] = (True, False)
    out[("rotation", "webhook/secret")] = (False, False)
    out[("webhook-receiver", "oauth/client")] = (False, False)
    out[("webhook-receiver", "webhook/secret")] = (True, False)
    return out


def test_the_plan_holds_every_limit_and_its_matrix_is_the_declaration(stack):
    plan, _ = stack
    assert [r["limit"] for r in plan["limits"] if r["exceeded"]] == []
    assert {r["limit"] for r in plan["limits"]} >= {
        "aws.iam.managed-policy-size",
        "aws.secretsmanager.resource-policy-size",
        "aws.kms.key-policy-size",
        "aws.lambda.resource-policy-size",
        "azure.rbac.role-assignments",
        "vault.policy-size",
    }
    cells = {(i, p): (r, w) for i, p, r, w in matrix_cells(plan)}
    assert cells == _expected_from_declaration()
    # The plan shows the matrix per class: its rows do not grow with the connections.
    assert len(plan["access_matrix"]["identities"]["reporting"]["secrets"]) == 2 + SCALE_EXPLICIT


def test_no_grant_grows_with_the_number_of_connections():
    """Every policy document and the role-assignment count are the same at 25, 1,000 and 5,000 connections
    (the preflight renders them with the components' builders; test_limits.py checks it against plans)."""
    target = Target.from_config(flatten(scale_config(1)))

    def largest(n: int) -> dict[str, int]:
        cfg = load(scale_config(n))
        result = report(measure(predicted_resources(cfg, build_catalog(cfg), target), limits_context(cfg, target)))
        assert result.ok
        return {r.largest.limit_id: r.largest.value for r in result.rows}

    small, large, largest_5000 = largest(25), largest(N), largest(5000)
    for limit in (
        "aws.iam.managed-policy-size",
        "aws.iam.inline-policies-per-role",
        "aws.secretsmanager.resource-policy-size",
        "aws.kms.key-policy-size",
        "azure.rbac.role-assignments",
        "vault.policy-size",
    ):
        assert small[limit] == large[limit] == largest_5000[limit], limit


# --------------------------------------------------------------------------------------------------
# AWS


def test_aws_effective_access_is_the_matrix_at_scale(stack):
    plan, config = stack
    env = aws_environment(plan, config)
    expected = _expected_from_declaration()
    wrong = []
    for (name, path), (read, write) in expected.items():
        identity, secret = env.identities[name], env.secrets[path]
        got = (
            bool(env.decide(identity, "secretsmanager:GetSecretValue", secret))
            and bool(env.decide(identity, "kms:Decrypt", secret)),
            bool(env.decide(identity, "secretsmanager:PutSecretValue", secret))
            and bool(env.decide(identity, "kms:GenerateDataKey", secret)),
        )
        if got != (read, write):
            wrong.append((name, path, got, (read, write)))
    assert wrong == []


def test_aws_consumer_identity_policies_in_moto_at_scale(stack):
    """moto's own IAM policy engine on the consumers' read policies (class ARN patterns included): each reads
    exactly its secrets by identity policy alone; nothing of another environment."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    plan, _ = stack
    env = aws_environment(plan, stack[1])
    expected = _expected_from_declaration()
    docs = {
        r["inputs"]["name"]: r["inputs"]["policy"] for r in plan["resources"] if r["type"] == "aws:iam/policy:Policy"
    }
    for consumer in SCALE_CONSUMERS:
        policy = IAMPolicy(docs[f"makini-dev-{consumer}-read"])
        granted = {
            path
            for path, secret in env.secrets.items()
            if policy.is_action_permitted("secretsmanager:GetSecretValue", secret.arn) == PermissionResult.PERMITTED
        }
        assert granted == {p for (c, p), (r, _) in expected.items() if c == consumer and r}, consumer
        other = next(iter(env.secrets.values())).arn.replace(":secret:makini/dev/", ":secret:makini/prod/")
        assert policy.is_action_permitted("secretsmanager:GetSecretValue", other) != PermissionResult.PERMITTED


def test_aws_one_invoke_permission_covers_every_rotated_token_and_nothing_else(stack):
    plan, _ = stack
    (permission,) = [
        r["inputs"]
        for r in plan["resources"]
        if r["type"] == "aws:lambda/permission:Permission" and r["inputs"]["function"] == "makini-dev-rotation"
    ]
    env = aws_environment(plan, stack[1])
    covered = {p for p, s in env.secrets.items() if fnmatchcase(s.arn, permission["sourceArn"])}
    assert covered == {p for p in env.secrets if p.endswith("/token")}


# --------------------------------------------------------------------------------------------------
# Azure


def test_azure_effective_access_is_the_matrix_at_scale(stack):
    plan, config = stack
    env = azure_environment(plan, config, MOCK_SUBSCRIPTION_ID)
    assert len(env.vault_ids) == 1 + len(SCALE_CLASSES)
    wrong = []
    for (name, path), (read, write) in _expected_from_declaration().items():
        got = (env.may(name, "get", path), env.may(name, "set", path))
        if got != (read, write):
            wrong.append((name, path, got, (read, write)))
    assert wrong == []
    count = sum(1 for r in plan["resources"] if r["type"] == "azure-native:authorization:RoleAssignment")
    assert count < 100, "role assignments grow with connections"


# --------------------------------------------------------------------------------------------------
# Vault


def test_vault_effective_access_is_the_matrix_at_scale(stack):
    plan, _ = stack
    policies = {
        r["inputs"]["name"]: r["inputs"]["policy"]
        for r in plan["resources"]
        if r["type"] == "vault:index/policy:Policy"
    }
    acls = {c: Acl.of(policies[f"makini-dev-{c}-read"]) for c in SCALE_CONSUMERS if f"makini-dev-{c}-read" in policies}
    rotator = Acl.of(policies["makini-dev-rotator"])
    wrong = []
    for (name, path), (read, write) in _expected_from_declaration().items():
        data = f"makini-dev/data/{path}"
        if name in SCALE_CONSUMERS:
            acl = acls.get(name)
            got = (acl is not None and acl.allows(data, "read"), acl is not None and acl.allows(data, "update"))
            if got != (read, write):
                wrong.append((name, path, got))
        elif name == "rotation":
            writes = rotator.allows(data, "update") and rotator.allows(data, "create")
            if writes != write:
                wrong.append((name, path, writes))
    assert wrong == []


def test_the_scale_proof_can_fail(stack):
    """The same checks catch a leak on each backend: a consumer's class pattern widened to every token *and*
    one token's resource policy missing its read deny (AWS needs both: each layer alone still holds); a class
    vault's assignment moved to the resource group (Azure); a glob added to a Vault policy."""
    plan, config = stack
    leaky = json.loads(json.dumps(plan))
    victim = "connections/restricted/customer-00007/token"
    for r in leaky["resources"]:
        i = r["inputs"]
        if r["type"] == "aws:iam/policy:Policy" and i["name"] == "makini-dev-billing-read":
            doc = json.loads(i["policy"])
            doc["Statement"][0]["Resource"] = [
                x.replace("connections/premium/*", "connections/*") for x in doc["Statement"][0]["Resource"]
            ]
            i["policy"] = json.dumps(doc)
        if r["type"] == "aws:secretsmanager/secretPolicy:SecretPolicy" and victim in i["secretArn"]:
            doc = json.loads(i["policy"])
            doc["Statement"] = [s for s in doc["Statement"] if s["Sid"] != "DenyReadOutsideEnvironment"]
            i["policy"] = json.dumps(doc)
        if r["type"] == "azure-native:authorization:RoleAssignment" and r["name"].endswith("-billing-class-premium"):
            i["scope"] = i["scope"].split("/providers/")[0]
        if r["type"] == "vault:index/policy:Policy" and i["name"] == "makini-dev-billing-read":
            i["policy"] += 'path "makini-dev/data/connections/*" {\n  capabilities = ["read"]\n}\n'
    aws = aws_environment(leaky, config)
    readable = {p for p, s in aws.secrets.items() if aws.reads(aws.identities["billing"], s)}
    assert victim in readable and len(readable - {victim}) == len([p for p in readable if "/premium/" in p])
    azure = azure_environment(leaky, config, MOCK_SUBSCRIPTION_ID)
    assert azure.may("billing", "get", victim)
    policies = {
        r["inputs"]["name"]: r["inputs"]["policy"]
        for r in leaky["resources"]
        if r["type"] == "vault:index/policy:Policy"
    }
    assert Acl.of(policies["makini-dev-billing-read"]).allows(f"makini-dev/data/{victim}", "read")
    assert not _expected_from_declaration()[("billing", victim)][0]


def test_vault_effective_access_at_scale_on_openbao(stack, openbao):
    """The same Vault check on the real server (OpenBao, tests/engines/openbao.py): the plan's consumer and
    rotator policies are written to it, a token is made for each, and the server's own ACL answers, with
    ``sys/capabilities`` (a few hundred paths a call: the server refuses larger JSON), what it grants on the
    data path of every secret (no secret needs to exist: capabilities come from the policies alone). Read and write equal the matrix; the rotator writes
    every token it should and reads none (issue 13: Vault's rotator never reads values)."""
    plan, _ = stack
    policies = {
        r["inputs"]["name"]: r["inputs"]["policy"]
        for r in plan["resources"]
        if r["type"] == "vault:index/policy:Policy"
    }
    expected = _expected_from_declaration()
    paths = sorted({p for _, p in expected})
    data_paths = [f"makini-dev/data/{p}" for p in paths]
    tokens: dict[str, str] = {}
    for identity, name in [*((c, f"makini-dev-{c}-read") for c in SCALE_CONSUMERS), ("rotation", "makini-dev-rotator")]:
        if name not in policies:
            continue
        unique = openbao.unique(name)
        status, _ = openbao.http("PUT", f"sys/policies/acl/{unique}", {"policy": policies[name]})
        assert status in (200, 204), status
        status, body = openbao.http("POST", "auth/token/create", {"policies": [unique], "no_default_policy": True})
        assert status == 200, body
        tokens[identity] = body["auth"]["client_token"]
    assert set(tokens) == set(SCALE_CONSUMERS) - {"queue-worker"} | {"rotation"}
    wrong = []
    for identity, token in tokens.items():
        caps: dict[str, list[str]] = {}
        for i in range(0, len(data_paths), 400):
            status, body = openbao.http("POST", "sys/capabilities", {"token": token, "paths": data_paths[i : i + 400]})
            assert status == 200, body
            caps.update({p: body[p] for p in data_paths[i : i + 400]})
        for path, data in zip(paths, data_paths, strict=True):
            granted = set(caps[data])
            read, write = "read" in granted, {"create", "update"} <= granted
            want_read, want_write = expected[(identity, path)]
            if identity == "rotation" and want_write:
                want_read = False  # the Vault rotator never reads the values it writes (the matrix's vault cell)
            if (read, write) != (want_read, want_write):
                wrong.append((identity, path, sorted(granted)))
    assert wrong == []


def test_consumer_views_at_scale_are_the_declaration_and_do_not_grow(stack):
    """Each consumer's view (output consumer-<name>) covers exactly the secrets the declaration grants it on every
    backend (the declaration equals the evaluators' answer: the tests above), naming a class by its grant, so
    a view does not grow with the class's tokens."""
    plan, _ = stack
    out = plan["outputs"]
    expected = _expected_from_declaration()
    aws_names = {p: arn for p, arn in out["awsSecretArns"].items()}
    uris, paths = out["azureSecretUris"], out["vaultPaths"]
    wrong = []
    for consumer in SCALE_CONSUMERS:
        view = out[f"consumer-{consumer}"]
        assert len(json.dumps(view)) < 8_000, f"{consumer}: the view grows with the connections"
        for path in aws_names:
            want = expected[(consumer, path)][0]
            got = {
                "aws": path in view["aws"]["secretArns"]
                or any(fnmatchcase(aws_names[path], p) for p in view["aws"]["classArnPatterns"].values()),
                "azure": path in view["azure"]["secretUris"]
                or any(uris[path].startswith(v) for v in view["azure"]["classVaultUris"].values()),
                "vault": path in view["vault"]["secretPaths"]
                or any(
                    re.fullmatch(re.escape(g).replace(r"\+", "[^/]+"), paths[path])
                    for g in view["vault"]["classPathGlobs"].values()
                ),
            }
            wrong += [f"{consumer} {b} {path}: {g}, declared {want}" for b, g in got.items() if g != want]
    assert wrong == []
