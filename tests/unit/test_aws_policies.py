"""The AWS policy documents of a secret store, decided by the independent IAM evaluator (tests/iam).

Each test states who may do what with a secret or the key, and asks ``tests.iam.aws_policy.evaluate`` (written
from the IAM User Guide, not from the builders) for the verdict. These are the behaviours the mutation run
(bench/mutation.py) found unguarded: a resource policy whose read statement denies nothing, a wildcard ARN
slipping into a consumer's policy, a key usable outside Secrets Manager.
"""

from __future__ import annotations

import pytest

from components.aws.policies import (
    CONSUMER_ACTIONS,
    KEY_ADMIN_ACTIONS,
    QUEUE_CONSUMER_ACTIONS,
    READ_ACTIONS,
    WRITE_ACTIONS,
    caller_principal_arn,
    class_token_pattern,
    consumer_read_policy,
    kms_key_policy,
    lambda_trust_policy,
    role_name_from_arn,
    secret_arn_prefix,
    secret_resource_policy,
    token_pattern,
)
from tests.iam.aws_policy import Outcome, Request, evaluate

ACCOUNT = "111122223333"
REGION = "eu-west-1"
PREFIX = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/prod/"
SECRET = PREFIX + "webhook/secret-AbCdEf"
OTHER_SECRET = PREFIX + "client/secret-GhIjKl"
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:makini-prod-webhooks"


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


READER, WRITER, OPERATOR, DEPLOYER, STRANGER = (role(n) for n in ("reader", "writer", "operator", "deploy", "admin"))
#: An administrator's identity policy: everything on every secret. Only the resource policy can stop it.
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def on_secret(principal: str, action: str, policy: dict, *, tls: bool = True):
    request = Request(principal=principal, action=action, resource=SECRET, secure_transport=tls)
    return evaluate(request, identity_policies=[ADMIN], resource_policy=policy)


def test_the_action_tables_name_what_they_guard():
    assert READ_ACTIONS == ("secretsmanager:GetSecretValue",)
    assert set(WRITE_ACTIONS) >= {"secretsmanager:PutSecretValue", "secretsmanager:UpdateSecret"}
    assert "secretsmanager:GetSecretValue" in CONSUMER_ACTIONS


def test_only_readers_and_writers_read_a_secret_whatever_their_identity_policies_say():
    policy = secret_resource_policy(SECRET, [READER], [WRITER], [OPERATOR], [DEPLOYER])
    assert on_secret(READER, "secretsmanager:GetSecretValue", policy).allowed
    assert on_secret(WRITER, "secretsmanager:GetSecretValue", policy).allowed  # rotation reads what it rotates
    for outsider in (OPERATOR, DEPLOYER, STRANGER):
        decision = on_secret(outsider, "secretsmanager:GetSecretValue", policy)
        assert decision.outcome is Outcome.EXPLICIT_DENY, (outsider, decision)
        assert "DenyReadOutsideEnvironment" in str(decision.statements)


def test_with_no_reader_at_all_every_read_is_denied():
    policy = secret_resource_policy(SECRET, [], [])
    for principal in (READER, STRANGER, f"arn:aws:iam::{ACCOUNT}:root"):
        assert on_secret(principal, "secretsmanager:GetSecretValue", policy).outcome is Outcome.EXPLICIT_DENY
    for action in WRITE_ACTIONS:
        assert on_secret(DEPLOYER, action, policy).outcome is Outcome.EXPLICIT_DENY


@pytest.mark.parametrize("action", WRITE_ACTIONS)
def test_only_writers_operators_and_deployers_put_a_value_in_place(action):
    policy = secret_resource_policy(SECRET, [READER], [WRITER], [OPERATOR], [DEPLOYER])
    for insider in (WRITER, OPERATOR, DEPLOYER):
        assert on_secret(insider, action, policy).allowed, (insider, action)
    for outsider in (READER, STRANGER):
        assert on_secret(outsider, action, policy).outcome is Outcome.EXPLICIT_DENY, (outsider, action)


