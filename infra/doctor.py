"""Check a stack against Makini: is what the stack declares what actually exists?

    python -m infra.doctor <stack> [--json | --markdown] [--connection KEY] [--backend B] [--skip-tokens]

Run with the operator's own credentials (no Pulumi CLI needed). It reads ``Pulumi.<stack>.yaml`` the way
the program does, reads the stack's OAuth client from the stack's store on each backend it uses,
obtains a system token (``POST /link/token``), lists every page of Makini's connections
(``GET /api/system/connections``) and compares them with the declared connections: declared but
missing or not active, listed but undeclared, system/platform mismatches. It then reads each stored
connection token and asks Makini about it with the cheap call ``GET /api/integrations/current``
(works; ``sync_status`` fail or error; 401), and computes the credits in use against the pool. Run-time
connections (issue 19): it lists the names stored in each run-time class on each backend (never a value: AWS
``ListSecrets`` with a name-prefix filter, the class's Key Vault's secret properties, Vault ``LIST`` on the
class's ``metadata/`` folder), counts those Makini lists against the pool, and flags a token whose connection
Makini does not list or lists as not active (schedule its deletion), one stored in two classes or on one backend
but not another, and a connection Makini lists that has no token stored anywhere. The
rules are in :mod:`stacks.drift`; secret locations come from :mod:`stacks.locations`; stores are read
through :mod:`infra.stores`; Makini is called through the rotation functions' client, with the same
host pin (only ``https://api.makini.io``), bounded concurrency and retries that honour ``Retry-After``
(one 429 pauses every worker).

Nothing prints or logs a token or secret: values are read into memory, registered for masking, sent only
to Makini's pinned host, and never written anywhere. Errors name what could not be checked and why.
See docs/operations.md, "Checking a stack against Makini".

Exit codes: 0 healthy (everything declared exists, is active and works; nothing undeclared; credits
within the pool); 3 attention needed (missing, not active, undeclared, mismatched, a token that fails:
sync_status fail or error, 401, none stored; credits over the pool; the reasons are printed per
connection); 2 bad input (unknown stack or connection, invalid stack file, a refused MAKINI_API_BASE);
1 could not check (Makini unreachable or refusing the OAuth client, a store that cannot be read, tokens
not checked; says what and why; wins over 3). Secret values are never printed or logged.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import IO, Any, cast

from functions.rotation.backoff import RetryPolicy
from functions.rotation.makini_client import (
    ENV_API_BASE,
    MakiniAuthError,
    MakiniClient,
    MakiniError,
    MakiniHostRefused,
    RateGate,
)
from functions.shared import jsonlog
from stacks import clock
from stacks.catalog import SecretKind, build_catalog
from stacks.config import ConfigError, StackConfig
from stacks.config.model import Backend
from stacks.drift import (
    EXIT_ATTENTION,
    EXIT_HEALTHY,
    EXIT_INVALID,
    EXIT_UNCHECKED,
    ConnectionRow,
    DriftReport,
    MakiniConnection,
    TokenCheck,
    TokenState,
    Verdict,
    compare,
)
from stacks.locations import BACKEND_TITLES, SecretLocation, locate, locate_runtime_class

from .cli import make_parser, unexpected
from .offline import PROJECT, StackFileError, load_stack_file
from .stores import ReaderFactory, StoreError, StoreReader, default_reader, parse_oauth_client

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
#: Consecutive "Makini did not answer" results after which the remaining checks are skipped.
BREAKER_THRESHOLD = 20
DEFAULT_TABLE_LIMIT = 100
#: Per Makini request: 5 attempts, exponential backoff from 0.5 s capped at 8 s, at most 60 s of waiting
#: (a Retry-After longer than what is left gives up at once: the check is reported as not done).
RETRY_POLICY = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=8.0, max_total_wait=60.0)
#: SDK loggers that log request or response bodies at DEBUG (values included).
SDK_LOGGERS = ("botocore", "boto3", "urllib3", "azure", "hvac", "requests", "s3transfer")

MakiniFactory = Callable[..., MakiniClient]


def _default_makini(env: Mapping[str, str]) -> MakiniFactory:
    """Makini's pinned host (MAKINI_API_BASE may only repeat it), with the run's gate, policy and clock."""

    def build(
        *,
        gate: RateGate,
        timeout: float,
        policy: RetryPolicy,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
    ) -> MakiniClient:
        return MakiniClient(env.get(ENV_API_BASE), gate=gate, timeout=timeout, policy=policy, sleep=sleep, clock=clock)

    return build


# --------------------------------------------------------------------------------------------------
# progress (a terminal only)


class Progress:
    """One self-rewriting line on a terminal (never in a pipe, a file or CI logs)."""

    def __init__(self, stream: IO[str], enabled: bool, now: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.enabled = enabled
        self.now = now
        self._last = -1.0
        self._lock = threading.Lock()
        self._shown = False

    def show(self, text: str, *, force: bool = False) -> None:
        if not self.enabled:
            return
        with self._lock:
            t = self.now()
            if not force and t - self._last < 0.1:
                return
            self._last = t
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
            self._shown = True

    def clear(self) -> None:
        if self.enabled and self._shown:
            with self._lock:
                self.stream.write("\r\033[K")
                self.stream.flush()
                self._shown = False


# --------------------------------------------------------------------------------------------------
# gathering the facts


@dataclass
class Facts:
    attention: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tokens: dict[str, list[TokenCheck]] = field(default_factory=dict)
    listed: list[dict[str, Any]] = field(default_factory=list)
    system_token: str | None = None
    #: Run-time class -> backend -> connection ids whose tokens are stored there (each pair that could be listed).
    runtime: dict[str, dict[str, list[str]]] = field(default_factory=dict)


class _RetryCounter(logging.Handler):
    """Counts the Makini client's retry log lines (they carry no secret; only counted, not shown)."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        if '"makini_retry"' in record.getMessage():
            self.retries += 1


