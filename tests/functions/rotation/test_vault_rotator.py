"""The Vault KV v2 rotator through real hvac against an in-memory KV v2, and the fake Makini."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest
from rotation import vault_rotator as vr

from .conftest import CONNECTION_ID
from .fake_vault import InMemoryKV2

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
MOUNT = "makini-prod"


@pytest.fixture
def kv(makini):
    store = InMemoryKV2(MOUNT)
    store.put("oauth-client", {"client_id": makini.client_id, "client_secret": makini.client_secret})
    store.old_token = makini.mint_connection_token(CONNECTION_ID)
    makini.add_connection("c-dev")
    store.put(
        "connections/acme-netsuite",
        {"token": store.old_token, "connection_id": CONNECTION_ID, "issued_at": "2025-02-01T00:00:00Z"},
        {
            "makini_connection_id": CONNECTION_ID,
            "rotation_period_days": "7",
            "last_rotated": "2025-02-20T00:00:00Z",
            "owner": "team-a",
        },
        delete_version_after="720h",
    )
    store.put(
        "connections/eu/fresh",
        {"token": makini.mint_connection_token("c-dev"), "connection_id": "c-dev", "issued_at": ""},
        {"makini_connection_id": "c-dev", "rotation_period_days": "30", "last_rotated": "2025-02-20T00:00:00Z"},
    )
    store.put("connections/notes", {"text": "not a token"}, {})
    return store


def rotator(kv, client_factory):
    return vr.VaultRotator(kv.client(), client_factory(), mount=MOUNT, now=lambda: NOW)


def test_rotates_only_due_connection_tokens(kv, makini, client_factory):
    report = rotator(kv, client_factory).run()
    assert report.rotated == ["connections/acme-netsuite"]
    assert report.not_due == ["connections/eu/fresh"]
    assert report.skipped == ["connections/notes"]
    assert report.failed == {}

    entry = kv.entries["connections/acme-netsuite"]
    assert len(entry.versions) == 2
    new = entry.versions[-1]
    assert set(new) == {"token", "connection_id", "issued_at"} and new["connection_id"] == CONNECTION_ID
    assert makini.token_is_valid(new["token"]) and makini.token_is_valid(kv.old_token)
    assert entry.custom_metadata == {
        "makini_connection_id": CONNECTION_ID,
        "rotation_period_days": "7",
        "last_rotated": "2025-03-01T12:00:00Z",
        "owner": "team-a",
    }
    assert entry.delete_version_after == "720h"  # not clobbered by hvac's "0s" default
    writes = [(m, p, b) for m, p, b in kv.calls if m == "POST" and "/data/" in p]
    assert writes[0][2]["options"] == {"cas": 1}


def test_paths_outside_the_rotators_policy_are_skipped_not_failures(kv, client_factory, makini):
    """The deployed policy lists only rotated connections' folders and reads only their token metadata:
    a connection without a Makini id, or a NetSuite M2M key beside a token, answers 403 and is skipped."""
    kv.put("connections/manual-erp/token", {"token": "t", "connection_id": None, "issued_at": ""}, {})
    kv.put("connections/acme-netsuite-m2m/m2m-key", {"pem": "k"}, {"kind": "netsuite-m2m-key"})
    kv.denied_prefixes = ("connections/manual-erp", "connections/acme-netsuite-m2m/m2m-key")
    report = rotator(kv, client_factory).run()
    assert report.failed == {}
    assert report.rotated == ["connections/acme-netsuite"]
    assert "connections/acme-netsuite-m2m/m2m-key" in report.skipped
    assert not any(p.startswith("connections/manual-erp") for p in report.rotated + report.not_due)


def test_second_run_is_a_no_op(kv, client_factory):
    rotator(kv, client_factory).run()
    report = rotator(kv, client_factory).run()
    assert report.rotated == [] and "connections/acme-netsuite" in report.not_due
    assert len(kv.entries["connections/acme-netsuite"].versions) == 2


def test_never_rotated_is_due(kv, client_factory):
    del kv.entries["connections/eu/fresh"].custom_metadata["last_rotated"]
    assert "connections/eu/fresh" in rotator(kv, client_factory).run().rotated


def test_path_option_rotates_now_even_if_not_due(kv, client_factory):
    report = rotator(kv, client_factory).run(only="connections/eu/fresh")
    assert report.rotated == ["connections/eu/fresh"]
    assert len(kv.entries["connections/acme-netsuite"].versions) == 1


def test_dry_run_changes_nothing(kv, client_factory, makini):
    report = rotator(kv, client_factory).run(dry_run=True)
    assert report.rotated == ["connections/acme-netsuite"]
    assert len(kv.entries["connections/acme-netsuite"].versions) == 1
    assert makini.requests == []


def test_cas_conflict_is_reported_and_concurrent_write_wins(kv, client_factory, makini):
    r = rotator(kv, client_factory)
    real_issue = r.makini.issue_connection_token

    def issue_while_someone_writes(system, conn):
        issued = real_issue(system, conn)
        kv.put(
            "connections/acme-netsuite",
            {"token": "written-by-someone-else", "connection_id": CONNECTION_ID},
            kv.entries["connections/acme-netsuite"].custom_metadata,
            "720h",
        )
        return issued

    r.makini.issue_connection_token = issue_while_someone_writes
    report = r.run()
    assert "check-and-set" in report.failed["connections/acme-netsuite"]
    assert kv.latest("connections/acme-netsuite")["token"] == "written-by-someone-else"


@pytest.mark.parametrize("fault", [dict(status=401), dict(status=503, count=50), dict(status=429, count=50)])
def test_makini_failure_leaves_current_version(kv, client_factory, makini, fault):
    makini.fail_next(**fault)
    report = rotator(kv, client_factory).run()
    assert "connections/acme-netsuite" in report.failed
    assert kv.latest("connections/acme-netsuite")["token"] == kv.old_token
    assert kv.entries["connections/acme-netsuite"].custom_metadata["last_rotated"] == "2025-02-20T00:00:00Z"


def test_sync_status_fail_writes_nothing(kv, client_factory, makini):
    makini.set_sync_status(CONNECTION_ID, "fail")
    report = rotator(kv, client_factory).run()
    assert "must reconnect" in report.failed["connections/acme-netsuite"]
    assert len(kv.entries["connections/acme-netsuite"].versions) == 1


def test_metadata_failure_after_write_is_reported_and_retried_next_run(kv, client_factory, makini):
    kv.fail_metadata_write = 1
    first = rotator(kv, client_factory).run()
    assert "connections/acme-netsuite" in first.failed
    written = kv.latest("connections/acme-netsuite")["token"]
    assert makini.token_is_valid(written)  # the new version is usable even though metadata lagged
    second = rotator(kv, client_factory).run()
    assert second.rotated == ["connections/acme-netsuite"]


def test_bad_period_is_a_clear_failure(kv, client_factory):
    kv.entries["connections/acme-netsuite"].custom_metadata["rotation_period_days"] = "weekly"
    report = rotator(kv, client_factory).run()
    assert "rotation_period_days='weekly'" in report.failed["connections/acme-netsuite"]


def test_logs_never_contain_tokens(kv, client_factory, makini, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    rotator(kv, client_factory).run()
    assert "rotated" in caplog.text
    for secret in [kv.latest("connections/acme-netsuite")["token"], kv.old_token, makini.client_secret]:
        assert secret not in caplog.text


def test_main_exit_codes_and_report(kv, client_factory, makini, capsys):
    env = {"VAULT_MOUNT": MOUNT}
    code = vr.main([], env=env, vault_factory=lambda e: kv.client(), makini_factory=client_factory)
    out = json.loads(capsys.readouterr().out)
    # main() uses the real clock, long past both secrets' due dates (2025-02-27 and 2025-03-22)
    assert code == 0 and sorted(out["rotated"]) == ["connections/acme-netsuite", "connections/eu/fresh"]
    makini.fail_next(401)
    code = vr.main(
        ["--path", "connections/eu/fresh"], env=env, vault_factory=lambda e: kv.client(), makini_factory=client_factory
    )
    assert code == 1
    assert vr.main([], env={}, vault_factory=lambda e: kv.client(), makini_factory=client_factory) == 2
    assert "VAULT_MOUNT is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "VAULT_ADDR is not set"),
        ({"VAULT_ADDR": "https://v"}, "VAULT_TOKEN is not set"),
        ({"VAULT_ADDR": "https://v", "VAULT_AUTH_METHOD": "kubernetes"}, "VAULT_AUTH_ROLE is not set"),
        (
            {
                "VAULT_ADDR": "https://v",
                "VAULT_AUTH_METHOD": "kubernetes",
                "VAULT_AUTH_ROLE": "r",
                "VAULT_JWT_FILE": "/nonexistent/jwt",
            },
            "cannot read the workload JWT",
        ),
        (
            {
                "VAULT_ADDR": "https://v",
                "VAULT_AUTH_METHOD": "ldap",
                "VAULT_AUTH_ROLE": "r",
                "VAULT_JWT_FILE": __file__,
            },
            "not one of token, kubernetes, jwt",
        ),
    ],
)
def test_vault_client_config_errors(env, message):
    with pytest.raises(vr.ConfigError, match=message):
        vr.vault_client_from_env(env)


# -- token lifetime: must outlive rotation_period_days + 1 day --------------------------------


@pytest.mark.parametrize("expires_in", [300, 7 * 86400, 8 * 86400 - 1])
def test_short_lived_token_is_refused_and_nothing_written(kv, makini, client_factory, expires_in):
    makini.connection_token_lifetime = expires_in
    entry = kv.entries["connections/acme-netsuite"]
    versions_before, meta_before = list(entry.versions), dict(entry.custom_metadata)
    report = rotator(kv, client_factory).run(only="connections/acme-netsuite")
    assert report.rotated == []
    message = report.failed["connections/acme-netsuite"]
    assert f"expires in {expires_in} s" in message and "rotation_period_days" in message
    assert "at least 8 days" in message and "Nothing was written" in message
    assert makini.tokens_issued(CONNECTION_ID)[-1] not in message
    assert entry.versions == versions_before and entry.custom_metadata == meta_before


@pytest.mark.parametrize("expires_in", [8 * 86400, None])
def test_long_or_absent_lifetime_rotates(kv, makini, client_factory, expires_in):
    makini.connection_token_lifetime = expires_in
    report = rotator(kv, client_factory).run(only="connections/acme-netsuite")
    assert report.rotated == ["connections/acme-netsuite"] and report.failed == {}
    assert len(kv.entries["connections/acme-netsuite"].versions) == 2
