"""The keeper's AWS documents (components/aws/keeper_policies.py), decided by the evaluator written from the IAM
User Guide (tests/iam/aws_policy.py) and linted by parliament.

The keeper role may govern (look up, put the class's policy, configure rotation with the environment's function)
exactly the run-time classes' tokens of its environment, and nothing else: never a value, a declared secret,
another environment's, another rotation function, a key. The run-time class's resource policy lets the keeper put
it again and configure rotation, lets the onboarding identity put a new value (never read), and reads stay with
the class's readers and the rotation identity.
"""

from __future__ import annotations

import json
import warnings

import pytest

from bootstrap.aws_policies import boundary_policy
from components.aws.keeper_policies import (
    KEEPER_DENIED_ACTIONS,
    keeper_policy,
    keeper_settings,
    runtime_class_resource_policy,
)
from components.aws.policies import READ_ACTIONS, secret_arn_prefix
from stacks.limits import iam_policy_chars
from tests.iam.aws_policy import Outcome, Request, evaluate

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    from parliament import analyze_policy_string

ACCOUNT = "111111111111"
REGION = "eu-west-1"
ENV = "prod"
PREFIX = secret_arn_prefix("aws", REGION, ACCOUNT, ENV)
ROTATION_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:makini-{ENV}-rotation"
OTHER_FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:makini-{ENV}-webhook-receiver"
KEEPER = f"arn:aws:iam::{ACCOUNT}:role/makini-{ENV}-keeper"
ONBOARDING = f"arn:aws:iam::{ACCOUNT}:role/onboarding-{ENV}"
ROTATION = f"arn:aws:iam::{ACCOUNT}:role/makini-{ENV}-rotation"
READERS = [f"arn:aws:iam::{ACCOUNT}:role/orders", f"arn:aws:iam::{ACCOUNT}:role/assets"]
DEPLOYER = f"arn:aws:iam::{ACCOUNT}:role/makini-infra-prod-deploy"
CLASSES = ["linked", "eu-linked"]
POLICY = keeper_policy(
    partition="aws",
    region=REGION,
    account_id=ACCOUNT,
    environment=ENV,
    classes=CLASSES,
    rotation_function_arn=ROTATION_FN,
)
NO_ROTATION = keeper_policy(
    partition="aws", region=REGION, account_id=ACCOUNT, environment=ENV, classes=CLASSES, rotation_function_arn=None
)
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RUNTIME = f"{PREFIX}connections/linked/29000207611898/token-AbCdEf"
ELSEWHERE = [
    f"{PREFIX}connections/standard/acme/token-AbCdEf",  # a declared class
    f"{PREFIX}connections/acme/token-AbCdEf",  # an explicit-list token
    f"{PREFIX}connections/linked/29000207611898/m2m-key-AbCdEf",
    f"{PREFIX}oauth/client-AbCdEf",
    f"{PREFIX}webhook/secret-AbCdEf",
    f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/connections/linked/29000207611898/token-AbCdEf",
    f"arn:aws:secretsmanager:{REGION}:222222222222:secret:makini/prod/connections/linked/1/token-AbCdEf",
    f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:makini/prod/connections/linked/1/token-AbCdEf",
]


def keeper(action, resource=RUNTIME, context=None, policies=(POLICY,)):
    return evaluate(Request(KEEPER, action, resource, context=context or {}), identity_policies=list(policies))


def put_policy(resource=RUNTIME, block=True, policies=(POLICY,)):
    return keeper("secretsmanager:PutResourcePolicy", resource, {"secretsmanager:BlockPublicPolicy": block}, policies)


def rotate(resource=RUNTIME, function=ROTATION_FN, policies=(POLICY,)):
    context = {} if function is None else {"secretsmanager:RotationLambdaARN": function}
    return keeper("secretsmanager:RotateSecret", resource, context, policies)


def test_governs_the_run_time_tokens_of_its_environment():
    for resource in (RUNTIME, f"{PREFIX}connections/eu-linked/7/token-XyZ123"):
        assert put_policy(resource).allowed
        assert rotate(resource).allowed
        for action in ("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"):
            assert keeper(action, resource).allowed
    assert keeper("secretsmanager:ListSecrets", "*").allowed
    assert keeper("lambda:InvokeFunction", ROTATION_FN).allowed  # RotateSecret needs it


