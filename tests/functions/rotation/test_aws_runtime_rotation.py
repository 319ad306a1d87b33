"""A run-time token (stored by the onboarding service, no deploy) rotated by the AWS rotation Lambda.

The secret is created on moto as the onboarding client creates it (name ``makini/<env>/connections/<class>/
<id>/token``, its tags, value ``{"connection_id", "token"}``); rotation is then enabled on it with the
environment's function (what issue 19's keeper does), and Secrets Manager's side of the rotation is played
by the driver (sm_rotation.py) invoking the real handler. The deployment's bindings name no run-time token:
the binding comes from the name, through the package's ``runtimeClasses``.
"""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from rotation import aws_lambda
from rotation.bindings import Bindings

from functions.onboarding import places
from stacks.rotation import bindings_document

from .conftest import REGION, log_events
from .sm_rotation import STEPS, RotationDriver

ENV = "prod"
#: A declared token of the package (unique per run: moto lives for the module).
DECLARED_NAME = f"makini/prod/connections/acme-{uuid.uuid4().hex[:6]}/token"


def package_bindings() -> Bindings:
    """What the program ships for a stack with the run-time class ``linked`` (and the declared class
    ``standard``, which is not run-time), read by the runtime loader."""
    text = bindings_document(ENV, "aws", 7, {DECLARED_NAME: "0900001"}, {"linked": "makini/prod/connections/linked/"})
    return Bindings.parse(text, source="rotation/bindings.json", backend="aws")


@pytest.fixture
def rt(monkeypatch, makini, client_factory, _moto_sm):
    sm = _moto_sm
    oauth = sm.create_secret(
        Name=f"makini/prod/oauth-client-{uuid.uuid4().hex[:8]}",
        SecretString=json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret}),
    )
    monkeypatch.setenv(aws_lambda.ENV_OAUTH_SECRET, oauth["ARN"])
    monkeypatch.setattr(aws_lambda, "_secrets_client_factory", lambda: sm)
    monkeypatch.setattr(aws_lambda, "_makini_client_factory", lambda deadline=None: client_factory(deadline))
    monkeypatch.setattr(aws_lambda, "_bindings_loader", package_bindings)
    return sm


def store(sm, makini, access_class: str, connection_id: str, *, claims: str | None = None, name: str | None = None):
    """A token stored as the onboarding client stores it, then rotation enabled on it (the keeper's job)."""
    makini.add_connection(connection_id)
    token = makini.mint_connection_token(connection_id)
    secret = sm.create_secret(
        Name=name or places.aws_secret_name(ENV, access_class, connection_id),
        SecretString=json.dumps({"connection_id": claims or connection_id, "token": token}),
        Tags=[
            {"Key": k, "Value": v} for k, v in sorted(places.tags(ENV, access_class, claims or connection_id).items())
        ],
    )
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.secretsmanager.models import secretsmanager_backends

    s = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[secret["ARN"]]
    s.rotation_requested, s.rotation_enabled, s.auto_rotate_after_days = True, True, 7
    s.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:makini-prod-rotation"
    return secret["ARN"], token


def driver(sm, arn) -> RotationDriver:
    return RotationDriver(sm, arn, lambda event: aws_lambda.handler(event, None), region=REGION, step_attempts=1)


def value(sm, arn, stage="AWSCURRENT") -> dict:
    return json.loads(sm.get_secret_value(SecretId=arn, VersionStage=stage)["SecretString"])


def new_id() -> str:
    return f"0900{uuid.uuid4().int % 10**10:010d}"


