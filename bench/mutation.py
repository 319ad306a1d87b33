"""Mutation testing of the security-critical modules: does a test fail when the security logic breaks?

    uv run --locked python bench/mutation.py                                  # every module of the table
    uv run --locked python bench/mutation.py --module stacks/credits.py       # one module (repeatable)
    uv run --locked python bench/mutation.py --module stacks/access.py --sample 40   # a quick look
    uv run --locked python bench/mutation.py --list                           # the modules and their tests

The modules and the tests that cover each are configured in ``pyproject.toml``
(``[tool.makini-infra.mutation.modules]``, shared mutmut settings in ``[tool.mutmut]``). Per module, in a copy of
the working tree (nothing in the checkout is touched):

1. **mutmut** (3.x) mutates every function and method body (operators, comparisons, numbers, strings,
   ``break``/``continue``, arguments, ...) and runs, per mutant, only the tests of the module's selection that
   reach the mutated function (it records which in one instrumented run), each in a process forked from a
   warm one, one worker (``--max-children 1``).
2. **reach**: what mutmut does not mutate (it leaves module- and class-level statements alone, and functions
   with a decorator other than ``@staticmethod``/``@classmethod``: properties, validators, cached functions) is
   mutated here with mutmut's own operators, one mutant at a time: the mutated file is written into the copy and
   the module's whole selection runs in a forked child that imports the project afresh (third-party imports
   stay warm), stopping at the first failure.

``--sample N`` runs a reproducible random sample (``--seed``) of N mutants per pass instead of all of them.

It prints, per module, the score (killed / mutants that are not excused as equivalent; a mutant no test reaches
counts as survived) and every surviving mutant as ``file:line``, its mutant name and the change, then a table of
all modules. A survivor that cannot change behaviour is excused only by an entry in
``bench/mutation_equivalent.toml`` (module, the changed line before and after, and the reason), which the run
reads and prints with the reason. Exit status: 0, or 1 when a module's clean test run fails. It runs under
``nice`` (``--nice``, default 10) with one worker: it is for a developer's machine or a scheduled job, not for
every CI run (figures and how to rerun: README, "Mutation testing").
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

ROOT = Path(__file__).resolve().parents[1]
#: Modules of ours: purged from ``sys.modules`` in each reach child so the mutated file is imported afresh.
FIRST_PARTY = ("infra", "stacks", "components", "functions", "bootstrap", "policy", "tests", "bench", "conftest")
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


@dataclass
class Survivor:
    path: str
    line: int
    name: str
    before: str
    after: str
    status: str

    def render(self) -> str:
        return f"  {self.path}:{self.line}  {self.name} ({self.status})\n      - {self.before}\n      + {self.after}"


@dataclass
class PassResult:
    counts: Counter[str] = field(default_factory=Counter)
    survivors: list[Survivor] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def killed(self) -> int:
        return sum(n for status, n in self.counts.items() if status in KILLED)


def score(killed: int, total: int) -> str:
    return f"{100.0 * killed / total:5.1f}%" if total else "    -"


# ----------------------------------------------------------------------------------------------------------
# configuration and the working copy
# ----------------------------------------------------------------------------------------------------------


def load_modules(pyproject: Path = ROOT / "pyproject.toml") -> dict[str, list[str]]:
    """``[tool.makini-infra.mutation.modules]``: module path -> the tests that cover it."""
    data = tomllib.loads(pyproject.read_text("utf-8"))
    modules = data["tool"]["makini-infra"]["mutation"]["modules"]
    return {str(path): [str(t) for t in tests] for path, tests in modules.items()}


def tracked_files(root: Path) -> list[str]:
    """The working tree as git sees it: tracked and untracked files, ignored ones left out."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [p for p in out.split("\0") if p and (root / p).is_file()]


def make_copy(root: Path, dest: Path) -> None:
    if dest.exists():
        shutil.rmtree(dest)
    for rel in tracked_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)


