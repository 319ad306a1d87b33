"""The doctor at scale: a few thousand connections against the fake Makini, in seconds.

Issue 11 takes an environment to 5,000 connections. The store here is the doctor's own StoreReader
interface over a dict (the real readers are tested in test_stores.py); what is measured is the doctor:
every page of Makini's list, one token check per connection with bounded concurrency, and a report that
stays readable.
"""

from __future__ import annotations

import time

from infra.offline import PROJECT
from stacks.catalog import SecretKind, build_catalog
from stacks.locations import locate
from tests.fakes.makini_contract import check_recorded

from .conftest import MemoryReader, connection, oauth_value, token_value

N = 3000


def test_three_thousand_connections(new_stack, fake_makini):
    fake_makini.per_page = 50
    rig = new_stack([connection(f"c{i:05d}", f"9{i:08d}", tier=1) for i in range(N)], pool=N + 10)
    reader = MemoryReader("aws")
    rig.readers["aws"] = reader
    cfg = rig.cfg
    reader.put(rig.location(SecretKind.OAUTH_CLIENT, "aws"), oauth_value())
    for secret in build_catalog(cfg).of_kind(SecretKind.CONNECTION_TOKEN):
        cid = cfg.connection(secret.connection).makini_id
        fake_makini.add_connection(cid)
        reader.put(
            locate(cfg, secret, "aws", project=PROJECT), token_value(fake_makini.mint_connection_token(cid), cid)
        )
    for i in range(0, N, 500):  # a few need attention
        fake_makini.set_sync_status(f"9{i:08d}", "fail")
    for j in range(3):
        fake_makini.add_connection(f"8{j:08d}")
    fake_makini.clear_requests()

    started = time.monotonic()
    code, out, err = rig.run("--concurrency", "16", "--limit", "20")
    elapsed = time.monotonic() - started

    assert code == 3
    assert f"Makini lists {N + 3} connection(s); the stack declares {N}; {N} stored token(s) checked." in out
    assert f"{N - 6} connection(s) healthy, not listed" in out
    assert "... and" not in out  # 6 sync fails + 3 undeclared fit the limit of 20
    pages = [r for r in fake_makini.requests if r.path == "/api/system/connections"]
    checks = [r for r in fake_makini.requests if r.path == "/api/integrations/current"]
    assert len(pages) == -(-(N + 3) // 50) and len(checks) == N
    assert reader.reads == N + 1
    assert check_recorded(fake_makini.requests) == []
    # Not a benchmark (bench/ is for ratios): a generous bound that catches an accidental serial or
    # quadratic path (3,000 checks at the fake's ~1 ms each take a few seconds).
    assert elapsed < 60, f"{N} connections took {elapsed:.1f}s"
