"""The keeper against moto (in process): run-time secrets created as the onboarding identity creates them (the
onboarding client's own AwsPlace: tags, the environment's KMS key) get exactly their class's resource policy and
rotation with the environment's function; nothing else is touched; a second sweep changes nothing; ListSecrets is
paginated; a run's budget is bounded; no value is ever read.

moto runs a rotation function's ``testSecret`` step on ``RotateSecret(RotateImmediately=false)`` as AWS does; the
function here is a moto Lambda without Docker (``use_docker: False``: its invocation returns a canned answer), so
what is checked is that the keeper configures rotation with the right ARN and rules, not the rotator itself.
"""

from __future__ import annotations

import io
import json
import time
import uuid
import zipfile
from typing import Any

import boto3
import pytest
from moto import mock_aws

from components.aws.keeper_policies import keeper_settings, runtime_class_resource_policy
from components.aws.policies import secret_arn_prefix
from functions.keeper import aws_lambda
from functions.keeper.governance import CONNECTION_ID, Keeper, KeeperFailed, Settings, name_in
from functions.onboarding.stores import AwsPlace
from stacks import naming

REGION = "eu-west-1"
ACCOUNT = "123456789012"
ENV = "dev"
PREFIX = secret_arn_prefix("aws", REGION, ACCOUNT, ENV)