def _parse_token(raw: str) -> str | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    token = value.get("token") if isinstance(value, dict) else None
    if not isinstance(token, str) or not token:
        return None
    jsonlog.register_secret(token)
    return token


class Doctor:
    def __init__(
        self,
        stack: str,
        cfg: StackConfig,
        readers: Mapping[Backend, StoreReader],
        makini: MakiniClient,
        *,
        organization: str | None,
        only: str | None,
        skip_tokens: bool,
        concurrency: int,
        progress: Progress,
    ) -> None:
        self.stack = stack
        self.cfg = cfg
        self.readers = readers
        self.makini = makini
        self.organization = organization
        self.only = only
        self.skip_tokens = skip_tokens
        self.concurrency = concurrency
        self.progress = progress
        catalog = build_catalog(cfg)
        self._secrets = {(s.kind, s.connection): s for s in catalog.secrets}
        self.facts = Facts()

    def where(self, kind: SecretKind, backend: Backend, connection: str | None = None) -> SecretLocation:
        """The location of a catalog secret, from stacks.locations (never built here)."""
        secret = self._secrets[(kind, connection)]
        return locate(self.cfg, secret, backend, project=PROJECT, organization=self.organization)

    # -- 1. the OAuth client on every backend, and a system token ---------------------------------

    def system_token(self) -> str | None:
        f = self.facts
        candidates: list[tuple[tuple[str, str], SecretLocation]] = []
        for backend, reader in self.readers.items():
            loc = self.where(SecretKind.OAUTH_CLIENT, backend)
            try:
                raw = reader.read(loc)
            except StoreError as err:
                f.unchecked.append(f"OAuth client: {err}")
                continue
            if raw is None:
                f.attention.append(
                    f"OAuth client: nothing is stored in {loc}; rotation on {backend} cannot obtain a system token "
                    '(store {"client_id", "client_secret"} there)'
                )
                continue
            parsed = parse_oauth_client(raw)
            if parsed is None:
                f.attention.append(f'OAuth client: {loc} does not hold {{"client_id", "client_secret"}}')
                continue
            if parsed[0] != self.cfg.oauth.client_id:
                f.attention.append(
                    f"OAuth client: {loc} holds client_id {parsed[0][:80]!r}, the stack declares "
                    f"{self.cfg.oauth.client_id!r} (makini:oauth.clientId)"
                )
            candidates.append((parsed, loc))
        tried: dict[tuple[str, str], str | None] = {}
        for creds, loc in candidates:
            if creds in tried:
                continue
            try:
                tried[creds] = self.makini.system_token(*creds)
            except MakiniAuthError as err:
                tried[creds] = None
                f.attention.append(f"OAuth client: Makini refuses the one stored in {loc}: {err}")
            except MakiniError as err:
                tried[creds] = None
                f.unchecked.append(f"Makini: could not obtain a system token with the OAuth client in {loc}: {err}")
        f.system_token = next((t for t in tried.values() if t), None)
        return f.system_token

    # -- 2. Makini's list --------------------------------------------------------------------------

    def list_connections(self, system_token: str) -> bool:
        def on_page(page: int, last: int | None) -> None:
            self.progress.show(f"doctor {self.stack}: listing Makini's connections, page {page}/{last or '?'}")

        try:
            self.facts.listed = list(self.makini.list_connections(system_token, max_pages=100_000, on_page=on_page))
        except MakiniError as err:
            self.facts.unchecked.append(f"Makini: could not list the connections: {err}")
            return False
        return True

    # -- 3. every stored token ---------------------------------------------------------------------

    def check_tokens(self) -> None:
        scope = [c for c in self.cfg.connections if self.only is None or c.key == self.only]
        tasks = [(c.key, b) for c in scope for b in self.readers]
        for key, _ in tasks:
            self.facts.tokens.setdefault(key, [])
        if not tasks:
            return
        done = 0
        failing = 0
        lock = threading.Lock()
        breaker = threading.Event()

        def one(key: str, backend: Backend) -> TokenCheck:
            loc = self.where(SecretKind.CONNECTION_TOKEN, backend, key)
            if breaker.is_set():
                return TokenCheck(
                    backend,
                    str(loc),
                    TokenState.UNCHECKED,
                    detail=f"skipped: Makini stopped answering ({BREAKER_THRESHOLD} failures in a row)",
                )
            try:
                raw = self.readers[backend].read(loc)
            except StoreError as err:
                return TokenCheck(backend, str(loc), TokenState.UNREADABLE, detail=str(err))
            if raw is None:
                return TokenCheck(backend, str(loc), TokenState.NO_VALUE)
            token = _parse_token(raw)
            if token is None:
                return TokenCheck(backend, str(loc), TokenState.BAD_VALUE)
            try:
                status = self.makini.check_token(token)
            except MakiniAuthError:
                return TokenCheck(backend, str(loc), TokenState.UNAUTHORIZED)
            except MakiniError as err:  # 429 or 5xx beyond the retries, a timeout, another 4xx
                return TokenCheck(backend, str(loc), TokenState.UNCHECKED, detail=str(err))
            state = {"fail": TokenState.SYNC_FAIL, "error": TokenState.SYNC_ERROR}.get(status, TokenState.WORKS)
            return TokenCheck(backend, str(loc), state, sync_status=status)

        def run(task: tuple[str, Backend]) -> tuple[str, TokenCheck]:
            nonlocal done, failing
            check = one(*task)
            with lock:
                done += 1
                if check.state is TokenState.UNCHECKED and "skipped" not in check.detail:
                    failing += 1
                    if failing >= BREAKER_THRESHOLD:
                        breaker.set()
                elif check.state is not TokenState.UNCHECKED:
                    failing = 0
                self.progress.show(f"doctor {self.stack}: checked {done}/{len(tasks)} tokens")
            return task[0], check

        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="doctor") as pool:
            for key, check in pool.map(run, tasks):
                self.facts.tokens[key].append(check)
        if breaker.is_set():
            self.facts.unchecked.append(
                f"Makini stopped answering: {BREAKER_THRESHOLD} token checks in a row failed, the rest were skipped"
            )

    # -- 4. the run-time classes' names, on every backend (never a value) -------------------------------

    def list_runtime(self) -> None:
        classes = sorted(n for n, c in self.cfg.access_classes.items() if c.runtime)
        for access_class in classes:
            per_backend = self.facts.runtime.setdefault(access_class, {})
            for backend, reader in self.readers.items():
                place = locate_runtime_class(
                    self.cfg, access_class, backend, project=PROJECT, organization=self.organization
                )
                self.progress.show(
                    f"doctor {self.stack}: listing run-time class {access_class} on {backend}", force=True
                )
                try:
                    names = reader.list_names(place)
                except StoreError as err:
                    self.facts.unchecked.append(f"run-time class {access_class}: could not list the tokens: {err}")
                    continue
                ids = [place.connection_of(n) for n in names]
                strays = sum(i is None for i in ids)
                if strays:
                    self.facts.notes.append(
                        f"run-time class {access_class}: {strays} name(s) in {place} are not run-time tokens "
                        "(connections/<class>/<makini connection id>/token) and were ignored"
                    )
                per_backend[backend] = [i for i in ids if i is not None]
        self._drop_deleted()

    def _drop_deleted(self) -> None:
        """A listing may hold tokens whose current value is deleted (Vault keeps a soft-deleted token's
        metadata): for the ids that would be flagged (Makini does not list them as active, or another backend
        lacks them) ask the store whether they are live, and forget those that are not. A healthy stack costs
        no extra request."""
        active = {m.id for m in (MakiniConnection.from_api(i) for i in self.facts.listed) if m and m.active}
        for access_class, per_backend in self.facts.runtime.items():
            everywhere = set.intersection(*(set(ids) for ids in per_backend.values())) if per_backend else set()
            for name, ids in per_backend.items():
                backend = cast(Backend, name)  # the keys are the readers' backends (list_runtime)
                suspects = [i for i in ids if i not in active or i not in everywhere]
                if not suspects:
                    continue
                place = locate_runtime_class(
                    self.cfg, access_class, backend, project=PROJECT, organization=self.organization
                )
                try:
                    live = self.readers[backend].live_names(place, [place.name_of(i) for i in suspects])
                except StoreError as err:
                    self.facts.unchecked.append(f"run-time class {access_class}: could not check deletions: {err}")
                    continue
                gone = set(suspects) - {place.connection_of(n) for n in live}
                per_backend[backend] = [i for i in ids if i not in gone]

    def run(self) -> DriftReport | None:
        if not self.readers:
            return None
        token = self.system_token()
        if token is None:
            self.facts.unchecked.append(
                "Makini was not asked: no stored OAuth client obtained a system token (the reasons are above)"
            )
            return None
        if not self.list_connections(token):
            return None
        if self.only is None:
            self.list_runtime()
        if self.skip_tokens:
            self.facts.notes.append("token checks skipped (--skip-tokens)")
        else:
            self.check_tokens()
        self.progress.clear()
        return compare(
            self.stack,
            self.cfg,
            self.facts.listed,
            self.facts.tokens,
            only=self.only,
            backends=tuple(self.readers),
            attention=self.facts.attention,
            unchecked=self.facts.unchecked,
            notes=self.facts.notes,
            runtime=self.facts.runtime,
        )