def configure_copy(copy: Path, module: str, tests: Sequence[str]) -> None:
    """Point the copy's ``[tool.mutmut]`` at one module and its tests."""
    pyproject = copy / "pyproject.toml"
    text = pyproject.read_text("utf-8")
    settings = (
        f"source_paths = {json.dumps([module])}\npytest_add_cli_args_test_selection = {json.dumps(list(tests))}\n"
    )
    if "\n[tool.mutmut]\n" not in text:
        raise SystemExit("pyproject.toml has no [tool.mutmut] table")
    pyproject.write_text(text.replace("\n[tool.mutmut]\n", "\n[tool.mutmut]\n" + settings, 1), "utf-8")


# ----------------------------------------------------------------------------------------------------------
# pass 1: mutmut
# ----------------------------------------------------------------------------------------------------------


def _function_span(source: str, mutant_key: str) -> tuple[int, int]:
    """The lines of the function a mutmut key (``pkg.mod.x_func__mutmut_3``, ``pkg.mod.xǁClsǁmeth__mutmut_1``)
    names."""
    mangled = mutant_key.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1]
    if mangled.startswith("xǁ"):
        _, cls_name, func_name = mangled.split("ǁ", 2)
    else:
        cls_name, func_name = "", mangled.removeprefix("x_")
    for node in ast.walk(ast.parse(source)):
        if cls_name and not (isinstance(node, ast.ClassDef) and node.name == cls_name):
            continue
        body = node.body if cls_name and isinstance(node, ast.ClassDef) else [node]
        for item in body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef) and item.name == func_name:
                return item.lineno, item.end_lineno or item.lineno
    return 1, len(source.splitlines())


def changed_lines(diff: str) -> tuple[str, str]:
    """The first removed and the first added line of a unified diff."""
    lines = diff.splitlines()
    before = next((ln[1:] for ln in lines if ln.startswith("-") and not ln.startswith("---")), "")
    after = next((ln[1:] for ln in lines if ln.startswith("+") and not ln.startswith("+++")), "")
    return before, after


def locate(source: str, span: tuple[int, int], before: str) -> int:
    """The line of ``before`` inside ``span`` of ``source`` (the span's first line when not found)."""
    lines = source.splitlines()
    wanted = before.strip()
    for number in range(span[0], span[1] + 1):
        if number - 1 < len(lines) and lines[number - 1].strip() == wanted:
            return number
    return span[0]


