"""Secrets whose path would change between two plans: a connection moved into (or out of) an access class.

A connection's token lives at ``connections/<key>/token``, or ``connections/<class>/<key>/token`` once it
is filed under a class (see stacks/catalog.py). The path is part of every backend's name for the secret
(the Secrets Manager name, the Key Vault and its secret, the Vault KV path), so a move is not a rename:
``pulumi up`` creates a new secret at the new path (empty unless ``makini:connectionTokens.<key>`` gives
it a value) and deletes the old one (scheduled deletion on AWS, soft delete on Azure; Vault keeps its
data, only the stack forgets it), while the consumers' grants move to the new path at the same time. In
production the old resources are protected: the deletes fail, half way through the update.

The offline plan cannot see the deployed state, so ``python -m infra.plan <stack> --previous OLD.json``
compares with an earlier plan's JSON (e.g. the base branch's, in CI) and reports every move; in
production it refuses (exit 2) until the move is planned with ``--allow-moves`` (see
docs/access-at-scale.md, "Moving a connection into a class").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Move:
    connection: str
    old: str
    new: str

    def consequence(self, production: bool) -> str:
        where = (
            "the old resources are protected: pulumi up would create the new secret and the consumers' new grants, "
            "then fail to delete the old secret (consumers would already read the new, empty one)"
            if production
            else "pulumi up would create a new, empty secret at the new path and delete the old one (AWS: scheduled "
            "deletion within the recovery window; Azure: soft delete; Vault: data kept, no longer managed)"
        )
        return f"{self.connection}: {self.old} -> {self.new}; {where}"


def token_paths(plan: Mapping[str, Any]) -> dict[str, str]:
    """Connection key -> its token's catalog path, from a plan's JSON (its access matrix)."""
    matrix = plan.get("access_matrix") or {}
    out: dict[str, str] = {}
    for entry in (matrix.get("identities") or {}).values():
        for path in entry.get("secrets", {}):
            parts = path.split("/")
            if len(parts) == 3 and parts[0] == "connections" and parts[2] == "token":
                out[parts[1]] = path
        break  # every identity lists the same secrets
    for klass in (matrix.get("classes") or {}).values():
        for key in klass.get("connections", []):
            out[key] = f"{klass['prefix']}{key}/token"
    return out


def moves(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[Move]:
    """Connections present in both plans whose token path differs."""
    old, new = token_paths(previous), token_paths(current)
    return [Move(k, old[k], new[k]) for k in sorted(old.keys() & new.keys()) if old[k] != new[k]]
