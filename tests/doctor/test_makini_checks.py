"""infra.doctor against the fake Makini (127.0.0.1, checked against Makini's OAS), secrets in moto.

One stack holds every kind of drift the doctor reports; further tests drive Makini's failure modes
(429 with Retry-After, 500, a timeout) and check that every request the doctor sent conforms to the
published description, and that no secret reaches any output stream or log.
"""

from __future__ import annotations

import pytest

from tests.fakes.makini_contract import check_recorded

from .conftest import OAUTH_CANARY, Stores, assert_no_secret, connection, token_value


def _rows(document: dict) -> dict:
    return {(r["key"] or f"undeclared:{r['makini_id']}"): r for r in document["connections"]}


@pytest.fixture
def drifted(new_stack, moto_sm, fake_makini):
    """A stack with one connection of each kind; Makini's list spans several pages (3 per page)."""
    m = fake_makini
    rig = new_stack(
        [
            connection("healthy", "100"),
            connection("gone", "101"),
            connection("off", "102"),
            connection("wrong-system", "103", system="SAP ECC", tier=3, deployment="on_prem"),
            connection("reauth", "104"),
            connection("revoked", "105"),
            connection("empty", "106"),
            connection("no-id", None, system="MaintainX", tier=1),
        ]
    )
    for i in ("100", "102", "103", "104", "105", "106", "107"):
        m.add_connection(i)
    m.connections["102"].status = "disconnected"
    m.connections["103"].integration_name = "maintainx"
    m.set_sync_status("104", "fail")
    stores = Stores(rig, moto_sm)
    stores.put_oauth()
    tokens = {}
    for key, cid in (("healthy", "100"), ("off", "102"), ("wrong-system", "103"), ("reauth", "104")):
        tokens[key] = m.mint_connection_token(cid)
        stores.put_token(key, token_value(tokens[key], cid))
    tokens["revoked"] = m.mint_connection_token("105")
    m.revoke_token(tokens["revoked"])
    stores.put_token("revoked", token_value(tokens["revoked"], "105"))
    stores.put_token("empty", None)  # the secret exists, never filled in
    tokens["no-id"] = m.mint_connection_token("107")
    stores.put_token("no-id", token_value(tokens["no-id"], "107"))
    # "gone" has no secret at all (never deployed)
    rig.tokens = tokens
    return rig


def test_every_kind_of_drift_is_found_with_its_reason(drifted, fake_makini):
    code, doc, err = drifted.run_json()
    assert code == 3 and doc["exit_code"] == 3 and doc["verdict"] == "attention"
    rows = _rows(doc)
    assert set(rows) == {
        "healthy",
        "gone",
        "off",
        "wrong-system",
        "reauth",
        "revoked",
        "empty",
        "no-id",
        "undeclared:107",
    }
    assert rows["healthy"]["verdict"] == "ok" and rows["healthy"]["tokens"][0]["state"] == "works"
    assert rows["healthy"]["tokens"][0]["sync_status"] == "done"
    assert "missing in Makini: no connection 101" in rows["gone"]["attention"][0]
    assert rows["gone"]["tokens"][0]["state"] == "no-value"
    assert "not active in Makini (status 'disconnected')" in rows["off"]["attention"][0]
    assert any("system mismatch" in a and "'SAP ECC'" in a for a in rows["wrong-system"]["attention"])
    assert rows["reauth"]["tokens"][0]["state"] == "sync-fail"
    assert any("must reauthorise" in a for a in rows["reauth"]["attention"])
    assert rows["revoked"]["tokens"][0]["state"] == "unauthorized"
    assert any("401" in a for a in rows["revoked"]["attention"])
    assert rows["empty"]["tokens"][0]["state"] == "no-value"
    assert rows["no-id"]["verdict"] == "ok" and "no makiniId" in rows["no-id"]["notes"][0]
    undeclared = rows["undeclared:107"]
    assert undeclared["declared"] is False and "if it is no-id, set its makiniId" in undeclared["attention"][0]
    assert doc["summary"] == {
        "declared": 8,
        "listed_by_makini": 7,
        "ok": 2,
        "attention": 7,
        "unchecked": 0,
        "undeclared": 1,
        "runtime": 0,
        "runtime_tokens": 0,
        "tokens_checked": 8,
    }
    # Credits: listed declared = 100 (2) + 102 (2) + 103 (tier 3 on-prem: 8) + 104 (2) + 105 (2) + 106 (2);
    # one undeclared of unknown tier costs 1 to 8.
    assert doc["credits"] == {
        "pool": 100,
        "declared": 2 * 6 + 8 + 1,
        "in_use_min": 18 + 1,
        "in_use_max": 18 + 8,
        "listed_declared": 18,
        "undeclared_connections": 1,
        "runtime_connections": 0,
        "over_pool": False,
    }
    pages = [r.query.get("page") for r in fake_makini.requests if r.path == "/api/system/connections"]
    assert pages == [["1"], ["2"], ["3"]]  # 7 connections, 3 per page
    assert check_recorded(fake_makini.requests) == []
    assert_no_secret([OAUTH_CANARY, *drifted.tokens.values()], str(doc), err, drifted.logs)


