"""The onboarding identity's AWS policy (issue 19), decided by the evaluator written from the IAM User Guide.

moto's IAM engine ignores conditions (tests/iam/README.md), and every rule here is a condition or a policy
variable: ``aws:RequestTag``, ``aws:TagKeys``, ``secretsmanager:KmsKeyArn``, ``secretsmanager:Name`` and the
connection id tag used as ``${aws:RequestTag/makini:connection-id}`` in ``Resource``. So the proof is the
evaluator's; tests/functions/onboarding/ runs the client against moto for what moto models (actions and
resources), and tests/program/test_onboarding_plan.py checks the deployed document is this one.
"""

from __future__ import annotations

import pytest

from components.aws.policies import onboarding_store_policy, secret_arn_prefix
from stacks.naming import runtime_tags
from tests.iam.aws_policy import Outcome, Policy, Request, evaluate

ACCOUNT = "111111111111"
REGION = "eu-west-1"
ENV = "prod"
PREFIX = secret_arn_prefix("aws", REGION, ACCOUNT, ENV)
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/ffffffff-12ab-34cd-56ef-1234567890ab"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/onboarding-prod"
WINDOW = 14  # the stack's recovery window (makini:aws.recoveryWindowDays)
POLICY = Policy.parse(
    onboarding_store_policy(
        KEY, REGION, prefix=PREFIX, environment=ENV, classes=["linked", "eu-linked"], recovery_window_days=WINDOW
    ),
    "onboard",
)


def arn(name: str, suffix: str = "-AbCdEf") -> str:
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}{suffix}"


def create(
    name: str = f"makini/{ENV}/connections/linked/29000207611898/token",
    tags: dict[str, str] | None = None,
    key: str | None = KEY,
    suffix: str = "-AbCdEf",
):
    tags = runtime_tags(ENV, "linked", "29000207611898") if tags is None else tags
    context: dict[str, object] = {"secretsmanager:Name": name}
    if key is not None:
        context["secretsmanager:KmsKeyArn"] = key
    out = []
    for action in ("secretsmanager:CreateSecret", "secretsmanager:TagResource"):
        ctx = dict(context) if action.endswith("CreateSecret") else {}
        request = Request(ROLE, action, arn(name, suffix), context=ctx, request_tags=tags)
        out.append(evaluate(request, identity_policies=[POLICY]))
    return out


def allowed(decisions) -> bool:
    return all(d.allowed for d in decisions)


@pytest.mark.parametrize("suffix", ["-AbCdEf", ""])
def test_creates_a_token_of_a_run_time_class_with_its_tags_and_the_environment_key(suffix):
    decisions = create(suffix=suffix)
    assert allowed(decisions), [d.reason for d in decisions]
    other = create(
        name=f"makini/{ENV}/connections/eu-linked/77/token", tags=runtime_tags(ENV, "eu-linked", "77"), suffix=suffix
    )
    assert allowed(other), [d.reason for d in other]


@pytest.mark.parametrize(
    ("why", "kwargs"),
    [
        ("another environment", dict(name="makini/dev/connections/linked/29000207611898/token")),
        ("a declared class", dict(name=f"makini/{ENV}/connections/standard/29000207611898/token")),
        ("an explicit-list token's place", dict(name=f"makini/{ENV}/connections/29000207611898/token")),
        ("outside connections/", dict(name=f"makini/{ENV}/oauth/client")),
        ("a deeper name", dict(name=f"makini/{ENV}/connections/linked/29000207611898/x/token")),
        ("not a token", dict(name=f"makini/{ENV}/connections/linked/29000207611898/m2m-key")),
        ("a name longer than token", dict(name=f"makini/{ENV}/connections/linked/29000207611898/tokenx")),
        ("the default key", dict(key=None)),
        ("another key", dict(key=OTHER_KEY)),
        ("no tags", dict(tags={})),
        ("an extra tag", dict(tags={**runtime_tags(ENV, "linked", "29000207611898"), "team": "x"})),
        ("another class's tag", dict(tags=runtime_tags(ENV, "eu-linked", "29000207611898"))),
        (
            "a declared class named in both name and tag",
            dict(
                name=f"makini/{ENV}/connections/standard/29000207611898/token",
                tags=runtime_tags(ENV, "standard", "29000207611898"),
            ),
        ),
        (
            "a wildcard class tag",
            dict(
                name=f"makini/{ENV}/connections/*/29000207611898/token", tags=runtime_tags(ENV, "*", "29000207611898")
            ),
        ),
        ("another environment's tag", dict(tags=runtime_tags("dev", "linked", "29000207611898"))),
        ("an id tag naming another connection", dict(tags=runtime_tags(ENV, "linked", "29000207611899"))),
        (
            "managed-by not the onboarding's",
            dict(tags={**runtime_tags(ENV, "linked", "29000207611898"), "managed-by": "makini-infra"}),
        ),
        (
            "no connection id tag",
            dict(tags={k: v for k, v in runtime_tags(ENV, "linked", "1").items() if k != "makini:connection-id"}),
        ),
        (
            "a wildcard id tag",
            dict(name=f"makini/{ENV}/connections/linked/*/token", tags=runtime_tags(ENV, "linked", "*")),
        ),
    ],
)
def test_refuses_a_create_outside_the_governed_place(why, kwargs):
    decisions = create(**kwargs)
    assert not allowed(decisions), why


