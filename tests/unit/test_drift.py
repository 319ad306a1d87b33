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


# -- run-time connections (issue 19) ----------------------------------------------------------------------------


def runtime_stack(pool: int = 100) -> StackConfig:
    """One declared connection (makiniId 1) and run-time classes ``linked`` and ``partners``."""
    c = config([conn("a", "1")], pool=pool)
    c["makini:consumers"] = {
        "onboarding": {"onboarding": True, "aws": {"roleArn": "arn:aws:iam::123456789012:role/onboarding"}},
        "reader": {"aws": {"roleArn": "arn:aws:iam::123456789012:role/reader"}},
    }
    c["makini:accessClasses"] = {
        "linked": {"consumers": ["reader"], "runtime": True},
        "partners": {"consumers": ["reader"], "runtime": True},
    }
    return load(c)


def test_runtime_connections_are_their_own_rows_and_spend_credits_of_unknown_tier():
    cfg = runtime_stack()
    report = compare(
        "dev",
        cfg,
        [listed("1"), listed("500"), listed("501")],
        {"a": [works()]},
        backends=("aws", "vault"),
        runtime={"linked": {"aws": ["500", "501"], "vault": ["500", "501"]}, "partners": {"aws": [], "vault": []}},
    )
    assert report.exit_code == EXIT_HEALTHY, [r.attention for r in report.rows]
    rows = {r.makini_id: r for r in report.rows}
    assert rows["500"].kind == "runtime" and rows["500"].runtime_dict() == {"linked": ["aws", "vault"]}
    assert report.counts()["runtime"] == 2 and report.counts()["undeclared"] == 0
    assert report.counts()["runtime_tokens"] == 4
    c = report.credits
    assert (c.listed_declared, c.runtime, c.undeclared) == (2, 2, 0)
    assert (c.minimum, c.maximum) == (2 + 2 * 1, 2 + 2 * 8)  # tier 1 cloud to tier 3 on-prem each


def test_runtime_findings_each_with_its_reason():
    cfg = runtime_stack()
    report = compare(
        "dev",
        cfg,
        [listed("1"), listed("600"), listed("601", status="disconnected"), listed("602"), listed("603")],
        {"a": [works()]},
        backends=("aws", "vault"),
        runtime={
            # 600: only on aws; 601: not active; 602: in two classes; 604: not in Makini; 1: also declared
            "linked": {"aws": ["600", "601", "602", "604", "1"], "vault": ["601", "602", "604", "1"]},
            "partners": {"aws": ["602"], "vault": ["602"]},
        },
    )
    rows = {r.makini_id: r for r in report.rows if not r.declared}
    assert report.exit_code == EXIT_ATTENTION
    assert rows["600"].attention == (
        "class linked: stored on aws but not on vault: every backend the stack uses should hold it (store it again "
        "with the onboarding client, which writes every backend)",
    )
    assert rows["601"].attention[0].startswith("not active in Makini (status 'disconnected')")
    assert rows["602"].attention[0].startswith("stored in 2 run-time classes (linked, partners)")
    assert rows["604"].attention[0].startswith("not in Makini: no connection 604 (disconnected or deleted)")
    assert "schedule its deletion" in rows["604"].attention[0]
    assert rows["1"].attention[0].startswith("also declared as connection a (makiniId 1)")
    # 603: listed by Makini, stored nowhere
    assert rows["603"].kind == "undeclared"
    assert "no run-time class (linked, partners) holds a token for it on any backend" in rows["603"].attention[0]
    # credits: a (2), and the listed run-time ones 600, 601, 602 (1 is declared, 604 unlisted), 603 undeclared
    assert (report.credits.runtime, report.credits.undeclared) == (3, 1)


def test_a_class_not_listed_everywhere_leaves_a_connection_stored_nowhere_unchecked():
    cfg = runtime_stack()
    report = compare(
        "dev",
        cfg,
        [listed("1"), listed("700")],
        {"a": [works()]},
        backends=("aws", "vault"),
        runtime={"linked": {"aws": ["701"]}, "partners": {"aws": [], "vault": []}},  # linked on vault: unreadable
    )
    rows = {r.makini_id: r for r in report.rows}
    assert rows["700"].verdict is Verdict.UNCHECKED and "could not be listed" in rows["700"].unchecked[0]
    assert rows["701"].attention[0].startswith("not in Makini")
    assert not any("not on vault" in a for a in rows["701"].attention)  # vault was not listed: no claim


def test_runtime_credits_over_the_pool():
    cfg = runtime_stack(pool=10)
    ids = [str(900 + i) for i in range(9)]
    report = compare(
        "dev",
        cfg,
        [listed("1"), *(listed(i) for i in ids)],
        {"a": [works()]},
        runtime={"linked": {"aws": ids}, "partners": {"aws": []}},
    )
    assert report.credits.minimum == 2 + 9 and report.credits.over_pool
    assert report.exit_code == EXIT_ATTENTION
    assert any("exceed the pool of 10" in a for a in report.attention)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from([str(i) for i in range(1000, 1012)]),
        st.tuples(
            st.sets(st.sampled_from(["linked", "partners"]), min_size=1),
            st.sets(st.sampled_from(["aws", "vault"]), min_size=1),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_runtime_rows_are_clean_exactly_when_listed_stored_once_and_everywhere(stored):
    cfg = runtime_stack(pool=10_000)
    runtime: dict[str, dict[str, list[str]]] = {c: {"aws": [], "vault": []} for c in ("linked", "partners")}
    for cid, (classes, backends, _) in stored.items():
        for c in classes:
            for b in backends:
                runtime[c][b].append(cid)
    listed_ids = [cid for cid, (_, _, in_makini) in stored.items() if in_makini]
    report = compare(
        "dev",
        cfg,
        [listed("1"), *(listed(i) for i in listed_ids)],
        {"a": [works()]},
        backends=("aws", "vault"),
        runtime=runtime,
    )
    rows = {r.makini_id: r for r in report.rows if not r.declared}
    assert set(rows) == set(stored)
    for cid, (classes, backends, in_makini) in stored.items():
        clean = in_makini and len(classes) == 1 and backends == {"aws", "vault"}
        assert (rows[cid].verdict is Verdict.OK) == clean, (cid, rows[cid].attention)
    assert report.credits.runtime == len(listed_ids)
