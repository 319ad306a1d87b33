"""The effective-access proof: every identity's real access to every secret equals the access matrix.

``test_access_proof.py`` proves the consumers' identity policies in moto, which evaluates nothing else.
Here every document that decides access is evaluated together, by the evaluators in ``tests/iam`` (written
from AWS's and Microsoft's documentation and tested against their published examples):

* AWS, for ``Pulumi.dev.yaml``, ``Pulumi.staging.yaml`` and ``Pulumi.prod.yaml``: each identity's policies
  (consumer roles and every role the stack creates), each secret's resource policy, the KMS key policy and
  every condition in them (``aws:PrincipalArn``, ``aws:SecureTransport``, ``kms:ViaService``,
  ``kms:CallerAccount``, ``kms:EncryptionContext:SecretARN``), for GetSecretValue, PutSecretValue,
  DescribeSecret, every other Secrets Manager action on a secret, and the ``kms:Decrypt`` /
  ``kms:GenerateDataKey`` calls Secrets Manager makes on the caller's behalf;
* Azure, for ``Pulumi.staging.yaml`` (the stack with a Key Vault): every role assignment in the plan,
  against the built-in role definitions copied from Microsoft's pages, with scope inheritance.

The expected answer is the access matrix of the same plan (what ``python -m infra.plan`` shows a
reviewer), cross-checked against the stack files read as plain YAML. The inputs are the offline plan's
JSON (:func:`infra.plan.build_plan`), i.e. the documents the clouds would receive.

Assumptions (see ``tests/program/access_model.py``): consumer roles have no other policies; no SCP,
session policy or KMS grant applies; Azure principals have no assignments outside the plan.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import yaml

from infra.offline import MOCK_SUBSCRIPTION_ID, PROJECT_ROOT
from infra.plan import build_plan
from tests.iam import azure_rbac
from tests.iam.aws_policy import Outcome, Request, evaluate
from tests.program.access_model import (
    READ_USES,
    SECRET_ACTIONS,
    WRITE_USES,
    AwsEnvironment,
    aws_environment,
    azure_environment,
    matrix_cells,
)

AWS_STACKS = ("dev", "staging", "prod")
AZURE_STACKS = ("staging",)


@cache
def plan(stack: str) -> dict[str, Any]:
    return json.loads(json.dumps(build_plan(stack).to_json()))


@cache
def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


@cache
def aws(stack: str) -> AwsEnvironment:
    return aws_environment(plan(stack), stack_config(stack))


def expected(stack: str) -> dict[tuple[str, str], tuple[bool, bool]]:
    return {(i, p): (r, w) for i, p, r, w in matrix_cells(plan(stack))}


def test_the_matrix_agrees_with_the_stack_files():
    """The oracle: consumers read exactly the tokens their connections list and the OAuth client when
    ``oauthClient`` is set (the stack files as plain YAML); consumers never write."""
    for stack in AWS_STACKS:
        cfg = stack_config(stack)
        for consumer, spec in cfg["makini:consumers"].items():
            classes = cfg.get("makini:accessClasses", {})
            reads = {
                f"connections/{c['key']}/token" for c in cfg["makini:connections"] if consumer in c.get("consumers", [])
            } | {
                f"connections/{c['class']}/{c['key']}/token"
                for c in cfg["makini:connections"]
                if "class" in c and consumer in classes[c["class"]]["consumers"]
            }
            if spec.get("oauthClient"):
                reads.add("oauth/client")
            cells = {p: rw for (i, p), rw in expected(stack).items() if i == consumer}
            assert {p for p, (r, _) in cells.items() if r} == reads, (stack, consumer)
            assert not any(w for _, w in cells.values()), (stack, consumer)


# --------------------------------------------------------------------------------------------------
# AWS


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_identities_are_the_matrix_identities(stack):
    env = aws(stack)
    matrix = expected(stack)
    with_access = {i for (i, _), (r, w) in matrix.items() if r or w}
    assert with_access <= set(env.identities), (
        f"identities with access in the matrix but no AWS role: {with_access - set(env.identities)}"
    )
    assert set(env.identities) <= {i for i, _ in matrix}, "an AWS role the matrix does not list"
    assert set(env.secrets) == {p for _, p in matrix}


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_effective_read_and_write_equal_the_matrix(stack):
    """Reading a value needs GetSecretValue and the kms:Decrypt Secrets Manager makes for the caller;
    writing one needs PutSecretValue and kms:GenerateDataKey. Exactly the matrix, cell by cell, and each
    API action on its own too (so neither the resource policy nor the key policy is carrying the other)."""
    env = aws(stack)
    wrong = []
    for (name, path), (read, write) in expected(stack).items():
        identity, secret = env.identities.get(name), env.secrets[path]
        if identity is None:
            continue  # no AWS role: nothing can be granted (checked above)
        got = {
            "read": env.reads(identity, secret),
            "write": env.writes(identity, secret),
            "GetSecretValue": bool(env.decide(identity, "secretsmanager:GetSecretValue", secret)),
            "PutSecretValue": bool(env.decide(identity, "secretsmanager:PutSecretValue", secret)),
        }
        want = {"read": read, "write": write, "GetSecretValue": read, "PutSecretValue": write}
        for what in got:
            if got[what] != want[what]:
                action = (
                    "secretsmanager:GetSecretValue"
                    if what in ("read", "GetSecretValue")
                    else "secretsmanager:PutSecretValue"
                )
                wrong.append(
                    f"{name} {what} {path}: {got[what]}, matrix says {want[what]} ({env.decide(identity, action, secret)})"
                )
    assert wrong == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_no_identity_can_do_anything_else_to_a_secret(stack):
    """Every Secrets Manager action on a secret: DescribeSecret comes with a read or a write; nothing else
    (delete, policy changes, tags, replication, restore, rotation) is allowed to any matrix identity, nor
    to the stack's other roles."""
    env = aws(stack)
    matrix = expected(stack)
    extra = []
    identities = {**env.identities, **env.other_roles}
    for name, identity in identities.items():
        for path, secret in env.secrets.items():
            read, write = matrix.get((name, path), (False, False))
            permitted = (READ_USES if read else frozenset()) | (WRITE_USES if write else frozenset())
            for action in SECRET_ACTIONS:
                decision = env.decide(identity, action, secret)
                if decision.allowed and action not in permitted:
                    extra.append(f"{name} may {action} on {path}: {decision.reason}")
    assert extra == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_consumers_describe_exactly_what_they_read(stack):
    """The README: each consumer policy grants "GetSecretValue and DescribeSecret on exactly its secrets"."""
    env = aws(stack)
    cfg = stack_config(stack)
    for (name, path), (read, _) in expected(stack).items():
        if name in cfg["makini:consumers"]:
            described = env.decide(env.identities[name], "secretsmanager:DescribeSecret", env.secrets[path])
            assert described.allowed == read, (name, path, described)


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_nothing_without_tls(stack):
    """Every secret denies every request without TLS (aws:SecureTransport false), whoever asks."""
    env = aws(stack)
    for identity in env.identities.values():
        for secret in env.secrets.values():
            for action in (
                "secretsmanager:GetSecretValue",
                "secretsmanager:PutSecretValue",
                "secretsmanager:DescribeSecret",
            ):
                d = env.decide(identity, action, secret, secure_transport=False)
                assert d.outcome is Outcome.EXPLICIT_DENY and "DenyInsecureTransport" in d.reason, (
                    identity.name,
                    action,
                )


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_an_account_administrator_outside_the_matrix_reads_and_writes_nothing(stack):
    """A role of the same account with ``*`` on ``*`` (an administrator the stack does not name) is refused
    every value by the resource policies: reading is reserved to the matrix's readers, writing to the
    writers, the operators and the deployers. (It could still change the resource policy first: issues
    12 and 20 deal with who may.)"""
    env = aws(stack)
    admin_policy = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}
    admin = Request(f"arn:aws:iam::{env.account}:role/account-admin", "secretsmanager:GetSecretValue")
    for secret in env.secrets.values():
        for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"):
            request = Request(admin.principal, action, secret.arn)
            d = evaluate(request, identity_policies=[admin_policy], resource_policy=secret.policy)
            assert d.outcome is Outcome.EXPLICIT_DENY, (secret.path, action, d)


