"""The Secrets Manager rotation Lambda against moto and the fake Makini API on 127.0.0.1."""

from __future__ import annotations

import json
import logging

import pytest
from rotation import aws_lambda
from rotation.makini_client import MakiniAuthError, MakiniRateLimited, MakiniUnavailable

from .conftest import CONNECTION_ID

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


def _current_version(rig) -> str:
    return next(v for v, stages in rig.versions().items() if "AWSCURRENT" in stages)


def assert_current_unchanged(rig, before_version: str) -> None:
    assert _current_version(rig) == before_version
    value = rig.value("AWSCURRENT")
    assert value["token"] == rig.current_token
    assert rig.makini.token_is_valid(value["token"]), "AWSCURRENT must stay usable at Makini"


def test_full_rotation_moves_current_to_a_fresh_valid_token(aws):
    old_version = _current_version(aws)
    token = aws.start_rotation()
    aws.rotate(token)

    versions = aws.versions()
    assert "AWSCURRENT" in versions[token]
    # the protocol's valid end state: AWSPENDING absent or on the same version as AWSCURRENT
    assert all("AWSPENDING" not in stages for v, stages in versions.items() if v != token)
    assert versions[old_version] == ["AWSPREVIOUS"]
    new = aws.value("AWSCURRENT")
    assert set(new) == {"token", "connection_id", "issued_at"}
    assert new["connection_id"] == CONNECTION_ID
    assert new["token"] != aws.current_token
    assert new["issued_at"].endswith("Z")
    assert aws.makini.token_is_valid(new["token"])
    # zero downtime: the previous token still works until someone deletes the connection
    assert aws.makini.token_is_valid(aws.current_token)
    assert aws.value("AWSPREVIOUS")["token"] == aws.current_token


def test_steps_call_makini_in_protocol_order(aws):
    token = aws.start_rotation()
    aws.rotate(token)
    calls = [(r.method, r.path) for r in aws.makini.requests]
    assert calls == [
        ("POST", "/link/token"),
        ("POST", f"/api/system/connections/{CONNECTION_ID}/token"),
        ("GET", "/api/integrations/current"),
    ]
    new_token = aws.value("AWSCURRENT")["token"]
    assert aws.makini.requests[2].bearer == new_token  # testSecret used the pending token


@pytest.mark.parametrize("step", STEPS)
def test_every_step_is_harmless_when_retried(aws, step):
    token = aws.start_rotation()
    for s in STEPS:
        aws.step(s, token)
        if s == step:
            aws.step(s, token)  # Secrets Manager retry of the same step
    assert "AWSCURRENT" in aws.versions()[token]
    # createSecret retried did not issue a second token nor overwrite AWSPENDING
    issued = aws.makini.tokens_issued(CONNECTION_ID)
    assert len(issued) == 2  # the original + exactly one new
    assert aws.value("AWSCURRENT")["token"] in issued


def test_create_retry_after_success_keeps_pending_value(aws):
    token = aws.start_rotation()
    aws.step("createSecret", token)
    first = aws.value("AWSPENDING")
    aws.step("createSecret", token)
    assert aws.value("AWSPENDING") == first
    assert [r.path for r in aws.makini.requests].count(f"/api/system/connections/{CONNECTION_ID}/token") == 1


def test_whole_rotation_rerun_after_finish_is_a_no_op(aws):
    token = aws.start_rotation()
    aws.rotate(token)
    before = aws.versions()
    aws.makini.clear_requests()
    aws.rotate(token)  # every step sees AWSCURRENT on the token and returns
    assert aws.versions() == before
    assert aws.makini.requests == []


# -- failures at each step leave AWSCURRENT valid ------------------------------------------

FAILURES = [
    pytest.param(dict(status=401, path_prefix="/link/token"), MakiniAuthError, id="401-system-token"),
    pytest.param(dict(status=401, path_prefix="/api/system/connections"), MakiniAuthError, id="401-issue"),
    pytest.param(dict(status=429, count=50, retry_after=1), MakiniRateLimited, id="429-storm"),
    pytest.param(dict(status=503, count=50), MakiniUnavailable, id="5xx"),
]