# --------------------------------------------------------------------------------------------------
# output


def _tokens_cell(row: ConnectionRow) -> str:
    if row.runtime:
        return "; ".join(f"{c}: {', '.join(b)} (names)" for c, b in row.runtime_dict().items())
    if not row.tokens:
        return "-" if row.declared else "(undeclared)"
    return ", ".join(f"{t.backend} {t.state.value}" for t in row.tokens)


_ORDER = {Verdict.ATTENTION: 0, Verdict.UNCHECKED: 1, Verdict.OK: 2}


def _sorted_rows(report: DriftReport) -> list[ConnectionRow]:
    kinds = {"declared": 0, "undeclared": 1, "runtime": 2}
    return sorted(report.rows, key=lambda r: (_ORDER[r.verdict], kinds[r.kind], r.key or "", r.makini_id or ""))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    cells = [list(r) for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(values, widths, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in cells)]


HEADERS = ("connection", "makini id", "in makini", "integration", "tokens", "verdict")


def _cells(row: ConnectionRow) -> list[str]:
    return [
        row.key or ("(run-time)" if row.runtime else "(undeclared)"),
        row.makini_id or "-",
        (row.makini.status or "?") if row.makini else ("missing" if row.declared and row.makini_id else "-"),
        (row.makini.integration if row.makini else "") or "-",
        _tokens_cell(row),
        row.verdict.value,
    ]


