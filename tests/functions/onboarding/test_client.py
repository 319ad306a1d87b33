"""The onboarding client end to end: a Makini Link code from a fake Makini built from docs/makini (FACTS.md and
the system OAS, every request checked against them), stored on moto's Secrets Manager (with a KMS key), on the
real OpenBao server as the staging stack's onboarding identity (its deployed policy decides), and on a Key Vault
double at the SDK boundary (no Azure engine installs here). Bad input is refused before anything is exchanged."""

from __future__ import annotations

import json
import logging

import pytest

from functions.onboarding import (
    AwsPlace,
    AzurePlace,
    ConnectionInAnotherClass,
    CreditGovernor,
    CreditsExhausted,
    Onboarding,
    OnboardingRefused,
    StoreFailed,
    VaultPlace,
)
from functions.onboarding.stores import StoreError
from functions.rotation.makini_client import MakiniClient
from tests.engines.vault_platform import Deployment, deploy, env_name, stack_file, vault_only, with_secrets
from tests.fakes.key_vault import FakeSecretClient
from tests.fakes.makini_api import FakeMakini
from tests.fakes.makini_contract import check_request

REGION = "eu-west-1"
CONNECTION = "29000207611898"
REDIRECT = "https://app.example.com/makini/callback"


@pytest.fixture(scope="module")
def moto_aws():
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(var, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            sm = boto3.client("secretsmanager", region_name=REGION)
            key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
            yield sm, key


@pytest.fixture(scope="module")
def vault_env(openbao, vault_platform) -> Deployment:
    config, keys = with_secrets(vault_only(stack_file("staging"), env_name("onc")), {"acme-maintainx": "tok-a"})
    return deploy(openbao, config, keys)


def onboarding_token(vault_platform, d: Deployment, consumer: str = "onboarding") -> str:
    auth = d.config.consumers[consumer].vault.auth.kubernetes
    return vault_platform.login_kubernetes(
        f"makini-{d.environment}-{consumer}", auth.namespaces[0], auth.service_account_names[0]
    )


@pytest.fixture
def makini():
    with FakeMakini() as fake:
        yield fake


@pytest.fixture
def rig(moto_aws, vault_env, vault_platform, openbao, makini, request):
    sm, key = moto_aws
    env = vault_env.environment  # one name for the environment on every backend
    kv = {"linked": FakeSecretClient("https://kvc-linked.vault.azure.net"), "eu": FakeSecretClient("https://kvc-eu")}
    places = [
        AwsPlace(sm, env, key),
        VaultPlace(openbao.addr, onboarding_token(vault_platform, vault_env), vault_env.mount),
        AzurePlace(kv, env),
    ]
    client = Onboarding(
        environment=env,
        runtime_classes=["linked"],
        stores=places,
        governor=CreditGovernor(pool=10, declared=5),
        makini=MakiniClient(makini.base_url, allow_loopback=True, timeout=5.0),
        client_id=makini.client_id,
        client_secret=makini.client_secret,
    )
    return client, sm, key, kv, env


def aws_value(sm, env, connection_id=CONNECTION, access_class="linked"):
    return json.loads(
        sm.get_secret_value(SecretId=f"makini/{env}/connections/{access_class}/{connection_id}/token")["SecretString"]
    )


def test_connect_exchanges_the_link_code_and_stores_the_token_on_every_backend(
    rig, makini, openbao, vault_platform, vault_env, caplog
):
    client, sm, key, kv, env = rig
    caplog.set_level(logging.DEBUG, logger="makini.onboarding")
    caplog.set_level(logging.DEBUG, logger="functions")
    code = makini.link_code(CONNECTION, REDIRECT)
    stored = client.connect(
        code, REDIRECT, CONNECTION, "linked", tier=1, deployment="cloud", runtime_in_use=[(2, "cloud")]
    )
    assert stored.outcomes == {"aws": "created", "vault": "created", "azure": "created"}
    assert stored.credits.used_after == 5 + 2 + 1
    token = aws_value(sm, env)["token"]
    assert token.startswith("mkc_") and aws_value(sm, env)["connection_id"] == CONNECTION
    # the token works at Makini (a connection token for this connection)
    assert MakiniClient(makini.base_url, allow_loopback=True).check_token(token) == "done"
    # AWS: the environment key and exactly the run-time tags the onboarding policy requires
    described = sm.describe_secret(SecretId=f"makini/{env}/connections/linked/{CONNECTION}/token")
    assert described["KmsKeyId"] == key
    assert {t["Key"]: t["Value"] for t in described["Tags"]} == {
        "environment": env,
        "managed-by": "makini-onboarding",
        "makini:kind": "connection-token",
        "makini:class": "linked",
        "makini:connection-id": CONNECTION,
    }
    # Vault: the class's consumers read it with their own identities; the onboarding identity cannot
    path = f"{vault_env.mount}/data/connections/linked/{CONNECTION}/token"
    for consumer, expected in (("work-orders", 200), ("asset-sync", 200), ("onboarding", 403)):
        status, body = openbao.http("GET", path, token=onboarding_token(vault_platform, vault_env, consumer))
        assert status == expected
        if status == 200:
            assert body["data"]["data"] == {"connection_id": CONNECTION, "token": token}
    # Azure: in the class's own vault, with the tags
    (secret,) = kv["linked"].versions[f"connections-linked-{CONNECTION}-token"]
    assert json.loads(secret.value)["token"] == token and secret.properties.tags["makini:class"] == "linked"
    # every request the client sent is one Makini documents; the token never reached a log line
    assert [p for r in makini.requests for p in check_request(r.method, r.path, r.json, r.headers)] == []
    assert token not in caplog.text and code not in caplog.text and makini.client_secret not in caplog.text
    assert "onboarding_stored" in caplog.text


def test_a_retry_is_idempotent_and_a_reconnect_replaces_the_token(rig):
    client, sm, _, kv, env = rig
    cid = "29000207611901"
    assert client.store(cid, "linked", "tok-1").outcomes == {"aws": "created", "vault": "created", "azure": "created"}
    # the same ClientRequestToken with the same value: Secrets Manager ignores the request (no new version)
    assert client.store(cid, "linked", "tok-1").outcomes["vault"] == "updated"
    name = f"makini/{env}/connections/linked/{cid}/token"
    assert len(sm.list_secret_version_ids(SecretId=name)["Versions"]) == 1
    client.store(cid, "linked", "tok-2")  # the customer reconnected: a new token
    assert aws_value(sm, env, cid)["token"] == "tok-2"
    assert len(kv["linked"].versions[f"connections-linked-{cid}-token"]) == 3  # Key Vault keeps every set


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(connection_id="", access_class="linked"), "connection_id is missing"),
        (dict(connection_id=None, access_class="linked"), "connection_id is missing"),
        (dict(connection_id="Conn/1", access_class="linked"), "not a Makini connection key"),
        (dict(connection_id="29000207611898", access_class="standard"), "unknown run-time class 'standard'"),
        (dict(connection_id="29000207611898", access_class="linkd"), "unknown run-time class"),
    ],
)
def test_bad_input_is_refused_before_anything_is_exchanged_or_stored(rig, makini, kwargs, message):
    client, sm, *_ = rig
    before = len(sm.list_secrets()["SecretList"])
    code = makini.link_code("29000207611999", REDIRECT)
    with pytest.raises(OnboardingRefused, match=message):
        client.connect(code, REDIRECT, tier=1, deployment="cloud", **kwargs)
    with pytest.raises(OnboardingRefused, match=message):
        client.store(token="tok", **kwargs)
    assert not [r for r in makini.requests if r.path == "/link/token"]
    assert len(sm.list_secrets()["SecretList"]) == before


