"""The rotation Lambda under Secrets Manager's documented protocol (tests/functions/rotation/sm_rotation.py).

The driver plays the service: AWSPENDING on a new version, the four steps with one token, a failing
step retried and then left failed with AWSCURRENT untouched, an incomplete rotation reattempted with
the same token, and completion only when AWSCURRENT is on the new version. moto stores the versions.
"""

from __future__ import annotations

import json
import logging

import pytest
from rotation import aws_lambda

from .conftest import CONNECTION_ID
from .sm_rotation import STEPS, InvalidRequestException, RotationDriver, RotationNotEnabled


def driver(aws, step_attempts: int = 2) -> RotationDriver:
    return RotationDriver(
        aws.sm,
        aws.secret_arn,
        lambda event: aws_lambda.handler(event, None),
        region="eu-west-1",
        step_attempts=step_attempts,
    )


def labels(aws) -> dict[str, str]:
    return {stage: v for v, stages in aws.versions().items() for stage in stages}


def test_a_rotation_moves_current_and_previous_and_calls_each_step_once(aws):
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    attempt = driver(aws).rotate()
    assert attempt.completed and attempt.invoked == list(STEPS) and not attempt.reattempt
    after = labels(aws)
    assert after["AWSCURRENT"] == attempt.token and after["AWSPREVIOUS"] == old
    assert aws.value("AWSCURRENT")["connection_id"] == CONNECTION_ID
    assert aws.makini.token_is_valid(aws.value("AWSCURRENT")["token"])
    assert aws.value("AWSPREVIOUS")["token"] == aws.current_token and aws.makini.token_is_valid(aws.current_token)


def test_a_create_that_keeps_failing_leaves_awscurrent_and_the_next_rotation_reattempts(aws):
    """Makini is down: no token was issued, the empty pending version is reattempted with the same token."""
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    aws.makini.fail_next(503, count=50)
    d = driver(aws)
    attempt = d.rotate()
    assert not attempt.completed and attempt.failed_step == "createSecret"
    assert attempt.invoked.count("createSecret") == 2  # the service retried it with the same event
    assert attempt.invoked[-1] == "createSecret"  # and invoked nothing after it
    assert labels(aws)["AWSCURRENT"] == old and aws.value("AWSCURRENT")["token"] == aws.current_token
    assert aws.makini.token_is_valid(aws.current_token)
    assert aws.versions()[attempt.token] == ["AWSPENDING"]  # the rotation is pending, not lost
    aws.makini.clear_faults()
    again = d.rotate()
    assert again.reattempt and again.token == attempt.token and again.completed
    assert labels(aws)["AWSCURRENT"] == attempt.token and labels(aws)["AWSPREVIOUS"] == old


BAD_PENDING = {
    # the pending token is refused (revoked, expired): Makini answers 401
    "revoked": lambda aws: aws.makini.revoke_token(aws.value("AWSPENDING")["token"]),
    # the customer's system refuses its credentials
    "sync-fail": lambda aws: aws.makini.set_sync_status(CONNECTION_ID, "fail"),
}


@pytest.mark.parametrize("bad", sorted(BAD_PENDING))
def test_a_pending_token_that_failed_its_test_is_discarded_and_a_fresh_one_issued_next(aws, bad, caplog):
    """Finding 7: the bad pending token used to be reattempted forever, and RotateSecret (so revoke-now)
    refused to start while it held AWSPENDING. Now testSecret discards it; the next attempt issues a fresh
    token, and a caller's RotateSecret is accepted."""
    caplog.set_level(logging.WARNING, logger="rotation")
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    d = driver(aws)
    token, _ = d.begin()
    aws.step("createSecret", token)
    first_pending = aws.value("AWSPENDING")["token"]
    BAD_PENDING[bad](aws)
    attempt = d.run(token)
    assert attempt.failed_step == "testSecret" and not attempt.completed
    assert "AWSPENDING" not in aws.versions().get(token, []) and labels(aws)["AWSCURRENT"] == old
    assert "pending_discarded" in caplog.text
    aws.makini.set_sync_status(CONNECTION_ID, "done")
    answer = d.rotate_secret(RotateImmediately=True)  # no longer refused
    fresh = answer["attempt"]
    assert fresh.completed and not fresh.reattempt and fresh.token != token
    new = aws.value("AWSCURRENT")["token"]
    assert new != first_pending and aws.makini.token_is_valid(new)
    assert labels(aws)["AWSPREVIOUS"] == old
    assert len(aws.makini.tokens_issued(CONNECTION_ID)) == 3  # the original, the bad one, the fresh one
    if bad == "sync-fail":  # the bad one is still valid at Makini: counted in the logs
        assert caplog.text.count('"event": "token_left_live"') == 1 and first_pending not in caplog.text