def _credits_line(report: DriftReport) -> str | None:
    c = report.credits
    if c is None:
        return None
    in_use = f"{c.minimum}" if c.minimum == c.maximum else f"{c.minimum} to {c.maximum}"
    runtime = f"; {c.runtime} run-time connection(s) of unknown tier" if c.runtime else ""
    return f"Credits: {in_use} in use at Makini (the stack declares {c.declared}{runtime}), pool {c.pool}" + (
        " -- OVER THE POOL" if c.over_pool else ""
    )


def _runtime_phrase(report: DriftReport) -> str:
    """``N run-time connection(s) stored (T name(s) listed); `` when the stack has run-time classes."""
    if not report.runtime_classes:
        return ""
    counts = report.counts()
    return f"{counts['runtime']} run-time connection(s) stored ({counts['runtime_tokens']} name(s) listed); "


def _verdict_line(report: DriftReport) -> str:
    code = report.exit_code
    text = {
        EXIT_HEALTHY: "healthy",
        EXIT_ATTENTION: "attention needed",
        EXIT_UNCHECKED: "could not check everything",
    }[code]
    return f"Verdict: {text} (exit {code})"


def render_text(report: DriftReport, *, base_url: str, show_all: bool, limit: int) -> str:
    counts = report.counts()
    scope = f"connection {report.only}" if report.only else "every connection"
    lines = [
        f"Doctor: stack {report.stack} (environment {report.environment}), {scope}, against {base_url}; "
        f"stores: {', '.join(BACKEND_TITLES[b] for b in report.backends)}",
        f"Makini lists {counts['listed_by_makini']} connection(s); the stack declares {counts['declared']}; "
        + _runtime_phrase(report)
        + f"{counts['tokens_checked']} stored token(s) checked.",
        "",
    ]
    rows = _sorted_rows(report)
    shown = rows if show_all else [r for r in rows if r.verdict is not Verdict.OK]
    hidden_ok = len(rows) - len(shown)
    cut = shown[:limit]
    if cut:
        lines += _table(HEADERS, (_cells(r) for r in cut))
    if len(shown) > len(cut):
        lines.append(f"... and {len(shown) - len(cut)} more (--limit, or --json for all)")
    if hidden_ok:
        lines.append(f"{hidden_ok} connection(s) healthy, not listed (--all lists them)")
    reasons = [(r, reason) for r in cut for reason in (*r.attention, *r.unchecked, *r.notes)]
    if reasons:
        lines += ["", "Reasons:"]
        lines += [f"  {r.key or r.makini_id}: {reason}" for r, reason in reasons]
    stack_level = [*(("attention", a) for a in report.attention), *(("could not check", u) for u in report.unchecked)]
    stack_level += [("note", n) for n in report.notes]
    if stack_level:
        lines += ["", "Stack:"]
        lines += [f"  {kind}: {text}" for kind, text in stack_level]
    credits = _credits_line(report)
    lines += ["", *([credits] if credits else []), _verdict_line(report)]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: DriftReport, *, base_url: str, limit: int) -> str:
    counts = report.counts()
    icon = {EXIT_HEALTHY: "✅", EXIT_ATTENTION: "⚠️", EXIT_UNCHECKED: "❓"}[report.exit_code]
    lines = [
        f"## {icon} Doctor: {report.stack}",
        "",
        f"{_verdict_line(report)}. Makini ({base_url}) lists {counts['listed_by_makini']} connection(s); the stack "
        f"declares {counts['declared']}; {_runtime_phrase(report)}{counts['tokens_checked']} stored token(s) checked; "
        f"{counts['attention']} need attention, {counts['unchecked']} could not be checked, "
        f"{counts['undeclared']} undeclared.",
        "",
    ]
    rows = [r for r in _sorted_rows(report) if r.verdict is not Verdict.OK]
    if rows:
        lines += ["| " + " | ".join(HEADERS) + " | reasons |", "|" + "---|" * (len(HEADERS) + 1)]
        for r in rows[:limit]:
            reasons = "<br>".join(_md(x) for x in (*r.attention, *r.unchecked))
            lines.append("| " + " | ".join(_md(c) for c in _cells(r)) + f" | {reasons} |")
        if len(rows) > limit:
            lines.append(f"\n... and {len(rows) - limit} more.")
        lines.append("")
    for kind, items in (
        ("Attention", report.attention),
        ("Could not check", report.unchecked),
        ("Notes", report.notes),
    ):
        if items:
            lines += [f"**{kind}**", "", *(f"- {_md(i)}" for i in items), ""]
    credits = _credits_line(report)
    if credits:
        lines.append(credits)
    return "\n".join(lines) + "\n"