def role(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


KEEPER_ROLE = role("makini-dev-keeper")


def class_policy(access_class: str, readers: list[str]) -> dict[str, Any]:
    return runtime_class_resource_policy(
        PREFIX,
        access_class,
        reader_arns=[role(r) for r in readers],
        writer_arns=[role("makini-dev-rotation")],
        creator_arns=[role("onboarding-dev")],
        keeper_arn=KEEPER_ROLE,
        deployer_arns=[role("deploy")],
        recovery_window_days=7,
    )


POLICIES = {"linked": class_policy("linked", ["orders", "assets"]), "eu-linked": class_policy("eu-linked", ["eu"])}


@pytest.fixture
def aws():
    with mock_aws(config={"lambda": {"use_docker": False}}):
        sm = boto3.client("secretsmanager", region_name=REGION)
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        iam = boto3.client("iam", region_name=REGION)
        lambda_role = iam.create_role(RoleName="makini-dev-rotation", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as z:
            z.writestr("rotation/aws_lambda.py", "def handler(event, context):\n    return None\n")
        function = boto3.client("lambda", region_name=REGION).create_function(
            FunctionName="makini-dev-rotation",
            Runtime="python3.13",
            Role=lambda_role,
            Handler="rotation.aws_lambda.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        settings = Settings.from_document(
            keeper_settings(
                environment=ENV, policies=POLICIES, rotation_function_arn=function, period_days=30, rotation_window=None
            )
        )
        yield sm, key, function, settings


class Recording:
    """A Secrets Manager client that records every operation and refuses value reads (the keeper never reads)."""

    def __init__(self, client: Any, fail_on: str | None = None):
        self.client, self.operations, self.fail_on = client, [], fail_on

    def __getattr__(self, name: str) -> Any:
        if name in {"get_secret_value", "batch_get_secret_value"}:
            raise AssertionError(f"the keeper read a value ({name})")
        attr = getattr(self.client, name)
        if not callable(attr) or name == "get_paginator":
            if name == "get_paginator":
                self.operations.append("list_secrets")
            return attr

        def call(**kwargs: Any) -> Any:
            self.operations.append(name)
            if self.fail_on is not None and self.fail_on in str(kwargs.get("SecretId", "")) and name.startswith("put"):
                raise RuntimeError("refused")
            return attr(**kwargs)

        return call


def onboard(sm: Any, key: str, access_class: str, connection_id: str) -> str:
    """Store a token exactly as the onboarding client does; the secret's ARN."""
    AwsPlace(sm, ENV, key).store(
        access_class, connection_id, json.dumps({"token": "t", "connection_id": "c"}), str(uuid.uuid4())
    )
    return sm.describe_secret(
        SecretId=naming.aws_secret_name(ENV, f"connections/{access_class}/{connection_id}/token")
    )["ARN"]


def policy_of(sm: Any, secret_id: str) -> dict[str, Any] | None:
    raw = sm.get_resource_policy(SecretId=secret_id).get("ResourcePolicy")
    return json.loads(raw) if raw else None


def assert_kept(sm: Any, arn: str, access_class: str, function: str) -> None:
    assert policy_of(sm, arn) == POLICIES[access_class]
    described = sm.describe_secret(SecretId=arn)
    assert described["RotationEnabled"] is True
    assert described["RotationLambdaARN"] == function
    assert described["RotationRules"]["AutomaticallyAfterDays"] == 30


def assert_untouched(sm: Any, secret_id: str) -> None:
    assert policy_of(sm, secret_id) is None, secret_id
    assert not sm.describe_secret(SecretId=secret_id).get("RotationEnabled"), secret_id


#: Names the keeper must never touch, created beside the run-time tokens.
OUTSIDE = [
    "makini/dev/oauth/client",
    "makini/dev/connections/linked/29000207611898/x/token",  # a deeper name
    "makini/dev/connections/linked/*/token",  # a wildcard id
    "makini/dev/connections/linked/ABC/token",  # not a connection id (the name filter ignores case)
    "makini/dev/connections/LINKED/abc/token",
    "makini/dev/connections/linked/abc/tokenx",
    "makini/dev/connections/linked/abc/m2m-key",
    "makini/dev/connections/standard/acme/token",  # a declared class
    "makini/dev/connections/acme/token",  # an explicit-list token
    "makini/prod/connections/linked/29000207611898/token",  # another environment
    "makini/dev2/connections/linked/29000207611898/token",
]


def create_outside(sm: Any, key: str) -> None:
    for name in OUTSIDE:
        sm.create_secret(Name=name, KmsKeyId=key, SecretString="{}")


def test_a_secret_created_by_the_onboarding_identity_gets_its_class_policy_and_rotation(aws):
    sm, key, function, settings = aws
    arn = onboard(sm, key, "linked", "29000207611898")
    assert_untouched(sm, arn)  # what issue 19 left: no policy, no rotation
    recording = Recording(sm)
    result = Keeper(recording, settings).keep(arn)
    assert result["policies_put"] == 1 and result["rotations_enabled"] == 1
    assert_kept(sm, arn, "linked", function)
    assert set(recording.operations) == {
        "describe_secret",
        "get_resource_policy",
        "put_resource_policy",
        "rotate_secret",
    }
    # by name too, and idempotent: the second call only looks
    recording.operations.clear()
    again = Keeper(recording, settings).keep(naming.aws_secret_name(ENV, "connections/linked/29000207611898/token"))
    assert (again["policies_put"], again["rotations_enabled"]) == (0, 0)
    assert set(recording.operations) == {"describe_secret", "get_resource_policy"}


@pytest.mark.parametrize("name", OUTSIDE)
def test_a_direct_invoke_touches_nothing_outside_the_run_time_classes(aws, name):
    sm, key, _, settings = aws
    create_outside(sm, key)
    arn = sm.describe_secret(SecretId=name)["ARN"]
    for secret_id in (name, arn):
        result = Keeper(Recording(sm), settings).keep(secret_id)
        assert "ignored" in result, secret_id
    assert_untouched(sm, name)


@pytest.mark.parametrize(
    "event",
    [{}, {"secretId": None}, {"secretId": 5}, {"secretId": "x" * 5000}, {"secretId": "a", "policy": "{}"}, [], "x"],
)
def test_the_handler_ignores_any_other_event(aws, monkeypatch, event):
    sm, key, _, settings = aws
    arn = onboard(sm, key, "linked", "1")
    monkeypatch.setattr(aws_lambda, "_keeper", Keeper(Recording(sm), settings))
    assert "ignored" in aws_lambda.handler(event, None)
    assert_untouched(sm, arn)


def test_the_handler_keeps_on_a_direct_invoke_and_sweeps_on_the_schedule(aws, monkeypatch, tmp_path):
    sm, key, function, settings = aws
    monkeypatch.setattr(aws_lambda, "_keeper", Keeper(sm, settings))
    first, second = onboard(sm, key, "linked", "1"), onboard(sm, key, "eu-linked", "2")
    aws_lambda.handler({"secretId": first}, None)
    assert_kept(sm, first, "linked", function)
    assert_untouched(sm, second)
    report = aws_lambda.handler({"source": "aws.events", "detail-type": "Scheduled Event", "time": "x"}, None)
    assert report["policies_put"] == 1 and report["rotations_enabled"] == 1
    assert_kept(sm, second, "eu-linked", function)


def test_the_settings_are_read_from_the_package(tmp_path, monkeypatch):
    doc = keeper_settings(
        environment=ENV, policies=POLICIES, rotation_function_arn=None, period_days=None, rotation_window=None
    )
    path = tmp_path / "settings.json"
    path.write_text(json.dumps(doc))
    monkeypatch.setattr(aws_lambda, "SETTINGS_FILE", path)
    monkeypatch.setattr(aws_lambda, "_keeper", None)
    monkeypatch.setattr(aws_lambda, "_client", lambda: object())
    keeper = aws_lambda.keeper()
    assert keeper.settings.policies["linked"] == POLICIES["linked"]
    assert keeper.settings.rotation_arn is None


def test_a_sweep_keeps_every_run_time_secret_and_nothing_else_then_changes_nothing(aws):
    sm, key, function, settings = aws
    create_outside(sm, key)
    arns = {onboard(sm, key, "linked", f"c{i}"): "linked" for i in range(3)}
    arns.update({onboard(sm, key, "eu-linked", f"e{i}"): "eu-linked" for i in range(2)})
    report = Keeper(Recording(sm), settings).sweep(now=0, remaining_seconds=lambda: 900)
    assert (report["policies_put"], report["rotations_enabled"], report["failed"]) == (5, 5, 0)
    # the name filter is a prefix match that ignores case: the near misses were listed, then ignored
    assert report["ignored"] >= 2
    for arn, access_class in arns.items():
        assert_kept(sm, arn, access_class, function)
    for name in OUTSIDE:
        assert_untouched(sm, name)
    recording = Recording(sm)
    again = Keeper(recording, settings).sweep(now=0, remaining_seconds=lambda: 900)
    assert (again["policies_put"], again["rotations_enabled"]) == (0, 0)
    assert set(recording.operations) == {"list_secrets", "get_resource_policy"}


def test_a_changed_class_document_is_put_again_and_rotation_follows_the_settings(aws):
    sm, key, function, settings = aws
    arn = onboard(sm, key, "linked", "1")
    Keeper(sm, settings).keep(arn)
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps({"Version": "2012-10-17", "Statement": []}))
    sm.rotate_secret(
        SecretId=arn, RotationLambdaARN=function, RotationRules={"AutomaticallyAfterDays": 5}, RotateImmediately=False
    )
    report = Keeper(sm, settings).sweep(now=0, remaining_seconds=lambda: 900)
    assert (report["policies_put"], report["rotations_enabled"]) == (1, 1)
    assert_kept(sm, arn, "linked", function)


def test_without_rotation_the_keeper_puts_policies_only(aws):
    sm, key, _, settings = aws
    plain = Settings(environment=ENV, prefix=settings.prefix, policies=settings.policies)
    arn = onboard(sm, key, "linked", "1")
    recording = Recording(sm)
    Keeper(recording, plain).keep(arn)
    assert policy_of(sm, arn) == POLICIES["linked"]
    assert "rotate_secret" not in recording.operations
    assert not sm.describe_secret(SecretId=arn).get("RotationEnabled")


def test_list_secrets_is_paginated_past_a_hundred(aws):
    sm, key, function, settings = aws
    arns = [onboard(sm, key, "linked", f"c{i:03d}") for i in range(130)]
    recording = Recording(sm)
    report = Keeper(recording, settings).sweep(now=0, remaining_seconds=lambda: 900, max_secrets=10_000)
    assert report["listed"] == 130 and report["policies_put"] == 130
    assert recording.operations.count("list_secrets") == 1  # one paginator per class ...
    assert report["calls"] >= 2 * 130 + 2  # ... that fetched two pages of "linked" (and one of eu-linked)
    for arn in arns[::13]:
        assert_kept(sm, arn, "linked", function)


def test_a_run_is_bounded_and_the_next_runs_cover_the_rest(aws):
    sm, key, function, settings = aws
    arns = [onboard(sm, key, "linked", f"c{i:02d}") for i in range(12)]
    # 12 secrets, 5 per run: three consecutive runs check every one (their slices move by 5)
    # Old secrets (the sweep checks new ones first): runs a day later, 5 secrets per run.
    later = time.time() + 86_400
    interval = settings.sweep_interval_seconds
    first = Keeper(sm, settings).sweep(now=later, remaining_seconds=lambda: 900, max_secrets=5)
    assert (first["checked"], first["deferred"]) == (5, 7)
    for run in (1, 2):
        Keeper(sm, settings).sweep(now=later + run * interval, remaining_seconds=lambda: 900, max_secrets=5)
    for arn in arns:
        assert_kept(sm, arn, "linked", function)
    # and a run that is out of time does nothing
    out_of_time = Keeper(sm, settings).sweep(now=later, remaining_seconds=lambda: 1, max_secrets=5)
    assert out_of_time["checked"] == 0 and out_of_time["deferred"] == 12


def test_a_secret_that_cannot_be_kept_fails_the_run_after_the_others(aws):
    sm, key, function, settings = aws
    good, bad = onboard(sm, key, "linked", "good"), onboard(sm, key, "linked", "bad")
    with pytest.raises(KeeperFailed, match="1 run-time secret"):
        Keeper(Recording(sm, fail_on="/bad/"), settings).sweep(now=0, remaining_seconds=lambda: 900)
    assert_kept(sm, good, "linked", function)
    assert policy_of(sm, bad) is None


def test_names_and_ids_agree_with_the_stack():
    assert CONNECTION_ID.pattern == naming.RUNTIME_CONNECTION_ID.pattern
    assert name_in(f"{PREFIX}connections/linked/1/token-AbCdEf") == "makini/dev/connections/linked/1/token"
    assert name_in("makini/dev/x") == "makini/dev/x"
    assert name_in("arn:aws:s3:::bucket") == ""
    assert name_in(f"{PREFIX}x") == ""


class KeeperAsLambda:
    """A Lambda client whose ``invoke`` runs the keeper's handler in process (what an asynchronous invoke does)."""

    def __init__(self, keeper: Keeper, fail: bool = False):
        self.keeper, self.fail, self.invokes = keeper, fail, []

    def invoke(self, **kwargs: Any) -> dict[str, Any]:
        self.invokes.append(kwargs)
        if self.fail:
            raise RuntimeError("throttled")
        event = json.loads(kwargs["Payload"])
        aws_lambda._keeper = self.keeper
        try:
            aws_lambda.handler(event, None)
        finally:
            aws_lambda._keeper = None
        return {"StatusCode": 202}


def test_the_onboarding_client_invokes_the_keeper_right_after_it_creates_a_secret(aws):
    sm, key, function, settings = aws
    lam = KeeperAsLambda(Keeper(sm, settings))
    place = AwsPlace(sm, ENV, key, keeper="makini-dev-keeper", keeper_client=lam)
    request = str(uuid.uuid4())
    value = json.dumps({"token": "t", "connection_id": "c"})
    assert place.store("linked", "29000207611898", value, request) == "created"
    arn = sm.describe_secret(SecretId="makini/dev/connections/linked/29000207611898/token")["ARN"]
    assert [(i["FunctionName"], i["InvocationType"], json.loads(i["Payload"])) for i in lam.invokes] == [
        ("makini-dev-keeper", "Event", {"secretId": arn})
    ]
    assert_kept(sm, arn, "linked", function)
    # a retry of the same store is harmless: whether the backend reports it created or unchanged, the keeper (if
    # asked again) finds nothing to change
    assert place.store("linked", "29000207611898", value, request) in ("created", "unchanged")
    assert Keeper(sm, settings).keep(arn)["policies_put"] == 0
    assert_kept(sm, arn, "linked", function)


def test_a_failed_keeper_invoke_does_not_fail_the_store(aws, caplog):
    sm, key, _, settings = aws
    lam = KeeperAsLambda(Keeper(sm, settings), fail=True)
    place = AwsPlace(sm, ENV, key, keeper="makini-dev-keeper", keeper_client=lam)
    value = json.dumps({"token": "secret-token-value", "connection_id": "c"})
    assert place.store("linked", "1", value, str(uuid.uuid4())) == "created"
    assert len(lam.invokes) == 1 and "next sweep" in caplog.text and "secret-token-value" not in caplog.text
    # the sweep then keeps it
    assert Keeper(sm, settings).sweep(now=time.time(), remaining_seconds=lambda: 900)["policies_put"] == 1
