"""Declared versus actual: a stack's connections against Makini's list and the checks of their tokens. Pure.

``infra.doctor`` gathers the facts (Makini's connection list, one :class:`TokenCheck` per connection and
backend, what it could not read); :func:`compare` turns them into a :class:`DriftReport`: one row per
declared connection and per connection Makini lists that nobody declared, each with a verdict and the
reasons, the credits in use against the pool, and the exit code. No I/O and no secret values: the
inputs carry states and locations, never a token.

The rules, in the order they are applied to a declared connection:

* **missing**: its ``makiniId`` is not among Makini's connections (disconnected or deleted);
* **not active**: Makini lists it with a status other than ``active``;
* **system mismatch**: the declared ``system`` and Makini's ``integration_name`` share no name. Both are
  reduced to lowercase letters and digits and match when one contains the other (``SAP S/4HANA`` and
  ``sap``, ``NetSuite`` and ``oracle-netsuite``, ``FM:Systems`` and ``fm_systems``), so naming style never
  raises an alarm but ``NetSuite`` against ``maintainx`` does;
* **token** (per backend): it works (``sync_status`` ``inprogress``, ``done``, ``fulldone``); Makini reports
  ``fail`` (the customer must reauthorise: invalid platform credentials) or ``error`` (a synchronisation
  error); Makini refuses it (401: invalid, expired or revoked); no value is stored, or the value is not
  ``{"token": ...}``; or it could not be checked (the store or Makini did not answer);
* a connection without ``makiniId`` cannot be matched with Makini's list (a note, not an alarm: the
  connection Makini lists for it then shows as undeclared, which is).

**Run-time connections** (issue 19): the doctor lists the names stored in each run-time class on each backend
(never a value), and each connection id found there is a row of its own. It needs attention when Makini does
not list it (disconnected or deleted: its token should be scheduled for deletion) or lists it as not active;
when it is stored in two classes (a connection belongs to one class: their readers differ); when a class holds
it on one backend the stack uses but not on another (listed) one; and when a declared connection has the same
``makiniId`` (a connection is declared or run-time, never both).

A connection Makini lists that no ``makiniId`` declares and no run-time class holds is **undeclared**: nothing
stored anywhere, it spends credits nobody manages. **Credits in use** are those of the declared connections
Makini lists (their declared tier and deployment, :func:`stacks.credits.connection_credits`) plus, for the
run-time and undeclared ones Makini lists, a range from the cheapest to the dearest price in the tier table:
Makini's connection list gives no tier or deployment (``oas3_system.json``: key, name, status, integration,
...), so nothing better is known; more than the pool even at the cheapest is an alarm, possibly more is a note.

Exit codes (``infra.doctor``): 0 healthy; 3 something needs attention; 1 something could not be checked
(this wins over 3: the picture is incomplete); 2 is bad input, decided before anything is compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .config.connections import Connection, Credits
from .config.model import StackConfig
from .credits import connection_credits, credit_report

EXIT_HEALTHY, EXIT_UNCHECKED, EXIT_INVALID, EXIT_ATTENTION = 0, 1, 2, 3
ACTIVE = "active"
WORKING_SYNC_STATUSES = frozenset({"inprogress", "done", "fulldone"})
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


class Verdict(StrEnum):
    OK = "ok"
    ATTENTION = "attention"
    UNCHECKED = "unchecked"


class TokenState(StrEnum):
    WORKS = "works"
    SYNC_FAIL = "sync-fail"
    SYNC_ERROR = "sync-error"
    UNAUTHORIZED = "unauthorized"
    NO_VALUE = "no-value"
    BAD_VALUE = "bad-value"
    UNREADABLE = "unreadable"
    UNCHECKED = "unchecked"


#: States that need someone to act, and what the reason says.
_TOKEN_ATTENTION = {
    TokenState.SYNC_FAIL: "Makini reports sync_status 'fail' (invalid platform credentials): the customer must reauthorise",
    TokenState.SYNC_ERROR: "Makini reports sync_status 'error': the last synchronisation failed",
    TokenState.UNAUTHORIZED: "Makini refuses the stored token (401: invalid, expired or revoked): rotate it "
    "(python -m infra.rotate <stack> --connection KEY --now) or reconnect",
    TokenState.NO_VALUE: "no token is stored",
    TokenState.BAD_VALUE: 'the stored value is not {"token": ...}',
}
_TOKEN_UNCHECKED = {
    TokenState.UNREADABLE: "the token could not be read",
    TokenState.UNCHECKED: "Makini could not be asked about the token",
}


@dataclass(frozen=True)
class TokenCheck:
    """What one backend's stored token of one connection turned out to be. Never holds the token."""

    backend: str
    location: str
    state: TokenState
    sync_status: str | None = None
    #: Why, for the states that are not WORKS (store or Makini error text, already free of secrets).
    detail: str = ""

    def reason(self) -> str | None:
        """The reason line for a row, or None when the token works."""
        base = _TOKEN_ATTENTION.get(self.state) or _TOKEN_UNCHECKED.get(self.state)
        if base is None:
            return None
        return f"{self.backend}: {base} ({self.location})" + (f": {self.detail}" if self.detail else "")

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"backend": self.backend, "location": self.location, "state": self.state.value}
        if self.sync_status is not None:
            out["sync_status"] = self.sync_status
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class MakiniConnection:
    """One entry of ``GET /api/system/connections`` (the fields the doctor uses; never the e-mail)."""

    id: str
    name: str = ""
    status: str = ""
    integration: str = ""

    @classmethod
    def from_api(cls, item: object) -> MakiniConnection | None:
        if not isinstance(item, Mapping):
            return None
        key = item.get("key")
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key) == "":
            return None

        def text(name: str) -> str:
            value = item.get(name)
            return value[:200] if isinstance(value, str) else ""

        return cls(id=str(key), name=text("name"), status=text("status"), integration=text("integration_name"))

    @property
    def active(self) -> bool:
        return self.status.strip().lower() == ACTIVE

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": self.status, "integration": self.integration}


