"""Speed of the AWS policy evaluator (tests/iam/aws_policy.py) on a 1,000-connection environment.

    uv run python bench/iam_evaluator.py [connections] [repetitions]

Builds one environment with the program's own pure policy builders (components/aws/policies.py): N
connection-token secrets, 10 consumers (one reads every token, the others every k-th), a rotation role
that writes all tokens, each secret's resource policy and the KMS key policy. Then decides the whole
effective-access matrix the way tests/program/test_effective_access.py does (GetSecretValue with the
resource policy, kms:Decrypt with the key policy and the Secrets Manager context, PutSecretValue) and,
side by side, a sample of identity-policy-only decisions with moto's IAMPolicy (the engine moto's IAM
enforcement uses, which evaluates far less and is much slower on long Resource lists), compared per
decision. Median of the repetitions, interleaved.

Target: the full matrix of 1,000 connections in <= 5 s, and per decision <= 3x moto's identity-only check.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moto.iam.access_control import IAMPolicy  # noqa: E402

from components.aws.policies import consumer_read_policy, kms_key_policy, secret_resource_policy  # noqa: E402
from tests.iam.aws_policy import Policy, Request, evaluate  # noqa: E402

ACCOUNT, REGION = "111111111111", "eu-west-1"
MOTO_SAMPLE = 1500
KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-0000-4000-8000-000000000001"


def environment(
    n: int,
) -> tuple[dict[str, Policy], dict[str, Policy], Policy, dict[str, list[str]], dict[str, dict[str, Any]]]:
    secrets = [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/connections/c{i:05d}/token-a1b2c3"
        for i in range(n)
    ]
    consumers = {
        f"arn:aws:iam::{ACCOUNT}:role/consumer-{c}": secrets if c == 0 else secrets[:: c + 1] for c in range(10)
    }
    rotation = f"arn:aws:iam::{ACCOUNT}:role/makini-dev-rotation"
    readers: dict[str, list[str]] = {s: [r for r, own in consumers.items() if s in set(own)] for s in secrets}
    prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/"
    raw_identity = {role: consumer_read_policy(own, KEY, REGION, prefix=prefix) for role, own in consumers.items()}
    identity = {role: Policy.parse(doc, role) for role, doc in raw_identity.items()}
    resource = {s: Policy.parse(secret_resource_policy(s, readers[s], [rotation]), s) for s in secrets}
    key = Policy.parse(kms_key_policy("aws", ACCOUNT, REGION, [], [*consumers, rotation]), "key policy")
    return identity, resource, key, readers, raw_identity


def full_matrix(identity: dict[str, Policy], resource: dict[str, Policy], key: Policy) -> int:
    decisions = 0
    via = f"secretsmanager.{REGION}.amazonaws.com"
    for role, policy in identity.items():
        for secret, rp in resource.items():
            evaluate(
                Request(role, "secretsmanager:GetSecretValue", secret), identity_policies=[policy], resource_policy=rp
            )
            evaluate(
                Request(role, "secretsmanager:PutSecretValue", secret), identity_policies=[policy], resource_policy=rp
            )
            context = {"kms:ViaService": via, "kms:CallerAccount": ACCOUNT, "kms:EncryptionContext:SecretARN": secret}
            evaluate(Request(role, "kms:Decrypt", KEY, context=context), identity_policies=[policy], key_policy=key)
            decisions += 3
    return decisions


def moto_identity_only(raw: dict[str, dict[str, Any]], secrets: list[str], count: int) -> None:
    """``count`` decisions spread evenly over the consumers and secrets (a fair sample of the matrix)."""
    policies = [IAMPolicy(json.dumps(doc)) for doc in raw.values()]
    for i in range(count):
        policies[i % len(policies)].is_action_permitted(
            "secretsmanager:GetSecretValue", secrets[(i * 7919) % len(secrets)]
        )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    identity, resource, key, _, raw = environment(n)
    ours: list[float] = []
    theirs: list[float] = []
    decisions = 0
    for _ in range(reps):
        t = time.perf_counter()
        decisions = full_matrix(identity, resource, key)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        moto_identity_only(raw, list(resource), MOTO_SAMPLE)
        theirs.append((time.perf_counter() - t) / MOTO_SAMPLE * decisions)
    ours_s, moto_s = statistics.median(ours), statistics.median(theirs)
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, median of {reps}")
    print(f"{n} connections, 10 consumers: {decisions} decisions (GetSecretValue, PutSecretValue, kms:Decrypt)")
    print(
        f"  tests/iam evaluator, all policies:      {ours_s:7.2f} s  ({ours_s / decisions * 1e6:6.1f} us per decision)"
    )
    print(
        f"  moto IAMPolicy, identity policy only:   {moto_s:7.2f} s  ({moto_s / decisions * 1e6:6.1f} us per decision, "
        f"from {MOTO_SAMPLE} decisions)"
    )
    ratio = ours_s / moto_s
    print(f"full matrix {ours_s:.2f} s (target <= 5 s): {'OK' if ours_s <= 5 else 'MISSED'}")
    print(f"per decision, ours/moto = {ratio:.3f} (target <= 3): {'OK' if ratio <= 3 else 'MISSED'}")


if __name__ == "__main__":
    main()
