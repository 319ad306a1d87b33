"""Property-based bounds of the retry arithmetic (Retry-After parsing, backoff, wait budget)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from hypothesis import given
from hypothesis import strategies as st
from rotation.backoff import MAX_RETRY_AFTER_SECONDS, RetryPolicy, backoff_delay, next_wait, parse_retry_after

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(1, 10),
    base_delay=st.floats(0, 5, allow_nan=False),
    max_delay=st.floats(0, 60, allow_nan=False),
    max_total_wait=st.floats(0, 120, allow_nan=False),
)
unit = st.floats(0, 1, allow_nan=False)


@given(st.integers(0, 100), policies, unit)
def test_backoff_within_equal_jitter_bounds(attempt, policy, jitter):
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(attempt, 62))
    delay = backoff_delay(attempt, policy, jitter)
    assert ceiling / 2 - 1e-9 <= delay <= ceiling + 1e-9


@given(st.integers(0, 30), policies, unit)
def test_backoff_ceiling_never_decreases(attempt, policy, jitter):
    assert backoff_delay(attempt + 1, policy, 1.0) >= backoff_delay(attempt, policy, 1.0)


@given(st.integers(0, 10**7))
def test_retry_after_seconds_are_honoured_up_to_the_cap(seconds):
    assert parse_retry_after(str(seconds)) == min(float(seconds), MAX_RETRY_AFTER_SECONDS)


@given(st.integers(-(10**6), 10**6))
def test_retry_after_http_date(offset):
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=offset), usegmt=True)
    assert parse_retry_after(header, now) == min(max(0.0, float(offset)), MAX_RETRY_AFTER_SECONDS)


@given(st.text(max_size=40))
def test_retry_after_garbage_is_none_or_non_negative(text):
    value = parse_retry_after(text)
    assert value is None or 0 <= value <= MAX_RETRY_AFTER_SECONDS


@given(
    policies,
    st.lists(st.one_of(st.none(), st.floats(0, 200, allow_nan=False)), max_size=15),
    unit,
    st.one_of(st.none(), st.floats(-5, 100, allow_nan=False)),
)
def test_total_wait_never_exceeds_budget_or_deadline(policy, retry_afters, jitter, time_left):
    """Simulate a call that keeps failing: the sum of sleeps stays within max_total_wait and the
    time left, the number of attempts within max_attempts, and Retry-After is obeyed exactly."""
    waited, attempt = 0.0, 0
    left = time_left
    for retry_after in retry_afters:
        wait = next_wait(
            attempt=attempt, retry_after=retry_after, waited_so_far=waited, policy=policy, jitter=jitter, time_left=left
        )
        if wait is None:
            break
        assert wait >= 0
        if retry_after is not None:
            assert wait == retry_after
        waited += wait
        if left is not None:
            left -= wait
        attempt += 1
    assert waited <= policy.max_total_wait + 1e-9
    if time_left is not None:
        assert waited <= max(0.0, time_left) + 1e-9
    assert attempt + 1 <= policy.max_attempts


def test_retry_after_rejects_non_ascii_digits_and_non_finite_numbers():
    # found by hypothesis: str.isdigit() accepts "\u00b9" and "\u0663", which int() then refuses
    for text in ["\u00b9", "\u0663", "inf", "NaN", "-5", "1e3", ""]:
        assert parse_retry_after(text) is None
    assert parse_retry_after(" 7 ") == 7.0