@dataclass(frozen=True)
class ConnectionRow:
    """A declared connection (``key`` set) or one Makini lists that nobody declared (``key`` None)."""

    key: str | None
    makini_id: str | None
    system: str | None = None
    tier: int | None = None
    deployment: str | None = None
    makini: MakiniConnection | None = None
    tokens: tuple[TokenCheck, ...] = ()
    attention: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: A run-time connection: every (run-time class, backend) whose store holds a token named for it.
    runtime: tuple[tuple[str, str], ...] = ()

    @property
    def declared(self) -> bool:
        return self.key is not None

    @property
    def kind(self) -> str:
        """``declared``, ``runtime`` (stored at run time, not declared) or ``undeclared`` (stored nowhere)."""
        return "declared" if self.declared else "runtime" if self.runtime else "undeclared"

    def runtime_dict(self) -> dict[str, list[str]]:
        """Run-time class -> the backends holding the token."""
        out: dict[str, list[str]] = {}
        for access_class, backend in self.runtime:
            out.setdefault(access_class, []).append(backend)
        return out

    @property
    def verdict(self) -> Verdict:
        if self.attention:
            return Verdict.ATTENTION
        if self.unchecked:
            return Verdict.UNCHECKED
        return Verdict.OK

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "makini_id": self.makini_id,
            "declared": self.declared,
            "kind": self.kind,
            "runtime": self.runtime_dict(),
            "system": self.system,
            "tier": self.tier,
            "deployment": self.deployment,
            "verdict": self.verdict.value,
            "makini": self.makini.as_dict() if self.makini else None,
            "tokens": [t.as_dict() for t in self.tokens],
            "attention": list(self.attention),
            "unchecked": list(self.unchecked),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class CreditsInUse:
    """Credits Makini's list implies, against the pool and against what the stack declares."""

    pool: int
    #: What the stack file declares (every declared connection, listed or not): the plan's figure.
    declared: int
    #: Declared connections Makini lists, priced by their declared tier and deployment.
    listed_declared: int
    undeclared: int
    #: Cheapest and dearest price of one connection in the tier table (an undeclared one's tier is unknown).
    cheapest: int
    dearest: int
    #: Run-time connections Makini lists (not declared): their tier is unknown too (Makini's list gives none).
    runtime: int = 0

    @property
    def unpriced(self) -> int:
        """Connections Makini lists whose tier nobody declared: run-time and undeclared ones."""
        return self.undeclared + self.runtime

    @property
    def minimum(self) -> int:
        return self.listed_declared + self.unpriced * self.cheapest

    @property
    def maximum(self) -> int:
        return self.listed_declared + self.unpriced * self.dearest

    @property
    def over_pool(self) -> bool:
        return self.minimum > self.pool

    @property
    def may_exceed_pool(self) -> bool:
        return self.maximum > self.pool >= self.minimum

    def as_dict(self) -> dict[str, Any]:
        return {
            "pool": self.pool,
            "declared": self.declared,
            "in_use_min": self.minimum,
            "in_use_max": self.maximum,
            "listed_declared": self.listed_declared,
            "undeclared_connections": self.undeclared,
            "runtime_connections": self.runtime,
            "over_pool": self.over_pool,
        }


