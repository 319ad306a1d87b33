"""Cost of the keeper's sweep (functions/keeper) per secret, on moto in process.

    uv run python bench/keeper_sweep.py [secrets ...]

For each size: N run-time tokens in one class, then three sweeps with an unbounded budget, timed side by side:
the first fixes every secret (GetResourcePolicy, PutResourcePolicy, RotateSecret), the second only checks
(GetResourcePolicy), and a bounded one checks the run's 500 (MAX_SECRETS_PER_RUN). Also counts the Secrets
Manager calls per secret. moto answers in-process, so this measures the keeper's own work and the call count,
not AWS's latency: on AWS a run is bounded by the 50-per-second policy-call quota (a check-only run of 500
secrets takes >= 10 s of policy calls, a run that fixes 500 >= 20 s; the function's timeout is 300 s).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("AWS_DEFAULT_REGION", "eu-west-1")
for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
    os.environ.setdefault(var, "testing")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from components.aws.keeper_policies import keeper_settings, runtime_class_resource_policy  # noqa: E402
from components.aws.policies import secret_arn_prefix  # noqa: E402
from functions.keeper.aws_lambda import MAX_SECRETS_PER_RUN  # noqa: E402
from functions.keeper.governance import Keeper, Settings  # noqa: E402

ACCOUNT, REGION = "123456789012", "eu-west-1"


class Counting:
    def __init__(self, client: Any):
        self.client, self.calls = client, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if name.startswith(("get_resource", "put_resource", "rotate")):

            def call(**kw: Any) -> Any:
                self.calls += 1
                return attr(**kw)

            return call
        return attr


def one(n: int) -> dict[str, float]:
    with mock_aws(config={"lambda": {"use_docker": False}}):
        sm = boto3.client("secretsmanager", region_name=REGION)
        prefix = secret_arn_prefix("aws", REGION, ACCOUNT, "bench")
        policy = runtime_class_resource_policy(
            prefix,
            "linked",
            reader_arns=[f"arn:aws:iam::{ACCOUNT}:role/r{i}" for i in range(5)],
            writer_arns=[],
            creator_arns=[f"arn:aws:iam::{ACCOUNT}:role/onboarding"],
            keeper_arn=f"arn:aws:iam::{ACCOUNT}:role/makini-bench-keeper",
        )
        settings = Settings.from_document(
            keeper_settings(
                environment="bench",
                policies={"linked": policy},
                rotation_function_arn=None,
                period_days=None,
                rotation_window=None,
            )
        )
        for i in range(n):
            sm.create_secret(Name=f"makini/bench/connections/linked/c{i:05d}/token", SecretString="{}")
        counting = Counting(sm)
        out: dict[str, float] = {}
        for label, budget in (
            ("fix all", 10**9),
            ("check all", 10**9),
            (f"check {MAX_SECRETS_PER_RUN}", MAX_SECRETS_PER_RUN),
        ):
            counting.calls = 0
            start = time.process_time()
            report = Keeper(counting, settings).sweep(
                now=time.time() + 10**6, remaining_seconds=lambda: 900, max_secrets=budget
            )
            out[label] = time.process_time() - start
            out[f"{label} calls/secret"] = counting.calls / max(report["checked"], 1)
        return out


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [100, 500, 1000]
    print(f"CPython {platform.python_version()}, moto in process, CPU seconds (policies only; rotation adds one call)")
    for n in sizes:
        r = one(n)
        print(
            f"{n:>6} secrets: fix all {r['fix all']:.2f} s ({1000 * r['fix all'] / n:.1f} ms/secret, "
            f"{r['fix all calls/secret']:.1f} calls/secret); check all {r['check all']:.2f} s "
            f"({1000 * r['check all'] / n:.1f} ms/secret); check {MAX_SECRETS_PER_RUN}: "
            f"{r[f'check {MAX_SECRETS_PER_RUN}']:.2f} s; ratio fix/check {r['fix all'] / r['check all']:.2f}x"
        )


if __name__ == "__main__":
    main()