def _same_account(stacks: tuple[str, ...]) -> dict[str, AwsEnvironment]:
    """Every stack's plan as if all of them were deployed into one account (a common setup)."""
    shared = "123456789012"
    out = {}
    for stack in stacks:
        account = str(stack_config(stack)["aws:allowedAccountIds"][0])
        text_plan = json.dumps(plan(stack)).replace(account, shared)
        text_cfg = json.dumps(stack_config(stack)).replace(account, shared)
        out[stack] = aws_environment(json.loads(text_plan), json.loads(text_cfg))
    return out


@pytest.mark.parametrize("shared_account", [False, True], ids=["own-accounts", "one-account"])
def test_aws_no_identity_reaches_another_environment(shared_account):
    """No identity of one environment can read, write or decrypt a secret of another, whether the stacks
    are in their own accounts (as the example stacks pin) or all in one account."""
    envs = _same_account(AWS_STACKS) if shared_account else {s: aws(s) for s in AWS_STACKS}
    leaks = []
    for home, home_env in envs.items():
        for other, other_env in envs.items():
            if other == home:
                continue
            for name, identity in {**home_env.identities, **home_env.other_roles}.items():
                for path, secret in other_env.secrets.items():
                    for action in SECRET_ACTIONS:
                        if other_env.decide(identity, action, secret):
                            leaks.append(f"{home}/{name} may {action} on {other}/{path}")
                    if other_env.decide(identity, "kms:Decrypt", secret):
                        leaks.append(f"{home}/{name} may decrypt {other}/{path} through Secrets Manager")
    assert leaks == []


