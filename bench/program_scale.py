"""Benchmark: the offline plan of generated stacks at scale, against bare registrations of the same resources.

For each size (default 500, 1,000 and 5,000 connections, on AWS, Azure and Vault at once; the stack is
tests.support.scale_config: 10 consumers, four access classes, five explicit-list connections) it runs, in
fresh processes, side by side:

* the plan: ``python -m infra.plan dev --config-file <generated> --json`` (must exit 0), timed as CPU
  seconds of the process (the machine is shared: wall time is printed too), with its peak RSS;
* the baseline: a program that registers exactly the same resources (same types, same counts, the same
  inputs as the plan's first resource of each type, typed SDK classes) and nothing else: no components,
  no Outputs, no applies, no config. The per-resource cost of the SDK differs by type (an
  azure-native resource carries ~20 API-version aliases and costs ~15x a pulumi_aws one), so the ratio
  that matters is against the same mix; the cost against bare ``pulumi_aws`` Secrets is printed too.

Prints resources, resources per connection per backend (the marginal cost of one more connection),
seconds, peak MiB, time per resource and its ratio to the baseline (target <= 1.3x), the scaling from the
smallest to the largest size (target <= 11x for 500 -> 5,000: linear), the 5,000-connection plan's peak
memory (target <= 2 GiB) and the least limit headroom. Not a test: run it by hand.

    uv run python bench/program_scale.py [--sizes 500 1000 5000] [--repeat 1]
    uv run python bench/program_scale.py --sizes 25 100 1000 2000 5000   # every plan must exit 0
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import io
import json
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BARE_PROGRAM = """
import json, sys
import pulumi
sys.path.insert(0, {root!r})
from bench.program_scale import bare_registrations
bare_registrations(json.loads(open(pulumi.Config("bench").require("spec")).read()))
"""

AWS_BARE_PROGRAM = """
import pulumi, pulumi_aws as aws
n = int(pulumi.Config("bench").require("resources"))
for i in range(n):
    aws.secretsmanager.Secret(f"bare-{i}", name=f"bare/{i}", tags={"environment": "dev"})
"""


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def resource_class(typ: str) -> type:
    """The SDK class of a type token, from the providers' own registry of resource modules."""
    from pulumi.runtime.rpc import get_resource_module

    pkg, mod, _ = typ.split(":")
    module = get_resource_module(pkg, mod, "")
    if module is None:
        raise KeyError(f"no resource module registered for {typ}")
    info = module.mod_info  # type: ignore[attr-defined]
    cls: type = getattr(importlib.import_module(info["fqn"]), info["classes"][typ])
    return cls


def bare_registrations(spec: list[dict[str, Any]]) -> None:
    """Register ``count`` resources of each type with the exemplar's plain inputs (called by BARE_PROGRAM)."""
    import stacks.environment  # noqa: F401 - imports every provider module the program uses (registry)

    for entry in spec:
        cls = resource_class(entry["type"])
        params = set(inspect.signature(cls._internal_init).parameters) - {"resource_name", "opts"}  # type: ignore[attr-defined]
        kwargs = {}
        for key, value in entry["inputs"].items():
            snake = _snake(key)
            for candidate in (snake, f"{snake}_"):  # the SDK suffixes names it uses itself (resource_name_)
                if candidate in params:
                    kwargs[candidate] = value
                    break
        for i in range(entry["count"]):
            cls(f"bare-{entry['index']}-{i}", **kwargs)


# --------------------------------------------------------------------------------------------------
# Workers (one fresh process each, so peak memory is the run's own)


def _usage() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024


def worker_plan(n: int, out_dir: Path) -> dict[str, Any]:
    import yaml

    from infra import plan as plan_cli
    from tests.support import scale_config

    stack_file = out_dir / f"Pulumi.scale-{n}.yaml"
    stack_file.write_text(yaml.safe_dump({"config": scale_config(n)}))
    cpu0, _ = _usage()
    wall0 = time.perf_counter()
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = plan_cli.main(["dev", "--config-file", str(stack_file), "--json"])
    wall = time.perf_counter() - wall0
    cpu, peak = _usage()
    if code != 0:
        return {"n": n, "exit": code, "stderr": err.getvalue()[-2000:]}
    plan = json.loads(out.getvalue())
    resources = [r for r in plan["resources"] if r["type"] != "pulumi:pulumi:Stack"]
    custom = [r for r in resources if ":" in r["type"] and not r["type"].startswith("makini:")]
    exemplars: dict[str, dict[str, Any]] = {}
    for r in custom:
        exemplars.setdefault(r["type"], r["inputs"])
    counts = Counter(r["type"] for r in custom)
    spec = [
        {"type": t, "count": c, "inputs": _plain(exemplars[t]), "index": i}
        for i, (t, c) in enumerate(sorted(counts.items()))
    ]
    (out_dir / f"spec-{n}.json").write_text(json.dumps(spec))
    tightest = min(plan["limits"], key=lambda r: r["headroom"] / r["max"])
    return {
        "n": n,
        "exit": code,
        "resources": len(resources),
        "custom": len(custom),
        "by_backend": dict(Counter(r["type"].split(":")[0] for r in custom)),
        "cpu": cpu - cpu0,
        "wall": wall,
        "peak_mib": peak,
        "json_mib": len(out.getvalue()) / 2**20,
        "limits": [r for r in plan["limits"] if r["exceeded"]],
        "tightest": f"{tightest['title'].split(' (')[0]}: {tightest['largest']:,} of {tightest['max']:,}",
        "tightest_growing": _tightest_growing(plan["limits"]),
    }


