"""AWS token rotation under Pulumi mocks: schedules per environment, one invoke permission per environment, the
rotation role's least privilege (parliament; moto's IAM policy engine on real moto ARNs), the Lambda
package, the store's resource policies naming the rotator, and the reminders."""

from __future__ import annotations

import ast
import json
import warnings
from datetime import UTC, datetime, timedelta

import boto3
import pulumi
import pytest
from moto import mock_aws

from components.aws.lambda_package import ROTATION_LAMBDA
from components.aws.rotation_policies import reminder_publish_policy, rotation_policy
from infra.plan import rotation_section
from tests.pyparse import parse_python
from tests.support import base_config, load, run, tokens

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # the mocks' account
TODAY = datetime.now(UTC).date()


def _config(env: str):
    cfg = base_config(env)
    cfg["makini:rotation"] = {
        "webhookSecretRotatedOn": (TODAY - timedelta(days=10)).isoformat(),
        "notifyEmail": "oncall@example.com",
        **({"rotationWindow": "3h", "rotateImmediately": True} if env == "prod" else {}),
    }
    return cfg


@pytest.fixture(scope="module")
def dev():
    return run(_config("dev"))


@pytest.fixture(scope="module")
def prod():
    return run(_config("prod"))


def _token_arns(r) -> dict[str, str]:
    return tokens(r.outputs["awsSecretArns"])


def _rotation_doc(r) -> dict:
    return json.loads(
        r.of_type("aws:iam/rolePolicy:RolePolicy")
        and next(
            p
            for p in r.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.plain_inputs["name"] == f"makini-{r.stack}-rotation"
        ).plain_inputs["policy"]
    )


# --------------------------------------------------------------------------------------------------
# Schedules and permissions


@pytest.mark.parametrize("env,days", [("dev", 21), ("prod", 7)])
def test_one_schedule_per_token_secret_with_the_env_period(env, days, request):
    r = request.getfixturevalue(env)
    rotations = r.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert sorted(x.plain_inputs["secretId"] for x in rotations) == sorted(_token_arns(r).values())
    fn_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:makini-{env}-rotation"
    for x in rotations:
        rules = x.plain_inputs["rotationRules"]
        assert rules["automaticallyAfterDays"] == days and "scheduleExpression" not in rules
        assert x.plain_inputs["rotationLambdaArn"] == fn_arn
        assert x.plain_inputs["rotateImmediately"] is (env == "prod")
        assert rules.get("duration") == ("3h" if env == "prod" else None)
        assert x.protect is (env == "prod")