def test_management_stays_with_iam_and_plain_http_is_refused_to_everyone():
    policy = secret_resource_policy(SECRET, [READER], [WRITER])
    assert on_secret(STRANGER, "secretsmanager:DescribeSecret", policy).allowed  # metadata stays with IAM
    # the policy itself, tags and a restore are the deployers' (none named here: nobody's)
    decision = on_secret(STRANGER, "secretsmanager:PutResourcePolicy", policy)
    assert decision.outcome is Outcome.EXPLICIT_DENY
    assert "DenyAdministrationOutsideDeployers" in str(decision.statements)
    with_deployer = secret_resource_policy(SECRET, [READER], [WRITER], deployer_arns=[DEPLOYER])
    assert on_secret(DEPLOYER, "secretsmanager:PutResourcePolicy", with_deployer).allowed
    for principal in (READER, WRITER):
        decision = on_secret(principal, "secretsmanager:GetSecretValue", policy, tls=False)
        assert decision.outcome is Outcome.EXPLICIT_DENY
        assert "DenyInsecureTransport" in str(decision.statements)


def test_the_allowed_principals_are_listed_once_and_in_order():
    policy = secret_resource_policy(SECRET, [WRITER, READER, READER], [WRITER])
    read = next(s for s in policy["Statement"] if s["Sid"] == "DenyReadOutsideEnvironment")
    assert read["Condition"] == {"StringNotEquals": {"aws:PrincipalArn": sorted({READER, WRITER})}}
    assert read["Principal"] == {"AWS": "*"} and read["Effect"] == "Deny" and read["Resource"] == "*"
    assert policy["Version"] == "2012-10-17"


# --- consumer identity policies --------------------------------------------------------------------------


def consumer(policy: dict, action: str, resource: str, **context):
    return evaluate(
        Request(principal=READER, action=action, resource=resource, context=context), identity_policies=[policy]
    )