def test_a_later_tag_change_can_only_repeat_the_values_that_bind_the_name():
    name = f"makini/{ENV}/connections/linked/29000207611898/token"

    def tag(tags):
        return evaluate(
            Request(ROLE, "secretsmanager:TagResource", arn(name), request_tags=tags), identity_policies=[POLICY]
        )

    assert tag(runtime_tags(ENV, "linked", "29000207611898")).allowed  # the same values: harmless
    assert not tag({"makini:connection-id": "29000207611899"}).allowed  # re-pointing at another customer
    assert not tag({"makini:class": "eu-linked"}).allowed
    assert not tag({"owner": "me"}).allowed


@pytest.mark.parametrize(
    "action",
    [
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:PutResourcePolicy",
        "secretsmanager:UntagResource",
        "secretsmanager:UpdateSecret",
        "secretsmanager:RotateSecret",
        "secretsmanager:RestoreSecret",
        "secretsmanager:CancelRotateSecret",
        "secretsmanager:UpdateSecretVersionStage",
        "secretsmanager:ReplicateSecretToRegions",
        "secretsmanager:RemoveRegionsFromReplication",
        "secretsmanager:StopReplicationToReplica",
        "secretsmanager:DeleteResourcePolicy",
        "secretsmanager:GetResourcePolicy",
    ],
)
def test_never_reads_or_manages_a_token_even_with_an_admin_policy_beside(action):
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    for name in (
        f"makini/{ENV}/connections/linked/29000207611898/token",
        f"makini/{ENV}/connections/standard/acme/token",
        f"makini/{ENV}/connections/acme/token",
    ):
        decision = evaluate(Request(ROLE, action, arn(name)), identity_policies=[POLICY, admin])
        assert decision.outcome is Outcome.EXPLICIT_DENY, (action, name)


def test_looks_up_only_run_time_tokens_of_its_environment():
    def describe(name):
        return evaluate(Request(ROLE, "secretsmanager:DescribeSecret", arn(name)), identity_policies=[POLICY]).allowed

    assert describe(f"makini/{ENV}/connections/linked/29000207611898/token")
    assert describe(f"makini/{ENV}/connections/eu-linked/1/token")
    assert not describe(f"makini/{ENV}/connections/standard/acme/token")
    assert not describe(f"makini/{ENV}/connections/acme/token")
    assert not describe("makini/dev/connections/linked/29000207611898/token")
    assert not describe(f"makini/{ENV}/webhook/secret")


def test_never_overwrites_a_token_it_created():
    """Create, never overwrite: no new value on an existing token (customer B's token at customer A's name, or a
    blank over every customer's), nor a re-staged old version, even with an admin policy beside."""
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    name = arn(f"makini/{ENV}/connections/linked/29000207611898/token")
    for action in (
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:UpdateSecretVersionStage",
    ):
        assert not evaluate(Request(ROLE, action, name), identity_policies=[POLICY]).allowed, action
        assert evaluate(Request(ROLE, action, name), identity_policies=[POLICY, admin]).outcome is Outcome.EXPLICIT_DENY


RUNTIME_TAGS = runtime_tags(ENV, "linked", "29000207611898")
DECLARED_TAGS = {"environment": ENV, "managed-by": "makini-infra"}  # what the deployer's secrets carry


def delete(name, *, window=WINDOW, force=None, tags=RUNTIME_TAGS, extra=()):
    context: dict[str, object] = {}
    if window is not None:
        context["secretsmanager:RecoveryWindowInDays"] = window
    if force is not None:
        context["secretsmanager:ForceDeleteWithoutRecovery"] = force
    request = Request(ROLE, "secretsmanager:DeleteSecret", arn(name), context=context, resource_tags=tags)
    return evaluate(request, identity_policies=[POLICY, *extra])


def test_schedules_deletion_of_a_run_time_token_within_the_recovery_window():
    token = f"makini/{ENV}/connections/linked/29000207611898/token"
    assert delete(token).allowed
    assert delete(token, window=30).allowed
    assert delete(f"makini/{ENV}/connections/eu-linked/77/token", tags=runtime_tags(ENV, "eu-linked", "77")).allowed
    assert delete(token, force=False).allowed
    # no window named: Secrets Manager's default, 30 days, the longest there is (the client always names one)
    assert delete(token, window=None).allowed


