"""The credit governor: Makini's pricing (tier, on-premises at double, FACTS.md) against the stack's pool."""

from __future__ import annotations

import pytest

from functions.onboarding import CreditGovernor, CreditPrices, CreditsExhausted


def test_admits_up_to_the_pool_and_refuses_beyond_with_the_figures():
    governor = CreditGovernor(pool=20, declared=9, prices=CreditPrices(1, 2, 4))
    decision = governor.admit(3, "cloud", [(1, "cloud"), (2, "on_prem")])  # 1 + 4 in use, 4 new
    assert (decision.runtime, decision.new, decision.used_after, decision.free_after) == (5, 4, 18, 2)
    assert governor.admit(1, "on_prem", [(1, "cloud"), (2, "on_prem"), (3, "cloud")]).free_after == 0  # exactly full
    with pytest.raises(CreditsExhausted) as info:
        governor.admit(3, "on_prem", [(1, "cloud"), (2, "on_prem")])  # 8 new: 22 > 20
    message = str(info.value)
    assert "8 credits" in message and "22 of the pool's 20" in message and "makini:credits.pool" in message


@pytest.mark.parametrize(("tier", "deployment"), [(0, "cloud"), (4, "cloud"), (True, "cloud"), (1, "onprem")])
def test_refuses_an_unknown_tier_or_deployment(tier, deployment):
    with pytest.raises(ValueError):
        CreditGovernor(pool=10, declared=0).admit(tier, deployment, [])


def test_reads_the_settings_strictly():
    g = CreditGovernor.from_settings({"pool": 40, "declared": 12, "tier1": 1, "tier2": 3, "tier3": 6})
    assert g.prices.cost(2, "on_prem") == 6 and g.pool == 40
    for bad in (
        {"declared": 1},
        {"pool": -1, "declared": 0},
        {"pool": "40", "declared": 0},
        {"pool": 1, "declared": 0, "tier1": True},
    ):
        with pytest.raises(ValueError):
            CreditGovernor.from_settings(bad)