def test_the_text_table_lists_what_needs_attention_and_why(drifted, capfd):
    code, out, err = drifted.run()
    logs = drifted.logs
    assert code == 3
    assert "Verdict: attention needed (exit 3)" in out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("connection"))
    table = lines[header + 1 : lines.index("", header)]
    assert [line.split()[0] for line in table][:3] == ["empty", "gone", "off"]  # attention first, then by key
    assert "1 connection(s) healthy" not in out  # healthy is "healthy" and "no-id": 2
    assert "2 connection(s) healthy, not listed (--all lists them)" in out
    assert "  reauth: aws: Makini reports sync_status 'fail'" in out
    assert "Credits: 19 to 26 in use at Makini (the stack declares 21), pool 100" in out
    code, out_all, _ = drifted.run("--all")
    assert "healthy" in out_all.split("Reasons:")[0] and "not listed" not in out_all
    captured = capfd.readouterr()
    assert_no_secret(
        [OAUTH_CANARY, *drifted.tokens.values()], out, out_all, err, logs, drifted.logs, captured.out, captured.err
    )


def test_markdown_for_a_job_summary(drifted):
    code, out, _ = drifted.run("--markdown")
    assert code == 3 and out.startswith("## ⚠️ Doctor: ")
    assert "| connection | makini id | in makini | integration | tokens | verdict | reasons |" in out
    assert "| gone | 101 | missing |" in out
    assert OAUTH_CANARY not in out and all(t not in out for t in drifted.tokens.values())


def test_one_connection(drifted, fake_makini):
    code, doc, _ = drifted.run_json("--connection", "reauth")
    assert code == 3 and doc["scope"] == {"connection": "reauth"}
    assert [r["key"] for r in doc["connections"]] == ["reauth"] and doc["credits"] is None
    checks = [r for r in fake_makini.requests if r.path == "/api/integrations/current"]
    assert len(checks) == 1
    code, doc, _ = drifted.run_json("--connection", "healthy")
    assert code == 0 and doc["verdict"] == "healthy"


def test_skip_tokens_reads_only_the_oauth_client(drifted, fake_makini):
    code, doc, _ = drifted.run_json("--skip-tokens")
    assert code == 3 and doc["summary"]["tokens_checked"] == 0
    assert not any(r.path == "/api/integrations/current" for r in fake_makini.requests)
    assert "token checks skipped (--skip-tokens)" in doc["notes"]


# -- Makini's failure modes ----------------------------------------------------------------------------


@pytest.fixture
def small(new_stack, moto_sm, fake_makini):
    rig = new_stack([connection("a", "200"), connection("b", "201")])
    stores = Stores(rig, moto_sm)
    stores.put_oauth()
    rig.tokens = {}
    for key, cid in (("a", "200"), ("b", "201")):
        fake_makini.add_connection(cid)
        rig.tokens[key] = fake_makini.mint_connection_token(cid)
        stores.put_token(key, token_value(rig.tokens[key], cid))
    return rig


def test_healthy_stack_exits_0(small, fake_makini):
    code, out, err = small.run()
    assert code == 0 and "Verdict: healthy (exit 0)" in out and err == ""
    assert "2 connection(s) healthy, not listed" in out
    assert check_recorded(fake_makini.requests) == []