@pytest.mark.parametrize(
    ("secrets", "key"),
    [
        ([PREFIX + "connections/*/token-AbCdEf"], KEY),
        ([PREFIX + "webhook/secret-??????"], KEY),
        ([SECRET], f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"),
        ([SECRET], f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-????"),
    ],
)
def test_a_wildcard_arn_never_reaches_a_consumer_policy(secrets, key):
    with pytest.raises(ValueError, match="exact"):
        consumer_read_policy(secrets, key, REGION, prefix=PREFIX)


@pytest.mark.parametrize(
    ("secrets", "prefix"),
    [
        ([SECRET], PREFIX.rstrip("/")),  # "makini/prod" would also cover "makini/production/..."
        ([SECRET], PREFIX + "*/"),
        ([f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/webhook/secret-AbCdEf"], PREFIX),
    ],
)
def test_every_secret_must_lie_in_the_environments_prefix(secrets, prefix):
    with pytest.raises(ValueError, match="prefix"):
        consumer_read_policy(secrets, KEY, REGION, prefix=prefix)


def test_a_consumer_reads_exactly_its_secrets_and_decrypts_only_through_secrets_manager():
    policy = consumer_read_policy([SECRET, SECRET], KEY, REGION, prefix=PREFIX)
    for action in CONSUMER_ACTIONS:
        assert consumer(policy, action, SECRET).allowed
    assert not consumer(policy, "secretsmanager:GetSecretValue", OTHER_SECRET).allowed
    assert not consumer(policy, "secretsmanager:PutSecretValue", SECRET).allowed
    via = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com", "kms:EncryptionContext:SecretARN": SECRET}
    key_policy = kms_key_policy("aws", ACCOUNT, REGION, [], [])  # the account delegates to IAM
    decrypt = Request(principal=READER, action="kms:Decrypt", resource=KEY, context=via)
    assert evaluate(decrypt, identity_policies=[policy], key_policy=key_policy).allowed
    for wrong in (
        {**via, "kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"},
        {**via, "kms:ViaService": f"s3.{REGION}.amazonaws.com"},
        {**via, "kms:EncryptionContext:SecretARN": SECRET.replace("/prod/", "/dev/")},
    ):
        request = Request(principal=READER, action="kms:Decrypt", resource=KEY, context=wrong)
        assert not evaluate(request, identity_policies=[policy], key_policy=key_policy).allowed, wrong
    assert policy["Statement"][0]["Resource"] == [SECRET]  # listed once
    assert "sqs:ReceiveMessage" not in str(policy)


def test_a_consumer_reads_the_tokens_of_its_classes_and_no_other_class():
    policy = consumer_read_policy([], KEY, REGION, prefix=PREFIX, classes=["plants", "plants"])
    mine, theirs = PREFIX + "connections/plants/acme/token-AbCdEf", PREFIX + "connections/fleet/acme/token-AbCdEf"
    assert consumer(policy, "secretsmanager:GetSecretValue", mine).allowed
    assert not consumer(policy, "secretsmanager:GetSecretValue", theirs).allowed
    assert not consumer(
        policy, "secretsmanager:GetSecretValue", PREFIX + "connections/plants/acme/m2m-key-AbCdEf"
    ).allowed
    assert policy["Statement"][0]["Resource"] == [class_token_pattern(PREFIX, "plants")]


def test_a_consumer_with_nothing_to_read_gets_no_statement():
    assert consumer_read_policy([], KEY, REGION, prefix=PREFIX) == {"Version": "2012-10-17", "Statement": []}


def test_a_queue_consumer_receives_and_deletes_on_its_queue_only():
    policy = consumer_read_policy([], KEY, REGION, QUEUE, prefix=PREFIX)
    for action in QUEUE_CONSUMER_ACTIONS:
        assert consumer(policy, action, QUEUE).allowed
    assert not consumer(policy, "sqs:SendMessage", QUEUE).allowed
    assert not consumer(policy, "sqs:ReceiveMessage", QUEUE + "-other").allowed
    key_policy = kms_key_policy("aws", ACCOUNT, REGION, [], [])
    via_sqs = Request(
        principal=READER, action="kms:Decrypt", resource=KEY, context={"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}
    )
    assert evaluate(via_sqs, identity_policies=[policy], key_policy=key_policy).allowed
    direct = Request(principal=READER, action="kms:Decrypt", resource=KEY)
    assert not evaluate(direct, identity_policies=[policy], key_policy=key_policy).allowed


# --- the key policy ----------------------------------------------------------------------------------------


def on_key(principal: str, action: str, policy: dict, **context):
    return evaluate(Request(principal=principal, action=action, resource=KEY, context=context), key_policy=policy)


def test_key_administrators_manage_the_key_and_cannot_use_it():
    policy = kms_key_policy("aws", ACCOUNT, REGION, [STRANGER, STRANGER], [READER])
    for action in KEY_ADMIN_ACTIONS:
        assert on_key(STRANGER, action, policy).allowed, action
    assert not on_key(STRANGER, "kms:Decrypt", policy, **{"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"})
    admin = next(s for s in policy["Statement"] if s["Sid"] == "KeyAdministration")
    assert admin["Principal"] == {"AWS": [STRANGER]}


def test_key_users_decrypt_only_through_secrets_manager_in_this_region_and_account():
    policy = kms_key_policy("aws", ACCOUNT, REGION, [], [READER, READER])
    good = {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com", "kms:CallerAccount": ACCOUNT}
    for action in ("kms:Decrypt", "kms:GenerateDataKey"):
        assert on_key(READER, action, policy, **good).allowed
    assert not on_key(READER, "kms:Decrypt", policy, **{**good, "kms:ViaService": f"s3.{REGION}.amazonaws.com"})
    assert not on_key(READER, "kms:Decrypt", policy, **{**good, "kms:CallerAccount": "444455556666"})
    assert not on_key(READER, "kms:ScheduleKeyDeletion", policy)
    assert not on_key(STRANGER, "kms:Decrypt", policy, **good)
    assert [s["Sid"] for s in policy["Statement"]] == ["AccountRootControl", "UseThroughSecretsManagerOnly"]


def test_the_account_root_keeps_control_of_the_key_in_its_partition():
    policy = kms_key_policy("aws-us-gov", ACCOUNT, REGION, [], [])
    assert policy == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountRootControl",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws-us-gov:iam::{ACCOUNT}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ],
    }


# --- small helpers -------------------------------------------------------------------------------------------


def test_only_lambda_assumes_a_function_role():
    trust = lambda_trust_policy("LambdaAssume")
    assert evaluate(
        Request(principal="lambda.amazonaws.com", action="sts:AssumeRole", resource=role("fn")), resource_policy=trust
    ).allowed
    assert not evaluate(
        Request(principal=STRANGER, action="sts:AssumeRole", resource=role("fn")),
        identity_policies=[ADMIN],
        resource_policy=trust,
    ).allowed
    assert trust["Statement"][0]["Sid"] == "LambdaAssume"


def test_patterns_and_prefixes():
    assert secret_arn_prefix("aws", REGION, ACCOUNT, "prod") == PREFIX
    assert token_pattern(PREFIX) == PREFIX + "connections/*/token-*"
    assert class_token_pattern(PREFIX, "plants") == PREFIX + "connections/plants/*/token-*"


@pytest.mark.parametrize(
    ("arn", "name"),
    [(role("orders-api"), "orders-api"), (f"arn:aws:iam::{ACCOUNT}:role/team/a/orders-api", "orders-api")],
)
def test_role_name_from_arn(arn, name):
    assert role_name_from_arn(arn) == name


@pytest.mark.parametrize("arn", [f"arn:aws:iam::{ACCOUNT}:user/alice", "orders-api", "arn:aws:iam::1:rolex/a"])
def test_role_name_from_arn_refuses_what_is_not_a_role(arn):
    with pytest.raises(ValueError, match="not an IAM role ARN"):
        role_name_from_arn(arn)


@pytest.mark.parametrize(
    "caller",
    [
        f"arn:aws:iam::{ACCOUNT}:role/deploy",  # a role is never the caller: its session is
        f"arn:aws:iam::{ACCOUNT}:group/admins",
        f"arn:aws:sts::{ACCOUNT}:role/deploy",
        f"urn:aws:sts::{ACCOUNT}:assumed-role/deploy/s",
        f"arn:aws:sts::{ACCOUNT}",
    ],
)
def test_caller_principal_arn_is_none_when_not_derivable(caller):
    assert caller_principal_arn(caller) is None


@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        (f"arn:aws:sts::{ACCOUNT}:assumed-role/deploy/gh-run-42", f"arn:aws:iam::{ACCOUNT}:role/deploy"),
        (f"arn:aws-cn:sts::{ACCOUNT}:assumed-role/deploy/s", f"arn:aws-cn:iam::{ACCOUNT}:role/deploy"),
        (f"arn:aws:iam::{ACCOUNT}:user/alice", f"arn:aws:iam::{ACCOUNT}:user/alice"),
        (f"arn:aws:iam::{ACCOUNT}:user/ops/alice", f"arn:aws:iam::{ACCOUNT}:user/ops/alice"),
        (f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT}:root"),
    ],
)
def test_caller_principal_arn_of_sessions_users_and_the_root(caller, principal):
    assert caller_principal_arn(caller) == principal


@pytest.mark.parametrize(
    "caller",
    [
        f"arn:aws:iam::{ACCOUNT}:assumed-role/deploy/s",  # only STS issues sessions
        f"arn:aws:sts::{ACCOUNT}:user/alice",
        f"arn:aws:sts::{ACCOUNT}:root",
        f"arn:aws:iam::{ACCOUNT}:rootx",
        f"arn:aws:iam::{ACCOUNT}:users/alice",
    ],
)
def test_caller_principal_arn_needs_the_right_service_for_each_kind(caller):
    assert caller_principal_arn(caller) is None


# --- the exact documents AWS receives (what the plan shows a reviewer) ---------------------------------------


def test_the_secret_resource_policy_document():
    # Every statement applies to the secret the policy is attached to ("*" in a resource policy);
    # no break-glass principal is named, so nobody may delete without recovery or replicate.
    def deny(sid: str, actions: list[str], allowed: list[str] | None = None) -> dict:
        statement = {"Sid": sid, "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": actions, "Resource": "*"}
        if allowed is not None:
            statement["Condition"] = {"StringNotEquals": {"aws:PrincipalArn": allowed}}
        return statement

    assert secret_resource_policy(SECRET, [READER], [WRITER], [OPERATOR], [DEPLOYER]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "secretsmanager:*",
                "Resource": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            deny("DenyReadOutsideEnvironment", ["secretsmanager:GetSecretValue"], [READER, WRITER]),
            deny(
                "DenyWriteOutsideWriters",
                [
                    "secretsmanager:CancelRotateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:RotateSecret",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                sorted([WRITER, OPERATOR, DEPLOYER]),
            ),
            deny(
                "DenyAdministrationOutsideDeployers",
                [
                    "secretsmanager:DeleteResourcePolicy",
                    "secretsmanager:PutResourcePolicy",
                    "secretsmanager:RestoreSecret",
                    "secretsmanager:TagResource",
                    "secretsmanager:UntagResource",
                ],
                [DEPLOYER],
            ),
            deny("DenyDeletionOutsideDeployers", ["secretsmanager:DeleteSecret"], [DEPLOYER]),
            {
                "Sid": "DenyDeletionWithoutRecovery",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": ["secretsmanager:DeleteSecret"],
                "Resource": "*",
                "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
            },
            deny(
                "DenyReplicationOutsideBreakGlass",
                [
                    "secretsmanager:RemoveRegionsFromReplication",
                    "secretsmanager:ReplicateSecretToRegions",
                    "secretsmanager:StopReplicationToReplica",
                ],
            ),
        ],
    }


def test_the_consumer_policy_document():
    via_sm = f"secretsmanager.{REGION}.amazonaws.com"
    assert consumer_read_policy([SECRET], KEY, REGION, QUEUE, prefix=PREFIX, classes=["plants"]) == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadOwnSecrets",
                "Effect": "Allow",
                "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
                "Resource": [SECRET, PREFIX + "connections/plants/*/token-*"],
            },
            {
                "Sid": "DecryptThroughSecretsManager",
                "Effect": "Allow",
                "Action": ["kms:Decrypt"],
                "Resource": KEY,
                "Condition": {
                    "StringEquals": {"kms:ViaService": via_sm},
                    "StringLike": {"kms:EncryptionContext:SecretARN": PREFIX + "*"},
                },
            },
            {
                "Sid": "ConsumeWebhookQueue",
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ],
                "Resource": QUEUE,
            },
            {
                "Sid": "DecryptWebhookQueueThroughSqs",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": KEY,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"}},
            },
        ],
    }


