"""The rotation calendar at its day boundaries, the notes it gives on each side of them, and its JSON document.

Dates are counted by hand on a calendar; the JSON keys are the ones the plan's ``rotation`` key and the
``rotation`` stack output publish (readers script against them). Each test names a behaviour the mutation run
(bench/mutation.py) found unguarded.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from stacks.rotation import (
    HEADERS,
    Deadline,
    Mode,
    Status,
    calendar,
    calendar_dict,
    calendar_rows,
    reminder_deadlines,
    reminder_moment,
)
from tests.support import base_config, load

from .test_rotation_calendar_netsuite import KEY, entry, netsuite_cfg

NOT_AFTER = "2027-12-31T10:00:00Z"  # 30 days before: 2027-12-01 (renew by); 730 days before: 2025-12-31


def hook_cfg(**rotation):
    c = base_config("prod")
    c["makini:rotation"] = {"webhookSecretRotatedOn": "2026-09-01", **rotation}
    return load(c)


def hook(today: date, **rotation):
    [e] = [e for e in calendar(hook_cfg(**rotation), today) if e.path == "webhook/secret"]
    return e


# --- hand-issued secrets: 2026-09-01 + 90 days = 2026-11-30 (due); 14 days before: 2026-11-16 (reminder) ------


def test_before_the_reminder_the_secret_is_ok_and_the_note_says_when_the_reminder_comes():
    e = hook(date(2026, 11, 15))
    assert (e.status, e.next_date, e.next_event) == (Status.OK, date(2026, 11, 16), "reminder")
    assert e.note == "reminder 14 days before the maximum age"


def test_from_the_reminder_day_the_note_asks_for_a_new_secret():
    e = hook(date(2026, 11, 16))
    assert (e.status, e.next_date, e.next_event) == (Status.REMINDER_DUE, date(2026, 11, 30), "due")
    assert e.note == "14 days left: issue a new one in Makini"
    assert hook(date(2026, 11, 29)).note == "1 days left: issue a new one in Makini"


def test_on_the_due_day_the_secret_is_overdue():
    e = hook(date(2026, 11, 30))
    assert (e.status, e.next_date, e.next_event) == (Status.OVERDUE, date(2026, 11, 30), "due")
    assert e.note == "past its maximum age since 2026-11-30: issue a new one in Makini now"
    assert (e.as_dict()["status"], e.row()[-1]) == ("overdue", "overdue")


def test_the_reminder_follows_the_configured_lead_time():
    e = hook(date(2026, 11, 1), reminderDaysBefore=30, webhookSecretMaxAgeDays=60)  # due 2026-10-31: overdue
    assert e.status is Status.OVERDUE and e.period_days == 60
    e = hook(date(2026, 10, 1), reminderDaysBefore=30)  # reminder 2026-10-31
    assert (e.status, e.next_date, e.note) == (Status.OK, date(2026, 10, 31), "reminder 30 days before the maximum age")


def test_an_undated_secret_names_the_setting_that_dates_it():
    c = base_config("prod")
    [e] = [e for e in calendar(load(c), date(2026, 11, 1)) if e.path == "oauth/client"]
    assert (e.mode, e.period_days, e.last_rotated, e.next_date, e.next_event, e.status) == (
        Mode.MANUAL_WITH_REMINDER,
        180,
        None,
        None,
        "",
        Status.UNKNOWN,
    )
    assert e.note == (
        "the reminder needs the date the current secret was issued: "
        "pulumi config set --path 'makini:rotation.oauthClientSecretRotatedOn' YYYY-MM-DD"
    )


# --- NetSuite M2M keys: renew by 2027-12-01, expiry 2027-12-31 -------------------------------------------------


def test_netsuite_the_day_before_renew_by_is_ok():
    e = entry(netsuite_cfg(), date(2027, 11, 30), NOT_AFTER)
    assert (e.status, e.next_date, e.next_event) == (Status.OK, date(2027, 12, 1), "reminder")
    assert e.note == "renew by 2027-12-01 (30 days before the certificate expires)"
    assert (e.last_rotated, e.connection) == (date(2025, 12, 31), "initech-ns")


def test_netsuite_on_the_renew_by_day_the_renewal_is_due():
    e = entry(netsuite_cfg(), date(2027, 12, 1), NOT_AFTER)
    assert (e.status, e.next_date, e.next_event) == (Status.REMINDER_DUE, date(2027, 12, 31), "due")
    assert e.note.startswith("certificate expires on 2027-12-31 (30 days left): replace the key pair")


def test_netsuite_on_the_expiry_day_the_certificate_has_expired():
    e = entry(netsuite_cfg(), date(2027, 12, 31), NOT_AFTER)
    assert (e.status, e.next_date, e.next_event) == (Status.OVERDUE, date(2027, 12, 31), "due")
    assert e.note.startswith("certificate expired on 2027-12-31: NetSuite refuses its tokens; replace the key pair")
    assert e.note.endswith(" now")


@pytest.mark.parametrize(
    ("not_after", "renew_on"),
    [
        ("2027-12-31T00:30:00+02:00", date(2027, 11, 30)),  # 2027-12-30T22:30Z
        ("2027-12-31T10:00:00", date(2027, 12, 1)),  # no offset: UTC
        ("2027-12-30T23:59:59-00:30", date(2027, 12, 1)),  # 2027-12-31T00:29:59Z
    ],
)
def test_netsuite_dates_are_utc_days(not_after, renew_on):
    e = entry(netsuite_cfg(), date(2027, 6, 1), not_after)
    assert e.next_date == renew_on
    assert e.last_rotated == date.fromordinal(renew_on.toordinal() + 30 - 730)


# --- tokens ---------------------------------------------------------------------------------------------------


def test_token_notes_say_how_and_when_they_rotate():
    c = base_config("dev")
    del c["makini:connections"][1]["makiniId"]
    entries = {e.path: e for e in calendar(load(c), date(2026, 11, 1))}
    auto, manual = entries["connections/acme-sap/token"], entries["connections/globex-mx/token"]
    assert auto.note == "rotated automatically every 21 days; first rotation 21 days after deployment"
    assert (auto.connection, auto.last_rotated, auto.next_date, auto.next_event) == ("acme-sap", None, None, "")
    assert manual.note == (
        "not rotated automatically (the connection has no makiniId): issue a new token in Makini within the "
        "30-day token lifetime"
    )
    assert (manual.period_days, manual.status, manual.connection) == (30, Status.UNKNOWN, "globex-mx")
    c["makini:rotation"] = {"rotateImmediately": True, "rotationWindow": "4h", "connectionTokenDays": 5}
    auto = next(e for e in calendar(load(c), date(2026, 11, 1)) if e.path == "connections/acme-sap/token")
    assert auto.note == "rotated automatically every 5 days, window 4h; first rotation at deployment"
    c["makini:rotation"] = {"enabled": False}
    off = next(e for e in calendar(load(c), date(2026, 11, 1)) if e.path == "connections/acme-sap/token")
    assert off.mode is Mode.MANUAL and "(rotation is disabled)" in off.note


# --- the table and the JSON document ---------------------------------------------------------------------------


def test_the_table_rows():
    c = base_config("prod")
    del c["makini:connections"][1]["makiniId"]
    c["makini:rotation"] = {"webhookSecretRotatedOn": "2026-09-01"}
    rows = {r[1]: r for r in calendar_rows(calendar(load(c), date(2026, 11, 1)))}
    assert HEADERS == ("environment", "secret", "mode", "period/max age", "last rotated", "next", "status")
    assert rows["connections/acme-sap/token"] == (
        "prod",
        "connections/acme-sap/token",
        "automatic",
        "7 d",
        "unknown",
        "every 7 d",
        "scheduled",
    )
    assert rows["connections/globex-mx/token"] == (
        "prod",
        "connections/globex-mx/token",
        "manual",
        "30 d",
        "unknown",
        "-",
        "unknown",
    )
    assert rows["webhook/secret"] == (
        "prod",
        "webhook/secret",
        "manual-with-reminder",
        "90 d",
        "2026-09-01",
        "reminder 2026-11-16",
        "ok",
    )


def test_the_json_document_has_every_key_of_the_published_shape():
    cfg = netsuite_cfg()
    data = calendar_dict(cfg, date(2026, 11, 29))
    assert {k: v for k, v in data.items() if k != "secrets"} == {
        "environment": "dev",
        "asOf": "2026-11-29",
        "enabled": True,
        "connectionTokenDays": 21,
        "rotationWindow": None,
        "rotateImmediately": False,
        "reminderDaysBefore": 14,
    }
    by_path = {s["path"]: s for s in data["secrets"]}
    assert by_path["connections/acme-sap/token"] == {
        "environment": "dev",
        "path": "connections/acme-sap/token",
        "kind": "connection-token",
        "connection": "acme-sap",
        "makiniId": "0900001",
        "mode": "automatic",
        "periodDays": 21,
        "lastRotated": None,
        "nextDate": None,
        "nextEvent": None,
        "status": "scheduled",
        "note": "rotated automatically every 21 days; first rotation 21 days after deployment",
    }
    assert by_path[KEY]["connection"] == "initech-ns" and by_path[KEY]["status"] == "unknown"


def test_the_json_entry_of_a_dated_secret_carries_its_dates():
    c = base_config("prod")
    c["makini:rotation"] = {"webhookSecretRotatedOn": "2026-09-01"}
    [e] = [e for e in calendar(load(c), date(2026, 11, 1)) if e.path == "webhook/secret"]
    assert e.as_dict() == {
        "environment": "prod",
        "path": "webhook/secret",
        "kind": "webhook-secret",
        "connection": None,
        "makiniId": None,
        "mode": "manual-with-reminder",
        "periodDays": 90,
        "lastRotated": "2026-09-01",
        "nextDate": "2026-11-16",
        "nextEvent": "reminder",
        "status": "ok",
        "note": "reminder 14 days before the maximum age",
    }


def test_reminder_deadlines_name_both_hand_issued_secrets():
    deadlines = reminder_deadlines(hook_cfg(oauthClientSecretRotatedOn="2026-01-01"))
    assert set(deadlines) == {"webhook/secret", "oauth/client"}
    hook_deadline, oauth = deadlines["webhook/secret"], deadlines["oauth/client"]
    assert hook_deadline is not None and (hook_deadline.due, hook_deadline.reminder) == (
        date(2026, 11, 30),
        date(2026, 11, 16),
    )
    assert oauth is not None and oauth.due == date(2026, 6, 30)
    assert reminder_deadlines(load(base_config()))["oauth/client"] is None


RENEW = (
    "replace the key pair (pulumi up --replace on its tls:index/privateKey:PrivateKey) and upload the new "
    "certificate to the integration record"
)


def test_every_field_of_a_dated_netsuite_entry():
    e = entry(netsuite_cfg(), date(2027, 12, 1), NOT_AFTER)
    assert e.as_dict() == {
        "environment": "dev",
        "path": KEY,
        "kind": "netsuite-m2m-key",
        "connection": "initech-ns",
        "makiniId": None,
        "mode": "manual-with-reminder",
        "periodDays": 730,
        "lastRotated": "2025-12-31",
        "nextDate": "2027-12-31",
        "nextEvent": "due",
        "status": "reminder-due",
        "note": f"certificate expires on 2027-12-31 (30 days left): {RENEW}",
    }
    assert entry(netsuite_cfg(), date(2028, 1, 1), NOT_AFTER).note == (
        f"certificate expired on 2027-12-31: NetSuite refuses its tokens; {RENEW} now"
    )


def test_every_field_of_an_undated_netsuite_entry():
    e = entry(netsuite_cfg(), date(2027, 12, 1))
    assert (e.environment, e.kind.value, e.mode, e.next_event, e.last_rotated) == (
        "dev",
        "netsuite-m2m-key",
        Mode.MANUAL_WITH_REMINDER,
        "",
        None,
    )
    assert e.note == (
        "certificate valid 730 days from creation; renew by 30 days before expiry. No date is recorded, so no "
        "reminder can fire: copy the stack output netsuiteCertificateNotAfter (key initech-ns) into "
        f"makini:connections[2].netsuite.certificateNotAfter. Then: {RENEW}"
    )


def test_every_field_of_undated_hand_issued_and_manual_entries():
    c = base_config("prod")
    del c["makini:connections"][1]["makiniId"]
    entries = {e.path: e for e in calendar(load(c), date(2026, 11, 1))}
    assert entries["webhook/secret"].as_dict() == {
        "environment": "prod",
        "path": "webhook/secret",
        "kind": "webhook-secret",
        "connection": None,
        "makiniId": None,
        "mode": "manual-with-reminder",
        "periodDays": 90,
        "lastRotated": None,
        "nextDate": None,
        "nextEvent": None,
        "status": "unknown",
        "note": "the reminder needs the date the current secret was issued: pulumi config set --path "
        "'makini:rotation.webhookSecretRotatedOn' YYYY-MM-DD",
    }
    manual = entries["connections/globex-mx/token"]
    assert (manual.environment, manual.kind.value, manual.next_event) == ("prod", "connection-token", "")
    assert manual.as_dict()["nextEvent"] is None


def test_the_json_document_dates_what_it_knows_as_of_its_day():
    data = calendar_dict(hook_cfg(), date(2026, 11, 16))
    [hook_entry] = [s for s in data["secrets"] if s["path"] == "webhook/secret"]
    assert (hook_entry["lastRotated"], hook_entry["nextDate"], hook_entry["status"]) == (
        "2026-09-01",
        "2026-11-30",
        "reminder-due",
    )


@pytest.fixture
def new_york(monkeypatch):
    """The machine's local zone is New York (UTC-5 in December): dates must still be UTC days."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "not_after",
    [
        "2027-12-31T02:00:00Z",  # 2027-12-30 in New York
        "2027-12-31T22:00:00",  # no offset means UTC; read as New York time it would be 2028-01-01 in UTC
    ],
)
def test_netsuite_dates_are_utc_days_whatever_the_machine_s_zone(new_york, not_after):
    e = entry(netsuite_cfg(), date(2027, 6, 1), not_after)
    assert (e.next_date, e.last_rotated) == (date(2027, 12, 1), date(2025, 12, 31))
    assert entry(netsuite_cfg(), date(2027, 12, 31), not_after).status is Status.OVERDUE


def test_on_the_reminder_day_the_one_time_reminder_moves_to_the_due_date():
    deadline = reminder_deadlines(hook_cfg())["webhook/secret"]
    assert deadline is not None
    assert reminder_moment(deadline, date(2026, 11, 15)) == datetime(2026, 11, 16, 9, tzinfo=UTC)
    assert reminder_moment(deadline, date(2026, 11, 16)) == datetime(2026, 11, 30, 9, tzinfo=UTC)
    assert reminder_moment(deadline, date(2026, 11, 30)) is None


@pytest.mark.parametrize(("max_age", "reminder"), [(0, 0), (5, -1), (5, 5), (5, 6)])
def test_a_deadline_needs_a_reminder_inside_its_maximum_age(max_age, reminder):
    with pytest.raises(ValueError) as raised:
        Deadline(date(2026, 1, 1), max_age, reminder)
    assert str(raised.value) == "need max_age_days >= 1 and 0 <= reminder_days < max_age_days"
