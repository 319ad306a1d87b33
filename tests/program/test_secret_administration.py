"""Beyond the access matrix: who may administer, delete, replicate and read back each AWS secret.

Every Secrets Manager action that takes a secret (``SECRET_ACTIONS``, the Service Authorization Reference's
list) is decided by the evaluator in ``tests/iam`` for each principal the stack names outside the matrix,
from the offline plan's documents (each secret's resource policy, the key policy) and an identity policy
for the principal:

* an account administrator the stack does not name, and the operators and break-glass principals, with
  ``AdministratorAccess`` (``*`` on ``*``): their own policies are outside the stack, so their worst case;
* the deployer (the identity running ``pulumi up``), with ``AdministratorAccess`` (what the resource
  policies alone allow) and with the bootstrap's deploy policy (what the CI deploy role can actually do:
  everything Pulumi needs, and nothing the resource policies deny);
* the drift check, with the bootstrap's drift policy.

The expected answers are the README's words ("Access", "Environments and protection"), written out as
sets here, not read from the program.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.aws_policies import deploy_policy, drift_policy
from bootstrap.model import StackFile, load_delivery_stack
from infra.offline import PROJECT_ROOT, load_stack_file
from infra.plan import build_plan
from stacks.config.stack_file import dump_stack_yaml
from tests.iam.aws_policy import Outcome, Policy, Request, evaluate
from tests.program.access_model import SECRET_ACTIONS, AwsEnvironment, AwsSecret, aws_environment

STACKS = ("dev", "staging", "prod")
ADMIN: dict[str, Any] = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}

METADATA = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:ValidateResourcePolicy",
}
WRITE = {
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RotateSecret",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
}
ADMINISTRATION = {
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:RestoreSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
}
REPLICATION = {
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:StopReplicationToReplica",
}
READ = "secretsmanager:GetSecretValue"
#: The ways to call DeleteSecret: within the environment's window, at once, or with Secrets Manager's
#: shortest window (7 days).
DELETE = {
    "delete (recoverable)": {},
    "delete without recovery": {"secretsmanager:ForceDeleteWithoutRecovery": True},
    "delete with a 7-day window": {"secretsmanager:RecoveryWindowInDays": 7},
}


def test_the_action_lists_are_every_secret_action():
    assert METADATA | WRITE | ADMINISTRATION | REPLICATION | {READ, "secretsmanager:DeleteSecret"} == set(
        SECRET_ACTIONS
    )


@cache
def stack_config(stack: str, path: str | None = None) -> dict[str, Any]:
    source = Path(path) if path else PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    return yaml.safe_load(source.read_text())["config"]  # type: ignore[no-any-return]


@cache
def environment(stack: str, path: str | None = None) -> AwsEnvironment:
    plan = json.loads(json.dumps(build_plan(stack, Path(path) if path else None).to_json()))
    return aws_environment(plan, stack_config(stack, path))


@cache
def delivery(stack: str, path: str | None = None) -> Any:
    source = load_stack_file(stack, Path(path) if path else None)
    return load_delivery_stack(StackFile(stack, dict(source.config), frozenset(source.secret_keys)))


def window(stack: str) -> int:
    return {"dev": 7, "staging": 14, "prod": 30}[stack]


def allowed(env: AwsEnvironment, principal: str, policies: Any, secret: AwsSecret) -> set[str]:
    """The actions (and DeleteSecret variants, by name) ``principal`` may perform on ``secret``."""
    out = set()
    for action in SECRET_ACTIONS:
        if action == "secretsmanager:DeleteSecret":
            for label, context in DELETE.items():
                if env.decide_as(principal, policies, action, secret, context).allowed:
                    out.add(label)
            continue
        context = {"secretsmanager:BlockPublicPolicy": True} if action.endswith("PutResourcePolicy") else {}
        if env.decide_as(principal, policies, action, secret, context).allowed:
            out.add(action)
    return out


def deletions(stack: str, who: str) -> set[str]:
    """What the README promises about deleting a secret: recoverable for the environment's window; the
    deployers may delete within it (never in production); only break-glass skips or shortens it."""
    if who == "break-glass":
        return set(DELETE)
    if who == "deployer" and stack != "prod":
        # Secrets Manager's shortest window is 7 days, dev's own: not shorter there.
        return {"delete (recoverable)"} | ({"delete with a 7-day window"} if window(stack) <= 7 else set())
    return set()


@pytest.mark.parametrize("stack", STACKS)
def test_an_administrator_the_stack_does_not_name_only_reads_metadata(stack):
    env = environment(stack)
    admin = f"arn:aws:iam::{env.account}:role/account-admin"
    for secret in env.secrets.values():
        assert allowed(env, admin, [ADMIN], secret) == METADATA, secret.path


@pytest.mark.parametrize("stack", STACKS)
def test_operators_write_values_and_nothing_else(stack):
    env = environment(stack)
    assert env.operators or stack != "prod"
    for operator in env.operators:
        for secret in env.secrets.values():
            assert allowed(env, operator, [ADMIN], secret) == METADATA | WRITE, secret.path


@pytest.mark.parametrize("stack", STACKS)
def test_the_deployer_administers_writes_and_deletes_recoverably_outside_production(stack):
    """What the resource policies leave a deployer with every IAM permission: writing values, policies and
    tags, deleting (not in production) within the recovery window; never reading a value it did not write,
    never force-deleting, never replicating."""
    env = environment(stack)
    for deployer in env.deployers:
        for secret in env.secrets.values():
            expected = METADATA | WRITE | ADMINISTRATION | deletions(stack, "deployer")
            assert allowed(env, deployer, [ADMIN], secret) == expected, (deployer, secret.path)


@pytest.mark.parametrize("stack", STACKS)
def test_only_break_glass_force_deletes_or_replicates(stack):
    env = environment(stack)
    if stack == "prod":
        assert env.break_glass == ("arn:aws:iam::333333333333:role/makini-break-glass",)
    for principal in env.break_glass:
        for secret in env.secrets.values():
            expected = METADATA | ADMINISTRATION | REPLICATION | deletions(stack, "break-glass")
            assert allowed(env, principal, [ADMIN], secret) == expected, secret.path
    # Without one (dev, staging), nobody at all may: the administrator and the deployer above were refused.
    for secret in env.secrets.values():
        everyone = [*env.deployers, *env.operators, *env.drift, f"arn:aws:iam::{env.account}:role/account-admin"]
        for principal in everyone:
            got = allowed(env, principal, [ADMIN], secret)
            assert not got & (REPLICATION | {"delete without recovery"}), (principal, secret.path, got)


@pytest.mark.parametrize("stack", STACKS)
def test_the_ci_deploy_role_can_do_what_pulumi_does(stack):
    """With the bootstrap's deploy policy, the calls pulumi-aws makes for the store: create, describe, read
    the policy, write the initial value (and its data key), tag, put the policy (public blocked), update the
    description and key, configure rotation, delete the policy and the secret outside production."""
    env = environment(stack)
    policy = deploy_policy(delivery(stack))
    (deployer,) = [d for d in env.deployers if d.endswith("/makini-deployer")]
    needed = {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetResourcePolicy",
        "secretsmanager:PutSecretValue",
        "secretsmanager:TagResource",
        "secretsmanager:UntagResource",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:UpdateSecret",
        "secretsmanager:RotateSecret",
        "secretsmanager:CancelRotateSecret",
    }
    for secret in env.secrets.values():
        got = allowed(env, deployer, [policy], secret)
        assert needed <= got, (secret.path, needed - got)
        if stack == "prod":
            assert not {"delete (recoverable)", "secretsmanager:DeleteResourcePolicy"} & got
        else:
            assert {"delete (recoverable)", "secretsmanager:DeleteResourcePolicy"} <= got
        assert READ not in got and not got & REPLICATION and "delete without recovery" not in got
    create = evaluate(
        Request(deployer, "secretsmanager:CreateSecret", env.secrets["oauth/client"].arn),
        identity_policies=[Policy.parse(policy, "deploy policy")],
    )
    assert create.allowed, create


@pytest.mark.parametrize("stack", STACKS)
def test_the_drift_check_reads_what_the_doctor_reads_and_nothing_else(stack):
    env = environment(stack)
    (drift,) = env.drift
    assert drift == f"arn:aws:iam::{env.account}:role/makini-infra-{stack}-drift"
    policy = drift_policy(delivery(stack))
    for path, secret in env.secrets.items():
        got = allowed(env, drift, [policy], secret)
        reads = {READ} if path == "oauth/client" or path.endswith("/token") else set()
        assert got == reads | {
            "secretsmanager:DescribeSecret",
            "secretsmanager:GetResourcePolicy",
            "secretsmanager:ListSecretVersionIds",
        }, path


# --------------------------------------------------------------------------------------------------
# Initial values: the deployers and the drift check read back exactly the version the deployment wrote


@pytest.fixture(scope="module")
def valued(tmp_path_factory) -> str:
    """Pulumi.prod.yaml with initial values in config (secure: placeholders, as a real stack file has them)."""
    doc = yaml.safe_load((PROJECT_ROOT / "Pulumi.prod.yaml").read_text())
    doc["config"]["makini:oauthClientSecret"] = {"secure": "v1:AAAA"}
    doc["config"]["makini:webhookSecret"] = {"secure": "v1:BBBB"}
    doc["config"]["makini:connectionTokens"] = {"acme-maintainx": {"secure": "v1:CCCC"}}
    path = tmp_path_factory.mktemp("valued") / "Pulumi.prod.yaml"
    path.write_text(dump_stack_yaml(doc))
    return str(path)


def test_the_deployer_and_the_drift_check_read_back_only_the_initial_version(valued):
    env = environment("prod", valued)
    assert set(env.initial_versions) == {"oauth/client", "webhook/secret", "connections/acme-maintainx/token"}
    deployer = next(d for d in env.deployers if d.endswith("/makini-deployer"))
    ci = deploy_policy(delivery("prod", valued))
    checker = drift_policy(delivery("prod", valued))
    (drift,) = env.drift
    for path, secret in env.secrets.items():
        version = env.initial_versions.get(path)
        requests = {
            "initial version": {"secretsmanager:VersionId": version or "0f0e0d0c-0000-4000-8000-000000000000"},
            "another version": {"secretsmanager:VersionId": "0f0e0d0c-0000-4000-8000-000000000001"},
            "current": {},
            "current by stage": {"secretsmanager:VersionStage": "AWSCURRENT"},
        }
        for label, context in requests.items():
            by_deployer = env.decide_as(deployer, [ci], READ, secret, context)
            assert by_deployer.allowed == (label == "initial version" and version is not None), (
                path,
                label,
                by_deployer,
            )
            assert env.decide_as(deployer, [ADMIN], READ, secret, context).allowed == by_deployer.allowed
            doctor_reads = path == "oauth/client" or path.endswith("/token")
            by_drift = env.decide_as(drift, [checker], READ, secret, context)
            assert by_drift.allowed == (doctor_reads or (label == "initial version" and version is not None)), (
                path,
                label,
                by_drift,
            )
            for operator in env.operators:
                assert not env.decide_as(operator, [ADMIN], READ, secret, context).allowed
    # The matrix's readers are unaffected: any version.
    matrix_reader = env.identities["work-orders"]
    token = env.secrets["connections/acme-maintainx/token"]
    for context in ({}, {"secretsmanager:VersionId": "0f0e0d0c-0000-4000-8000-000000000001"}):
        assert env.decide_as(matrix_reader.arn, matrix_reader.policies, READ, token, context).allowed


def test_the_initial_version_is_the_one_the_secret_version_resource_has(valued):
    """The version the resource policy names is the SecretVersion's output, i.e. what pulumi-aws reads back."""
    env = environment("prod", valued)
    for path, version in env.initial_versions.items():
        doc = env.secrets[path].document
        assert version in json.dumps(doc), path