def test_a_run_time_token_is_rotated_through_the_four_steps_for_the_connection_its_name_says(rt, makini, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    cid = new_id()
    arn, old = store(rt, makini, "linked", cid)
    attempt = driver(rt, arn).rotate()
    assert attempt.completed and attempt.invoked == list(STEPS), attempt.error
    new = value(rt, arn)
    assert new["connection_id"] == cid and new["token"] != old and makini.token_is_valid(new["token"])
    assert value(rt, arn, "AWSPREVIOUS")["token"] == old and makini.token_is_valid(old)
    assert makini.tokens_issued(cid)[-1] == new["token"]
    started = log_events(caplog, "rotation_step_start")
    assert [e["step"] for e in started] == list(STEPS)
    assert {(e["bound_by"], e["connection_id"]) for e in started} == {("runtime-name", cid)}
    assert all("rotation/bindings.json" in e["binding_source"] for e in started)
    assert old not in caplog.text and new["token"] not in caplog.text  # never a token in a log line


def test_a_declared_token_says_it_was_bound_by_the_deployment(rt, makini, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    arn, _ = store(rt, makini, "acme", "0900001", name=DECLARED_NAME)
    assert driver(rt, arn).rotate().completed
    assert value(rt, arn)["connection_id"] == "0900001"
    assert {(e["bound_by"], e["binding_source"]) for e in log_events(caplog, "rotation_step_start")} == {
        ("deployment", "rotation/bindings.json")
    }


def test_a_run_time_token_whose_value_and_tag_claim_another_connection_is_rotated_for_its_name(rt, makini, caplog):
    """Whoever can write the value or tags (the onboarding identity can PutSecretValue) cannot re-point the
    secret: the claim is logged, the token issued is the name's connection's."""
    caplog.set_level(logging.INFO, logger="rotation")
    cid, victim = new_id(), new_id()
    makini.add_connection(victim)
    arn, _ = store(rt, makini, "linked", cid, claims=victim)
    assert driver(rt, arn).rotate().completed
    assert value(rt, arn)["connection_id"] == cid
    assert makini.tokens_issued(victim) == []  # nothing was issued for the claimed connection
    mismatches = log_events(caplog, "binding_mismatch")
    assert {m["where"] for m in mismatches} == {"tag makini:connection-id", "current value's connection_id"}
    assert all(m["claimed"] == victim and m["connection_id"] == cid for m in mismatches)
    assert all(m["bound_by"] == "runtime-name" for m in mismatches)


@pytest.mark.parametrize(
    "name",
    [
        "makini/prod/connections/standard/{id}/token",  # a declared class: never bound by name
        "makini/prod/connections/other/{id}/token",  # not a class of the environment
        "makini/staging/connections/linked/{id}/token",  # another environment's run-time class
        "makini/prod/connections/linked/{id}-/token",  # a malformed id
        "makini/prod/connections/linked/x/{id}/token",
    ],
)
def test_a_secret_the_names_do_not_bind_is_refused_before_anything_is_issued(rt, makini, caplog, name):
    caplog.set_level(logging.INFO, logger="rotation")
    cid = new_id()
    arn, old = store(rt, makini, "linked", cid, name=name.format(id=cid))
    attempt = driver(rt, arn).rotate()
    assert not attempt.completed and attempt.failed_step == "createSecret"
    assert isinstance(attempt.error, aws_lambda.BindingError)
    assert [e["reason"] for e in log_events(caplog, "rotation_refused")] == ["not_bound"]
    assert makini.tokens_issued(cid) == [old] and makini.requests == []  # nothing asked of Makini
    assert value(rt, arn)["token"] == old


def test_a_run_time_name_taking_a_declared_connections_id_is_refused(rt, makini, caplog):
    """The onboarding identity may create any id in its class: one that is a declared connection's (bound by the
    deployment to another secret) would have the function issue that customer's token where the run-time
    class's consumers read it. Refused before Makini is asked."""
    caplog.set_level(logging.INFO, logger="rotation")
    arn, old = store(rt, makini, "linked", "0900001")
    attempt = driver(rt, arn).rotate()
    assert not attempt.completed and "is a declared connection" in str(attempt.error)
    assert [e["reason"] for e in log_events(caplog, "rotation_refused")] == ["not_bound"]
    assert makini.requests == [] and value(rt, arn)["token"] == old
