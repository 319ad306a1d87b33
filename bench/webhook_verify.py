"""Verification cost of one 1 KiB Makini webhook, side by side in one run.

    uv run python bench/webhook_verify.py

Rows (median of several repeats, each the mean of many calls):
  floor           one hmac.digest + one compare_digest (the irreducible work)
  receiver        functions.webhook_receiver.signature: strict header decode + HMAC + compare_digest
  standardwebhooks / svix   their Webhook.verify on the same 1 KiB payload, with their own
                  headers (json_parse off for standardwebhooks so no JSON parsing is counted)
Targets: receiver/floor <= 1.5; receiver faster than both libraries.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import platform
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from datetime import UTC, datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from standardwebhooks.webhooks import Webhook as StandardWebhook  # noqa: E402
from svix.webhooks import Webhook as SvixWebhook  # noqa: E402

from functions.webhook_receiver import signature  # noqa: E402


def make_body(size: int = 1024) -> bytes:
    items: list[int] = []
    base = {"event": "work_orders.updated", "connection_id": "conn-7f3a", "body": items}
    i = 0
    while len(json.dumps(base, separators=(",", ":"))) < size:
        items.append(100000 + i)
        i += 1
    text = json.dumps(base, separators=(",", ":"))
    while len(text) > size:
        items.pop()
        text = json.dumps(base, separators=(",", ":"))
    text = text[:-2] + " " * (size - len(text)) + text[-2:]  # pad to exactly `size`
    assert len(text) == size
    return text.encode()


def bench(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Median over `repeat` runs of the per-call time in ns."""
    runs = timeit.repeat(fn, number=number, repeat=repeat, timer=time.perf_counter)
    return statistics.median(runs) / number * 1e9


def main() -> None:
    body = make_body()
    secret = os.urandom(32)
    key = base64.b64encode(secret).decode()  # a printable secret, as shown on Makini's page
    key_bytes = key.encode()
    header = base64.b64encode(hmac.digest(key_bytes, body, "sha256")).decode()
    sig = base64.b64decode(header)
    keys = (key_bytes,)

    def floor() -> None:
        hmac.compare_digest(hmac.digest(key_bytes, body, "sha256"), sig)

    def receiver() -> None:
        signature.verify(body, signature.decode_signatures(header), keys)

    whsec = "whsec_" + base64.b64encode(secret).decode()
    ts = datetime.now(UTC)
    text = body.decode()
    std = StandardWebhook(whsec)
    std_headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(ts.timestamp())),
        "webhook-signature": std.sign("msg_1", ts, text),
    }
    sv = SvixWebhook(whsec)
    sv_headers = {
        "svix-id": "msg_1",
        "svix-timestamp": str(int(ts.timestamp())),
        "svix-signature": sv.sign("msg_1", ts, text),
    }

    def standardwebhooks() -> None:
        std.verify(body, std_headers, json_parse=False)

    def svix() -> None:
        sv.verify(body, sv_headers)

    for fn in (floor, receiver, standardwebhooks, svix):  # sanity + warm-up
        fn()

    number, repeat = 20_000, 9
    # interleave the candidates so drifts in machine load hit all of them alike
    results: dict[str, list[float]] = {f.__name__: [] for f in (floor, receiver, standardwebhooks, svix)}
    for _ in range(repeat):
        for fn in (floor, receiver, standardwebhooks, svix):
            results[fn.__name__].append(bench(fn, number if fn in (floor, receiver) else number // 4, 1))
    med = {k: statistics.median(v) for k, v in results.items()}

    print(
        f"python {platform.python_version()} on {platform.machine()} ({platform.processor() or 'cpu n/a'}),"
        f" {os.cpu_count()} cpus, body {len(body)} bytes, median of {repeat}"
    )
    print(f"{'verifier':<18}{'ns/call':>10}{'x floor':>10}{'x receiver':>12}")
    for name in ("floor", "receiver", "standardwebhooks", "svix"):
        print(f"{name:<18}{med[name]:>10.0f}{med[name] / med['floor']:>10.2f}{med[name] / med['receiver']:>12.2f}")
    ratio = med["receiver"] / med["floor"]
    ok = ratio <= 1.5 and med["receiver"] < med["standardwebhooks"] and med["receiver"] < med["svix"]
    print(
        f"receiver/floor = {ratio:.2f} (target <= 1.5); "
        f"standardwebhooks/receiver = {med['standardwebhooks'] / med['receiver']:.2f}; "
        f"svix/receiver = {med['svix'] / med['receiver']:.2f} (targets > 1): {'OK' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