TOKEN_PATTERN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/connections/*/token-*"


def test_one_invoke_permission_whose_source_arn_pattern_covers_every_token_of_the_environment(dev):
    perms = dev.of_type("aws:lambda/permission:Permission")
    rot = [p.plain_inputs for p in perms if p.plain_inputs["function"] == "makini-dev-rotation"]
    assert [p["sourceArn"] for p in rot] == [TOKEN_PATTERN]
    (p,) = rot
    assert (p["principal"], p["action"], p["sourceAccount"]) == (
        "secretsmanager.amazonaws.com",
        "lambda:InvokeFunction",
        ACCOUNT,
    )
    # Lambda compares SourceArn as a pattern: every token secret matches, nothing else of the environment,
    # nothing of another environment (fnmatch: '*' and '?' as in IAM's StringLike/ArnLike).
    from fnmatch import fnmatchcase

    arns = dev.outputs["awsSecretArns"]
    assert all(fnmatchcase(a, TOKEN_PATTERN) for a in _token_arns(dev).values())
    assert not fnmatchcase(arns["oauth/client"], TOKEN_PATTERN) and not fnmatchcase(
        arns["webhook/secret"], TOKEN_PATTERN
    )
    assert not fnmatchcase(_token_arns(dev)["acme-sap"].replace("/dev/", "/prod/"), TOKEN_PATTERN)
    assert not fnmatchcase(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/connections/acme/m2m-key-abcdef", TOKEN_PATTERN
    )
    # every schedule waits for the permission
    by_urn = {x.urn: x for x in dev.resources}
    for x in dev.of_type("aws:secretsmanager/secretRotation:SecretRotation"):
        deps = [by_urn[d] for d in x.dependencies if d in by_urn]
        assert any(d.type == "aws:lambda/permission:Permission" for d in deps)


def test_connection_without_makini_id_gets_no_schedule():
    cfg = _config("dev")
    del cfg["makini:connections"][1]["makiniId"]
    r = run(cfg)
    ids = [x.plain_inputs["secretId"] for x in r.of_type("aws:secretsmanager/secretRotation:SecretRotation")]
    assert ids == [_token_arns(r)["acme-sap"]]
    cal = r.outputs["rotationModes"]
    assert cal["connections/globex-mx/token"] == "manual" and cal["connections/acme-sap/token"] == "automatic"


def test_rotation_disabled_builds_no_function_and_no_rotator_identity():
    cfg = _config("dev")
    cfg["makini:rotation"]["enabled"] = False
    r = run(cfg)
    assert not r.of_type("aws:secretsmanager/secretRotation:SecretRotation")
    assert not r.of_type("aws:lambda/function:Function")
    assert not [x for x in r.of_type("aws:iam/role:Role") if x.plain_inputs["name"] == "makini-dev-rotation"]


# --------------------------------------------------------------------------------------------------
# The function and its package


def test_function_settings(dev):
    f = dev.named("makini-dev-aws-rotation-function").plain_inputs
    assert f["runtime"] == "python3.13" and f["architectures"] == ["arm64"] and f["timeout"] == 60
    assert f["handler"] == ROTATION_LAMBDA.handler == "rotation.aws_lambda.handler"
    assert f["role"] == f"arn:aws:iam::{ACCOUNT}:role/makini-dev-rotation"
    assert f["environment"]["variables"] == {"OAUTH_CLIENT_SECRET_ARN": dev.outputs["awsSecretArns"]["oauth/client"]}
    assert f["loggingConfig"]["logGroup"] == "/aws/lambda/makini-dev-rotation"
    logs = dev.named("makini-dev-aws-rotation-logs").plain_inputs
    assert logs["name"] == "/aws/lambda/makini-dev-rotation" and logs["retentionInDays"] == 30


def test_archive_holds_only_the_rotation_runtime_code(dev):
    archive = dev.named("makini-dev-aws-rotation-function").plain_inputs["code"]
    assets = dict(archive.assets)
    # the one generated file: the deployment's bindings (tests/functions/rotation/test_bindings.py)
    assert isinstance(assets.pop("rotation/bindings.json"), pulumi.StringAsset)
    modules = (
        "__init__.py",
        "aws_lambda.py",
        "backoff.py",
        "bindings.py",
        "makini_client.py",
        "oauth_client.py",
        "token_lifetime.py",
    )
    shared = (
        "functions/__init__.py",
        "functions/shared/__init__.py",
        "functions/shared/jsonlog.py",
        "functions/shared/names.py",
    )
    assert sorted(assets) == sorted([*(f"rotation/{m}" for m in modules), *shared])
    assert all(k.endswith(".py") for k in assets)
    functions_dir = ROTATION_LAMBDA.source.parent
    assert {a.path for a in assets.values()} == {str(functions_dir / k.removeprefix("functions/")) for k in assets}
    # the closure is complete: every relative import of the packaged modules, and every shared module
    # they import, is packaged
    for module in modules:
        tree = parse_python((ROTATION_LAMBDA.source / module).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                names = [node.module] if node.module else [a.name for a in node.names]
                for n in names:
                    assert f"{n}.py" in modules, (module, n)
            if isinstance(node, ast.ImportFrom) and node.module == "functions.shared":
                for a in node.names:
                    assert f"functions/shared/{a.name}.py" in assets, (module, a.name)
            if isinstance(node, ast.Import) or (isinstance(node, ast.ImportFrom) and node.level == 0):
                for top in [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]:
                    assert top.split(".")[0] not in ("pulumi", "pulumi_aws", "azure", "hvac"), (module, top)
    assert "azure_function.py" not in str(sorted(assets)) and "README.md" not in str(sorted(assets))
    assert set(ROTATION_LAMBDA.files()) == set(assets)


# --------------------------------------------------------------------------------------------------
# Least privilege


def test_rotation_policy_is_exactly_the_documented_grants(dev):
    doc = _rotation_doc(dev)
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert set(by_sid) == {"RotateConnectionTokens", "ReadOAuthClient", "UseKeyThroughSecretsManager", "WriteOwnLogs"}
    assert sorted(by_sid["RotateConnectionTokens"]["Action"]) == [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    # Every token of the environment by one pattern; the tokens' resource policies name the rotator as a
    # writer of exactly the rotated ones (test_the_store_names_the_rotator_... below).
    assert by_sid["RotateConnectionTokens"]["Resource"] == TOKEN_PATTERN
    assert by_sid["ReadOAuthClient"] == {
        "Sid": "ReadOAuthClient",
        "Effect": "Allow",
        "Action": ["secretsmanager:GetSecretValue"],
        "Resource": dev.outputs["awsSecretArns"]["oauth/client"],
    }
    kms = by_sid["UseKeyThroughSecretsManager"]
    assert kms["Resource"] == dev.outputs["awsKmsKeyArn"]
    assert sorted(kms["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert kms["Condition"] == {"StringEquals": {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}}
    assert by_sid["WriteOwnLogs"]["Resource"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/makini-dev-rotation:*"
    )
    assert all(s["Effect"] == "Allow" and s["Resource"] != "*" for s in doc["Statement"])


def test_parliament_finds_nothing(dev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string
    doc = _rotation_doc(dev)
    assert analyze_policy_string(json.dumps(doc)).findings == []
    publish = next(
        p
        for p in dev.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.plain_inputs["name"] == "makini-dev-rotation-reminders"
    ).plain_inputs["policy"]
    assert analyze_policy_string(publish).findings == []
    sloppy = json.loads(json.dumps(doc))
    sloppy["Statement"].append({"Effect": "Allow", "Action": "secretsmanager:RotateSecrets", "Resource": "*"})
    assert analyze_policy_string(json.dumps(sloppy)).findings  # the check can fail


def _moto_env(env: str) -> dict[str, str]:
    sm = boto3.client("secretsmanager", region_name=REGION)
    token = sm.create_secret(Name=f"makini/{env}/connections/acme-sap/token", SecretString="{}")["ARN"]
    oauth = sm.create_secret(Name=f"makini/{env}/oauth/client", SecretString="{}")["ARN"]
    hook = sm.create_secret(Name=f"makini/{env}/webhook/secret", SecretString="x")["ARN"]
    return {"token": token, "oauth": oauth, "hook": hook, "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{env}-key"}


def test_moto_policy_engine_dev_rotator_cannot_touch_prod():
    """moto's IAM policy engine evaluates the generated document against the ARNs moto gives the dev
    and prod secrets (with their random suffixes): the dev rotator does its job on dev only. (moto's
    request-level IAM enforcement authorises Secrets Manager calls against "*", so resource-scoped
    grants are checked with its policy engine, as in the webhook receiver's tests: with request-level
    enforcement moto refuses even the dev rotator's own dev calls, so it cannot show "can do its job".)"""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    @mock_aws
    def scenario():
        dev, prod = _moto_env("dev"), _moto_env("prod")
        doc = rotation_policy(
            partition="aws",
            region=REGION,
            account_id=ACCOUNT,
            environment="dev",
            oauth_client_secret_arn=dev["oauth"],
            kms_key_arn=dev["key"],
        )
        policy = IAMPolicy(json.dumps(doc))
        ok = lambda action, arn: policy.is_action_permitted(action, arn) == PermissionResult.PERMITTED  # noqa: E731
        for action in ("DescribeSecret", "GetSecretValue", "PutSecretValue", "UpdateSecretVersionStage"):
            assert ok(f"secretsmanager:{action}", dev["token"]), action
            assert not ok(f"secretsmanager:{action}", prod["token"]), action
        assert ok("secretsmanager:GetSecretValue", dev["oauth"])
        assert not ok("secretsmanager:GetSecretValue", prod["oauth"])
        assert not ok("secretsmanager:PutSecretValue", dev["oauth"])  # reads the OAuth client, never writes it
        assert not ok("secretsmanager:GetSecretValue", dev["hook"])
        for action in ("RotateSecret", "DeleteSecret", "PutResourcePolicy", "ListSecrets", "GetRandomPassword"):
            assert not ok(f"secretsmanager:{action}", dev["token"]), action
        assert not ok("kms:Decrypt", prod["key"])

    scenario()


def test_the_store_names_the_rotator_as_writer_of_rotated_tokens_and_reader_of_the_oauth_client(dev):
    role = f"arn:aws:iam::{ACCOUNT}:role/makini-dev-rotation"

    def principals(policy_doc, sid):
        st = next(s for s in policy_doc["Statement"] if s["Sid"] == sid)
        return st.get("Condition", {}).get("StringNotEquals", {}).get("aws:PrincipalArn", [])

    seen = set()
    for p in dev.of_type("aws:secretsmanager/secretPolicy:SecretPolicy"):
        doc = json.loads(p.plain_inputs["policy"])
        arn = p.plain_inputs["secretArn"]
        if arn in _token_arns(dev).values():
            assert role in principals(doc, "DenyWriteOutsideWriters") and role in principals(
                doc, "DenyReadOutsideEnvironment"
            )
            seen.add(arn)
        elif arn == dev.outputs["awsSecretArns"]["oauth/client"]:
            assert role in principals(doc, "DenyReadOutsideEnvironment")
            assert role not in principals(doc, "DenyWriteOutsideWriters")
            seen.add(arn)
        else:
            assert role not in principals(doc, "DenyReadOutsideEnvironment") + principals(
                doc, "DenyWriteOutsideWriters"
            )
    assert len(seen) == len(_token_arns(dev)) + 1
    key_policy = json.loads(dev.named("makini-dev-aws-key").plain_inputs["policy"])
    users = next(s for s in key_policy["Statement"] if s["Sid"] == "UseThroughSecretsManagerOnly")
    assert role in users["Principal"]["AWS"]
    # the role exists before the store's policies are registered
    order = [x.name for x in dev.resources]
    assert order.index("makini-dev-rotation-role") < min(
        order.index(p.name) for p in dev.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
    )


# --------------------------------------------------------------------------------------------------
# Reminders


def test_reminder_schedule_for_the_dated_webhook_secret_and_a_note_for_the_oauth_client(dev):
    topic = dev.named("makini-dev-aws-rotation-reminders").plain_inputs
    assert topic["kmsMasterKeyId"] == dev.outputs["awsKmsKeyArn"]
    sub = dev.named("makini-dev-aws-rotation-reminders-email").plain_inputs
    assert (sub["protocol"], sub["endpoint"]) == ("email", "oncall@example.com")
    schedules = dev.of_type("aws:scheduler/schedule:Schedule")
    assert len(schedules) == 1
    s = schedules[0].plain_inputs
    reminder = TODAY - timedelta(days=10) + timedelta(days=90 - 14)
    assert s["scheduleExpression"] == f"at({reminder.isoformat()}T09:00:00)"
    assert s["scheduleExpressionTimezone"] == "UTC" and s["flexibleTimeWindow"] == {"mode": "OFF"}
    topic_arn = dev.outputs["awsReminderTopicArn"]
    assert s["target"]["arn"] == topic_arn
    assert s["target"]["roleArn"] == f"arn:aws:iam::{ACCOUNT}:role/makini-dev-rotation-reminders"
    assert "webhook secret" in s["target"]["input"] and "x" not in s["name"]
    assert rotation_section(load(_config("dev")), dev, TODAY).data["aws"]["reminderSchedules"] == ["webhook/secret"]
    publish = json.loads(
        next(
            p
            for p in dev.of_type("aws:iam/rolePolicy:RolePolicy")
            if p.plain_inputs["name"] == "makini-dev-rotation-reminders"
        ).plain_inputs["policy"]
    )
    assert publish == reminder_publish_policy(
        region=REGION, topic_arn=topic_arn, kms_key_arn=dev.outputs["awsKmsKeyArn"]
    )
    trust = json.loads(dev.named("makini-dev-aws-rotation-reminder-role").plain_inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    notes = rotation_section(load(_config("dev")), dev, TODAY).data["aws"]["notes"]
    assert len(notes) == 1 and "oauthClientSecretRotatedOn" in notes[0]


def test_overdue_secret_gets_no_schedule_but_a_note():
    cfg = _config("dev")
    cfg["makini:rotation"]["webhookSecretRotatedOn"] = (TODAY - timedelta(days=200)).isoformat()
    r = run(cfg)
    assert not r.of_type("aws:scheduler/schedule:Schedule")
    section = rotation_section(load(cfg), r, TODAY).data
    assert any("past its maximum age" in n for n in section["aws"]["notes"])
    hook = next(s for s in section["secrets"] if s["path"] == "webhook/secret")
    assert hook["status"] == "overdue"


def test_rotation_output_and_no_secret_values(dev):
    out = dev.outputs
    assert out["rotationPeriodDays"]["connections/acme-sap/token"] == 21
    assert out["rotationModes"] == {
        "oauth/client": "manual-with-reminder",
        "webhook/secret": "manual-with-reminder",
        "connections/acme-sap/token": "automatic",
        "connections/globex-mx/token": "automatic",
    }
    assert out["awsRotationFunctionArn"].endswith(":function:makini-dev-rotation")


# --------------------------------------------------------------------------------------------------
# Run-time tokens (issue 19): created by the onboarding identity, no resource policy, rotation enabled on them
# without a deploy. The rotation role's policy and the one invoke permission must already cover them.

RUNTIME_ARN = (
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/connections/linked/29000207611898/token-AbCdEf"
)


@pytest.fixture(scope="module")
def runtime_dev():
    from tests.support import runtime_config

    return run(runtime_config("dev"))


def test_the_rotation_role_rotates_a_run_time_token_that_has_no_resource_policy(runtime_dev):
    from components.aws.rotation_policies import TOKEN_ACTIONS
    from tests.iam.aws_policy import Policy, Request, evaluate

    doc = Policy.parse(_rotation_doc(runtime_dev), "rotation role policy")
    [key] = [
        k for k in runtime_dev.of_type("aws:kms/key:Key") if k.plain_inputs["tags"].get("makini:purpose") == "secrets"
    ]
    key_policy = Policy.parse(json.loads(key.plain_inputs["policy"]), "key policy")
    role = f"arn:aws:iam::{ACCOUNT}:role/makini-dev-rotation"
    for action in TOKEN_ACTIONS:
        decision = evaluate(Request(role, action, RUNTIME_ARN), identity_policies=[doc], resource_policy=None)
        assert decision.allowed, (action, decision)
    key_arn = next(s.plain_inputs["kmsKeyId"] for s in runtime_dev.of_type("aws:secretsmanager/secret:Secret"))
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        via = {
            "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
            "kms:CallerAccount": ACCOUNT,
            "kms:EncryptionContext:SecretARN": RUNTIME_ARN,
        }
        assert evaluate(
            Request(role, action, key_arn, context=via), identity_policies=[doc], key_policy=key_policy
        ).allowed
        assert not evaluate(Request(role, action, key_arn), identity_policies=[doc], key_policy=key_policy).allowed
    # nothing else of the environment, and nothing of another environment's run-time class
    for other in (RUNTIME_ARN.replace("/token-", "/m2m-key-"), RUNTIME_ARN.replace("/dev/", "/prod/")):
        assert not evaluate(Request(role, "secretsmanager:PutSecretValue", other), identity_policies=[doc]).allowed


def test_the_one_invoke_permission_lets_secrets_manager_rotate_a_run_time_token(runtime_dev):
    """Lambda renders a Permission as a statement of the function's resource policy (AddPermission: principal,
    action, ArnLike on AWS:SourceArn, StringEquals on AWS:SourceAccount); Secrets Manager's invocation for a
    run-time token is allowed by it, one for another environment's is not."""
    from tests.iam.aws_policy import Policy, Request, evaluate

    [p] = [
        x.plain_inputs
        for x in runtime_dev.of_type("aws:lambda/permission:Permission")
        if x.plain_inputs["function"] == "makini-dev-rotation"
    ]
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:makini-dev-rotation"
    statement = {
        "Sid": "rotation",
        "Effect": "Allow",
        "Principal": {"Service": p["principal"]},
        "Action": p["action"],
        "Resource": fn,
        "Condition": {
            "ArnLike": {"AWS:SourceArn": p["sourceArn"]},
            "StringEquals": {"AWS:SourceAccount": p["sourceAccount"]},
        },
    }
    policy = Policy.parse({"Version": "2012-10-17", "Statement": [statement]}, "function policy")

    def invoke(source_arn: str) -> bool:
        ctx = {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT}
        return evaluate(
            Request("secretsmanager.amazonaws.com", "lambda:InvokeFunction", fn, context=ctx), resource_policy=policy
        ).allowed

    assert invoke(RUNTIME_ARN)
    assert not invoke(RUNTIME_ARN.replace("/dev/", "/prod/"))
    assert not invoke(RUNTIME_ARN.replace("/token-", "/m2m-key-"))