def render_failure(report: DriftReport, *, base_url: str) -> str:
    lines = [
        f"Doctor: stack {report.stack} (environment {report.environment}) against {base_url}: "
        "the check could not be completed.",
        "",
        *(f"  could not check: {u}" for u in report.unchecked),
        *(f"  attention: {a}" for a in report.attention),
        *(f"  note: {n}" for n in report.notes),
        "",
        _verdict_line(report),
    ]
    return "\n".join(lines) + "\n"


def failure_report(stack: str, cfg: StackConfig, facts: Facts, backends: Sequence[str]) -> DriftReport:
    """A report for a run that stopped before comparing (no system token, no list): exit 1."""
    unchecked = facts.unchecked or ["nothing could be checked"]
    return DriftReport(
        stack=stack,
        environment=cfg.environment,
        rows=(),
        attention=tuple(facts.attention),
        unchecked=tuple(unchecked),
        notes=tuple(facts.notes),
        backends=tuple(backends),
    )


# --------------------------------------------------------------------------------------------------
# entry point


def _parser() -> argparse.ArgumentParser:
    parser = make_parser("python -m infra.doctor", __doc__ or "")
    parser.add_argument("stack", help="stack name, e.g. prod (reads Pulumi.<stack>.yaml)")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document (every connection)")
    fmt.add_argument("--markdown", action="store_true", help="print Markdown (for a CI job summary)")
    parser.add_argument("--connection", metavar="KEY", help="check this declared connection only")
    parser.add_argument(
        "--backend", choices=("aws", "azure", "vault"), help="read secrets from this backend only (default: every one)"
    )
    parser.add_argument(
        "--skip-tokens", action="store_true", help="compare lists and credits only; read no connection token"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=f"token checks in flight at once (1-{MAX_CONCURRENCY}, default {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, metavar="SECONDS", help="per Makini request (default 10)"
    )
    parser.add_argument("--all", action="store_true", help="list healthy connections too (text output)")
    parser.add_argument(
        "--limit", type=int, default=DEFAULT_TABLE_LIMIT, metavar="N", help="rows in the text/Markdown table"
    )
    parser.add_argument(
        "--pulumi-org",
        metavar="ORG",
        default=None,
        help="Pulumi organization of the stack (the derived Key Vault name depends on it; default: $PULUMI_ORG)",
    )
    parser.add_argument("--config-file", metavar="FILE", help="read this file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--no-progress", action="store_true", help="no progress line, even on a terminal")
    return parser