def test_a_transient_test_failure_keeps_the_pending_token(aws):
    aws.configure_rotation()
    d = driver(aws)
    aws.makini.fail_next(503, count=50, path_prefix="/api/integrations/current")
    attempt = d.rotate()
    assert attempt.failed_step == "testSecret" and aws.versions()[attempt.token] == ["AWSPENDING"]
    aws.makini.clear_faults()
    again = d.rotate()
    assert again.reattempt and again.token == attempt.token and again.completed
    assert len(aws.makini.tokens_issued(CONNECTION_ID)) == 2  # no second token was issued


def test_a_caller_rotate_secret_is_refused_while_a_rotation_is_pending(aws):
    """The service's documented behaviour (what revoke-now must clear first, see infra.rotate)."""
    aws.configure_rotation()
    d = driver(aws)
    d.begin()
    with pytest.raises(InvalidRequestException, match="previous rotation isn't complete"):
        d.rotate_secret(RotateImmediately=True)


def test_a_pending_value_for_another_connection_found_on_retry_is_discarded(aws):
    """A value planted as AWSPENDING (a writer's PutSecretValue with VersionStages) is never promoted."""
    aws.configure_rotation()
    d = driver(aws)
    token, _ = d.begin()
    planted = {"token": "planted", "connection_id": "09000299999999", "issued_at": "2025-01-01T00:00:00Z"}
    aws.sm.put_secret_value(
        SecretId=aws.secret_arn,
        ClientRequestToken=token,
        SecretString=json.dumps(planted),
        VersionStages=["AWSPENDING"],
    )
    attempt = d.run(token)
    assert attempt.failed_step == "createSecret" and "AWSPENDING" not in aws.versions().get(token, [])
    assert d.rotate().completed and aws.value("AWSCURRENT")["connection_id"] == CONNECTION_ID


def test_finish_refuses_a_pending_version_without_a_value(aws):
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    token, _ = driver(aws).begin()  # labelled AWSPENDING, no value: createSecret never ran
    with pytest.raises(aws_lambda.RotationError, match="has no value"):
        aws.step("finishSecret", token)
    assert labels(aws)["AWSCURRENT"] == old


def test_a_failure_of_finish_leaves_awscurrent_and_the_reattempt_completes(aws, monkeypatch):
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    real = aws.sm.update_secret_version_stage
    monkeypatch.setattr(aws.sm, "update_secret_version_stage", _raise("InternalServiceError (injected)"))
    d = driver(aws)
    attempt = d.rotate()
    assert attempt.failed_step == "finishSecret" and labels(aws)["AWSCURRENT"] == old
    monkeypatch.setattr(aws.sm, "update_secret_version_stage", real)
    assert d.rotate().completed and labels(aws)["AWSCURRENT"] == attempt.token


def test_a_transient_failure_is_absorbed_by_the_services_retry(aws):
    aws.configure_rotation()
    aws.makini.fail_next(500, count=4)  # more than the client's own retries (4 attempts): one step fails once
    attempt = driver(aws).rotate()
    assert attempt.completed and attempt.invoked.count("createSecret") == 2


