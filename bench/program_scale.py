"""Benchmark: the program's cost per registered resource against bare pulumi_aws registrations.

Builds a stack with N connections under Pulumi mocks (the same harness as the offline plan) and, in the
same run, a baseline program that registers the same number of bare ``pulumi_aws`` resources directly.
Prints time per registered resource for both and their ratio (target <= 1.3x), and how the program
scales from 500 to 1000 connections (target <= 2.2x). Runs alternate and the median of several
repetitions is used, because these machines are noisy. Not a test: run it by hand.

    uv run python bench/program_scale.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from infra.offline import run_program  # noqa: E402
from tests.support import base_config, flatten  # noqa: E402

BASELINE = """
import pulumi, pulumi_aws as aws
n = int(pulumi.Config("bench").require("resources"))
for i in range(n):
    aws.secretsmanager.Secret(f"bare-{i}", name=f"bare/{i}", tags={"environment": "dev"})
"""


def config(n: int) -> dict[str, str]:
    c = base_config("dev")
    c["makini:connections"] = [
        {
            "key": f"customer-{i}",
            "system": "MaintainX",
            "tier": 1,
            "deployment": "cloud",
            "makiniId": str(900000 + i),
            "consumers": ["orders", "assets"] if i % 2 else ["orders"],
        }
        for i in range(n)
    ]
    c["makini:credits"] = {"pool": 10 * n}
    return flatten(c)


def time_program(n: int) -> tuple[float, int]:
    start = time.perf_counter()
    run = run_program("dev", config(n))
    return time.perf_counter() - start, len(run.resources)


def time_baseline(count: int, program: Path) -> float:
    start = time.perf_counter()
    run = run_program("dev", {"bench:resources": str(count)}, program=program)
    elapsed = time.perf_counter() - start
    assert len(run.resources) == count + 1, "baseline registered an unexpected number of resources"
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        program = Path(tmp) / "__main__.py"
        program.write_text(BASELINE)
        time_program(20), time_baseline(20, program)  # warm imports and caches
        prog500, base500, prog1000 = [], [], []
        count500 = count1000 = 0
        count500 = time_program(500)[1]
        for rep in range(args.repeat):
            # alternate which side runs first, so neither always pays for the other's garbage
            if rep % 2:
                base500.append(time_baseline(count500 - 1, program))
                prog500.append(time_program(500)[0])
            else:
                prog500.append(time_program(500)[0])
                base500.append(time_baseline(count500 - 1, program))
            t, count1000 = time_program(1000)
            prog1000.append(t)
    p500, b500, p1000 = (statistics.median(x) for x in (prog500, base500, prog1000))
    per_prog = p500 / (count500 - 1)
    per_base = b500 / (count500 - 1)
    print(f"resources registered: {count500 - 1} (500 connections), {count1000 - 1} (1000 connections)")
    print(f"program  500 connections: {p500:.3f} s, {per_prog * 1e6:.0f} us per resource (median of {args.repeat})")
    print(f"baseline same count     : {b500:.3f} s, {per_base * 1e6:.0f} us per resource")
    print(f"ratio per resource      : {per_prog / per_base:.2f}x (target <= 1.30x)")
    print(f"program 1000 connections: {p1000:.3f} s")
    print(f"scaling 1000 / 500      : {p1000 / p500:.2f}x (target <= 2.20x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
