"""What a consumer's or the rotator's Vault token may do with itself (finding 6), on a real server.

Roles set ``token_no_default_policy``: Vault's ``default`` policy grants much more than a workload needs
(its cubbyhole, response wrapping, ``sys/tools``, ``sys/capabilities-self``, leases, identity OIDC).
But without it a token cannot look itself up or renew itself, so clients that check their token
(hvac's ``is_authenticated()``, Vault Agent's and most SDKs' lifetime watchers) fail, and a service
must log in again every ``tokenTtl``. Decision: keep ``token_no_default_policy`` and grant every
generated policy exactly ``auth/token/lookup-self`` (read), ``renew-self`` and ``revoke-self`` (update);
renewal stays capped by ``tokenMaxTtl``. These tests show each half on the server.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.engines.openbao import bao_binary
from tests.engines.vault_platform import Deployment, Platform


def _consumer_token(vault_platform: Platform, staging: Deployment) -> str:
    return vault_platform.login_kubernetes(
        f"makini-{staging.environment}-work-orders", "work-orders-staging", "work-orders"
    )


def _rotator_token(vault_platform: Platform, dev: Deployment) -> str:
    j = dev.config.vault.rotator.auth.jwt
    return vault_platform.login_jwt(f"makini-{dev.environment}-rotator", j.bound_subject, j.bound_audiences[0])


@pytest.mark.parametrize("who", ["consumer", "rotator"])
def test_tokens_look_up_renew_and_revoke_themselves(openbao, vault_platform, environments, who):
    staging, dev = environments
    token = _consumer_token(vault_platform, staging) if who == "consumer" else _rotator_token(vault_platform, dev)
    client = openbao.client(token=token)
    assert client.is_authenticated()  # GET auth/token/lookup-self
    me = client.auth.token.lookup_self()["data"]
    assert "default" not in me["policies"] and me["ttl"] <= 900
    renewed = client.auth.token.renew_self(increment=600)["auth"]
    assert renewed["client_token"] == token and 0 < renewed["lease_duration"] <= 900
    client.auth.token.revoke_self()
    assert openbao.http("GET", "auth/token/lookup-self", token=token)[0] == 403  # gone


def test_renewal_never_passes_the_roles_max_ttl(openbao, vault_platform, environments):
    staging, _ = environments
    client = openbao.client(token=_consumer_token(vault_platform, staging))
    renewed = client.auth.token.renew_self(increment=10 * 86400)["auth"]
    assert renewed["lease_duration"] <= 3600  # tokenMaxTtl of the consumer (default 3600 s)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "cubbyhole/anything", None),
        ("POST", "sys/wrapping/wrap", {"a": "b"}),
        ("POST", "sys/tools/hash", {"input": "aGk="}),
        ("POST", "sys/capabilities-self", {"paths": ["sys/mounts"]}),
        ("POST", "auth/token/create", {}),
        ("LIST", "auth/token/accessors", None),
        ("GET", "sys/policies/acl/default", None),
    ],
)
def test_nothing_else_of_the_default_policy_comes_with_it(openbao, vault_platform, environments, method, path, body):
    staging, _ = environments
    assert openbao.http(method, path, body, token=_consumer_token(vault_platform, staging))[0] == 403


def test_the_vault_cli_reads_a_consumers_token_as_the_readme_says(openbao, vault_platform, environments):
    """`vault kv get <mount>/<path>` (here OpenBao's `bao kv get`) works with a consumer's token alone."""
    staging, _ = environments
    env = {
        "BAO_ADDR": openbao.addr,
        "BAO_TOKEN": _consumer_token(vault_platform, staging),
        "HOME": str(openbao.workdir),
    }
    out = subprocess.run(
        [bao_binary(), "kv", "get", "-field=token", f"{staging.mount}/connections/acme-maintainx/token"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "tok-a"