#: Limits whose value could grow with the number of connections (the others are fixed by naming rules).
GROWING = (
    "aws.iam.managed-policy-size",
    "aws.iam.inline-policies-per-role",
    "aws.lambda.resource-policy-size",
    "aws.secretsmanager.resource-policy-size",
    "aws.kms.key-policy-size",
    "azure.rbac.role-assignments",
    "vault.policy-size",
)


def _tightest_growing(limits: list[dict[str, Any]]) -> str:
    rows = [r for r in limits if r["limit"] in GROWING]
    r = min(rows, key=lambda r: r["headroom"] / r["max"])
    return f"{r['title'].split(' (')[0]}: {r['largest']:,} of {r['max']:,} ({100 * r['headroom'] // r['max']}% left)"


def _plain(value: Any) -> Any:
    """Secrets in the plan's JSON are "[secret]": a plain string of the same kind is registered instead."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not (isinstance(v, dict) and {"archive", "file"} & set(v))}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def worker_bare(spec_file: Path, out_dir: Path) -> dict[str, Any]:
    from infra.offline import run_program

    program = out_dir / "bare" / "__main__.py"
    program.parent.mkdir(exist_ok=True)
    program.write_text(BARE_PROGRAM.format(root=str(ROOT)))
    spec = json.loads(spec_file.read_text())
    cpu0, _ = _usage()
    wall0 = time.perf_counter()
    run = run_program("dev", {"bench:spec": str(spec_file)}, program=program)
    wall = time.perf_counter() - wall0
    cpu, peak = _usage()
    expected = sum(e["count"] for e in spec)
    got = len(run.resources) - 1
    if got != expected:
        raise SystemExit(f"the baseline registered {got} resources, expected {expected}")
    return {"count": got, "cpu": cpu - cpu0, "wall": wall, "peak_mib": peak}


def worker_bare_aws(count: int, out_dir: Path) -> dict[str, Any]:
    from infra.offline import run_program

    program = out_dir / "bare-aws" / "__main__.py"
    program.parent.mkdir(exist_ok=True)
    program.write_text(AWS_BARE_PROGRAM)
    cpu0, _ = _usage()
    run_program("dev", {"bench:resources": str(count)}, program=program)
    cpu, peak = _usage()
    return {"count": count, "cpu": cpu - cpu0, "peak_mib": peak}


def _spawn(*args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", *args], capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"worker {args} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 5000])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (medians are printed)")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        kind, *rest = args.worker
        if kind == "plan":
            result = worker_plan(int(rest[0]), Path(rest[1]))
        elif kind == "bare":
            result = worker_bare(Path(rest[0]), Path(rest[1]))
        else:
            result = worker_bare_aws(int(rest[0]), Path(rest[1]))
        print(json.dumps(result))
        return 0

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            plans, bares, awss = [], [], []
            for _ in range(args.repeat):
                plan = _spawn("plan", str(n), tmp)
                if plan["exit"] != 0:
                    print(f"{n} connections: the plan exited {plan['exit']}:\n{plan['stderr']}")
                    return 1
                plans.append(plan)
                bares.append(_spawn("bare", str(Path(tmp) / f"spec-{n}.json"), tmp))
                awss.append(_spawn("aws", str(plan["custom"]), tmp))

            def med(xs: list[dict[str, Any]], k: str) -> float:
                return float(statistics.median(x[k] for x in xs))

            rows.append(
                {
                    **plans[0],
                    "cpu": med(plans, "cpu"),
                    "wall": med(plans, "wall"),
                    "peak_mib": max(p["peak_mib"] for p in plans),
                    "bare_cpu": med(bares, "cpu"),
                    "aws_cpu": med(awss, "cpu"),
                }
            )
            r = rows[-1]
            print(
                f"{n:>6} connections: exit 0, {r['resources']:,} resources ({r['custom']:,} custom), "
                f"{r['cpu']:.1f} s CPU ({r['wall']:.1f} s wall), peak {r['peak_mib']:.0f} MiB, "
                f"plan JSON {r['json_mib']:.1f} MiB; baseline {r['bare_cpu']:.1f} s; "
                f"least headroom (growing limits) {r['tightest_growing']}; overall {r['tightest']}",
                flush=True,
            )
    print()
    print(
        "size    resources  per connection (aws / azure / vault)  CPU s   us/res  bare us/res  ratio  vs bare aws  peak MiB"
    )
    previous = None
    for r in rows:
        per = ""
        if previous is not None:
            dn = r["n"] - previous["n"]
            per = " / ".join(
                f"{(r['by_backend'].get(b, 0) - previous['by_backend'].get(b, 0)) / dn:.2f}"
                for b in ("aws", "azure-native", "vault")
            )
        us = r["cpu"] / r["custom"] * 1e6
        bare = r["bare_cpu"] / r["custom"] * 1e6
        aws = r["aws_cpu"] / r["custom"] * 1e6
        print(
            f"{r['n']:>6}  {r['custom']:>9,}  {per or '(first size)':>36}  {r['cpu']:>6.1f}  {us:>6.0f}  {bare:>11.0f}  "
            f"{us / bare:>5.2f}x  {us / aws:>10.2f}x  {r['peak_mib']:>8.0f}"
        )
        previous = r
    first, last = rows[0], rows[-1]
    print()
    print(
        f"per-resource time vs bare registrations of the same resources: {max(r['cpu'] / r['bare_cpu'] for r in rows):.2f}x at worst (target <= 1.30x)"
    )
    if len(rows) > 1:
        print(
            f"scaling {last['n']} / {first['n']} connections: {last['cpu'] / first['cpu']:.2f}x CPU for "
            f"{last['n'] / first['n']:.0f}x connections (target <= 11x for 500 -> 5,000)"
        )
    print(f"peak memory of the {last['n']}-connection plan: {last['peak_mib']:.0f} MiB (target <= 2,048 MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