@pytest.mark.parametrize(("fault", "error"), FAILURES)
def test_create_failure_leaves_current_valid_and_no_pending_value(aws, fault, error):
    before = _current_version(aws)
    token = aws.start_rotation()
    aws.makini.fail_next(**fault)
    with pytest.raises(error):
        aws.step("createSecret", token)
    assert_current_unchanged(aws, before)
    with pytest.raises(Exception) as exc:
        aws.sm.get_secret_value(SecretId=aws.secret_arn, VersionId=token, VersionStage="AWSPENDING")
    assert "ResourceNotFoundException" in str(exc.value)
    # recovery: Secrets Manager retries the step once Makini is healthy again
    aws.makini.clear_faults()
    aws.rotate(token)
    assert "AWSCURRENT" in aws.versions()[token]


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param(dict(status=401), MakiniAuthError, id="401"),
        pytest.param(dict(status=429, count=50, retry_after=2), MakiniRateLimited, id="429-storm"),
        pytest.param(dict(status=500, count=50), MakiniUnavailable, id="5xx"),
    ],
)
def test_test_step_failure_leaves_current_valid(aws, fault, error):
    before = _current_version(aws)
    token = aws.start_rotation()
    aws.step("createSecret", token)
    aws.step("setSecret", token)
    aws.makini.fail_next(path_prefix="/api/integrations/current", **fault)
    with pytest.raises(error):
        aws.step("testSecret", token)
    assert_current_unchanged(aws, before)
    # a 401 condemns the pending token (discarded, the next rotation issues a fresh one); a 429 or 5xx keeps it
    assert ("AWSPENDING" in aws.versions().get(token, [])) is (fault["status"] != 401)


def test_test_step_fails_on_sync_status_fail(aws):
    before = _current_version(aws)
    token = aws.start_rotation()
    aws.step("createSecret", token)
    aws.makini.set_sync_status(CONNECTION_ID, "fail")
    with pytest.raises(aws_lambda.RotationError, match="sync_status='fail'"):
        aws.step("testSecret", token)
    assert_current_unchanged(aws, before)


def test_test_step_fails_when_pending_token_was_revoked(aws):
    before = _current_version(aws)
    token = aws.start_rotation()
    aws.step("createSecret", token)
    aws.makini.revoke_token(aws.value("AWSPENDING")["token"])
    with pytest.raises(MakiniAuthError):
        aws.step("testSecret", token)
    assert_current_unchanged(aws, before)


def test_finish_failure_leaves_current_valid(aws, monkeypatch):
    before = _current_version(aws)
    token = aws.start_rotation()
    for s in STEPS[:3]:
        aws.step(s, token)

    real = aws.sm

    class Failing:
        def __getattr__(self, name):
            if name == "update_secret_version_stage":

                def boom(**kw):
                    raise RuntimeError("InternalServiceError (injected)")

                return boom
            return getattr(real, name)

    monkeypatch.setattr(aws_lambda, "_secrets_client_factory", lambda: Failing())
    with pytest.raises(RuntimeError, match="injected"):
        aws.step("finishSecret", token)
    assert_current_unchanged(aws, before)
    monkeypatch.setattr(aws_lambda, "_secrets_client_factory", lambda: real)
    aws.step("finishSecret", token)  # the retry completes the rotation
    assert "AWSCURRENT" in aws.versions()[token]


def test_transient_faults_within_budget_are_retried(aws, clock):
    token = aws.start_rotation()
    aws.makini.fail_next(503, count=1, path_prefix="/link/token")
    aws.makini.fail_next(429, count=2, retry_after=3, path_prefix="/api/system/connections")
    aws.rotate(token)
    assert "AWSCURRENT" in aws.versions()[token]
    assert clock.sleeps[1:] == [3.0, 3.0]  # Retry-After honoured exactly, without real sleeping
    assert 0.25 <= clock.sleeps[0] <= 0.5  # first backoff for the 503: base 0.5 with equal jitter