@dataclass(frozen=True)
class DriftReport:
    stack: str
    environment: str
    rows: tuple[ConnectionRow, ...]
    #: Findings about the stack as a whole (OAuth client, Makini list, credits).
    attention: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    credits: CreditsInUse | None = None
    #: The one connection checked (``--connection``), or None for the whole stack.
    only: str | None = None
    listed: int = 0
    backends: tuple[str, ...] = field(default_factory=tuple)
    #: The stack's run-time classes (their names were listed when the whole stack was checked).
    runtime_classes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        if self.unchecked or any(r.verdict is Verdict.UNCHECKED for r in self.rows):
            return EXIT_UNCHECKED
        if self.attention or any(r.verdict is Verdict.ATTENTION for r in self.rows):
            return EXIT_ATTENTION
        return EXIT_HEALTHY

    @property
    def verdict(self) -> str:
        return {EXIT_HEALTHY: "healthy", EXIT_ATTENTION: "attention", EXIT_UNCHECKED: "could-not-check"}[self.exit_code]

    def counts(self) -> dict[str, int]:
        declared = [r for r in self.rows if r.declared]
        return {
            "declared": len(declared),
            "listed_by_makini": self.listed,
            "ok": sum(r.verdict is Verdict.OK for r in declared),
            "attention": sum(r.verdict is Verdict.ATTENTION for r in self.rows),
            "unchecked": sum(r.verdict is Verdict.UNCHECKED for r in self.rows),
            "undeclared": sum(r.kind == "undeclared" for r in self.rows),
            "runtime": sum(r.kind == "runtime" for r in self.rows),
            "runtime_tokens": sum(len(r.runtime) for r in self.rows),
            "tokens_checked": sum(len(r.tokens) for r in declared),
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "environment": self.environment,
            "scope": {"connection": self.only} if self.only else {"connection": None},
            "backends": list(self.backends),
            "runtime_classes": list(self.runtime_classes),
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "summary": self.counts(),
            "attention": list(self.attention),
            "unchecked": list(self.unchecked),
            "notes": list(self.notes),
            "credits": self.credits.as_dict() if self.credits else None,
            "connections": [r.as_dict() for r in self.rows],
        }


def _normalised(name: str) -> str:
    return _NOT_ALNUM.sub("", name.lower())


def systems_match(declared: str, integration: str) -> bool | None:
    """Whether a declared ``system`` and Makini's ``integration_name`` name the same platform (see the
    module doc); None when Makini gives no integration name."""
    a, b = _normalised(declared), _normalised(integration)
    if not b:
        return None
    if not a:
        return False
    return a in b or b in a


def _token_reasons(tokens: Iterable[TokenCheck]) -> tuple[list[str], list[str]]:
    attention: list[str] = []
    unchecked: list[str] = []
    for t in tokens:
        reason = t.reason()
        if reason is None:
            continue
        (attention if t.state in _TOKEN_ATTENTION else unchecked).append(reason)
    return attention, unchecked


def _declared_row(
    conn: Connection,
    listed: Mapping[str, MakiniConnection],
    tokens: Sequence[TokenCheck],
    first_with_id: Mapping[str, str],
) -> ConnectionRow:
    attention, unchecked = _token_reasons(tokens)
    notes: list[str] = []
    found = None
    if conn.makini_id is None:
        notes.append("no makiniId in the stack file: not matched with Makini's list (set it to compare)")
    elif first_with_id[conn.makini_id] != conn.key:
        attention.insert(0, f"makiniId {conn.makini_id} is also declared by connection {first_with_id[conn.makini_id]}")
    else:
        found = listed.get(conn.makini_id)
        if found is None:
            attention.insert(
                0,
                f"missing in Makini: no connection {conn.makini_id} (disconnected or deleted); reconnect it, "
                "or remove it from the stack file",
            )
        else:
            if not found.active:
                attention.insert(0, f"not active in Makini (status {found.status or 'empty'!r})")
            match = systems_match(conn.system, found.integration)
            if match is False:
                attention.append(
                    f"system mismatch: the stack declares {conn.system!r}, Makini's integration is {found.integration!r}"
                )
            elif match is None:
                notes.append("Makini gives no integration name: the system was not compared")
    for t in tokens:
        if t.state is TokenState.WORKS and t.sync_status not in WORKING_SYNC_STATUSES:
            notes.append(f"{t.backend}: Makini reports sync_status {t.sync_status!r}, not one it documents")
    return ConnectionRow(
        key=conn.key,
        makini_id=conn.makini_id,
        system=conn.system,
        tier=conn.tier,
        deployment=conn.deployment,
        makini=found,
        tokens=tuple(tokens),
        attention=tuple(attention),
        unchecked=tuple(unchecked),
        notes=tuple(notes),
    )