@contextlib.contextmanager
def inside(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _mutmut(copy: Path, names: Sequence[str], log: Path, timeout: float) -> int:
    with log.open("a") as out:
        proc = subprocess.run(
            [sys.executable, "-m", "mutmut", "run", "--max-children", "1", *names],
            cwd=copy,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
            check=False,
        )
    return proc.returncode


def sample_names(names: Sequence[str], sample: int | None, seed: int) -> list[str]:
    """All ``names`` (sorted), or a reproducible random sample of ``sample`` of them."""
    ordered = sorted(names)
    if sample is None or sample >= len(ordered):
        return ordered
    return sorted(random.Random(seed).sample(ordered, sample))


def run_mutmut(
    copy: Path, module: str, log: Path, timeout: float, sample: int | None = None, seed: int = 0
) -> PassResult:
    started = time.monotonic()
    log.write_text("")
    meta = copy / "mutants" / (module + ".meta")
    chosen: list[str] = []
    if sample is not None:
        # mutmut generates every mutant before it filters by name: a name that matches nothing generates them
        # (and stops), so the sample is drawn from the real list and then run by name.
        _mutmut(copy, ["-no-such-mutant-"], log, timeout)
        if not meta.exists():
            raise RuntimeError(f"mutmut generated no mutants for {module}; see {log}")
        chosen = sample_names(list(json.loads(meta.read_text())["exit_code_by_key"]), sample, seed)
    code = _mutmut(copy, chosen, log, timeout)
    result = PassResult(seconds=time.monotonic() - started)
    if not meta.exists():
        raise RuntimeError(f"mutmut produced no results for {module} (exit {code}); see {log}")
    from mutmut.configuration import reset_config
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code

    exit_codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
    if chosen:
        exit_codes = {k: exit_codes[k] for k in chosen}
    if any(c is None for c in exit_codes.values()):
        raise RuntimeError(f"mutmut left mutants of {module} unrun (exit {code}); see {log}")
    source = (copy / module).read_text("utf-8")
    with inside(copy):
        reset_config()
        for key, exit_code in sorted(exit_codes.items()):
            status = status_by_exit_code[exit_code]
            result.counts[status] += 1
            if status in KILLED:
                continue
            before, after = changed_lines(get_diff_for_mutant(key, path=module))
            line = locate(source, _function_span(source, key), before)
            result.survivors.append(Survivor(module, line, key, before.strip(), after.strip(), status))
        reset_config()
    return result


# ----------------------------------------------------------------------------------------------------------
# pass 2: what mutmut does not reach
# ----------------------------------------------------------------------------------------------------------


def _trampolined(function: cst.FunctionDef) -> bool:
    """mutmut mutates a function only without decorators, or with exactly @staticmethod/@classmethod."""
    if not function.decorators:
        return True
    only = function.decorators[0].decorator
    return (
        len(function.decorators) == 1 and isinstance(only, cst.Name) and only.value in ("staticmethod", "classmethod")
    )


@dataclass
class ReachMutant:
    name: str
    line: int
    before: str
    after: str
    code: str


def reach_mutants(path: str, source: str) -> list[ReachMutant]:
    """Mutants (mutmut's operators) of module- and class-level statements and of decorated functions."""
    from libcst.metadata import PositionProvider
    from mutmut.mutation.file_mutation import NEVER_MUTATE_FUNCTION_NAMES, MutationVisitor
    from mutmut.mutation.mutators import mutation_operators
    from mutmut.mutation.pragma_handling import get_ignored_lines

    class Visitor(MutationVisitor):
        def _skip_node_and_children(self, node: cst.CSTNode) -> bool:
            if (
                isinstance(node, cst.FunctionDef)
                and node.decorators
                and node.name.value not in NEVER_MUTATE_FUNCTION_NAMES
            ):
                return False  # mutmut leaves decorated functions out; their decorators stay skipped below
            return bool(super()._skip_node_and_children(node))

    module = cst.parse_module(source)
    wrapper = cst.MetadataWrapper(module)
    visitor = Visitor(mutation_operators, get_ignored_lines(path, source, wrapper, None), None)
    wrapper.visit(visitor)
    positions = wrapper.resolve(PositionProvider)
    wrapped = wrapper.module
    out: list[ReachMutant] = []
    for number, mutation in enumerate(visitor.mutations, start=1):
        owner = mutation.contained_by_top_level_function
        if isinstance(owner, cst.FunctionDef) and _trampolined(owner):
            continue  # mutmut's pass has it
        mutated_module = wrapped.deep_replace(mutation.original_node, mutation.mutated_node)
        assert isinstance(mutated_module, cst.Module)
        line = positions[mutation.original_node].start.line
        before = source.splitlines()[line - 1].strip()
        after = mutated_module.code.splitlines()[line - 1].strip() if mutated_module.code.count("\n") >= line else ""
        out.append(ReachMutant(f"reach_{number}", line, before, after, mutated_module.code))
    return out


def _purge_first_party() -> None:
    for name in list(sys.modules):
        if name.split(".", 1)[0] in FIRST_PARTY:
            del sys.modules[name]


def _run_child(tests: Sequence[str], quiet: bool = True) -> int:
    """In a forked child: import the project afresh and run the tests, stopping at the first failure."""
    import pytest

    _purge_first_party()
    args = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "--no-header", "-W", "ignore", *tests]
    if quiet:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
    return int(pytest.main(args))


def _fork_tests(tests: Sequence[str], timeout: float) -> tuple[int, float]:
    """Run ``tests`` in a forked child; ``(exit code, seconds)``, exit -1 on timeout."""
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child
        code = 1
        try:
            code = _run_child(tests)
        finally:
            os._exit(code)
    deadline = started + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status), time.monotonic() - started
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -1, time.monotonic() - started
        time.sleep(0.02)


