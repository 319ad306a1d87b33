"""The rotation calendar: modes per secret, and property-based checks of the date arithmetic
(oracle: ordinal-day arithmetic, independent of timedelta)."""

from __future__ import annotations

import json
from datetime import UTC, date

from hypothesis import given
from hypothesis import strategies as st

from stacks.rotation import Deadline, Mode, Status, calendar, calendar_dict, reminder_moment
from tests.support import base_config, load

dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31))


@st.composite
def deadlines(draw):
    max_age = draw(st.integers(1, 3650))
    return Deadline(draw(dates), max_age, draw(st.integers(0, max_age - 1)))


@given(deadlines())
def test_due_and_reminder_by_ordinals(d):
    assert d.due.toordinal() == d.rotated_on.toordinal() + d.max_age_days
    assert d.reminder.toordinal() == d.due.toordinal() - d.reminder_days
    assert d.rotated_on < d.reminder <= d.due


@given(deadlines(), dates)
def test_status_partitions_time(d, today):
    s = d.status(today)
    t = today.toordinal()
    expected = (
        Status.OVERDUE if t >= d.due.toordinal() else Status.REMINDER_DUE if t >= d.reminder.toordinal() else Status.OK
    )
    assert s is expected
    assert d.days_left(today) == d.due.toordinal() - t
    assert (s is Status.OVERDUE) == (d.days_left(today) <= 0)


@given(deadlines(), dates, dates)
def test_status_is_monotonic_in_time(d, a, b):
    order = [Status.OK, Status.REMINDER_DUE, Status.OVERDUE]
    early, late = sorted((a, b))
    assert order.index(d.status(early)) <= order.index(d.status(late))


@given(deadlines(), dates)
def test_next_date_is_the_reminder_while_ahead_else_the_due_date(d, today):
    nxt = d.next_date(today)
    assert nxt == (d.reminder if today < d.reminder else d.due)


@given(deadlines(), dates)
def test_reminder_moment_is_in_the_future_at_nine_utc_or_none_when_overdue(d, today):
    m = reminder_moment(d, today)
    if today >= d.due:
        assert m is None
    else:
        assert m is not None and m.tzinfo == UTC and (m.hour, m.minute) == (9, 0)
        assert m.date() > today and m.date() in (d.reminder, d.due)
        assert m.date() == (d.reminder if d.reminder > today else d.due)


def test_deadline_refuses_reminder_not_before_due():
    import pytest

    with pytest.raises(ValueError):
        Deadline(date(2026, 1, 1), 10, 10)


def test_calendar_modes_per_secret():
    cfg = base_config("prod")
    del cfg["makini:connections"][1]["makiniId"]
    cfg["makini:rotation"] = {
        "webhookSecretRotatedOn": "2026-09-01",
        "oauthClientSecretRotatedOn": "2026-01-01",
        "rotationWindow": "3h",
    }
    entries = {e.path: e for e in calendar(load(cfg), date(2026, 11, 1))}
    auto = entries["connections/acme-sap/token"]
    assert (auto.mode, auto.period_days, auto.status) == (Mode.AUTOMATIC, 7, Status.SCHEDULED)
    assert "window 3h" in auto.note
    manual = entries["connections/globex-mx/token"]
    assert manual.mode is Mode.MANUAL and "makiniId" in manual.note
    hook = entries["webhook/secret"]  # 2026-09-01 + 90 = 2026-11-30; reminder 2026-11-16
    assert (hook.mode, hook.next_date, hook.next_event, hook.status) == (
        Mode.MANUAL_WITH_REMINDER,
        date(2026, 11, 16),
        "reminder",
        Status.OK,
    )
    oauth = entries["oauth/client"]  # 2026-01-01 + 180 = 2026-06-30: overdue
    assert (oauth.next_date, oauth.status) == (date(2026, 6, 30), Status.OVERDUE)


def test_calendar_dict_is_json_and_names_missing_dates():
    data = calendar_dict(load(base_config("dev")), date(2026, 11, 29))
    assert json.loads(json.dumps(data)) == data
    assert data["connectionTokenDays"] == 21 and data["asOf"] == "2026-11-29"
    hook = next(s for s in data["secrets"] if s["path"] == "webhook/secret")
    assert hook["status"] == "unknown" and "webhookSecretRotatedOn" in hook["note"] and hook["nextDate"] is None
