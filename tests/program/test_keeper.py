"""The keeper of run-time secrets as the program deploys it (issue 19), under Pulumi mocks.

The function's behaviour is tests/functions/keeper/'s (moto), its documents' tests/iam/test_keeper_aws.py's; here:
the program deploys it exactly when the environment takes run-time connections on AWS, ships it the documents
the store's builder renders for each run-time class (with the stack's own principals) and the environment's
rotation, gives its role the keeper policy and the boundary, lets the schedule and the onboarding role invoke it,
routes its alarm like the rotation alarms, and exports its name. And the effective access of a run-time token once
kept: exactly its class's readers (and the rotation identity) read it, whatever identity policies grant elsewhere,
and only in its environment.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.aws.keeper_policies import KEEPER_SETTINGS_FILE, keeper_policy, runtime_class_resource_policy
from components.aws.lambda_package import KEEPER_LAMBDA
from components.aws.policies import ADMINISTRATION_ACTIONS, READ_ACTIONS, WRITE_ACTIONS, secret_arn_prefix
from tests.iam.aws_policy import Outcome, Policy, Request, evaluate
from tests.support import ACCOUNT, base_config, run, runtime_config

REGION = "eu-west-1"


def runtime_arn(env: str, access_class: str = "linked", connection_id: str = "29000207611898") -> str:
    return f"{secret_arn_prefix('aws', REGION, ACCOUNT, env)}connections/{access_class}/{connection_id}/token-AbCdEf"


def with_account(c: dict[str, Any]) -> dict[str, Any]:
    c["aws:allowedAccountIds"] = [ACCOUNT]
    return c


@pytest.fixture(scope="module")
def dev():
    return run(with_account(runtime_config("dev")))


@pytest.fixture(scope="module")
def prod():
    return run(with_account(runtime_config("prod")))


def settings(r) -> dict[str, Any]:
    archive = r.named(f"makini-{r.outputs['environment']}-aws-keeper-function").plain_inputs["code"]
    return json.loads(archive.assets[KEEPER_SETTINGS_FILE].text)


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_only_an_environment_with_run_time_classes_on_aws_has_a_keeper():
    plain = run(base_config())
    assert not [r for r in plain.resources if "keeper" in r.name]
    assert "awsKeeperFunctionName" not in plain.outputs


def test_the_function_its_package_and_its_output(dev):
    f = dev.named("makini-dev-aws-keeper-function").plain_inputs
    assert f["name"] == dev.outputs["awsKeeperFunctionName"] == "makini-dev-keeper"
    assert f["handler"] == KEEPER_LAMBDA.handler == "keeper.aws_lambda.handler"
    assert f["role"] == role("makini-dev-keeper") and f["timeout"] == 300
    assets = dict(f["code"].assets)
    assert isinstance(assets.pop(KEEPER_SETTINGS_FILE), pulumi.StringAsset)
    assert sorted(assets) == sorted(KEEPER_LAMBDA.files())  # the list itself: tests/functions/keeper/test_packaging.py


def test_the_settings_are_the_stores_document_for_the_class_and_the_environments_rotation(dev):
    s = settings(dev)
    assert s["environment"] == "dev" and s["secretNamePrefix"] == "makini/dev/connections/"
    assert sorted(s["classes"]) == ["linked"]  # the run-time class only: never the declared "standard"
    deployers = [role("makini-deployer")]  # the mocks' caller (infra.offline)
    expected = runtime_class_resource_policy(
        secret_arn_prefix("aws", REGION, ACCOUNT, "dev"),
        "linked",
        reader_arns=[role("assets-dev"), role("orders-dev")],
        writer_arns=[role("makini-dev-rotation")],
        creator_arns=[role("onboarding-dev")],
        keeper_arn=role("makini-dev-keeper"),
        deployer_arns=deployers,
        recovery_window_days=int(
            dev.named("makini-dev-aws-connections-standard-globex-mx-token").plain_inputs["recoveryWindowInDays"]
        ),
    )
    assert s["classes"]["linked"]["resourcePolicy"] == expected
    assert s["rotation"]["lambdaArn"] == dev.outputs["awsRotationFunctionArn"]
    schedule = next(r for r in dev.of_type("aws:secretsmanager/secretRotation:SecretRotation"))
    assert s["rotation"]["rules"] == {
        "AutomaticallyAfterDays": schedule.plain_inputs["rotationRules"]["automaticallyAfterDays"]
    }


def test_the_role_its_policy_and_boundary(dev):
    r = dev.named("makini-dev-aws-keeper-role").plain_inputs
    assert r["name"] == "makini-dev-keeper"
    assert r["permissionsBoundary"] == f"arn:aws:iam::{ACCOUNT}:policy/makini-infra-boundary"
    assert json.loads(r["assumeRolePolicy"])["Statement"][0]["Principal"] == {"Service": "lambda.amazonaws.com"}
    policy = json.loads(dev.named("makini-dev-aws-keeper-policy").plain_inputs["policy"])
    assert policy == keeper_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        environment="dev",
        classes=["linked"],
        rotation_function_arn=dev.outputs["awsRotationFunctionArn"],
    )


def test_the_schedule_and_the_onboarding_role_may_invoke_it_and_nobody_else(dev):
    permissions = {
        p.name: p.plain_inputs for p in dev.of_type("aws:lambda/permission:Permission") if "keeper" in p.name
    }
    assert set(permissions) == {"makini-dev-aws-keeper-sweep-invoke", "makini-dev-aws-keeper-onboarding-invoke"}
    sweep = permissions["makini-dev-aws-keeper-sweep-invoke"]
    rule = dev.named("makini-dev-aws-keeper-sweep").plain_inputs
    assert sweep["principal"] == "events.amazonaws.com" and sweep["sourceArn"].endswith("makini-dev-aws-keeper-sweep")
    assert rule["scheduleExpression"] == "rate(30 minutes)"
    target = dev.named("makini-dev-aws-keeper-sweep-target").plain_inputs
    assert target["arn"].endswith(":function:makini-dev-keeper")
    assert permissions["makini-dev-aws-keeper-onboarding-invoke"]["principal"] == role("onboarding-dev")


def test_its_errors_alarm_goes_where_the_rotation_alarms_go(dev):
    alarm = dev.named("makini-dev-aws-keeper-errors").plain_inputs
    assert alarm["name"] == "makini-dev-keeper-errors"
    assert alarm["dimensions"] == {"FunctionName": "makini-dev-keeper"}
    assert alarm["alarmActions"] == [dev.outputs["awsRotationAlarmTopicArn"]]


def test_without_rotation_it_puts_policies_only_and_alarms_on_its_own_topic():
    c = with_account(runtime_config("dev"))
    c["makini:rotation"] = {"enabled": False}
    r = run(c)
    assert "awsRotationFunctionArn" not in r.outputs
    assert settings(r)["rotation"] is None
    policy = json.loads(r.named("makini-dev-aws-keeper-policy").plain_inputs["policy"])
    never = next(s for s in policy["Statement"] if s["Sid"] == "NeverReadWriteOrDeleteSecrets")
    assert "secretsmanager:RotateSecret" in never["Action"]
    topic = r.named("makini-dev-aws-keeper-alarms").plain_inputs
    assert topic["name"] == "makini-dev-keeper-alarms"
    assert r.named("makini-dev-aws-keeper-errors").plain_inputs["alarmActions"][0].endswith(":makini-dev-keeper-alarms")


# --------------------------------------------------------------------------------------------------
# The effective access of a kept run-time token


def identity_policies(r) -> dict[str, list[Policy]]:
    """Role ARN -> the identity policies the run attaches to it (managed policies by attachment, inline ones)."""
    env = r.outputs["environment"]
    managed = {p.plain_inputs["name"]: json.loads(p.plain_inputs["policy"]) for p in r.of_type("aws:iam/policy:Policy")}
    out: dict[str, list[Policy]] = {}
    for a in r.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment"):
        name = a.plain_inputs["policyArn"].rsplit("/", 1)[-1]
        out.setdefault(role(a.plain_inputs["role"]), []).append(Policy.parse(managed[name], name))
    for p in r.of_type("aws:iam/rolePolicy:RolePolicy"):
        out.setdefault(role(p.plain_inputs["role"]), []).append(
            Policy.parse(json.loads(p.plain_inputs["policy"]), p.name)
        )
    out.setdefault(role(f"makini-{env}-deployer"), [])
    return out


ADMIN = Policy.parse(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}, "admin"
)
READ_EVERYTHING = Policy.parse(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*"}],
    },
    "read-everything",
)


def readers_of(secret: str, policy: dict[str, Any], roles: dict[str, list[Policy]]) -> set[str]:
    return {
        arn
        for arn, docs in roles.items()
        if evaluate(
            Request(arn, "secretsmanager:GetSecretValue", secret), identity_policies=docs, resource_policy=policy
        ).allowed
    }


def test_a_secret_created_by_the_onboarding_identity_is_read_by_exactly_its_class_consumers(dev):
    roles = identity_policies(dev)
    # identities outside the matrix, holding identity policies that reach every secret
    roles[role("Admin")] = [ADMIN]
    roles[role("platform-readonly")] = [READ_EVERYTHING]
    kept = settings(dev)["classes"]["linked"]["resourcePolicy"]
    secret = runtime_arn("dev")
    assert readers_of(secret, kept, roles) == {role("assets-dev"), role("orders-dev"), role("makini-dev-rotation")}
    # before the keeper (no resource policy) the identity policies alone decided: anyone reaching "*" read it
    assert {role("Admin"), role("platform-readonly")} <= readers_of(secret, None, roles)
    # the onboarding identity and the keeper never read it
    for who in (role("onboarding-dev"), role("makini-dev-keeper")):
        decision = evaluate(
            Request(who, "secretsmanager:GetSecretValue", secret),
            identity_policies=[*roles[who], ADMIN],
            resource_policy=kept,
        )
        assert decision.outcome is Outcome.EXPLICIT_DENY, who


def test_in_its_environment_only(dev, prod):
    dev_roles, prod_roles = identity_policies(dev), identity_policies(prod)
    prod_kept = settings(prod)["classes"]["linked"]["resourcePolicy"]
    dev_kept = settings(dev)["classes"]["linked"]["resourcePolicy"]
    assert readers_of(runtime_arn("prod"), prod_kept, dev_roles) == set()
    assert readers_of(runtime_arn("dev"), dev_kept, prod_roles) == set()
    assert readers_of(runtime_arn("prod"), prod_kept, prod_roles) == {
        role("assets-prod"),
        role("orders-prod"),
        role("makini-prod-rotation"),
    }


def test_the_kept_policy_decides_like_a_declared_token_of_the_class_but_for_the_run_time_roles(dev):
    """Every action x every principal: a run-time token's policy decides as the declared token of a class with
    the same readers (``standard``), but for the onboarding identity's writes and the keeper's two actions."""
    kept = settings(dev)["classes"]["linked"]["resourcePolicy"]
    declared = json.loads(
        dev.named("makini-dev-aws-connections-standard-globex-mx-token-policy").plain_inputs["policy"]
    )
    principals = [role(n) for n in ("assets-dev", "orders-dev", "makini-dev-rotation", "makini-deployer", "Admin")]
    actions = sorted({*READ_ACTIONS, *WRITE_ACTIONS, *ADMINISTRATION_ACTIONS, "secretsmanager:DeleteSecret"})
    for who in principals:
        for action in actions:
            a = evaluate(Request(who, action, runtime_arn("dev")), identity_policies=[ADMIN], resource_policy=kept)
            b = evaluate(Request(who, action, runtime_arn("dev")), identity_policies=[ADMIN], resource_policy=declared)
            assert a.outcome == b.outcome, (who, action, str(a), str(b))
    onboarding, keeper = role("onboarding-dev"), role("makini-dev-keeper")
    allowed = {
        (who, action)
        for who in (onboarding, keeper)
        for action in actions
        if evaluate(Request(who, action, runtime_arn("dev")), identity_policies=[ADMIN], resource_policy=kept).allowed
    }
    assert {a for w, a in allowed if w == keeper} == {"secretsmanager:PutResourcePolicy", "secretsmanager:RotateSecret"}
    assert {a for w, a in allowed if w == onboarding} == {"secretsmanager:DeleteSecret"}  # a disconnect


# --------------------------------------------------------------------------------------------------
# The limits model: the documents the keeper puts count against Secrets Manager's resource-policy limit


def test_the_limits_model_measures_each_run_time_class_policy(dev):
    from infra.plan import plan_resources
    from stacks.limits import measure

    found = [m for m in measure(plan_resources(dev)) if "run-time class linked" in m.resource]
    assert [(m.limit_id, m.limit) for m in found] == [("aws.secretsmanager.resource-policy-size", 20480)]
    assert found[0].value == len(json.dumps(settings(dev)["classes"]["linked"]["resourcePolicy"], sort_keys=True))


def test_a_run_time_class_policy_over_the_limit_is_refused_before_anything_is_registered():
    from infra.offline import OfflineMocks, RecordingMonitor, run_program
    from tests.support import flatten

    c = with_account(runtime_config("dev"))
    # The operators appear twice in a run-time token's policy (writes, and the rotation setup the keeper shares)
    # and once in a declared token's: ~13 KB there, over 20,480 characters here.
    c["makini:aws"] = {"operatorArns": [role(f"operator-{i:03d}-with-a-long-role-name") for i in range(170)]}
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", flatten(c), monitor=monitor)
    message = str(info.value)
    assert "Secrets Manager" in message and "run-time class linked" in message, message
    assert "makini-dev-aws-connections-standard-globex-mx-token-policy" not in message  # the declared ones fit
    assert [r.type for r in monitor.records.values()] == ["pulumi:pulumi:Stack"]