def run_reach(copy: Path, module: str, tests: Sequence[str], sample: int | None = None, seed: int = 0) -> PassResult:
    started = time.monotonic()
    target = copy / module
    original = target.read_text("utf-8")
    os.chdir(copy)  # mutmut reads its settings (do_not_mutate, ...) from the copy's pyproject.toml
    mutants = reach_mutants(module, original)
    if sample is not None and sample < len(mutants):
        keep = set(sample_names([m.name for m in mutants], sample, seed))
        mutants = [m for m in mutants if m.name in keep]
    result = PassResult()
    if not mutants:
        return result
    for cached in (target.parent / "__pycache__").glob(target.stem + ".*.pyc"):
        cached.unlink()
    sys.dont_write_bytecode = True  # a stale .pyc of the same size and second would hide a mutant
    sys.path.insert(0, str(copy))
    import pytest

    # Warm the parent: third-party imports (pydantic, pulumi, boto3, moto, ...) happen once, here.
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *tests])
    clean, seconds = _fork_tests(tests, timeout=3600)
    if clean != 0:
        raise RuntimeError(f"the tests of {module} fail without a mutant (exit {clean}): {' '.join(tests)}")
    budget = 10 * seconds + 30
    try:
        for mutant in mutants:
            target.write_text(mutant.code, "utf-8")
            code, _ = _fork_tests(tests, timeout=budget)
            status = "timeout" if code == -1 else ("survived" if code == 0 else "killed")
            result.counts[status] += 1
            if status == "survived":
                result.survivors.append(Survivor(module, mutant.line, mutant.name, mutant.before, mutant.after, status))
    finally:
        target.write_text(original, "utf-8")
    result.seconds = time.monotonic() - started
    return result


# ----------------------------------------------------------------------------------------------------------
# equivalent mutants
# ----------------------------------------------------------------------------------------------------------

EQUIVALENT_FILE = ROOT / "bench" / "mutation_equivalent.toml"


@dataclass(frozen=True)
class Equivalent:
    """A mutant no test can kill because it does not change behaviour, with the written reason."""

    module: str
    before: str
    after: str
    reason: str

    def matches(self, s: Survivor) -> bool:
        return (s.path, s.before, s.after) == (self.module, self.before, self.after)


def load_equivalents(path: Path = EQUIVALENT_FILE) -> list[Equivalent]:
    """``[[equivalent]]`` entries: module, before and after (the changed line, stripped), and a reason."""
    if not path.exists():
        return []
    out = []
    for i, entry in enumerate(tomllib.loads(path.read_text("utf-8")).get("equivalent", [])):
        missing = {"module", "before", "after", "reason"} - set(entry)
        if missing or not str(entry.get("reason", "")).strip():
            raise SystemExit(f"{path}: [[equivalent]] #{i + 1} needs module, before, after and a non-empty reason")
        out.append(Equivalent(entry["module"], entry["before"], entry["after"], entry["reason"].strip()))
    return out


# ----------------------------------------------------------------------------------------------------------
# the command
# ----------------------------------------------------------------------------------------------------------


