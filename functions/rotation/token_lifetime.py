"""Is a freshly issued connection token going to outlive the next rotation? (pure, no I/O)

Makini may return ``expires_in`` (seconds) with a new connection token. A token that expires before
the next rotation would, once promoted, break every consumer until then, so all three rotators call
:func:`check_token_lifetime` after issuing and before writing or staging anything.
"""

from __future__ import annotations

import re

DAY = 86_400
#: the token must outlive the next rotation by at least this much (retries, late schedules)
SAFETY_MARGIN_SECONDS = DAY
#: when the rotation period cannot be known (e.g. a cron schedule): require this lifetime
UNKNOWN_PERIOD_MIN_SECONDS = 30 * DAY

_RATE_RE = re.compile(r"rate\(\s*(\d+)\s+(day|days|hour|hours)\s*\)")


class TokenLifetimeTooShort(Exception):
    """The issued token expires too soon; nothing was written. The message names no token."""


def _days(seconds: float) -> str:
    days = seconds / DAY
    return f"{days:g} day" + ("" if days == 1 else "s") if days == int(days) else f"{days:.2f} days"


def _duration(seconds: int) -> str:
    if seconds >= DAY:
        return _days(seconds)
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{max(seconds, 0) / 60:g} minutes"


def required_seconds(period_seconds: float | None) -> float:
    """Minimum ``expires_in`` for a rotation period (None: unknown period)."""
    if period_seconds is None:
        return UNKNOWN_PERIOD_MIN_SECONDS
    return period_seconds + SAFETY_MARGIN_SECONDS


def check_token_lifetime(
    expires_in: int | None, period_seconds: float | None, *, where: str, period_source: str
) -> None:
    """Raise :class:`TokenLifetimeTooShort` if ``expires_in`` is known and shorter than the period
    plus the safety margin (or than 30 days when the period is unknown). ``expires_in=None``
    (Makini did not say) passes."""
    if expires_in is None:
        return
    required = required_seconds(period_seconds)
    if expires_in >= required:
        return
    if period_seconds is None:
        need = f"at least {_days(required)} because the rotation period is unknown ({period_source})"
    else:
        need = (
            f"at least {_days(required)}: the rotation period of {_days(period_seconds)} ({period_source}) "
            f"plus a {_days(SAFETY_MARGIN_SECONDS)} safety margin"
        )
    raise TokenLifetimeTooShort(
        f"{where}: Makini issued a connection token that expires in {expires_in} s ({_duration(expires_in)}); "
        f"it must last {need}, or consumers would hold an expired token before the next rotation. "
        "Nothing was written and the current token is unchanged. Fix: shorten the rotation period "
        "below the token lifetime minus 1 day, or have Makini issue longer-lived tokens."
    )


def aws_rotation_period_seconds(rotation_rules: object) -> tuple[float | None, str]:
    """The rotation period of a Secrets Manager secret from DescribeSecret's ``RotationRules``:
    ``ScheduleExpression`` ``rate(N days|hours)``, else ``AutomaticallyAfterDays``. A schedule that
    is not a rate (``cron(...)``) or no rule at all gives ``None`` (unknown)."""
    rules = rotation_rules if isinstance(rotation_rules, dict) else {}
    expr = rules.get("ScheduleExpression")
    if isinstance(expr, str) and expr.strip():
        m = _RATE_RE.fullmatch(expr.strip())
        if m is None:
            return None, f"RotationRules.ScheduleExpression {expr.strip()[:80]!r} is not a rate()"
        n, unit = int(m.group(1)), m.group(2)
        return float(n * (DAY if unit.startswith("day") else 3600)), f"RotationRules.ScheduleExpression {m.group(0)}"
    days = rules.get("AutomaticallyAfterDays")
    if isinstance(days, int) and not isinstance(days, bool) and days > 0:
        return float(days * DAY), f"RotationRules.AutomaticallyAfterDays={days}"
    return None, "DescribeSecret has no RotationRules"