@pytest.mark.parametrize("resource", ELSEWHERE)
def test_cannot_govern_anything_else_even_with_an_admin_policy_beside(resource):
    assert not put_policy(resource).allowed
    assert not rotate(resource).allowed
    assert put_policy(resource, policies=(POLICY, ADMIN)).outcome is Outcome.EXPLICIT_DENY
    assert rotate(resource, policies=(POLICY, ADMIN)).outcome is Outcome.EXPLICIT_DENY


def test_puts_only_non_public_policies_and_rotates_only_with_the_environment_function():
    assert not put_policy(block=False).allowed
    assert not keeper("secretsmanager:PutResourcePolicy").allowed  # BlockPublicPolicy absent
    assert not rotate(function=OTHER_FN).allowed
    assert rotate(function=OTHER_FN, policies=(POLICY, ADMIN)).outcome is Outcome.EXPLICIT_DENY
    assert rotate(function=None, policies=(POLICY, ADMIN)).outcome is Outcome.EXPLICIT_DENY  # "rotate now"
    assert not keeper("lambda:InvokeFunction", OTHER_FN).allowed


@pytest.mark.parametrize("action", sorted({*KEEPER_DENIED_ACTIONS, *READ_ACTIONS}))
@pytest.mark.parametrize("resource", [RUNTIME, *ELSEWHERE[:2]])
def test_never_reads_writes_deletes_or_retags_a_secret(action, resource):
    assert keeper(action, resource, policies=(POLICY, ADMIN)).outcome is Outcome.EXPLICIT_DENY


def test_never_uses_a_key():
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    root = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }
    ctx = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
    decision = evaluate(
        Request(KEEPER, "kms:Decrypt", key, context=ctx), identity_policies=[POLICY, ADMIN], key_policy=root
    )
    assert decision.outcome is Outcome.EXPLICIT_DENY


def test_without_rotation_it_never_rotates():
    assert put_policy(policies=(NO_ROTATION,)).allowed
    assert rotate(policies=(NO_ROTATION, ADMIN)).outcome is Outcome.EXPLICIT_DENY
    assert not keeper("lambda:InvokeFunction", ROTATION_FN, policies=(NO_ROTATION,)).allowed


def test_the_boundary_lets_the_keeper_do_its_job_and_the_onboarding_identity_invoke_it():
    boundary = boundary_policy(ACCOUNT)
    tags = {"environment": ENV}

    def bounded(principal, action, resource, context=None, policies=(POLICY,)):
        return evaluate(
            Request(principal, action, resource, context=context or {}, principal_tags=tags),
            identity_policies=list(policies),
            boundary=boundary,
        ).allowed

    assert bounded(KEEPER, "secretsmanager:PutResourcePolicy", RUNTIME, {"secretsmanager:BlockPublicPolicy": True})
    assert bounded(KEEPER, "secretsmanager:RotateSecret", RUNTIME, {"secretsmanager:RotationLambdaARN": ROTATION_FN})
    assert bounded(KEEPER, "secretsmanager:GetResourcePolicy", RUNTIME)
    assert bounded(KEEPER, "secretsmanager:ListSecrets", "*")
    assert bounded(KEEPER, "lambda:InvokeFunction", ROTATION_FN)
    # a created onboarding role (carrying the boundary) may invoke its environment's keeper, not another's
    keeper_fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:makini-{ENV}-keeper"
    invoke = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    assert bounded(ONBOARDING, "lambda:InvokeFunction", keeper_fn, policies=(invoke,))
    assert not bounded(ONBOARDING, "lambda:InvokeFunction", keeper_fn.replace("-prod-", "-dev-"), policies=(invoke,))
    # the boundary is still no grant of policies elsewhere: another environment's secret
    other = ELSEWHERE[5]
    assert not bounded(
        KEEPER, "secretsmanager:PutResourcePolicy", other, {"secretsmanager:BlockPublicPolicy": True}, (ADMIN,)
    )


# --------------------------------------------------------------------------------------------------
# The run-time class's resource policy (what the keeper puts)

CLASS_POLICY = runtime_class_resource_policy(
    PREFIX,
    "linked",
    reader_arns=READERS,
    writer_arns=[ROTATION],
    creator_arns=[ONBOARDING],
    keeper_arn=KEEPER,
    deployer_arns=[DEPLOYER],
    production=True,
    recovery_window_days=30,
)


def on_secret(principal, action, context=None):
    """The resource policy's verdict alone, for a caller whose identity policy allows everything: an explicit
    deny is the resource policy's."""
    return evaluate(
        Request(principal, action, RUNTIME, context=context or {}),
        identity_policies=[ADMIN],
        resource_policy=CLASS_POLICY,
    )