def slug(module: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", module.removesuffix(".py")).strip("-")


@dataclass
class ModuleScore:
    module: str
    total: int
    killed: int
    equivalent: int
    survivors: list[Survivor]

    @property
    def counted(self) -> int:
        return self.total - self.equivalent

    def row(self) -> str:
        return (
            f"| `{self.module}` | {self.total} | {self.killed} | {self.equivalent} | {len(self.survivors)} "
            f"| {score(self.killed, self.counted).strip()} |"
        )


def run_module(
    module: str,
    tests: Sequence[str],
    workdir: Path,
    *,
    reach: bool,
    timeout: float,
    sample: int | None,
    seed: int,
    equivalents: Sequence[Equivalent],
) -> ModuleScore | None:
    copy = workdir / slug(module)
    make_copy(ROOT, copy)
    configure_copy(copy, module, tests)
    what = f"a sample of {sample} mutants per pass (seed {seed})" if sample is not None else "every mutant"
    print(f"\n== {module}  ({len(tests)} test paths, {what}; work copy {copy})", flush=True)
    first = run_mutmut(copy, module, copy / "mutmut.log", timeout, sample, seed)
    print(
        f"   mutmut: {first.killed}/{first.total} killed, score {score(first.killed, first.total)}"
        f"  [{', '.join(f'{k} {v}' for k, v in sorted(first.counts.items()))}]  {first.seconds:.0f} s",
        flush=True,
    )
    second = PassResult()
    if reach:
        # A child process, so the parent's imports (warm for the forks) never leak into the next module.
        argv = [sys.executable, __file__, "--reach-only", "--workdir", str(workdir), "--seed", str(seed), module]
        if sample is not None:
            argv += ["--sample", str(sample)]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, file=sys.stderr)
            return None
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        second.counts.update(data["counts"])
        second.survivors = [Survivor(**s) for s in data["survivors"]]
        second.seconds = data["seconds"]
        print(
            f"   reach:  {second.killed}/{second.total} killed, score {score(second.killed, second.total)}"
            f"  (module/class level, decorated functions)  {second.seconds:.0f} s",
            flush=True,
        )
    killed, total = first.killed + second.killed, first.total + second.total
    survivors = sorted(first.survivors + second.survivors, key=lambda s: s.line)
    excused = [(s, next((e for e in equivalents if e.matches(s)), None)) for s in survivors]
    left = [s for s, e in excused if e is None]
    result = ModuleScore(module, total, killed, len(survivors) - len(left), left)
    print(
        f"   SCORE {score(killed, result.counted)}  (killed {killed}, survived {len(left)}, "
        f"equivalent {result.equivalent}, of {total})"
    )
    for s, e in excused:
        if e is not None:
            print(f"   equivalent: {s.path}:{s.line}  {s.before!r} -> {s.after!r}\n      because {e.reason}")
    stale = [e for e in equivalents if not any(e.matches(s) for s in survivors)]
    if stale and sample is None and reach:  # a partial run cannot tell a stale entry from an unrun mutant
        print(f"   {len(stale)} entries of {EQUIVALENT_FILE.name} match no survivor (killed now? remove them):")
        for e in stale:
            print(f"      {e.before!r} -> {e.after!r}")
    if left:
        print(f"   surviving mutants ({len(left)}):")
        for s in left:
            print(s.render())
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("modules", nargs="*", help="module paths (default: every module in pyproject.toml)")
    parser.add_argument("--module", action="append", default=[], dest="more", metavar="M", help="a module (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the modules and their tests, then exit")
    parser.add_argument("--no-reach", action="store_true", help="mutmut's pass only")
    parser.add_argument("--sample", type=int, help="run a reproducible random sample of N mutants per pass")
    parser.add_argument("--seed", type=int, default=21, help="the sample's seed (default 21)")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the run (default 10)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one module's mutmut run may take")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "makini-mutation",
        help="where the per-module copies go (kept: `mutmut browse` works there)",
    )
    parser.add_argument("--reach-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    modules = [*args.modules, *args.more]
    table = load_modules()
    if args.list:
        for module, tests in table.items():
            print(module)
            for t in tests:
                print(f"    {t}")
        return 0
    unknown = [m for m in modules if m not in table]
    if unknown:
        parser.error(f"not in [tool.makini-infra.mutation.modules]: {', '.join(unknown)}")
    if args.reach_only:
        (module,) = modules
        result = run_reach(args.workdir / slug(module), module, table[module], args.sample, args.seed)
        print(
            json.dumps(
                {
                    "counts": dict(result.counts),
                    "survivors": [s.__dict__ for s in result.survivors],
                    "seconds": result.seconds,
                }
            )
        )
        return 0
    equivalents = load_equivalents()
    os.nice(args.nice)
    args.workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    scores: list[ModuleScore] = []
    status = 0
    for module in modules or list(table):
        got = run_module(
            module,
            table[module],
            args.workdir,
            reach=not args.no_reach,
            timeout=args.timeout,
            sample=args.sample,
            seed=args.seed,
            equivalents=[e for e in equivalents if e.module == module],
        )
        if got is None:
            status = 1
        else:
            scores.append(got)
    print(f"\n{len(scores)} modules in {time.monotonic() - started:.0f} s\n")
    print("| module | mutants | killed | equivalent | survived | score |\n|---|---|---|---|---|---|")
    for got in scores:
        print(got.row())
    return status


if __name__ == "__main__":
    sys.exit(main())
