"""Rotation settings: defaults per environment, the 30-day refusal with its key path, windows, reminders."""

from __future__ import annotations

import pytest

from stacks.catalog import SystemIdentity, build_catalog
from stacks.config import ConfigError
from tests.support import base_config, load


def _with(env="dev", **rotation):
    cfg = base_config(env)
    cfg["makini:rotation"] = rotation
    return cfg


def _problems(cfg) -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        load(cfg)
    return {p.path: p.message for p in err.value.problems}


def test_defaults_prod_7_dev_21():
    assert load(base_config("prod")).rotation.connection_token_days == 7
    assert load(base_config("dev")).rotation.connection_token_days == 21
    staging = base_config("staging")
    staging["makini:production"] = True
    assert load(staging).rotation.connection_token_days == 7
    r = load(base_config("dev")).rotation
    assert (r.enabled, r.rotate_immediately, r.rotation_window) == (True, False, None)
    assert (r.webhook_secret_max_age_days, r.oauth_client_secret_max_age_days, r.reminder_days_before) == (90, 180, 14)


@pytest.mark.parametrize("days", [30, 31, 90])
def test_schedule_not_shorter_than_token_lifetime_is_refused_with_key_path(days):
    problems = _problems(_with(connectionTokenDays=days))
    msg = problems["makini:rotation.connectionTokenDays"]
    assert "not shorter than Makini's 30-day token lifetime" in msg and "refused" in msg


def test_29_days_is_accepted_and_explicit_value_wins_in_prod():
    assert load(_with(connectionTokenDays=29)).rotation.connection_token_days == 29
    assert load(_with("prod", connectionTokenDays=3)).rotation.connection_token_days == 3


@pytest.mark.parametrize("window", ["0h", "25h", "3", "3H", "1d", "03h", " 3h"])
def test_bad_windows_refused(window):
    assert "rotation window" in _problems(_with(rotationWindow=window))["makini:rotation.rotationWindow"]


@pytest.mark.parametrize("window", ["1h", "3h", "24h"])
def test_good_windows(window):
    assert load(_with(rotationWindow=window)).rotation.rotation_window == window


def test_window_must_fit_the_period():
    assert (
        "does not fit"
        in _problems(_with(connectionTokenDays=1, rotationWindow="24h"))["makini:rotation.rotationWindow"]
    )
    assert load(_with(connectionTokenDays=2, rotationWindow="24h"))


def test_disabled_rotation_has_no_period_and_no_rotation_identity():
    cfg = load(_with(enabled=False))
    assert cfg.rotation.connection_token_days is None
    catalog = build_catalog(cfg)
    assert all(SystemIdentity.ROTATION not in s.writers + s.system_readers for s in catalog.secrets)
    assert "enabled is false" in _problems(_with(enabled=False, connectionTokenDays=7))["makini:rotation"]


def test_catalog_writer_only_for_connections_with_makini_id():
    cfg = base_config("dev")
    del cfg["makini:connections"][1]["makiniId"]
    catalog = build_catalog(load(cfg)).by_path()
    assert catalog["connections/acme-sap/token"].writers == (SystemIdentity.ROTATION,)
    assert catalog["connections/globex-mx/token"].writers == ()
    assert SystemIdentity.ROTATION in catalog["oauth/client"].system_readers
    for conn in cfg["makini:connections"]:
        conn.pop("makiniId", None)
    catalog = build_catalog(load(cfg)).by_path()
    assert SystemIdentity.ROTATION not in catalog["oauth/client"].system_readers  # rotates nothing, reads nothing


def test_reminder_must_be_shorter_than_max_ages():
    problems = _problems(_with(reminderDaysBefore=90))
    assert "webhookSecretMaxAgeDays" in problems["makini:rotation.reminderDaysBefore"]


def test_dates_email_and_unknown_keys():
    r = load(
        _with(
            webhookSecretRotatedOn="2026-01-15",
            oauthClientSecretRotatedOn="2025-12-01",
            notifyEmail="oncall@example.com",
        )
    ).rotation
    assert str(r.webhook_secret_rotated_on) == "2026-01-15" and str(r.oauth_client_secret_rotated_on) == "2025-12-01"
    assert "makini:rotation.webhookSecretRotatedOn" in _problems(_with(webhookSecretRotatedOn="15/01/2026"))
    assert "e-mail" in _problems(_with(notifyEmail="oncall"))["makini:rotation.notifyEmail"]
    assert "connectionTokenDays" in _problems(_with(connectionTokenDay=7))["makini:rotation.connectionTokenDay"]
