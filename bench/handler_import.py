"""Cold-start import cost of the Lambda handler module against `import boto3` alone.

    uv run python bench/handler_import.py [repetitions]

Each measurement is a fresh interpreter that times only the import statement
(perf_counter around it), so interpreter start-up is excluded; the two imports alternate so
that machine-load drift hits both alike. Median of the repetitions. Target: <= 1.2x.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")

PROBE = "import time; t = time.perf_counter(); import {mod}; print(time.perf_counter() - t)"


def measure(mod: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(mod=mod)], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip()) * 1000


def main() -> None:
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    mods = {"boto3": "boto3", "handler": "functions.webhook_receiver.aws_lambda"}
    for mod in mods.values():  # warm the OS file cache and .pyc files
        measure(mod)
    times: dict[str, list[float]] = {k: [] for k in mods}
    for _ in range(reps):
        for name, mod in mods.items():
            times[name].append(measure(mod))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
        f"{reps} fresh interpreters each, median"
    )
    print(f"{'import':<46}{'ms (median)':>12}{'min':>8}{'max':>8}")
    for name, mod in mods.items():
        print(f"{mod:<46}{med[name]:>12.1f}{min(times[name]):>8.1f}{max(times[name]):>8.1f}")
    ratio = med["handler"] / med["boto3"]
    print(f"handler/boto3 = {ratio:.3f} (target <= 1.2): {'OK' if ratio <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