def test_retry_after_longer_than_the_lambda_has_left_fails_fast(aws, clock):
    class Context:
        def get_remaining_time_in_millis(self):
            return 30_000  # 30 s left, 5 s safety margin

    token = aws.start_rotation()
    aws.makini.fail_next(429, count=1, retry_after=120, path_prefix="/link/token")
    monkey_deadline = []
    original = aws_lambda._makini_client_factory

    def factory(deadline=None):
        monkey_deadline.append(deadline)
        return original(deadline=clock() + 25.0 if deadline is not None else None)

    aws_lambda._makini_client_factory = factory
    try:
        with pytest.raises(MakiniRateLimited, match="Retry-After=120"):
            aws.step("createSecret", token, context=Context())
    finally:
        aws_lambda._makini_client_factory = original
    assert monkey_deadline and monkey_deadline[0] is not None  # the handler derived a deadline
    assert clock.sleeps == []


# -- refusals ---------------------------------------------------------------------------------


def test_rotation_disabled_is_refused(aws):
    token = aws.start_rotation(enabled=False)
    with pytest.raises(aws_lambda.RotationError, match="does not have rotation enabled"):
        aws.step("createSecret", token)
    assert aws.makini.requests == []


def test_unknown_version_is_refused(aws):
    aws.start_rotation()
    with pytest.raises(aws_lambda.RotationError, match="has no stage for rotation"):
        aws.step("createSecret", "11111111-2222-3333-4444-555555555555")


def test_version_not_pending_is_refused(aws):
    token = aws.start_rotation()
    aws.rotate(token)
    previous = next(v for v, s in aws.versions().items() if "AWSPREVIOUS" in s)
    for step in STEPS:
        with pytest.raises(aws_lambda.RotationError, match="not set as AWSPENDING"):
            aws.step(step, previous)


def test_unknown_step_and_bad_event_are_refused(aws):
    token = aws.start_rotation()
    with pytest.raises(aws_lambda.RotationError, match="unknown Step"):
        aws.step("dropSecret", token)
    with pytest.raises(aws_lambda.RotationError, match="SecretId, ClientRequestToken and Step"):
        aws_lambda.handler({"Step": "createSecret"}, None)


def test_missing_oauth_env_is_a_clear_error(aws, monkeypatch):
    monkeypatch.delenv(aws_lambda.ENV_OAUTH_SECRET)
    token = aws.start_rotation()
    with pytest.raises(aws_lambda.RotationError, match="OAUTH_CLIENT_SECRET_ARN is not set"):
        aws.step("createSecret", token)


@pytest.mark.parametrize(
    "stored",
    [
        "not json",
        json.dumps({"client_id": 12345, "client_secret": "s"}),  # was accepted as "12345"
        json.dumps({"client_id": "c", "client_secret": ["s"]}),  # was accepted as "['s']"
        json.dumps({"client_id": "c", "client_secret": ""}),
        json.dumps(["c", "s"]),
    ],
)
def test_malformed_oauth_secret_is_a_clear_error(aws, stored):
    """The same rule as the operator commands (functions/rotation/oauth_client.py): both non-empty strings."""
    aws.sm.put_secret_value(SecretId=aws.oauth_arn, SecretString=stored)
    token = aws.start_rotation()
    with pytest.raises(aws_lambda.RotationError, match="must hold JSON"):
        aws.step("createSecret", token)
    assert aws.makini.requests == []  # nothing was sent to Makini


# -- the binding: from the deployment, never from the secret ----------------------------------------

OTHER = "09000299999999"  # another customer's connection in the same environment


def test_connection_id_from_the_binding_when_untagged_and_the_value_names_none(aws):
    aws.sm.untag_resource(SecretId=aws.secret_arn, TagKeys=[aws_lambda.CONNECTION_TAG])
    aws.sm.put_secret_value(SecretId=aws.secret_arn, SecretString="legacy-raw-token-value")
    token = aws.start_rotation()
    aws.rotate(token)
    assert aws.value()["connection_id"] == CONNECTION_ID