def main(
    argv: list[str] | None = None,
    *,
    out: IO[str] | None = None,
    err: IO[str] | None = None,
    env: Mapping[str, str] | None = None,
    makini_factory: MakiniFactory | None = None,
    reader_factory: ReaderFactory = default_reader,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> int:
    """The command. Tests inject the Makini client (``makini_factory(**kwargs)`` gets the gate, retry
    policy, timeout, sleep and clock to pass on), the store readers, and the sleep/clock pair."""
    out = out or sys.stdout
    err = err or sys.stderr
    env = os.environ if env is None else env
    args = _parser().parse_args(argv)
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        print(f"makini-infra doctor: --concurrency must be 1-{MAX_CONCURRENCY}", file=err)
        return EXIT_INVALID
    if args.timeout <= 0 or args.limit < 1:
        print("makini-infra doctor: --timeout and --limit must be positive", file=err)
        return EXIT_INVALID
    # Retries are counted and reported at the end. The counter is also a handler, so the logging module's
    # last-resort handler never prints the client's warnings over the progress line.
    counter = _RetryCounter()
    client_logger = logging.getLogger(MakiniClient.__module__)
    client_logger.addHandler(counter)
    # The cloud SDKs log whole responses at DEBUG (botocore: "Response body", with SecretString): keep them
    # at WARNING for the run, whatever the process's logging says, so no value can reach a log.
    quieted = {name: logging.getLogger(name).level for name in SDK_LOGGERS}
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, quieted[name]))
    try:
        factory = makini_factory or _default_makini(env)
        return _run(args, out, err, env, factory, reader_factory, counter, sleep, monotonic)
    except KeyboardInterrupt:
        print("\nmakini-infra doctor: interrupted; nothing was changed", file=err)
        return 130
    except Exception as e:  # noqa: BLE001 - one clear line, never a traceback (and never a secret)
        print(f"makini-infra doctor: internal error: {jsonlog.mask(unexpected(e))[:400]}", file=err)
        return EXIT_UNCHECKED
    finally:
        client_logger.removeHandler(counter)
        for name, level in quieted.items():
            logging.getLogger(name).setLevel(level)


