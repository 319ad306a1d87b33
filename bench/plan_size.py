"""Benchmark: how big the offline plan is at scale, before and after the summaries and the shared documents.

For each size (default 1,000 and 5,000 connections on AWS, Azure and Vault at once: tests.support.scale_config,
10 consumers, four access classes) it plans the generated stack once, in a fresh process, and measures on that
one plan, side by side:

* the JSON as ``--json`` printed it before (every document inline: ``Plan.to_json()``) and as it prints it now
  (a document repeated across resources printed once, under ``documents``: ``Plan.to_document()``), checking
  that ``expand_documents`` gives the former back exactly (nothing lost);
* the human plan with every row (``--detail``: what it printed before) and summarised (the default now), in
  lines and bytes, text and Markdown.

Prints the sizes and the ratios before/after. Not a test: run it by hand (a 5,000-connection plan takes a few
minutes and about 1.5 GiB).

    uv run python bench/plan_size.py [--sizes 1000 5000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def measure(n: int) -> dict[str, Any]:
    """One plan of ``n`` connections, every figure taken from it (runs in the worker process)."""
    from infra.plan import build_plan, expand_documents
    from stacks.config.stack_file import dump_stack_yaml
    from tests.support import scale_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Pulumi.dev.yaml"
        path.write_text(dump_stack_yaml({"config": scale_config(n)}))
        plan = build_plan("dev", path)
    full, shared = plan.to_json(), plan.to_document()
    json_before = json.dumps(full, indent=2) + "\n"
    json_after = json.dumps(shared, indent=2) + "\n"
    assert expand_documents(json.loads(json_after)) == json.loads(json_before), "the shared JSON lost something"
    out: dict[str, Any] = {
        "connections": n,
        "resources": len(full["resources"]),
        "documents": len(shared.get("documents", {})),
        "json": (len(json_before.encode()), len(json_after.encode())),
    }
    for name, detail, summary in (
        ("text", plan.to_text(detail=True), plan.to_text()),
        ("markdown", plan.to_markdown(detail=True), plan.to_markdown()),
    ):
        out[f"{name}_bytes"] = (len(detail.encode()), len(summary.encode()))
        out[f"{name}_lines"] = (len(detail.splitlines()), len(summary.splitlines()))
    return out


def _mib(n: int) -> str:
    return f"{n / 2**20:,.2f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the worker: one size, JSON on stdout
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one)))
        return 0
    rows = []
    for n in args.sizes:
        done = subprocess.run(
            [sys.executable, __file__, "--one", str(n)], cwd=ROOT, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            print(f"{n} connections: the plan failed:\n{done.stderr[-2000:]}", file=sys.stderr)
            return 1
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"{'connections':>11}  {'what':<15} {'before':>14} {'after':>14} {'before/after':>12}")
    for r in rows:
        n = r["connections"]
        b, a = r["json"]
        print(f"{n:>11,}  {'JSON (--json)':<15} {_mib(b):>14} {_mib(a):>14} {b / a:>11.2f}x")
        for key, label, fmt in (
            ("text_bytes", "text bytes", _mib),
            ("text_lines", "text lines", lambda v: f"{v:,}"),
            ("markdown_bytes", "Markdown bytes", _mib),
            ("markdown_lines", "Markdown lines", lambda v: f"{v:,}"),
        ):
            b, a = r[key]
            print(f"{'':>11}  {label:<15} {fmt(b):>14} {fmt(a):>14} {b / a:>11.2f}x")
        print(f"{'':>11}  {r['resources']:,} resources; {r['documents']} shared documents; nothing lost (checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
