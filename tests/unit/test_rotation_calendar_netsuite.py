"""Rotation calendar: NetSuite M2M keys are renewed by hand before the certificate expires, never shown as tokens."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.catalog import SecretKind
from stacks.rotation import Mode, Status, calendar, calendar_dict
from tests.support import base_config, load

KEY = "connections/initech-ns/m2m-key"


def load_raw(validity: int = 730, reminder: int = 30):
    c = base_config()
    c["makini:connections"].append(
        {
            "key": "initech-ns",
            "system": "Oracle NetSuite",
            "tier": 2,
            "deployment": "cloud",
            "makiniId": "0900003",
            "consumers": ["orders"],
            "netsuite": {"certificateValidityDays": validity, "renewalReminderDays": reminder, "signer": "orders"},
        }
    )
    c["makini:credits"]["pool"] = 20
    return c


def netsuite_cfg(validity: int = 730, reminder: int = 30):
    return load(load_raw(validity, reminder))


def entry(cfg, today, not_after=None):
    certs = {"initech-ns": not_after} if not_after else None
    [e] = [e for e in calendar(cfg, today, certificates_not_after=certs) if e.path == KEY]
    return e


def test_m2m_key_is_manual_with_reminder_not_a_token():
    e = entry(netsuite_cfg(), date(2026, 3, 1))
    assert e.kind is SecretKind.NETSUITE_M2M_KEY
    assert e.mode is Mode.MANUAL_WITH_REMINDER and e.period_days == 730
    assert "token" not in e.note and "30-day" not in e.note
    # Undated offline (notAfter is known only after deployment): no invented date.
    assert e.next_date is None and e.status is Status.UNKNOWN
    assert "netsuiteCertificateNotAfter (key initech-ns)" in e.note and "netsuite.certificateNotAfter" in e.note


def test_a_recorded_not_after_dates_the_reminder_offline():
    """Finding 8: with the certificate's notAfter recorded in config, the calendar needs no deployment."""
    c = load_raw()
    c["makini:connections"][-1]["netsuite"]["certificateNotAfter"] = "2027-03-31T10:00:00Z"
    cfg = load(c)
    [e] = [e for e in calendar(cfg, date(2027, 3, 1)) if e.path == KEY]
    assert e.status is Status.REMINDER_DUE and e.next_date == date(2027, 3, 31)
    [e] = [e for e in calendar(cfg, date(2027, 2, 28)) if e.path == KEY]
    assert e.status is not Status.REMINDER_DUE and e.next_date == date(2027, 3, 1)


def test_the_token_of_the_same_connection_still_rotates_automatically():
    [tok] = [e for e in calendar(netsuite_cfg(), date(2026, 3, 1)) if e.path == "connections/initech-ns/token"]
    assert tok.mode is Mode.AUTOMATIC


def test_known_vector_renew_by_date_and_json():
    # notAfter 2027-12-31T10:00Z, 30 days reminder: renew by 2027-12-01 (counted on a calendar by hand).
    cfg = netsuite_cfg()
    e = entry(cfg, date(2027, 6, 1), "2027-12-31T10:00:00Z")
    assert (e.next_date, e.next_event, e.status) == (date(2027, 12, 1), "reminder", Status.OK)
    assert e.last_rotated == date(2025, 12, 31)  # 730 days before 2027-12-31 (365 + 365, no leap day)
    assert entry(cfg, date(2027, 12, 1), "2027-12-31T10:00:00Z").status is Status.REMINDER_DUE
    late = entry(cfg, date(2028, 1, 2), "2027-12-31T10:00:00Z")
    assert late.status is Status.OVERDUE and late.next_date == date(2027, 12, 31) and "expired" in late.note
    data = calendar_dict(cfg, date(2027, 6, 1))
    [d] = [s for s in data["secrets"] if s["path"] == KEY]
    assert d["mode"] == "manual-with-reminder" and d["kind"] == "netsuite-m2m-key" and d["periodDays"] == 730


@settings(max_examples=60, deadline=None)
@given(
    validity=st.integers(min_value=2, max_value=730),
    data=st.data(),
    not_after=st.dates(min_value=date(2025, 1, 1), max_value=date(2035, 12, 31)),
    hour=st.integers(min_value=0, max_value=23),
    offset=st.integers(min_value=-800, max_value=800),
)
def test_next_date_and_status_follow_ordinal_arithmetic(validity, data, not_after, hour, offset):
    reminder = data.draw(st.integers(min_value=1, max_value=validity - 1))
    cfg = netsuite_cfg(validity, reminder)
    today = date.fromordinal(not_after.toordinal() + offset)
    e = entry(cfg, today, f"{not_after.isoformat()}T{hour:02d}:00:00Z")
    renew_ord = not_after.toordinal() - reminder
    assert e.period_days == validity
    assert e.last_rotated == date.fromordinal(not_after.toordinal() - validity)
    if today.toordinal() < renew_ord:
        assert (e.next_date, e.next_event, e.status) == (date.fromordinal(renew_ord), "reminder", Status.OK)
    else:
        assert e.next_date == not_after and e.next_event == "due"
        assert e.status is (Status.OVERDUE if today >= not_after else Status.REMINDER_DUE)