@pytest.mark.parametrize(
    ("why", "name", "kwargs"),
    [
        ("a shorter window than the stack's", None, dict(window=WINDOW - 1)),
        ("the shortest window", None, dict(window=7)),
        ("forced, without recovery", None, dict(window=None, force=True)),
        ("forced, with a window", None, dict(force=True)),
        ("not tagged a run-time token", None, dict(tags={})),
        (
            "a declared class's token carrying run-time tags",
            f"makini/{ENV}/connections/standard/acme/token",
            dict(tags=runtime_tags(ENV, "standard", "acme")),
        ),
        ("tagged by the deployer", None, dict(tags={**RUNTIME_TAGS, "managed-by": "makini-infra"})),
        ("a declared class's token", f"makini/{ENV}/connections/standard/acme/token", dict(tags=DECLARED_TAGS)),
        ("a declared explicit-list token", f"makini/{ENV}/connections/acme/token", dict(tags=DECLARED_TAGS)),
        ("the OAuth client", f"makini/{ENV}/oauth/client", dict(tags=DECLARED_TAGS)),
        (
            "another environment's run-time token",
            "makini/dev/connections/linked/29000207611898/token",
            dict(tags=runtime_tags("dev", "linked", "29000207611898")),
        ),
        ("a secret outside makini", "billing/db-password", dict(tags=DECLARED_TAGS)),
    ],
)
def test_never_deletes_outside_its_run_time_tokens_nor_without_recovery(why, name, kwargs):
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    name = name or f"makini/{ENV}/connections/linked/29000207611898/token"
    assert not delete(name, **kwargs).allowed, why
    # explicitly denied where the tag or the window says so: no other policy on the role widens it. By name only
    # (this policy's Allow): a declared token someone tagged as a run-time one, another environment's run-time
    # token (as for reads: the explicit denies cover the environment's own prefix)
    if "carrying run-time tags" not in why and "another environment" not in why:
        assert delete(name, extra=[admin], **kwargs).outcome is Outcome.EXPLICIT_DENY, why


def test_uses_the_key_only_through_secrets_manager_for_run_time_tokens():
    def kms(action, secret, via=f"secretsmanager.{REGION}.amazonaws.com"):
        ctx = {"kms:ViaService": via, "kms:EncryptionContext:SecretARN": secret, "kms:CallerAccount": ACCOUNT}
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
        return evaluate(Request(ROLE, action, KEY, context=ctx), identity_policies=[POLICY], key_policy=root).allowed

    token = arn(f"makini/{ENV}/connections/linked/29000207611898/token")
    assert kms("kms:GenerateDataKey", token) and kms("kms:Decrypt", token)
    assert not kms("kms:GenerateDataKey", arn(f"makini/{ENV}/connections/standard/a/token"))
    assert not kms("kms:Decrypt", arn("makini/dev/connections/linked/1/token"))
    assert not kms("kms:Decrypt", token, via="s3.eu-west-1.amazonaws.com")
    assert not kms("kms:Encrypt", token)


def test_a_run_time_class_adds_only_its_patterns_to_the_document():
    from stacks.limits import iam_policy_chars

    def size(n):
        classes = [f"class-{i:02d}" for i in range(n)]
        return iam_policy_chars(
            onboarding_store_policy(
                KEY, REGION, prefix=PREFIX, environment=ENV, classes=classes, recovery_window_days=WINDOW
            )
        )

    # a class adds its name to the tag's allowed values and its two ARN patterns (update/look up, KMS context),
    # never a statement: ~200 characters, so a dozen run-time classes fit in 6,144 (the limits model refuses more)
    assert size(10) - size(1) < 9 * 220
    assert size(12) < 6144


def test_the_builder_refuses_what_would_widen_it():
    with pytest.raises(ValueError):
        onboarding_store_policy(KEY, REGION, prefix=PREFIX, environment=ENV, classes=[], recovery_window_days=7)
    with pytest.raises(ValueError):
        onboarding_store_policy(
            KEY, REGION, prefix=PREFIX + "*", environment=ENV, classes=["linked"], recovery_window_days=7
        )
    for days in (0, 6, 31):
        with pytest.raises(ValueError, match="recovery window"):
            onboarding_store_policy(
                KEY, REGION, prefix=PREFIX, environment=ENV, classes=["l"], recovery_window_days=days
            )


def test_moto_refuses_an_overwrite_and_a_read_too():
    """Where moto evaluates (actions and resources; it ignores conditions, tests/iam/README.md): the statements
    that keep the onboarding identity from overwriting or reading a token carry no condition, so moto's IAM
    engine, driven with the deployed document, refuses them as well."""
    from tests.iam.test_aws_moto_differential import moto_allows

    doc = onboarding_store_policy(
        KEY, REGION, prefix=PREFIX, environment=ENV, classes=["linked", "eu-linked"], recovery_window_days=WINDOW
    )
    token = arn(f"makini/{ENV}/connections/linked/29000207611898/token")
    for action in (
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:RestoreSecret",
    ):
        assert not moto_allows([doc], action, token), action
    assert moto_allows([doc], "secretsmanager:DescribeSecret", token)  # the harness answers both ways