def test_the_proof_can_fail():
    """Yesterday's policy (read and write denies only) lets an account administrator force-delete,
    replicate and re-tag a production secret; the evaluator says so."""
    env = environment("prod")
    secret = env.secrets["oauth/client"]
    old = {
        "Version": "2012-10-17",
        "Statement": [
            s
            for s in secret.document["Statement"]
            if s["Sid"] in ("DenyInsecureTransport", "DenyReadOutsideEnvironment")
        ],
    }
    weakened = AwsSecret(secret.path, secret.arn, Policy.parse(old, "old"), secret.tags)
    admin = f"arn:aws:iam::{env.account}:role/account-admin"
    got = allowed(env, admin, [ADMIN], weakened)
    assert {"delete without recovery", "secretsmanager:ReplicateSecretToRegions", "secretsmanager:TagResource"} <= got
    decision = env.decide_as(admin, [ADMIN], "secretsmanager:DeleteSecret", secret, DELETE["delete without recovery"])
    assert decision.outcome is Outcome.EXPLICIT_DENY and "DenyDeletionInProduction" in decision.reason


@pytest.mark.parametrize("stack", [*STACKS, "valued"])
def test_the_plans_access_matrix_says_what_the_evaluator_finds(stack, valued):
    """The plan's ``access_matrix.aws`` block (and its notes) lists exactly what the drift check and the
    deployers may read, as the evaluator decides it from the same plan."""
    name, path = ("prod", valued) if stack == "valued" else (stack, None)
    env = environment(name, path)
    plan = json.loads(json.dumps(build_plan(name, Path(path) if path else None).to_json()))
    block = plan["access_matrix"]["aws"]
    (drift,) = env.drift
    checker = drift_policy(delivery(name, path))
    deployer = next(d for d in env.deployers if d.endswith("/makini-deployer"))
    ci = deploy_policy(delivery(name, path))
    current = {p for p, s in env.secrets.items() if env.decide_as(drift, [checker], READ, s).allowed}
    initial = {
        p
        for p, s in env.secrets.items()
        if p in env.initial_versions
        and env.decide_as(deployer, [ci], READ, s, {"secretsmanager:VersionId": env.initial_versions[p]}).allowed
    }
    assert set(block["drift"]["read"]) == current
    assert set(block["deployers"]["readInitialVersion"]) == initial == set(block["drift"]["readInitialVersion"])
    assert block["drift"]["principals"] == list(env.drift)
    assert block["breakGlass"]["principals"] == list(env.break_glass)
    assert (stack == "valued") == bool(initial)
