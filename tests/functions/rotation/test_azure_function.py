"""The Key Vault rotation function (a timer over the deployed bindings) with the Key Vault double and the
fake Makini, across weeks of simulated time.

Key Vault stamps each version's ``created_on`` (the double does it from a clock the tests move); the
rotator counts the period from it. The bindings are what the program ships in the package.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
from rotation import azure_function as af
from rotation.bindings import Bindings

from tests.fakes.key_vault import FakeSecretClient

from .conftest import CONNECTION_ID

VAULT = "https://kv-makini-prod.vault.azure.net"
NAME = "connections-acme-netsuite-token"
KEY = f"kv-makini-prod/{NAME}"
OTHER = "09000299999999"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
PERIOD = 7


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def wall():
    """Wall-clock time (Key Vault's created_on, the rotator's now); the conftest's ``clock`` is the client's."""
    return Clock()


@pytest.fixture
def kv(makini, wall):
    client = FakeSecretClient(VAULT, clock=wall)
    client.set_secret(
        "oauth-client", json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret})
    )
    old = makini.mint_connection_token(CONNECTION_ID)
    client.set_secret(
        NAME,
        json.dumps({"token": old, "connection_id": CONNECTION_ID, "issued_at": None}),
        tags={af.CONNECTION_TAG: CONNECTION_ID, "environment": "prod"},
        content_type="application/json",
    )
    client.writes.clear()
    client.old_token = old
    return client


def bindings(entries=None, period=PERIOD):
    return Bindings("prod", "azure", entries if entries is not None else {KEY: CONNECTION_ID}, "test package", period)


def settings(**extra):
    return {"OAUTH_CLIENT_SECRET_NAME": "oauth-client", "KEY_VAULT_URL": VAULT, **extra}


def rotator(kv, client_factory, wall, b=None, env=None, monotonic=None):
    return af.KeyVaultRotator(
        b or bindings(),
        env=env or settings(),
        secret_client_factory=lambda url: kv if url == kv.vault_url else pytest.fail(f"unexpected vault {url}"),
        makini_client_factory=client_factory,
        now=wall,
        clock=monotonic or (lambda: 0.0),
    )


def tick(kv, client_factory, wall, **kw):
    return rotator(kv, client_factory, wall, **kw).run()


def current(kv):
    return kv.versions[NAME][-1]


# -- the schedule, whatever the token's lifetime (finding 1) -------------------------------------------------


@pytest.mark.parametrize("lifetime", [30 * 86400, None], ids=["30-days", "no-expiry"])
def test_rotates_every_period_whatever_the_lifetime(kv, makini, client_factory, wall, lifetime):
    """Hourly ticks over five weeks: a rotation one period after each write, none in between, and exp is the
    token's own expiry (or none): never a date chosen to provoke an event."""
    makini.connection_token_lifetime = lifetime
    rotations = []
    for _ in range(5 * 7 * 24):
        wall.advance(hours=1)
        report = tick(kv, client_factory, wall)
        assert report.failed == {}
        if report.rotated:
            rotations.append(wall.now)
    assert [r - T0 for r in rotations] == [timedelta(days=PERIOD * k, hours=0) for k in (1, 2, 3, 4, 5)]
    new = current(kv)
    value = json.loads(new.value)
    assert set(value) == {"token", "connection_id", "issued_at"} and value["connection_id"] == CONNECTION_ID
    assert makini.token_is_valid(value["token"]) and makini.token_is_valid(kv.old_token)
    assert new.properties.expires_on == (None if lifetime is None else wall.now + timedelta(seconds=lifetime))
    assert new.properties.tags[af.LAST_ROTATED_TAG] == value["issued_at"]
    assert new.properties.content_type == "application/json"


def test_a_300_second_token_is_refused_every_run_and_nothing_is_written(kv, makini, client_factory, wall, caplog):
    """A token that would die long before the next rotation is never stored; each run retries (self-healing
    once Makini issues longer tokens), fails loudly, and counts the token it left live."""
    caplog.set_level(logging.INFO, logger="rotation")
    makini.connection_token_lifetime = 300
    wall.advance(days=PERIOD, hours=1)
    for _ in range(3):
        report = tick(kv, client_factory, wall)
        message = report.failed[KEY]
        assert "expires in 300 s (5 minutes)" in message and CONNECTION_ID in message and "at least 8 days" in message
        assert report.tokens_left_live == 1 and kv.writes == []
        wall.advance(hours=1)
    assert json.loads(current(kv).value)["token"] == kv.old_token
    for token in makini.tokens_issued(CONNECTION_ID):
        assert token not in caplog.text
    assert caplog.text.count('"event": "token_left_live"') == 3
    makini.connection_token_lifetime = 30 * 86400
    assert tick(kv, client_factory, wall).rotated == [KEY]