def parse_listed(items: Iterable[object]) -> tuple[dict[str, MakiniConnection], int]:
    """Makini's list by id (first occurrence wins) and how many entries had no usable ``key``."""
    out: dict[str, MakiniConnection] = {}
    unusable = 0
    for item in items:
        parsed = MakiniConnection.from_api(item)
        if parsed is None:
            unusable += 1
        else:
            out.setdefault(parsed.id, parsed)
    return out, unusable


def _runtime_stored(runtime: Mapping[str, Mapping[str, Sequence[str]]]) -> dict[str, list[tuple[str, str]]]:
    """Connection id -> every (run-time class, backend) holding a token for it."""
    out: dict[str, list[tuple[str, str]]] = {}
    for access_class, per_backend in sorted(runtime.items()):
        for backend, ids in per_backend.items():
            for i in sorted(set(ids)):
                out.setdefault(i, []).append((access_class, backend))
    return out


def _runtime_row(
    connection_id: str,
    where: Sequence[tuple[str, str]],
    found: MakiniConnection | None,
    runtime: Mapping[str, Mapping[str, Sequence[str]]],
    backends: Sequence[str],
    first_with_id: Mapping[str, str],
) -> ConnectionRow:
    """A connection whose token is stored in a run-time class (see the module doc for the rules)."""
    classes = sorted({c for c, _ in where})
    attention: list[str] = []
    declared_as = first_with_id.get(connection_id)
    if declared_as is not None:
        attention.append(
            f"also declared as connection {declared_as} (makiniId {connection_id}): a connection is declared or "
            f"stored at run time, never both; schedule the run-time token's deletion in class {', '.join(classes)}"
        )
    if found is None:
        attention.append(
            f"not in Makini: no connection {connection_id} (disconnected or deleted), yet its token is stored in "
            f"class {', '.join(classes)}: schedule its deletion within the recovery window (docs/operations.md, "
            "'Onboarding customers at run time')"
        )
    elif not found.active:
        attention.append(
            f"not active in Makini (status {found.status or 'empty'!r}): if the customer disconnected, schedule its "
            "token's deletion (docs/operations.md, 'Onboarding customers at run time')"
        )
    if len(classes) > 1:
        attention.append(
            f"stored in {len(classes)} run-time classes ({', '.join(classes)}): a connection belongs to one class "
            "(each class has its own readers); schedule the deletion of the copy in the wrong class"
        )
    for access_class in classes:
        holding = [b for c, b in where if c == access_class]
        missing = [b for b in backends if b in runtime.get(access_class, {}) and b not in holding]
        if missing:
            attention.append(
                f"class {access_class}: stored on {', '.join(holding)} but not on {', '.join(missing)}: every "
                "backend the stack uses should hold it (store it again with the onboarding client, which writes "
                "every backend)"
            )
    return ConnectionRow(
        key=None,
        makini_id=connection_id,
        makini=found,
        attention=tuple(attention),
        runtime=tuple(where),
    )


def _price_range(table: Credits) -> tuple[int, int]:
    prices = [table.tier1, table.tier2, table.tier3]
    return min(prices), max(prices) * table.on_prem_multiplier