@pytest.mark.parametrize("edit", ["tag", "value", "both"])
def test_a_tag_or_value_edited_by_a_non_reader_cannot_point_the_secret_at_another_customer(aws, edit, caplog):
    """Finding 3: a write-only operator (PutSecretValue, TagResource) re-points secret A at customer B. The
    rotation must still issue A's token: B's token never lands where A's consumers read."""
    caplog.set_level(logging.WARNING, logger="rotation")
    aws.makini.add_connection(OTHER)
    if edit in ("tag", "both"):
        aws.sm.tag_resource(SecretId=aws.secret_arn, Tags=[{"Key": aws_lambda.CONNECTION_TAG, "Value": OTHER}])
    if edit in ("value", "both"):
        planted = {"token": "planted", "connection_id": OTHER, "issued_at": "2025-01-01T00:00:00Z"}
        aws.sm.put_secret_value(SecretId=aws.secret_arn, SecretString=json.dumps(planted))
    token = aws.start_rotation()
    aws.rotate(token)
    assert aws.value()["connection_id"] == CONNECTION_ID
    assert aws.makini.tokens_issued(OTHER) == []
    issued = [r.path for r in aws.makini.requests if r.path.startswith("/api/system/connections/")]
    assert issued == [f"/api/system/connections/{CONNECTION_ID}/token"]
    mismatches = [json.loads(r.getMessage()) for r in caplog.records if "binding_mismatch" in r.getMessage()]
    assert {m["claimed"] for m in mismatches} == {OTHER} and all(
        m["connection_id"] == CONNECTION_ID for m in mismatches
    )


@pytest.mark.parametrize("step", STEPS)
def test_a_secret_the_deployment_does_not_bind_is_refused_at_every_step(aws, step):
    token = aws.start_rotation()
    aws.bindings.clear()
    with pytest.raises(aws_lambda.BindingError, match="not in the deployed rotation bindings"):
        aws.step(step, token)
    assert aws.makini.requests == []


def test_a_pending_value_for_another_connection_is_not_promoted(aws):
    token = aws.start_rotation()
    aws.step("createSecret", token)
    aws.bindings[aws.secret_name] = OTHER  # e.g. a redeploy rebound the secret mid-rotation
    with pytest.raises(aws_lambda.RotationError, match="deployed binding is"):
        aws.step("testSecret", token)
    assert "AWSCURRENT" not in aws.versions()[token]


# -- logs --------------------------------------------------------------------------------------


def test_logs_are_json_and_never_contain_a_token_or_secret(aws, caplog):
    caplog.set_level(logging.DEBUG, logger="rotation")
    token = aws.start_rotation()
    aws.makini.fail_next(429, count=1, retry_after=1)
    aws.rotate(token)
    token2 = aws.start_rotation()
    aws.step("createSecret", token2)
    aws.makini.set_sync_status(CONNECTION_ID, "fail")
    with pytest.raises(aws_lambda.RotationError):
        aws.step("testSecret", token2)

    secrets = {aws.current_token, aws.value("AWSCURRENT")["token"], aws.makini.client_secret}
    secrets |= set(aws.makini.tokens_issued(CONNECTION_ID))  # the discarded pending token too
    secrets |= {r.bearer for r in aws.makini.requests if r.bearer}
    ours = [r for r in caplog.records if r.name.startswith("rotation")]
    assert any(json.loads(r.getMessage())["event"] == "current_moved" for r in ours)
    assert any(json.loads(r.getMessage())["event"] == "makini_retry" for r in ours)
    text = caplog.text
    for secret in secrets:
        assert secret not in text
    for record in ours:
        json.loads(record.getMessage())  # every line is one JSON object


def test_error_messages_never_contain_a_token(aws):
    token = aws.start_rotation()
    aws.step("createSecret", token)
    pending = aws.value("AWSPENDING")["token"]
    aws.makini.revoke_token(pending)
    with pytest.raises(MakiniAuthError) as exc:
        aws.step("testSecret", token)
    assert pending not in str(exc.value)
    assert "401" in str(exc.value)
    assert "req_" in str(exc.value)  # Makini's request id is carried for support


def test_strict_server_that_revokes_on_issue_still_ends_valid(aws):
    """If Makini ever revoked the old token on issue, AWSCURRENT would be stale between
    createSecret and finishSecret (nothing a rotator can prevent); a completed rotation still
    ends with a valid AWSCURRENT. The default fake keeps old tokens valid, as FACTS.md implies."""
    aws.makini.revoke_previous_on_issue = True
    token = aws.start_rotation()
    aws.rotate(token)
    assert aws.makini.token_is_valid(aws.value("AWSCURRENT")["token"])
    assert not aws.makini.token_is_valid(aws.current_token)
