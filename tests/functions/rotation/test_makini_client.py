"""The urllib Makini client against the fake: typed errors, retries, timeouts, no secrets in messages."""

from __future__ import annotations

import pytest
from rotation.backoff import RetryPolicy
from rotation.makini_client import (
    MakiniAuthError,
    MakiniClient,
    MakiniError,
    MakiniRateLimited,
    MakiniUnavailable,
    RateGate,
)

from .conftest import CONNECTION_ID, LONG_TOKEN_LIFETIME


def test_happy_path(makini, client_factory):
    client = client_factory()
    system = client.system_token(makini.client_id, makini.client_secret)
    issued = client.issue_connection_token(system, CONNECTION_ID)
    assert issued.expires_in == LONG_TOKEN_LIFETIME
    assert issued.token not in repr(issued)
    assert client.check_token(issued.token) == "done"
    assert [c["key"] for c in client.list_connections(system)] == [CONNECTION_ID]


def test_list_connections_follows_pages(makini, client_factory):
    makini.per_page = 2
    for i in range(4):
        makini.add_connection(f"x{i}")
    client = client_factory()
    keys = [c["key"] for c in client.list_connections(client.system_token(makini.client_id, makini.client_secret))]
    assert sorted(keys) == sorted([CONNECTION_ID, "x0", "x1", "x2", "x3"])
    assert [r.query.get("page") for r in makini.requests[1:]] == [["1"], ["2"], ["3"]]


def test_wrong_secret_is_auth_error_without_the_secret(makini, client_factory):
    with pytest.raises(MakiniAuthError) as exc:
        client_factory().system_token(makini.client_id, "wrong-secret-value-123")
    assert exc.value.status == 401 and exc.value.request_id.startswith("req_")
    assert "wrong-secret-value-123" not in str(exc.value)
    assert len(makini.requests) == 1  # 401 is never retried


def test_400_is_not_retried(makini, client_factory):
    makini.fail_next(400)
    with pytest.raises(MakiniError) as exc:
        client_factory().system_token(makini.client_id, makini.client_secret)
    assert type(exc.value) is MakiniError and exc.value.status == 400
    assert len(makini.requests) == 1


def test_429_storm_gives_up_after_max_attempts(makini, client_factory, clock):
    makini.fail_next(429, count=100, retry_after=2)
    with pytest.raises(MakiniRateLimited) as exc:
        client_factory().system_token(makini.client_id, makini.client_secret)
    assert exc.value.retry_after == 2.0
    assert len(makini.requests) == 4
    assert clock.sleeps == [2.0, 2.0, 2.0]


def test_total_wait_cap_stops_retries(makini, client_factory, clock):
    makini.fail_next(429, count=100, retry_after=4)
    policy = RetryPolicy(max_attempts=10, max_total_wait=9.0)
    with pytest.raises(MakiniRateLimited):
        client_factory(policy=policy).system_token(makini.client_id, makini.client_secret)
    assert clock.sleeps == [4.0, 4.0] and sum(clock.sleeps) <= 9.0


def test_5xx_backs_off_exponentially_then_succeeds(makini, client_factory, clock):
    makini.fail_next(502, count=3)
    client = client_factory()
    assert client.system_token(makini.client_id, makini.client_secret)
    assert clock.sleeps == [0.375, 0.75, 1.5]  # base 0.5 * 2**n, equal jitter at 0.5


def test_deadline_limits_waiting(makini, client_factory, clock):
    makini.fail_next(503, count=100)
    client = client_factory(deadline=clock() + 4.0, timeout=1.0)
    with pytest.raises(MakiniUnavailable):
        client.system_token(makini.client_id, makini.client_secret)
    assert sum(clock.sleeps) <= 3.0  # never sleeps into the room kept for the last request


def test_no_time_left_means_no_call(makini, client_factory, clock):
    client = client_factory(deadline=clock() - 1)
    with pytest.raises(MakiniUnavailable, match="no time left"):
        client.check_token("whatever-token")
    assert makini.requests == []


def test_slow_response_times_out_and_is_retried(makini, client_factory):
    makini.slow_next(0.6, count=1)
    client = client_factory(timeout=0.2)
    assert client.system_token(makini.client_id, makini.client_secret)
    assert len(makini.requests) == 2


def test_unreachable_is_unavailable(clock):
    client = MakiniClient(
        "http://127.0.0.1:9",
        allow_loopback=True,
        timeout=0.2,
        sleep=clock.sleep,
        clock=clock,
        policy=RetryPolicy(max_attempts=2),
    )
    with pytest.raises(MakiniUnavailable):
        client.check_token("token-value-abcdef")


def test_list_connections_refuses_to_return_a_truncated_list(makini, client_factory):
    makini.per_page = 1
    for i in range(3):
        makini.add_connection(f"x{i}")
    client = client_factory()
    system = client.system_token(makini.client_id, makini.client_secret)
    with pytest.raises(MakiniError, match="more than 2 pages"):
        list(client.list_connections(system, max_pages=2))
    pages = []
    keys = [c["key"] for c in client.list_connections(system, on_page=lambda p, last: pages.append((p, last)))]
    assert len(keys) == 4 and pages == [(1, 4), (2, 4), (3, 4), (4, 4)]


def _gated_client(makini, clock, gate):
    return MakiniClient(
        makini.base_url, allow_loopback=True, timeout=2.0, sleep=clock.sleep, clock=clock, jitter=lambda: 0.5, gate=gate
    )


def test_a_429_pauses_every_client_sharing_the_gate(makini, clock):
    gate = RateGate(clock=clock, sleep=clock.sleep)
    first, second = _gated_client(makini, clock, gate), _gated_client(makini, clock, gate)
    makini.fail_next(429, retry_after=2)
    assert first.system_token(makini.client_id, makini.client_secret)
    assert gate.pauses == 1 and clock.sleeps == [2.0]  # the request's own wait; the gate adds none
    gate.pause(5)  # as if another thread had just been told Retry-After: 5
    assert second.system_token(makini.client_id, makini.client_secret)
    assert clock.sleeps == [2.0, 5.0]  # the second client waited before sending


def test_a_retry_after_beyond_the_budget_gives_up_without_pausing_the_gate(makini, clock):
    gate = RateGate(clock=clock, sleep=clock.sleep)
    makini.fail_next(429, retry_after=3600)
    with pytest.raises(MakiniRateLimited):
        _gated_client(makini, clock, gate).system_token(makini.client_id, makini.client_secret)
    assert gate.pauses == 0 and clock.sleeps == []