def test_the_class_policy_lets_the_keeper_put_it_and_configure_rotation_only():
    assert on_secret(KEEPER, "secretsmanager:PutResourcePolicy").allowed
    assert on_secret(KEEPER, "secretsmanager:RotateSecret").allowed
    for action in ("secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:TagResource"):
        assert on_secret(KEEPER, action).outcome is Outcome.EXPLICIT_DENY, action
    for action in ("secretsmanager:DeleteResourcePolicy", "secretsmanager:DeleteSecret", "secretsmanager:UpdateSecret"):
        assert on_secret(KEEPER, action).outcome is Outcome.EXPLICIT_DENY, action


def test_the_class_policy_reads_are_the_class_readers_and_rotation_only():
    for reader in [*READERS, ROTATION]:
        assert on_secret(reader, "secretsmanager:GetSecretValue").allowed
    for other in (ONBOARDING, KEEPER, DEPLOYER, f"arn:aws:iam::{ACCOUNT}:role/Admin"):
        assert on_secret(other, "secretsmanager:GetSecretValue").outcome is Outcome.EXPLICIT_DENY, other
    # the onboarding identity schedules a disconnected customer's deletion (in production too), within the window
    assert on_secret(ONBOARDING, "secretsmanager:DeleteSecret", {"secretsmanager:RecoveryWindowInDays": 30}).allowed
    for context in ({"secretsmanager:RecoveryWindowInDays": 7}, {"secretsmanager:ForceDeleteWithoutRecovery": True}):
        assert on_secret(ONBOARDING, "secretsmanager:DeleteSecret", context).outcome is Outcome.EXPLICIT_DENY
    for action in ("secretsmanager:PutResourcePolicy", "secretsmanager:TagResource", "secretsmanager:PutSecretValue"):
        assert on_secret(ONBOARDING, action).outcome is Outcome.EXPLICIT_DENY, action
    # nobody else administers it: an admin role is denied putting another policy
    admin = f"arn:aws:iam::{ACCOUNT}:role/Admin"
    assert on_secret(admin, "secretsmanager:PutResourcePolicy").outcome is Outcome.EXPLICIT_DENY
    assert on_secret(admin, "secretsmanager:RotateSecret").outcome is Outcome.EXPLICIT_DENY


def test_the_settings_carry_the_documents_and_the_rotation():
    settings = keeper_settings(
        environment=ENV,
        policies={"linked": CLASS_POLICY},
        rotation_function_arn=ROTATION_FN,
        period_days=7,
        rotation_window="3h",
    )
    assert settings["secretNamePrefix"] == "makini/prod/connections/"
    assert settings["classes"]["linked"]["resourcePolicy"] == CLASS_POLICY
    assert settings["rotation"] == {"lambdaArn": ROTATION_FN, "rules": {"AutomaticallyAfterDays": 7, "Duration": "3h"}}
    with pytest.raises(ValueError):
        keeper_settings(
            environment=ENV, policies={}, rotation_function_arn=ROTATION_FN, period_days=None, rotation_window=None
        )


def test_the_builders_refuse_what_would_widen_them():
    with pytest.raises(ValueError):
        keeper_policy(
            partition="aws", region=REGION, account_id=ACCOUNT, environment=ENV, classes=[], rotation_function_arn=None
        )
    with pytest.raises(ValueError):
        keeper_policy(
            partition="aws",
            region=REGION,
            account_id=ACCOUNT,
            environment=ENV,
            classes=CLASSES,
            rotation_function_arn="arn:*",
        )
    with pytest.raises(ValueError):
        runtime_class_resource_policy(
            PREFIX, "linked", reader_arns=["*"], writer_arns=[], creator_arns=[ONBOARDING], keeper_arn=KEEPER
        )


def test_the_role_policy_is_small_and_parliament_finds_nothing():
    # ~3,000 characters with two classes, ~360 more per class: the limits model measures it (inline: 10,240)
    assert iam_policy_chars(POLICY) < 3500
    for doc in (POLICY, NO_ROTATION):
        findings = analyze_policy_string(json.dumps(doc), include_community_auditors=True).findings
        assert [(f.issue, f.detail) for f in findings] == []


def test_parliament_would_flag_a_keeper_that_reads_values():
    bad = json.loads(json.dumps(POLICY))
    bad["Statement"][0]["Action"] = "secretsmanager:*"
    bad["Statement"][0]["Resource"] = "*"
    assert analyze_policy_string(json.dumps(bad), include_community_auditors=True).findings
