"""stacks.drift: declared versus Makini's list and the token checks (pure), with properties and examples."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.config import StackConfig  # first: stacks.credits and stacks.config import each other (issue 18)
from stacks.credits import connection_credits
from stacks.drift import (
    EXIT_ATTENTION,
    EXIT_HEALTHY,
    EXIT_UNCHECKED,
    MakiniConnection,
    TokenCheck,
    TokenState,
    Verdict,
    compare,
    systems_match,
)
from tests.support import load


def config(connections: list[dict], pool: int = 100) -> dict:
    return {
        "aws:region": "eu-west-1",
        "makini:environment": "dev",
        "makini:tags": {"owner": "o", "costCenter": "c"},
        "makini:backends": ["aws"],
        "makini:oauth": {"clientId": "mk"},
        "makini:connections": connections,
        "makini:consumers": {},
        "makini:credits": {"pool": pool},
    }


def conn(key: str, makini_id: str | None, system: str = "NetSuite", tier: int = 2, deployment: str = "cloud") -> dict:
    out = {"key": key, "system": system, "tier": tier, "deployment": deployment}
    if makini_id is not None:
        out["makiniId"] = makini_id
    return out


def listed(makini_id: str, status: str = "active", integration: str = "netsuite") -> dict:
    return {"key": makini_id, "name": f"Customer {makini_id}", "status": status, "integration_name": integration}


def works(backend: str = "aws") -> TokenCheck:
    return TokenCheck(backend, f"{backend} somewhere", TokenState.WORKS, sync_status="done")


# -- examples ------------------------------------------------------------------------------------------------


def test_healthy():
    cfg = load(config([conn("a", "1"), conn("b", "2")]))
    report = compare("dev", cfg, [listed("1"), listed("2")], {"a": [works()], "b": [works()]})
    assert report.exit_code == EXIT_HEALTHY and report.verdict == "healthy"
    assert [r.verdict for r in report.rows] == [Verdict.OK, Verdict.OK]
    assert report.credits.minimum == report.credits.maximum == 4 and not report.credits.over_pool


def test_missing_not_active_mismatch_and_undeclared():
    cfg = load(config([conn("a", "1"), conn("b", "2"), conn("c", "3", system="SAP ECC")]))
    report = compare(
        "dev", cfg, [listed("2", status="Inactive"), listed("3", integration="maintainx"), listed("9")], {}
    )
    rows = {r.key or r.makini_id: r for r in report.rows}
    assert rows["a"].attention[0].startswith("missing in Makini: no connection 1")
    assert rows["b"].attention[0] == "not active in Makini (status 'Inactive')"
    assert "system mismatch" in rows["c"].attention[0]
    assert not rows["9"].declared and rows["9"].attention[0].startswith("undeclared: Makini lists connection 9")
    assert report.exit_code == EXIT_ATTENTION


@pytest.mark.parametrize(
    ("state", "verdict", "words"),
    [
        (TokenState.SYNC_FAIL, Verdict.ATTENTION, "must reauthorise"),
        (TokenState.SYNC_ERROR, Verdict.ATTENTION, "synchronisation failed"),
        (TokenState.UNAUTHORIZED, Verdict.ATTENTION, "401"),
        (TokenState.NO_VALUE, Verdict.ATTENTION, "no token is stored"),
        (TokenState.BAD_VALUE, Verdict.ATTENTION, "not {"),
        (TokenState.UNREADABLE, Verdict.UNCHECKED, "could not be read"),
        (TokenState.UNCHECKED, Verdict.UNCHECKED, "could not be asked"),
    ],
)
def test_token_states(state, verdict, words):
    cfg = load(config([conn("a", "1")]))
    check = TokenCheck("vault", "Vault KV makini-dev/connections/a/token", state, detail="why")
    [row] = compare("dev", cfg, [listed("1")], {"a": [works("aws"), check]}).rows
    assert row.verdict is verdict
    [reason] = (*row.attention, *row.unchecked)
    assert reason.startswith("vault: ") and words in reason and reason.endswith("makini-dev/connections/a/token): why")


def test_unchecked_wins_over_attention_in_the_exit_code():
    cfg = load(config([conn("a", "1"), conn("b", "2")]))
    tokens = {"a": [TokenCheck("aws", "x", TokenState.SYNC_FAIL)], "b": [TokenCheck("aws", "y", TokenState.UNCHECKED)]}
    assert compare("dev", cfg, [listed("1"), listed("2")], tokens).exit_code == EXIT_UNCHECKED


def test_a_connection_without_makini_id_is_a_note_and_its_listing_undeclared():
    cfg = load(config([conn("a", None)]))
    report = compare("dev", cfg, [listed("5")], {"a": [works()]})
    rows = {r.key or r.makini_id: r for r in report.rows}
    assert rows["a"].verdict is Verdict.OK and "no makiniId" in rows["a"].notes[0]
    assert "(if it is a, set its makiniId)" in rows["5"].attention[0]


def test_two_connections_with_one_makini_id():
    cfg = load(config([conn("a", "1"), conn("b", "1")]))
    rows = {r.key: r for r in compare("dev", cfg, [listed("1")], {}).rows}
    assert rows["a"].verdict is Verdict.OK
    assert rows["b"].attention == ("makiniId 1 is also declared by connection a",)


def test_credits_over_the_pool_with_undeclared_of_unknown_tier():
    cfg = load(config([conn("a", "1", tier=3, deployment="on_prem")], pool=10))
    report = compare("dev", cfg, [listed("1"), listed("7")], {})
    assert (report.credits.minimum, report.credits.maximum) == (9, 16)
    assert not report.credits.over_pool and any("possibly more than the pool" in n for n in report.notes)
    report = compare("dev", cfg, [listed("1"), listed("6"), listed("7"), listed("8")], {})
    assert report.credits.over_pool and any("exceed the pool of 10" in a for a in report.attention)


def test_only_one_connection():
    cfg = load(config([conn("a", "1"), conn("b", "2")]))
    report = compare("dev", cfg, [listed("1"), listed("9")], {"a": [works()]}, only="a")
    assert [r.key for r in report.rows] == ["a"] and report.credits is None and report.exit_code == EXIT_HEALTHY
    with pytest.raises(ValueError, match="declares no connection 'z'"):
        compare("dev", cfg, [], {}, only="z")


def test_makini_entries_without_a_key_are_counted_not_guessed():
    cfg = load(config([]))
    report = compare("dev", cfg, [{"name": "no key"}, "not an object", listed("3")], {})
    assert report.listed == 1 and "2 entries of Makini's list had no key" in report.notes[0]


def test_unknown_integration_and_sync_status_are_notes():
    cfg = load(config([conn("a", "1")]))
    check = TokenCheck("aws", "x", TokenState.WORKS, sync_status="paused")
    [row] = compare("dev", cfg, [listed("1", integration="")], {"a": [check]}).rows
    assert row.verdict is Verdict.OK
    assert row.notes == (
        "Makini gives no integration name: the system was not compared",
        "aws: Makini reports sync_status 'paused', not one it documents",
    )


@pytest.mark.parametrize(
    ("declared", "integration", "expected"),
    [
        ("NetSuite", "netsuite", True),
        ("NetSuite", "oracle-netsuite", True),
        ("SAP S/4HANA", "sap", True),
        ("SAP ECC", "sap_ecc", True),
        ("FM:Systems", "fm_systems", True),
        ("MaintainX", "MAINTAINX", True),
        ("NetSuite", "maintainx", False),
        ("SAP ECC", "infor", False),
        ("NetSuite", "", None),
    ],
)
def test_systems_match(declared, integration, expected):
    assert systems_match(declared, integration) is expected


def test_makini_connection_never_keeps_the_email():
    parsed = MakiniConnection.from_api({**listed("1"), "email": "ops@customer.example"})
    assert "ops@customer.example" not in str(parsed.as_dict())


# -- properties -----------------------------------------------------------------------------------------------

ids = st.sampled_from([str(n) for n in range(100, 130)])
states = st.sampled_from(list(TokenState))


@st.composite
def scenario(draw):
    keys = draw(st.lists(st.from_regex(r"[a-z][a-z0-9]{0,6}", fullmatch=True), unique=True, max_size=8))
    declared = [
        conn(
            k,
            draw(st.none() | ids),
            tier=draw(st.sampled_from([1, 2, 3])),
            deployment=draw(st.sampled_from(["cloud", "on_prem"])),
        )
        for k in keys
    ]
    listing = [
        listed(i, status=draw(st.sampled_from(["active", "inactive"])), integration="netsuite")
        for i in draw(st.lists(ids, unique=True, max_size=12))
    ]
    tokens = {k: [TokenCheck("aws", "x", draw(states), sync_status="done")] for k in keys if draw(st.booleans())}
    # The config refuses a pool below what the declared connections need; the list may still exceed it.
    need = sum({1: 1, 2: 2, 3: 4}[c["tier"]] * (2 if c["deployment"] == "on_prem" else 1) for c in declared)
    return declared, listing, tokens, draw(st.integers(need, need + 20))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario())
def test_every_connection_is_reported_once_and_the_exit_code_follows_the_rows(case):
    declared, listing, tokens, pool = case
    cfg: StackConfig = load(config(declared, pool=pool))
    report = compare("dev", cfg, listing, tokens)
    declared_rows = [r for r in report.rows if r.declared]
    assert [r.key for r in declared_rows] == [c["key"] for c in declared]
    listed_ids = {i["key"] for i in listing}
    declared_ids = {c.get("makiniId") for c in declared} - {None}
    assert {r.makini_id for r in report.rows if not r.declared} == listed_ids - declared_ids
    matched = [r.makini.id for r in declared_rows if r.makini is not None]
    assert len(matched) == len(set(matched)) and set(matched) <= listed_ids & declared_ids
    verdicts = [r.verdict for r in report.rows]
    if report.unchecked or Verdict.UNCHECKED in verdicts:
        assert report.exit_code == EXIT_UNCHECKED
    elif report.attention or Verdict.ATTENTION in verdicts:
        assert report.exit_code == EXIT_ATTENTION
    else:
        assert report.exit_code == EXIT_HEALTHY and all(r.makini is None or r.makini.active for r in declared_rows)
    c = report.credits
    assert c.minimum <= c.maximum and c.over_pool == (c.minimum > pool)
    first = {}
    for d in cfg.connections:
        if d.makini_id is not None:
            first.setdefault(d.makini_id, d.key)
    expected = sum(
        connection_credits(d, cfg.credits)
        for d in cfg.connections
        if d.makini_id in listed_ids and first[d.makini_id] == d.key
    )
    assert c.listed_declared == expected


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_systems_match_is_symmetric(a, b):
    assert (systems_match(a, b) is True) == (systems_match(b, a) is True)


# Printable ASCII: system names and integration names are ASCII (Unicode case mapping can add letters: "ﬀ" -> "FF").
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=20))
def test_systems_match_ignores_case_and_punctuation(a):
    if any(ch.isalnum() for ch in a):
        assert systems_match(a, f"-{a.upper()}_") is True
        assert systems_match(f" {a.lower()}/", a) is True
