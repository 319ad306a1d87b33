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