def test_a_429_with_retry_after_is_waited_for_exactly_and_pauses_every_worker(small, fake_makini, clock):
    fake_makini.fail_next(429, retry_after=7, path_prefix="/api/integrations/current")
    code, doc, _ = small.run_json()
    assert code == 0
    assert 7.0 in clock.sleeps and sum(clock.sleeps) == pytest.approx(7.0)
    assert doc["makini"]["rate_limit_pauses"] == 1 and doc["makini"]["retries"] == 1
    assert check_recorded(fake_makini.requests) == []


def test_a_429_on_the_list_is_retried(small, fake_makini, clock):
    fake_makini.fail_next(429, retry_after=3, path_prefix="/api/system/connections")
    code, doc, _ = small.run_json()
    assert code == 0 and clock.sleeps == [3.0] and doc["summary"]["listed_by_makini"] == 2


def test_a_retry_after_beyond_the_budget_is_reported_not_waited(small, fake_makini, clock):
    fake_makini.fail_next(429, retry_after=3600, count=1, path_prefix="/api/integrations/current")
    code, doc, _ = small.run_json()
    assert code == 1 and clock.sleeps == []
    [row] = [r for r in doc["connections"] if r["verdict"] == "unchecked"]
    assert "rate limited" in row["unchecked"][0] and "Retry-After=3600" in row["unchecked"][0]


def test_a_transient_500_is_retried_with_backoff(small, fake_makini, clock):
    fake_makini.fail_next(500, count=2, path_prefix="/api/integrations/current")
    code, doc, _ = small.run_json()
    assert code == 0 and doc["makini"]["retries"] == 2
    assert clock.sleeps and all(0 < s <= 8.0 for s in clock.sleeps)


def test_a_persistent_500_leaves_the_token_unchecked_with_the_reason(small, fake_makini, clock):
    fake_makini.fail_next(500, count=5, method="GET", path_prefix="/api/integrations/current")
    code, doc, _ = small.run_json("--concurrency", "1")
    assert code == 1 and doc["verdict"] == "could-not-check"
    unchecked = [r for r in doc["connections"] if r["verdict"] == "unchecked"]
    assert len(unchecked) == 1 and "failed after 5 attempt(s) with HTTP 500" in unchecked[0]["unchecked"][0]
    assert len(clock.sleeps) == 4  # 5 attempts, 4 waits


def test_a_timeout_leaves_the_token_unchecked(small, fake_makini):
    fake_makini.slow_next(1.5, count=5, path_prefix="/api/integrations/current")
    code, doc, _ = small.run_json("--timeout", "0.25", "--concurrency", "1")
    assert code == 1
    [row] = [r for r in doc["connections"] if r["verdict"] == "unchecked"]
    assert "timed out" in row["unchecked"][0].lower() or "timeout" in row["unchecked"][0].lower()


def test_a_401_on_the_oauth_client_is_attention_and_nothing_is_checked(small, fake_makini):
    fake_makini.client_secret = "rotated-in-makini-but-not-in-the-store"
    code, out, _ = small.run()
    assert code == 1
    assert "Makini refuses the one stored in AWS Secrets Manager secret" in out
    assert "no stored OAuth client obtained a system token" in out
    assert OAUTH_CANARY not in out


def test_makini_that_stops_answering_trips_the_breaker(new_stack, moto_sm, fake_makini):
    rig = new_stack([connection(f"c{i}", str(300 + i)) for i in range(30)])
    stores = Stores(rig, moto_sm)
    stores.put_oauth()
    for i in range(30):
        fake_makini.add_connection(str(300 + i))
        stores.put_token(f"c{i}", token_value(fake_makini.mint_connection_token(str(300 + i)), str(300 + i)))
    fake_makini.fail_next(503, count=10_000, path_prefix="/api/integrations/current")
    code, doc, _ = rig.run_json("--concurrency", "2")
    assert code == 1
    assert any("Makini stopped answering" in u for u in doc["unchecked"])
    calls = [r for r in fake_makini.requests if r.path == "/api/integrations/current"]
    assert len(calls) < 30 * 5  # not every token was retried to exhaustion