def test_the_key_policy_document():
    policy = kms_key_policy("aws", ACCOUNT, REGION, [STRANGER], [READER])
    assert policy["Statement"][1:] == [
        {
            "Sid": "KeyAdministration",
            "Effect": "Allow",
            "Principal": {"AWS": [STRANGER]},
            "Action": [  # manage, never use (no Decrypt, Encrypt, GenerateDataKey, ReEncrypt, CreateGrant)
                "kms:CancelKeyDeletion",
                "kms:CreateAlias",
                "kms:DeleteAlias",
                "kms:DescribeKey",
                "kms:DisableKey",
                "kms:DisableKeyRotation",
                "kms:EnableKey",
                "kms:EnableKeyRotation",
                "kms:GetKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:ListResourceTags",
                "kms:PutKeyPolicy",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:UpdateAlias",
                "kms:UpdateKeyDescription",
            ],
            "Resource": "*",
        },
        {
            "Sid": "UseThroughSecretsManagerOnly",
            "Effect": "Allow",
            "Principal": {"AWS": [READER]},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
                    "kms:CallerAccount": ACCOUNT,
                }
            },
        },
    ]


def test_the_lambda_trust_policy_document():
    assert lambda_trust_policy("LambdaAssume") == {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "LambdaAssume",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def test_a_consumer_policy_refusal_names_the_rule():
    with pytest.raises(ValueError) as raised:
        consumer_read_policy([PREFIX + "x-*"], KEY, REGION, prefix=PREFIX)
    assert str(raised.value) == "secret and key ARNs must be exact (no wildcards)"
    with pytest.raises(ValueError) as raised:
        # only class patterns, under a prefix that would span every environment
        consumer_read_policy([], KEY, REGION, prefix=PREFIX.replace("/prod/", "/*/"), classes=["plants"])
    assert (
        str(raised.value) == f"every secret ARN must be in the environment's prefix {PREFIX.replace('/prod/', '/*/')!r}"
    )