@pytest.mark.parametrize("shape", ["data", "unwrapped"])
def test_both_reply_shapes_rotate_and_the_log_says_which(kv, makini, client_factory, wall, shape, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    makini.token_reply_shape = shape
    wall.advance(days=PERIOD)
    assert tick(kv, client_factory, wall).rotated == [KEY]
    rotated = [json.loads(r.getMessage()) for r in caplog.records if '"event": "rotated"' in r.getMessage()]
    assert rotated[0]["reply_shape"] == shape and rotated[0]["lifetime"] == f"{makini.connection_token_lifetime} s"


def test_a_placeholder_is_filled_at_the_first_run(kv, client_factory, wall):
    kv.set_secret("connections-new-token", "", enabled=False)  # the program's disabled placeholder
    b = bindings({KEY: CONNECTION_ID, "kv-makini-prod/connections-new-token": CONNECTION_ID})
    report = tick(kv, client_factory, wall, b=b)
    assert report.rotated == ["kv-makini-prod/connections-new-token"] and report.not_due == [KEY]


def test_a_rotation_requested_by_infra_rotate_runs_at_the_next_tick_once(kv, client_factory, wall):
    """Finding 5 (--connection --now on Azure): a request tag newer than the current version makes a secret that
    is not due rotate at the next run; the new version drops the tag, so the run after does nothing; a request
    older than the version, or unreadable, asks for nothing."""
    wall.advance(days=1)
    assert tick(kv, client_factory, wall).not_due == [KEY]
    version = current(kv).properties
    kv.update_secret_properties(NAME, version.version, tags={**version.tags, af.ROTATE_REQUESTED_TAG: "soon"})
    assert tick(kv, client_factory, wall).not_due == [KEY]
    stale = (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    kv.update_secret_properties(NAME, version.version, tags={**version.tags, af.ROTATE_REQUESTED_TAG: stale})
    assert tick(kv, client_factory, wall).not_due == [KEY]
    asked = wall.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    kv.update_secret_properties(NAME, version.version, tags={**version.tags, af.ROTATE_REQUESTED_TAG: asked})
    wall.advance(minutes=30)
    assert tick(kv, client_factory, wall).rotated == [KEY]
    assert af.ROTATE_REQUESTED_TAG not in current(kv).properties.tags
    wall.advance(hours=1)
    assert tick(kv, client_factory, wall).not_due == [KEY]


def test_an_out_of_band_write_restarts_the_period(kv, client_factory, wall):
    wall.advance(days=PERIOD - 1)
    kv.set_secret(NAME, json.dumps({"token": "by-hand", "connection_id": CONNECTION_ID, "issued_at": None}))
    wall.advance(days=2)
    assert tick(kv, client_factory, wall).not_due == [KEY]


def test_the_time_budget_defers_what_it_cannot_reach(kv, makini, client_factory, wall):
    names = [f"connections-c{i}-token" for i in range(4)]
    for n in names:
        kv.set_secret(n, "", enabled=False)
    b = bindings({f"kv-makini-prod/{n}": CONNECTION_ID for n in names})
    ticks = iter([0.0, 1.0, 500.0, 501.0, 502.0, 503.0, 504.0])
    report = rotator(kv, client_factory, wall, b=b, monotonic=lambda: next(ticks)).run()
    assert len(report.rotated) == 1 and len(report.deferred) == 3 and report.failed == {}
    wall.advance(hours=1)
    again = tick(kv, client_factory, wall, b=b)
    assert len(again.rotated) == 3 and len(again.not_due) == 1  # the next run catches up


def test_a_failed_run_raises_after_trying_every_secret(kv, makini, client_factory, wall):
    kv.set_secret("connections-other-token", "", enabled=False)
    b = bindings({KEY: CONNECTION_ID, "kv-makini-prod/connections-other-token": "missing-in-makini"})
    wall.advance(days=PERIOD)
    with pytest.raises(af.RotationRunFailed, match="1 of 2 secret") as err:
        af.run_scheduled(
            bindings=b,
            env=settings(),
            secret_client_factory=lambda url: kv,
            makini_client_factory=client_factory,
            now=wall,
        )
    assert "missing-in-makini" in str(err.value)
    assert json.loads(current(kv).value)["token"] != kv.old_token  # the healthy secret was still rotated


# -- the binding (finding 3) ---------------------------------------------------------------------------------


def test_a_tag_edited_to_another_customer_is_ignored(kv, makini, client_factory, wall, caplog):
    """An Azure Contributor can rewrite a secret's tags (ARM, no data-plane role needed): it must not decide
    whose token is issued. The binding in the package does."""
    caplog.set_level(logging.WARNING, logger="rotation")
    makini.add_connection(OTHER)
    kv.set_secret(NAME, current(kv).value, tags={af.CONNECTION_TAG: OTHER}, enabled=True)
    wall.advance(days=PERIOD)
    assert tick(kv, client_factory, wall).rotated == [KEY]
    assert json.loads(current(kv).value)["connection_id"] == CONNECTION_ID
    assert makini.tokens_issued(OTHER) == [] and current(kv).properties.tags[af.CONNECTION_TAG] == CONNECTION_ID
    assert "binding_mismatch" in caplog.text


def test_only_bound_secrets_are_touched(kv, makini, client_factory, wall):
    kv.set_secret("connections-unbound-token", "{}", tags={af.CONNECTION_TAG: CONNECTION_ID})
    kv.writes.clear()
    wall.advance(days=30)
    report = tick(kv, client_factory, wall)
    assert report.rotated == [KEY]
    assert [w["name"] for w in kv.writes if w["name"] != NAME] == []


# -- failures write nothing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (dict(status=401, path_prefix="/link/token"), "MakiniAuthError"),
        (dict(status=503, count=50), "MakiniUnavailable"),
        (dict(status=401, path_prefix="/api/integrations/current"), "MakiniAuthError"),
    ],
)
def test_makini_failure_writes_nothing(kv, client_factory, makini, wall, fault, error, caplog):
    caplog.set_level(logging.ERROR, logger="rotation")
    makini.fail_next(**fault)
    wall.advance(days=PERIOD)
    report = tick(kv, client_factory, wall)
    assert KEY in report.failed and kv.writes == []
    assert json.loads(current(kv).value)["token"] == kv.old_token
    assert error in caplog.text