@pytest.mark.parametrize("token", [None, 42, b"tok", "", "  "])
def test_a_token_that_is_not_a_string_is_refused(rig, token):
    client, *_ = rig
    with pytest.raises(OnboardingRefused, match="non-empty string"):
        client.store("29000207611902", "linked", token)


def test_a_second_store_in_another_class_is_refused(moto_aws, makini):
    sm, key = moto_aws
    kv = {"linked": FakeSecretClient("https://a"), "eu": FakeSecretClient("https://b")}
    client = Onboarding("twoclass", ["linked", "eu"], [AwsPlace(sm, "twoclass", key), AzurePlace(kv, "twoclass")])
    client.store("29000207611903", "linked", "tok-1")
    with pytest.raises(ConnectionInAnotherClass, match="already stored in run-time class 'linked' on aws"):
        client.store("29000207611903", "eu", "tok-1")
    assert not kv["eu"].versions


def test_the_credit_pool_refuses_before_the_code_is_exchanged(rig, makini):
    client, *_ = rig
    code = makini.link_code("29000207611904", REDIRECT)
    with pytest.raises(CreditsExhausted, match="11 of the pool's 10"):
        client.connect(
            code, REDIRECT, "29000207611904", "linked", tier=3, deployment="cloud", runtime_in_use=[(1, "on_prem")]
        )
    assert not [r for r in makini.requests if r.path == "/link/token"]


def test_a_failed_store_keeps_the_issued_token_for_a_retry_and_never_shows_it(rig, makini, caplog):
    client, sm, key, kv, env = rig

    class Broken:
        backend = "azure"

        def holds(self, *a):
            return False

        def store(self, *a):
            raise StoreError("azure: could not set x: HttpResponseError")

    failing = Onboarding(
        env,
        ["linked"],
        [client.stores[0], Broken()],
        makini=client.makini,
        client_id=client.client_id,
        client_secret=client.client_secret,
    )
    code = makini.link_code("29000207611905", REDIRECT)
    with pytest.raises(StoreFailed) as info:
        failing.connect(code, REDIRECT, "29000207611905", "linked", tier=1, deployment="cloud")
    issued = info.value.issued
    assert "stored on: aws" in str(info.value) and issued.token not in repr(info.value.issued)
    assert issued.token not in caplog.text
    # the service retries with the token it holds (the code cannot be exchanged twice)
    assert set(client.store("29000207611905", "linked", issued.token).outcomes) == {"aws", "vault", "azure"}
    assert aws_value(sm, env, "29000207611905")["token"] == issued.token
