"""The one place the program reads the wall clock (UTC).

Everything date-dependent (the rotation calendar, reminder moments, the offline harness's certificate
dates) asks here, so tests and snapshots can pin "now" by patching :func:`utc_now`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_today() -> date:
    return utc_now().date()
