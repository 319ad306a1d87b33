"""Makini connection credits: what each connection costs, the environment's total, and the budget check.

Pure: takes the config model, returns plain data. Makini prices connections by tier and doubles
on-premises installations (FACTS.md, "Connection credits"); the tier table is configurable because
Makini publishes no numbers for Tiers 1 and 2.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .config.connections import Connection, Credits


@dataclass(frozen=True)
class ConnectionCredits:
    key: str
    system: str
    tier: int
    deployment: str
    credits: int


@dataclass(frozen=True)
class CreditReport:
    rows: tuple[ConnectionCredits, ...]
    pool: int

    @property
    def used(self) -> int:
        return sum(r.credits for r in self.rows)

    @property
    def free(self) -> int:
        """Credits left in the pool (negative when over budget)."""
        return self.pool - self.used

    @property
    def over_budget(self) -> bool:
        return self.used > self.pool

    def biggest(self, n: int = 3) -> tuple[ConnectionCredits, ...]:
        """The n connections that use the most credits (ties broken by key, for stable messages)."""
        return tuple(sorted(self.rows, key=lambda r: (-r.credits, r.key))[:n])

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "used": self.used,
            "free": self.free,
            "connections": [
                {"key": r.key, "system": r.system, "tier": r.tier, "deployment": r.deployment, "credits": r.credits}
                for r in self.rows
            ],
        }


def connection_credits(connection: Connection, table: Credits) -> int:
    per_tier = {1: table.tier1, 2: table.tier2, 3: table.tier3}[connection.tier]
    return per_tier * (table.on_prem_multiplier if connection.deployment == "on_prem" else 1)


def credit_report(connections: Iterable[Connection], table: Credits) -> CreditReport:
    rows = tuple(
        ConnectionCredits(c.key, c.system, c.tier, c.deployment, connection_credits(c, table)) for c in connections
    )
    return CreditReport(rows=rows, pool=table.pool)
