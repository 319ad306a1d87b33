"""The credit governor: refuse to onboard a connection the environment's credit pool cannot pay for (pure).

Makini charges credits per connection by tier, on-premises installations at double their cloud price, and
returns them to the pool on disconnect (FACTS.md, "Connection credits"). The stack declares the pool and the
price table (``makini:credits``: ``pool``, ``tier1``..``tier3``) and what its declared connections cost; the
onboarding service knows which system each customer connected. Before a Link code is exchanged (which is when
Makini consumes the credits), :meth:`CreditGovernor.admit` checks that the declared connections, the run-time
connections already onboarded and the new one fit in the pool, and refuses with the figures otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

Deployment = Literal["cloud", "on_prem"]


class CreditsExhausted(Exception):
    """Onboarding this connection would exceed the environment's credit pool; nothing was exchanged or stored."""


@dataclass(frozen=True)
class CreditPrices:
    """Credits per cloud connection of each tier (``makini:credits.tier1``..``tier3``); on-premises costs double."""

    tier1: int = 1
    tier2: int = 2
    tier3: int = 4

    def cost(self, tier: int, deployment: Deployment) -> int:
        if tier not in (1, 2, 3) or isinstance(tier, bool):
            raise ValueError(f"tier must be 1, 2 or 3, got {tier!r}")
        if deployment not in ("cloud", "on_prem"):
            raise ValueError(f"deployment must be 'cloud' or 'on_prem', got {deployment!r}")
        base = (self.tier1, self.tier2, self.tier3)[tier - 1]
        return base * 2 if deployment == "on_prem" else base


@dataclass(frozen=True)
class CreditDecision:
    pool: int
    declared: int
    runtime: int
    new: int

    @property
    def used_after(self) -> int:
        return self.declared + self.runtime + self.new

    @property
    def free_after(self) -> int:
        return self.pool - self.used_after


@dataclass(frozen=True)
class CreditGovernor:
    """The pool, the price table and what the stack's declared connections cost (its plan's ``credits``)."""

    pool: int
    declared: int
    prices: CreditPrices = CreditPrices()

    @classmethod
    def from_settings(cls, credits: Mapping[str, object]) -> CreditGovernor:
        """From the ``credits`` of the onboarding settings: ``{"pool", "declared", "tier1", "tier2", "tier3"}``."""

        def whole(key: str, default: int | None = None) -> int:
            value = credits.get(key, default)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"onboarding settings: credits.{key} must be a whole number >= 0, got {value!r}")
            return value

        return cls(
            pool=whole("pool"),
            declared=whole("declared"),
            prices=CreditPrices(whole("tier1", 1), whole("tier2", 2), whole("tier3", 4)),
        )

    def admit(
        self, tier: int, deployment: Deployment, runtime_in_use: Iterable[tuple[int, Deployment]]
    ) -> CreditDecision:
        """Admit a new connection of ``tier``/``deployment`` beside the run-time connections in use, or raise
        :class:`CreditsExhausted` naming the pool, what is used and what the new one costs."""
        decision = CreditDecision(
            pool=self.pool,
            declared=self.declared,
            runtime=sum(self.prices.cost(t, d) for t, d in runtime_in_use),
            new=self.prices.cost(tier, deployment),
        )
        if decision.free_after < 0:
            raise CreditsExhausted(
                f"onboarding a tier {tier} {deployment} connection ({decision.new} credits) would use "
                f"{decision.used_after} of the pool's {self.pool} credits (declared connections {self.declared}, "
                f"run-time connections {decision.runtime}); raise makini:credits.pool (and Makini's pool) or "
                "disconnect unused connections first"
            )
        return decision