def compare(
    stack: str,
    cfg: StackConfig,
    listed_items: Iterable[object],
    tokens: Mapping[str, Sequence[TokenCheck]],
    *,
    only: str | None = None,
    backends: Sequence[str] = (),
    attention: Sequence[str] = (),
    unchecked: Sequence[str] = (),
    notes: Sequence[str] = (),
    runtime: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> DriftReport:
    """The drift report of ``cfg`` against Makini's list and the token checks (by connection key).

    ``runtime``: run-time class -> backend -> the connection ids whose tokens are stored there, for each
    (class, backend) that could be listed; a pair missing from it could not be listed (the caller says why in
    ``unchecked``), so no connection is called missing there and an undeclared one is "could not check".

    With ``only`` (a declared connection key) the report covers that connection alone: no undeclared or
    run-time rows and no credits, since one connection says nothing about the pool.
    """
    listed, unusable = parse_listed(listed_items)
    stack_attention, stack_unchecked, stack_notes = list(attention), list(unchecked), list(notes)
    if unusable:
        stack_notes.append(
            f"{unusable} entr{'y' if unusable == 1 else 'ies'} of Makini's list had no key and were ignored"
        )
    first_with_id: dict[str, str] = {}
    for conn in cfg.connections:
        if conn.makini_id is not None:
            first_with_id.setdefault(conn.makini_id, conn.key)
    scope = [c for c in cfg.connections if only is None or c.key == only]
    if only is not None and not scope:
        raise ValueError(f"stack {stack!r} declares no connection {only!r}")
    rows = [_declared_row(c, listed, tokens.get(c.key, ()), first_with_id) for c in scope]
    credits = None
    runtime_classes = sorted(n for n, c in cfg.access_classes.items() if c.runtime)
    if only is None:
        without_id = sorted(c.key for c in cfg.connections if c.makini_id is None)
        hint = f" (if it is {', '.join(without_id)}, set its makiniId)" if without_id else ""
        stored = _runtime_stored(runtime or {})
        used = tuple(backends) or tuple(cfg.backends)
        complete = all(set(used) <= set((runtime or {}).get(c, {})) for c in runtime_classes)
        undeclared = [m for i, m in sorted(listed.items()) if i not in first_with_id and i not in stored]
        for m in undeclared:
            what = (
                f"undeclared: Makini lists connection {m.id} ({m.integration or 'unknown integration'}, "
                f"status {m.status or 'empty'!r}) but no connection of this stack declares it{hint}"
            )
            if not runtime_classes:
                reason = f"{what}; it uses credits nobody manages: declare it or disconnect it"
            elif complete:
                reason = (
                    f"{what} and no run-time class ({', '.join(runtime_classes)}) holds a token for it on any "
                    "backend: nothing is stored for it anywhere, and it uses credits nobody manages: store its token "
                    "(the onboarding client), declare it, or disconnect it"
                )
            else:
                rows.append(
                    ConnectionRow(
                        key=None,
                        makini_id=m.id,
                        makini=m,
                        unchecked=(
                            f"{what}; the run-time classes could not be listed on every backend, so whether a "
                            "token is stored for it is unknown",
                        ),
                    )
                )
                continue
            rows.append(ConnectionRow(key=None, makini_id=m.id, makini=m, attention=(reason,)))
        rows += [
            _runtime_row(i, where, listed.get(i), runtime or {}, used, first_with_id)
            for i, where in sorted(stored.items())
        ]
        cheapest, dearest = _price_range(cfg.credits)
        credits = CreditsInUse(
            pool=cfg.credits.pool,
            declared=credit_report(cfg.connections, cfg.credits).used,
            listed_declared=sum(
                connection_credits(c, cfg.credits)
                for c in cfg.connections
                if c.makini_id is not None and c.makini_id in listed and first_with_id[c.makini_id] == c.key
            ),
            undeclared=len(undeclared),
            cheapest=cheapest,
            dearest=dearest,
            runtime=sum(1 for i in stored if i in listed and i not in first_with_id),
        )
        if credits.over_pool:
            stack_attention.append(
                f"credits in use at Makini ({credits.minimum}"
                + (f" to {credits.maximum}" if credits.maximum != credits.minimum else "")
                + f") exceed the pool of {credits.pool} (makini:credits.pool)"
            )
        elif credits.may_exceed_pool:
            stack_notes.append(
                f"credits in use at Makini are {credits.minimum} to {credits.maximum} (run-time and undeclared "
                f"connections' tiers are unknown): possibly more than the pool of {credits.pool}"
            )
    return DriftReport(
        stack=stack,
        environment=cfg.environment,
        rows=tuple(rows),
        attention=tuple(stack_attention),
        unchecked=tuple(stack_unchecked),
        notes=tuple(stack_notes),
        credits=credits,
        only=only,
        listed=len(listed),
        backends=tuple(backends),
        runtime_classes=tuple(runtime_classes) if only is None else (),
    )
