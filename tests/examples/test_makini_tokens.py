"""The runtime snippet examples/app_stack/service/makini_tokens.py: fetch, cache, refresh after a 401.

AWS against moto's Secrets Manager, Vault against the real OpenBao server, Azure against the SDK-boundary
double of azure-keyvault-secrets (tests/fakes/key_vault.py; no Azure engine installs here). The Makini call
is a stand-in that answers 401 to any token but the current one, as Makini does for a rotated-out token.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from examples.app_stack.service import makini_tokens as mt
from tests.fakes.key_vault import FakeSecretClient

PATH = "connections/acme-maintainx/token"


def stored(token: str) -> str:
    return json.dumps({"token": token, "connection_id": "0900001"})


class Makini:
    """Accepts only the current token; counts calls."""

    def __init__(self, current: str):
        self.current, self.calls = current, []

    def call(self, token: str) -> int:
        self.calls.append(token)
        return 200 if token == self.current else 401


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def check_cache_and_refresh(fetch_reads, set_value, fetch) -> None:
    """Shared scenario: cached within the TTL, read again after it, and after a 401 once."""
    clock = Clock()
    cache = mt.TokenCache(fetch, ttl=300, clock=clock)
    assert cache.get(PATH) == "t1" and cache.get(PATH) == "t1"
    assert fetch_reads() == 1
    clock.now = 301
    assert cache.get(PATH) == "t1" and fetch_reads() == 2
    # Rotation writes t2; the cached t1 now gets 401 from Makini: one fresh read, one retry.
    set_value(stored("t2"))
    makini = Makini("t2")
    assert mt.call_with_token(cache, PATH, makini.call, lambda status: status == 401) == 200
    assert makini.calls == ["t1", "t2"] and fetch_reads() == 3
    # A token that stays invalid is reported, not retried forever.
    revoked = Makini("t3")
    assert mt.call_with_token(cache, PATH, revoked.call, lambda status: status == 401) == 401
    assert len(revoked.calls) == 2


@mock_aws
def test_aws_fetch_cache_and_refresh():
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    arn = client.create_secret(Name=f"makini/dev/{PATH}", SecretString=stored("t1"))["ARN"]
    reads = []

    class Counting:
        def get_secret_value(self, **kw):
            reads.append(kw["SecretId"])
            return client.get_secret_value(**kw)

    fetch = mt.aws_fetcher({PATH: arn}, {}, client=Counting())
    check_cache_and_refresh(lambda: len(reads), lambda v: client.put_secret_value(SecretId=arn, SecretString=v), fetch)
    assert set(reads) == {arn}


@mock_aws
def test_aws_class_token_by_name_prefix_and_unknown_paths_refused():
    client = boto3.client("secretsmanager", region_name="eu-west-1")
    client.create_secret(Name="makini/dev/connections/standard/hooli-fiix/token", SecretString=stored("c1"))
    fetch = mt.aws_fetcher({}, {"standard": "makini/dev/connections/standard/"}, client=client)
    assert fetch("connections/standard/hooli-fiix/token") == "c1"
    with pytest.raises(KeyError, match="not among this service's secrets"):
        fetch("connections/premium/other/token")
    with pytest.raises(KeyError):
        fetch("oauth/client")


def test_azure_fetch_cache_and_refresh():
    vault_url = "https://kv-mk-dev-12345.vault.azure.net"
    client = FakeSecretClient(vault_url)
    client.set_secret("connections-acme-maintainx-token", stored("t1"))
    made = []

    def client_for(url: str) -> FakeSecretClient:
        made.append(url)
        return client

    fetch = mt.azure_fetcher({PATH: f"{vault_url}/secrets/connections-acme-maintainx-token"}, client_for)
    check_cache_and_refresh(
        lambda: client.reads, lambda v: client.set_secret("connections-acme-maintainx-token", v), fetch
    )
    assert made == [vault_url], "one client per vault"


def test_vault_fetch_cache_and_refresh_on_openbao(openbao):
    mount = openbao.enable_kv2("makini-app")
    root = openbao.client()
    root.secrets.kv.v2.create_or_update_secret(path=PATH, secret={"value": stored("t1")}, mount_point=mount)
    policy = openbao.unique("app-read")
    root.sys.create_or_update_policy(policy, f'path "{mount}/data/{PATH}" {{ capabilities = ["read"] }}')
    token = root.auth.token.create(policies=[policy], no_default_policy=True, ttl="10m")["auth"]["client_token"]
    reads = []
    inner = mt.vault_fetcher(openbao.client(token=token), mount)

    def fetch(path: str) -> str:
        reads.append(path)
        return inner(path)

    check_cache_and_refresh(
        lambda: len(reads),
        lambda v: root.secrets.kv.v2.create_or_update_secret(path=PATH, secret={"value": v}, mount_point=mount),
        fetch,
    )