def test_sync_status_fail_writes_nothing(kv, client_factory, makini, wall):
    makini.set_sync_status(CONNECTION_ID, "fail")
    wall.advance(days=PERIOD)
    report = tick(kv, client_factory, wall)
    assert "must reconnect" in report.failed[KEY] and kv.writes == [] and report.tokens_left_live == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KEY_VAULT_URL": ""}, "KEY_VAULT_URL is not set"),
        ({"OAUTH_CLIENT_SECRET_NAME": ""}, "OAUTH_CLIENT_SECRET_NAME is not set"),
        ({"ROTATION_TIME_BUDGET_SECONDS": "forever"}, "ROTATION_TIME_BUDGET_SECONDS='forever'"),
        ({"ROTATION_TIME_BUDGET_SECONDS": "1"}, "from 10 to 3600"),
    ],
)
def test_bad_settings_are_clear_errors(kv, client_factory, wall, env, message):
    with pytest.raises(af.RotationError, match=message):
        rotator(kv, client_factory, wall, env=settings(**env))
    assert kv.writes == []


def test_function_app_registers_one_timer_trigger_on_the_schedule():
    functions = af.app.get_functions()
    assert [f.get_function_name() for f in functions] == [af.FUNCTION_NAME]
    bindings_ = functions[0].get_bindings_dict()["bindings"]
    assert [(b["type"], b["name"], b["schedule"]) for b in bindings_] == [("timerTrigger", "timer", af.SCHEDULE)]


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps({"client_id": 12345, "client_secret": "s"}),
        json.dumps({"client_id": "c", "client_secret": {"v": "s"}}),
        "not json",
    ],
)
def test_a_malformed_oauth_client_fails_the_due_secret_and_nothing_is_sent(kv, makini, client_factory, wall, stored):
    kv.set_secret("oauth-client", stored)
    wall.advance(days=PERIOD)
    report = tick(kv, client_factory, wall)
    assert "must hold JSON" in report.failed[KEY] and report.rotated == []
    assert makini.requests == []


def test_vault_urls_follow_the_environments_cloud():
    assert af.vault_url_for("kv-a", "https://kv-b.vault.azure.cn") == "https://kv-a.vault.azure.cn"
    assert af.vault_url_for("kv-a", VAULT) == "https://kv-a.vault.azure.net"