def test_a_finish_step_that_does_not_move_awscurrent_is_a_failed_rotation(aws, monkeypatch):
    """What moto's own RotateSecret hides (it moves AWSCURRENT itself): a function whose finishSecret
    returns without moving the label has not rotated anything."""
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    monkeypatch.setattr(aws_lambda, "finish_secret", lambda *a, **k: None)
    attempt = driver(aws).rotate()
    assert not attempt.completed and attempt.failed_step == "finishSecret" and attempt.error is None
    assert labels(aws)["AWSCURRENT"] == old


def test_rotate_while_a_rotation_is_pending_reuses_its_version(aws):
    aws.configure_rotation()
    d = driver(aws)
    token, reattempt = d.begin()
    assert not reattempt
    assert d.begin() == (token, True)
    assert sum("AWSPENDING" in s for s in aws.versions().values()) == 1


def test_rotation_disabled_is_refused_by_the_service(aws):
    aws.configure_rotation(enabled=False)
    with pytest.raises(RotationNotEnabled):
        driver(aws).rotate()
    assert aws.makini.requests == []


def _raise(message: str):
    def boom(**kwargs):
        raise RuntimeError(message)

    return boom


def test_revoke_now_from_the_command_runs_a_whole_rotation(aws, tmp_path):
    """`python -m infra.rotate <stack> --connection KEY --now` sends RotateSecret; here the driver serves it
    as Secrets Manager does (the real function's four steps against the fake Makini), so the command's
    effect is shown end to end: a fresh, valid AWSCURRENT, the old one AWSPREVIOUS, nothing printed secret.
    A rotation left incomplete (AWSPENDING without AWSCURRENT) would make RotateSecret fail: the command
    clears it first and says so (finding 7)."""
    import io
    import json

    from infra.rotate import EXIT_OK, rotate_now
    from stacks.config.stack_file import dump_stack_yaml
    from tests.support import base_config

    aws.makini.add_connection("0900001")
    old_token = aws.makini.mint_connection_token("0900001")
    name = "makini/dev/connections/acme-sap/token"
    arn = aws.sm.create_secret(
        Name=name,
        SecretString=json.dumps({"token": old_token, "connection_id": "0900001", "issued_at": "2025-01-01T00:00:00Z"}),
        Tags=[{"Key": aws_lambda.CONNECTION_TAG, "Value": "0900001"}],
    )["ARN"]
    rig_arn, aws.secret_arn = aws.secret_arn, arn
    aws.bindings[name] = "0900001"  # the binding the dev stack's package carries for acme-sap
    try:
        aws.configure_rotation()
        d = driver(aws)
        sent: list[dict] = []

        class SecretsManager:  # the client the command gets: moto, with RotateSecret served by the driver
            def __getattr__(self, attr):
                return getattr(aws.sm, attr)

            def rotate_secret(self, **params):
                sent.append(params)
                answer = d.rotate_secret(**params)
                assert answer["attempt"].completed, answer
                return {k: v for k, v in answer.items() if k != "attempt"}

        stack = tmp_path / "Pulumi.dev.yaml"
        stack.write_text(dump_stack_yaml({"config": base_config("dev")}))
        stuck, _ = d.begin()  # an earlier rotation that never completed: RotateSecret would be refused
        out, err = io.StringIO(), io.StringIO()
        code = rotate_now("dev", "acme-sap", stack, client_factory=lambda region: SecretsManager(), out=out, err=err)
        assert code == EXIT_OK, err.getvalue()
        assert sent == [{"SecretId": name, "RotateImmediately": True}]
        # VersionStage named: moto's default version does not follow UpdateSecretVersionStage (AWS's does).
        new = json.loads(aws.sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")["SecretString"])
        assert new["token"] != old_token and aws.makini.token_is_valid(new["token"])
        previous = json.loads(aws.sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"])
        assert previous["token"] == old_token
        printed = out.getvalue() + err.getvalue()
        assert new["token"] not in printed and old_token not in printed
        assert "DELETE https://api.makini.io/api/system/connections/0900001" in printed
        assert f"Cleared a stuck AWSPENDING from version {stuck}" in printed
    finally:
        aws.secret_arn = rig_arn