@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_the_key_is_used_only_through_secrets_manager_by_the_environments_readers(stack):
    """The KMS layer on its own: no identity may use the environment key directly (without Secrets
    Manager), and through Secrets Manager only identities the matrix lets read something of this
    environment may decrypt."""
    env = aws(stack)
    readers = {i for (i, _), (r, _) in expected(stack).items() if r}
    for name, identity in {**env.identities, **env.other_roles}.items():
        for secret in env.secrets.values():
            direct = evaluate(
                Request(identity.arn, "kms:Decrypt", env.key_arn),
                identity_policies=identity.policies,
                boundary=identity.boundary,
                key_policy=env.key_policy,
            )
            assert not direct.allowed, (name, direct)
            if env.decide(identity, "kms:Decrypt", secret):
                assert name in readers, (name, secret.path)


# DEFECT (reported, not fixed here): the KMS layer is not per secret. The key policy's
# UseThroughSecretsManagerOnly statement grants every reader and writer of the environment kms:Decrypt and
# kms:GenerateDataKey through Secrets Manager with any secret's encryption context; because it names the
# roles directly, the consumers' identity-policy condition on kms:EncryptionContext:SecretARN is never
# needed, and the rotation and receiver policies bind only kms:ViaService. Reading stays exact (the secrets'
# resource policies deny GetSecretValue), but the key alone does not enforce the matrix. Fix: bind
# kms:EncryptionContext:SecretARN in the key policy, or leave use of the key to the identity policies
# (root delegation only). When fixed, this test passes and strict xfail fails: remove the marker.
@pytest.mark.xfail(
    strict=True,
    reason="DEFECT: the key policy lets any reader decrypt any secret of its environment via Secrets Manager",
)
@pytest.mark.parametrize("stack", AWS_STACKS)
def test_aws_the_kms_layer_alone_equals_the_matrix(stack):
    env = aws(stack)
    wrong = [
        (name, path)
        for (name, path), (read, _) in expected(stack).items()
        if name in env.identities and bool(env.decide(env.identities[name], "kms:Decrypt", env.secrets[path])) != read
    ]
    assert wrong == []