def _run(
    args: argparse.Namespace,
    out: IO[str],
    err: IO[str],
    env: Mapping[str, str],
    makini_factory: MakiniFactory,
    reader_factory: ReaderFactory,
    counter: _RetryCounter,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> int:
    from pathlib import Path  # noqa: PLC0415

    stack = args.stack
    try:
        source = load_stack_file(stack, Path(args.config_file) if args.config_file else None)
        cfg = source.load()
    except ConfigError as e:
        print(str(e), file=err)
        return EXIT_INVALID
    except StackFileError as e:
        print(f"makini-infra: {e}", file=err)
        return EXIT_INVALID
    keys = [c.key for c in cfg.connections]
    if args.connection is not None and args.connection not in keys:
        print(
            f"makini-infra doctor: stack '{stack}' declares no connection '{args.connection}'. "
            f"Declared: {', '.join(keys) or '(none)'}",
            file=err,
        )
        return EXIT_INVALID
    if args.backend is not None and args.backend not in cfg.backends:
        print(
            f"makini-infra doctor: stack '{stack}' does not use the {args.backend} backend "
            f"(backends: {', '.join(cfg.backends)})",
            file=err,
        )
        return EXIT_INVALID
    gate = RateGate(clock=monotonic, sleep=sleep)
    try:  # the host pin, before any store is read
        makini = makini_factory(
            gate=gate,
            timeout=args.timeout,
            policy=RETRY_POLICY,
            sleep=sleep,
            clock=monotonic,
        )
    except MakiniHostRefused as e:
        print(f"makini-infra doctor: {e}", file=err)
        return EXIT_INVALID

    facts_before: list[str] = []
    readers: dict[Backend, StoreReader] = {}
    provider = {k: v for k, v in source.config.items() if not k.startswith("makini:")}
    for backend in [args.backend] if args.backend else list(cfg.backends):
        try:
            readers[backend] = reader_factory(backend, cfg, provider, env)
        except StoreError as e:
            facts_before.append(f"{BACKEND_TITLES[backend]}: cannot read the store: {e}")
    progress = Progress(err, enabled=not args.no_progress and not args.json and _isatty(err))
    doctor = Doctor(
        stack,
        cfg,
        readers,
        makini,
        organization=args.pulumi_org or env.get("PULUMI_ORG") or None,
        only=args.connection,
        skip_tokens=args.skip_tokens,
        concurrency=args.concurrency,
        progress=progress,
    )
    doctor.facts.unchecked.extend(facts_before)
    try:
        report = doctor.run()
    finally:
        progress.clear()
    if report is None:
        report = failure_report(stack, cfg, doctor.facts, tuple(readers))
        if not (args.json or args.markdown):
            out.write(jsonlog.mask(render_failure(report, base_url=makini.base_url)))
            return report.exit_code
    if args.json:
        document = report.as_dict()
        document["makini"] = {"api": makini.base_url, "retries": counter.retries, "rate_limit_pauses": gate.pauses}
        document["checked_at"] = clock.utc_now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
        out.write(jsonlog.mask(json.dumps(document, indent=2)) + "\n")
    elif args.markdown:
        out.write(jsonlog.mask(render_markdown(report, base_url=makini.base_url, limit=args.limit)))
    else:
        text = render_text(report, base_url=makini.base_url, show_all=args.all, limit=args.limit)
        if counter.retries or gate.pauses:
            text += f"Makini: {counter.retries} retried request(s), {gate.pauses} rate-limit pause(s).\n"
        out.write(jsonlog.mask(text))
    return report.exit_code


def _isatty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


if __name__ == "__main__":
    sys.exit(main())
