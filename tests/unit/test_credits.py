"""Connection credits: per connection, totals, and the budget, against an independent computation."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stacks.config.connections import Connection, Credits
from stacks.credits import credit_report

connections = st.lists(
    st.builds(
        Connection.model_validate,
        st.fixed_dictionaries(
            {
                "key": st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True),
                "system": st.sampled_from(["SAP", "NetSuite", "MaintainX"]),
                "tier": st.sampled_from([1, 2, 3]),
                "deployment": st.sampled_from(["cloud", "on_prem"]),
            }
        ),
    ),
    max_size=12,
)
tables = st.builds(
    Credits.model_validate,
    st.fixed_dictionaries(
        {
            "pool": st.integers(0, 200),
            "tier1": st.integers(1, 5),
            "tier2": st.integers(1, 9),
            "tier3": st.integers(1, 20),
            "onPremMultiplier": st.integers(1, 4),
        }
    ),
)


def test_makini_example_cloud_sap_4_on_prem_8():
    # FACTS.md: "a cloud SAP S/4HANA connection might use 4 credits, an on-premises SAP ECC 8"
    table = Credits.model_validate({"pool": 12})
    conns = [
        Connection.model_validate({"key": "s4", "system": "SAP S/4HANA", "tier": 3, "deployment": "cloud"}),
        Connection.model_validate({"key": "ecc", "system": "SAP ECC", "tier": 3, "deployment": "on_prem"}),
    ]
    report = credit_report(conns, table)
    assert [r.credits for r in report.rows] == [4, 8]
    assert (report.used, report.free, report.over_budget) == (12, 0, False)


@given(connections, tables)
def test_totals_and_budget(conns, table):
    report = credit_report(conns, table)
    price = {1: table.tier1, 2: table.tier2, 3: table.tier3}
    expected = [price[c.tier] * (table.on_prem_multiplier if c.deployment == "on_prem" else 1) for c in conns]
    assert [r.credits for r in report.rows] == expected
    assert report.used == sum(expected)
    assert report.free == table.pool - sum(expected)
    assert report.over_budget == (sum(expected) > table.pool)
    biggest = report.biggest(3)
    assert [b.credits for b in biggest] == sorted(expected, reverse=True)[:3]
    assert report.as_dict()["used"] == report.used


def _conn(key: str, system: str, tier: int, deployment: str) -> Connection:
    return Connection.model_validate({"key": key, "system": system, "tier": tier, "deployment": deployment})


def test_the_credits_document_names_every_connection_with_its_tier_and_cost():
    """The plan's credits JSON (a reviewer's and a script's view): every key, every value, in order."""
    table = Credits.model_validate({"pool": 20, "tier1": 1, "tier2": 3, "tier3": 5, "onPremMultiplier": 3})
    conns = [
        _conn("maint", "MaintainX", 1, "cloud"),
        _conn("ns", "NetSuite", 2, "on_prem"),
        _conn("sap", "SAP ECC", 3, "cloud"),
    ]
    assert credit_report(conns, table).as_dict() == {
        "pool": 20,
        "used": 1 + 9 + 5,
        "free": 20 - 15,
        "connections": [
            {"key": "maint", "system": "MaintainX", "tier": 1, "deployment": "cloud", "credits": 1},
            {"key": "ns", "system": "NetSuite", "tier": 2, "deployment": "on_prem", "credits": 9},
            {"key": "sap", "system": "SAP ECC", "tier": 3, "deployment": "cloud", "credits": 5},
        ],
    }


def test_the_default_price_table_is_makinis():
    table = Credits.model_validate({"pool": 0})
    prices = [credit_report([_conn("c", "S", tier, "cloud")], table).used for tier in (1, 2, 3)]
    assert prices == [1, 2, 4]
    assert credit_report([_conn("c", "S", 3, "on_prem")], table).used == 8


def test_a_pool_used_exactly_is_within_budget_and_one_more_is_over():
    table = Credits.model_validate({"pool": 4})
    exact = credit_report([_conn("a", "S", 3, "cloud")], table)
    assert (exact.over_budget, exact.free) == (False, 0)
    over = credit_report([_conn("a", "S", 3, "cloud"), _conn("b", "S", 1, "cloud")], table)
    assert (over.over_budget, over.free) == (True, -1)


def test_the_biggest_connections_break_ties_by_key_and_default_to_three():
    table = Credits.model_validate({"pool": 100})
    conns = [_conn(k, "S", tier, "cloud") for k, tier in (("d", 3), ("b", 2), ("a", 2), ("c", 3), ("e", 1))]
    report = credit_report(conns, table)
    assert [r.key for r in report.biggest()] == ["c", "d", "a"]
    assert [r.key for r in report.biggest(5)] == ["c", "d", "a", "b", "e"]


def test_the_plan_s_credits_table_has_a_tier_column_and_a_total_row():
    from infra.plan import credits_section
    from tests.support import base_config, load

    cfg = load(base_config())
    section = credits_section(cfg, None)  # type: ignore[arg-type]  # the credits section does not read the run
    assert section.headers == ("connection", "system", "tier", "deployment", "credits")
    assert section.rows == (
        ("acme-sap", "SAP S/4HANA", "3", "cloud", "4"),
        ("globex-mx", "MaintainX", "1", "cloud", "1"),
        ("total", "", "", "", "5 of 10 (5 free)"),
    )
    assert section.data == credit_report(cfg.connections, cfg.credits).as_dict()