def test_the_aws_proof_can_fail():
    """The same proof flags a widened consumer policy and a resource policy that lost a reader's deny."""
    env = aws("dev")
    name, identity = "work-orders", aws("dev").identities["work-orders"]
    widened = json.loads(json.dumps(plan("dev")))
    for r in widened["resources"]:
        if r["type"] == "aws:iam/policy:Policy" and r["inputs"]["name"] == "makini-dev-work-orders-read":
            doc = json.loads(r["inputs"]["policy"])
            doc["Statement"][0]["Resource"] = "*"
            r["inputs"]["policy"] = json.dumps(doc)
        if r["type"] == "aws:secretsmanager/secretPolicy:SecretPolicy" and "webhook/secret" in r["inputs"]["secretArn"]:
            doc = json.loads(r["inputs"]["policy"])
            doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != "DenyReadOutsideEnvironment"]
            r["inputs"]["policy"] = json.dumps(doc)
    bad = aws_environment(widened, stack_config("dev"))
    assert not env.reads(identity, env.secrets["webhook/secret"])
    assert bad.reads(bad.identities[name], bad.secrets["webhook/secret"])
    assert not bad.reads(bad.identities[name], bad.secrets["oauth/client"])  # still denied by its resource policy


# --------------------------------------------------------------------------------------------------
# Azure


@cache
def azure(stack: str) -> Any:
    return azure_environment(plan(stack), stack_config(stack), MOCK_SUBSCRIPTION_ID)


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_azure_get_and_set_equal_the_matrix(stack):
    """Key Vault "get" (getSecret) is the matrix's read, "set" (setSecret and update) its write, for every
    identity and secret, from every role assignment the plan makes, with scope inheritance."""
    env = azure(stack)
    wrong = []
    for (name, path), (read, write) in expected(stack).items():
        if name not in env.principals:
            assert not (read or write), f"{name} has access in the matrix but no Azure principal"
            continue
        for permission, want in (("get", read), ("set", write)):
            if env.may(name, permission, path) != want:
                wrong.append(
                    f"{name} {permission} {path}: matrix says {want} ({env.decide(name, azure_rbac.SECRET_DATA_ACTIONS[permission][0], path)})"
                )
    assert wrong == []


def _extra_permissions(stack: str, name: str) -> list[str]:
    env = azure(stack)
    matrix = expected(stack)
    extra = []
    for path in env.secrets:
        read, write = matrix.get((name, path), (False, False))
        permitted = ({"get", "list"} if read else set()) | ({"get", "list", "set"} if write else set())
        for permission in azure_rbac.SECRET_DATA_ACTIONS:
            if permission not in permitted and env.may(name, permission, path):
                extra.append(f"{permission} {path}")
    for control in ("Microsoft.Authorization/roleAssignments/write", "Microsoft.KeyVault/vaults/write"):
        if azure_rbac.evaluate(
            azure_rbac.AzureRequest(env.principals[name], control, env.vault_id, data=False),
            assignments=env.assignments,
            roles=env.roles,
        ):
            extra.append(f"{control} on the vault")
    return extra


@pytest.mark.parametrize("stack", AZURE_STACKS)
def test_azure_identities_hold_nothing_beyond_their_cells(stack):
    """Beyond its cells an identity holds no secret data action (delete, purge, backup, ...), and none
    can manage access to the vault or the vault itself. (One test per stack: parametrizing per identity would
    build the plan while tests are collected, in every worker.)"""
    names = sorted(azure(stack).principals)
    assert names, "the stack has Azure identities to check"
    extra = {name: _extra_permissions(stack, name) for name in names}
    assert {name: found for name, found in extra.items() if found} == {}


def test_azure_principals_are_the_matrix_identities():
    for stack in AZURE_STACKS:
        env = azure(stack)
        matrix = expected(stack)
        assert set(env.principals) <= {i for i, _ in matrix}
        assert set(env.secrets) == {p for _, p in matrix}
        assert len(set(env.principals.values())) == len(env.principals), "two identities share a principal"


def test_the_azure_proof_can_fail():
    """A consumer's assignment moved from its secret to the vault is caught."""
    widened = json.loads(json.dumps(plan("staging")))
    for r in widened["resources"]:
        if r["type"] == "azure-native:authorization:RoleAssignment" and r["name"].endswith(
            "work-orders-connections-acme-maintainx-token"
        ):
            r["inputs"]["scope"] = r["inputs"]["scope"].rsplit("/secrets/", 1)[0]
    env = azure_environment(widened, stack_config("staging"), MOCK_SUBSCRIPTION_ID)
    assert env.may("work-orders", "get", "connections/globex-netsuite/token")
    assert not azure("staging").may("work-orders", "get", "connections/globex-netsuite/token")
