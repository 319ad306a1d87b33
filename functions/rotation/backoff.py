"""Pure retry arithmetic for the Makini client: Retry-After parsing and bounded backoff.

Kept free of I/O so its bounds are checked with property-based tests.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass
from datetime import UTC, datetime

# A Retry-After beyond this is treated as "not worth waiting for inside one invocation".
MAX_RETRY_AFTER_SECONDS = 3600.0
_DELTA_SECONDS = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,6})?", re.ASCII)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (RFC 9110: delta-seconds or HTTP-date).

    Returns None when the header is missing or unreadable; never a negative number.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):  # RFC 9110 delta-seconds (ASCII digits; a fraction tolerated)
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    if not any(c.isalpha() for c in text):
        return None  # not a number and not an HTTP-date ("-5", "inf" has letters but fails below)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_SECONDS)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client may wait between attempts.

    ``max_attempts`` counts every request (first try included). ``max_total_wait`` caps the sum
    of all sleeps in one call, so a Lambda never sleeps past its own timeout.
    """

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_total_wait: float = 20.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_total_wait < 0:
            raise ValueError("RetryPolicy delays must be >= 0")


def backoff_delay(attempt: int, policy: RetryPolicy, jitter: float) -> float:
    """Exponential backoff with "equal jitter" for retry number ``attempt`` (0-based).

    ``jitter`` in [0, 1] (from an injectable random source). The result lies in
    [ceiling / 2, ceiling] where ceiling = min(max_delay, base_delay * 2**attempt).
    """
    jitter = min(1.0, max(0.0, jitter))
    exponent = min(max(0, attempt), 62)
    ceiling = min(policy.max_delay, policy.base_delay * (2.0**exponent))
    return ceiling / 2.0 + (ceiling / 2.0) * jitter


def next_wait(
    *,
    attempt: int,
    retry_after: float | None,
    waited_so_far: float,
    policy: RetryPolicy,
    jitter: float,
    time_left: float | None = None,
) -> float | None:
    """How long to sleep before the next attempt, or None to give up now.

    - No attempts left -> None.
    - Retry-After given -> exactly that long (the server asked for it), or None if honouring it
      would exceed the wait budget or the time left before the caller's deadline.
    - Otherwise exponential backoff, clipped to the remaining budget (None if nothing is left).
    """
    if attempt + 1 >= policy.max_attempts:
        return None
    budget = policy.max_total_wait - waited_so_far
    if time_left is not None:
        budget = min(budget, time_left)
    if budget <= 0:
        return None
    if retry_after is not None:
        wait = max(0.0, retry_after)
        return wait if wait <= budget else None
    wait = backoff_delay(attempt, policy, jitter)
    return min(wait, budget)
