"""dudect-style constant-time check of the receiver's signature comparison (not a CI gate).

    uv run python bench/constant_time.py [samples_per_class]

Two input classes, interleaved in random order: (A) a presented signature equal to the
expected HMAC in its first 31 bytes and wrong in the last; (B) a random signature. Each call is
timed with perf_counter_ns; the slowest samples are cropped at several percentiles (dudect's
approach to heavy-tailed noise) and Welch's t statistic is computed per crop. |t| < 4.5 means no
timing difference was detected at this sample size. A deliberately leaky early-exit comparison
is measured the same way as a positive control, to show the method can see a leak here.
Shared, noisy machines inflate or mask differences: run it on a quiet machine, repeat it.
"""

from __future__ import annotations

import base64
import hmac
import math
import os
import platform
import random
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from functions.webhook_receiver import errors, signature  # noqa: E402

CROPS = (0.5, 0.75, 0.9, 0.99, 1.0)


def welch_t(a: list[int], b: list[int]) -> float:
    na, nb = len(a), len(b)
    ma, mb = sum(a) / na, sum(b) / nb
    va = sum((x - ma) ** 2 for x in a) / (na - 1)
    vb = sum((x - mb) ** 2 for x in b) / (nb - 1)
    return (ma - mb) / math.sqrt(va / na + vb / nb) if va + vb else 0.0


def crop_t(samples: list[tuple[int, int]]) -> dict[float, float]:
    ordered = sorted(t for _, t in samples)
    out = {}
    for p in CROPS:
        limit = ordered[min(len(ordered) - 1, int(p * len(ordered)))] if p < 1 else ordered[-1]
        a = [t for c, t in samples if c == 0 and t <= limit]
        b = [t for c, t in samples if c == 1 and t <= limit]
        out[p] = welch_t(a, b)
    return out


def run(
    fn: Callable[[bytes], None],
    make_a: Callable[[], bytes],
    make_b: Callable[[], bytes],
    n: int,
    rng: random.Random,
) -> list[tuple[int, int]]:
    """Every sample gets its own freshly allocated input object (class A: a copy of the
    near-miss, class B: a new random signature), so that memory placement of two fixed objects
    cannot masquerade as a timing difference."""
    classes = [0] * n + [1] * n
    rng.shuffle(classes)
    inputs = [make_a() if c == 0 else make_b() for c in classes]
    ns = time.perf_counter_ns
    samples = []
    for c, x in zip(classes, inputs, strict=True):
        t0 = ns()
        fn(x)
        samples.append((c, ns() - t0))
    return samples


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rng = random.Random(int.from_bytes(os.urandom(8), "big"))
    body = b'{"event":"assets.updated","body":[' + b",".join(str(100000 + i).encode() for i in range(140)) + b"]}"
    key = base64.b64encode(os.urandom(32))
    expected = hmac.digest(key, body, "sha256")
    near = expected[:31] + bytes([expected[31] ^ 0xFF])  # class A: 31 bytes right
    keys = (key,)

    def make_near() -> bytes:
        return bytes(bytearray(near))

    def make_far() -> bytes:  # class B: random, first byte already wrong
        far = os.urandom(32)
        return far if far[0] != expected[0] else bytes([far[0] ^ 1]) + far[1:]

    def receiver_verify(presented: bytes) -> None:
        try:  # noqa: SIM105 (a context manager would add its own cost to the measured call)
            signature.verify(body, [presented], keys)
        except errors.SignatureInvalid:
            pass

    def compare_digest(presented: bytes) -> None:
        hmac.compare_digest(expected, presented)

    def leaky_control(presented: bytes) -> None:  # early exit: must show a large |t|
        for x, y in zip(expected, presented, strict=True):
            if x != y:
                return

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus, "
        f"{n} samples per class, crops at percentiles {', '.join(str(int(p * 100)) for p in CROPS)}"
    )
    print(f"{'function':<30}" + "".join(f"{'|t|@' + str(int(p * 100)):>10}" for p in CROPS) + "   max |t|  verdict")
    for name, fn in (
        ("receiver verify (HMAC+cmp)", receiver_verify),
        ("hmac.compare_digest", compare_digest),
        ("leaky early-exit (control)", leaky_control),
    ):
        for x in (make_near(), make_far()):  # warm-up
            fn(x)
        ts = crop_t(run(fn, make_near, make_far, n, rng))
        worst = max(abs(t) for t in ts.values())
        verdict = "leak detected" if worst >= 4.5 else "no leak detected"
        print(f"{name:<30}" + "".join(f"{abs(ts[p]):>10.2f}" for p in CROPS) + f"{worst:>10.2f}  {verdict}")


if __name__ == "__main__":
    main()
