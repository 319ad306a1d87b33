"""The rotation Lambda under Secrets Manager's documented protocol (tests/functions/rotation/sm_rotation.py).

The driver plays the service: AWSPENDING on a new version, the four steps with one token, a failing
step retried and then left failed with AWSCURRENT untouched, an incomplete rotation reattempted with
the same token, and completion only when AWSCURRENT is on the new version. moto stores the versions.
"""

from __future__ import annotations

import pytest
from rotation import aws_lambda

from .conftest import CONNECTION_ID
from .sm_rotation import STEPS, RotationDriver, RotationNotEnabled


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


FAULTS = {
    # createSecret cannot get a token from Makini
    "createSecret": lambda aws: aws.makini.fail_next(503, count=50),
    # testSecret finds the customer must reconnect
    "testSecret": lambda aws: aws.makini.set_sync_status(CONNECTION_ID, "fail"),
}


@pytest.mark.parametrize("failing", sorted(FAULTS))
def test_a_step_that_keeps_failing_leaves_awscurrent_and_the_next_rotation_reattempts(aws, failing):
    aws.configure_rotation()
    old = labels(aws)["AWSCURRENT"]
    FAULTS[failing](aws)
    d = driver(aws)
    attempt = d.rotate()
    assert not attempt.completed and attempt.failed_step == failing
    assert attempt.invoked.count(failing) == 2  # the service retried it with the same event
    assert attempt.invoked[-1] == failing  # and invoked nothing after it
    assert labels(aws)["AWSCURRENT"] == old and aws.value("AWSCURRENT")["token"] == aws.current_token
    assert aws.makini.token_is_valid(aws.current_token)
    assert aws.versions()[attempt.token] == ["AWSPENDING"]  # the rotation is pending, not lost
    aws.makini.clear_faults()
    aws.makini.set_sync_status(CONNECTION_ID, "done")
    again = d.rotate()
    assert again.reattempt and again.token == attempt.token and again.completed
    assert labels(aws)["AWSCURRENT"] == attempt.token and labels(aws)["AWSPREVIOUS"] == old


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
    effect is shown end to end: a fresh, valid AWSCURRENT, the old one AWSPREVIOUS, nothing printed secret."""
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

        class SecretsManager:  # the client the command gets: RotateSecret served by the driver
            def rotate_secret(self, **params):
                sent.append(params)
                attempt = d.rotate()
                assert attempt.completed, attempt
                return {"ARN": arn, "Name": name, "VersionId": attempt.token}

        stack = tmp_path / "Pulumi.dev.yaml"
        stack.write_text(dump_stack_yaml({"config": base_config("dev")}))
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
    finally:
        aws.secret_arn = rig_arn
