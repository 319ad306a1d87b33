"""The onboarding client end to end: a Makini Link code from a fake Makini built from docs/makini (FACTS.md and
the system OAS, every request checked against them), stored on moto's Secrets Manager (with a KMS key), on the
real OpenBao server as the staging stack's onboarding identity (its deployed policy decides), and on a Key Vault
double at the SDK boundary (no Azure engine installs here). Bad input is refused before anything is exchanged."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime

import pytest

from functions.onboarding import (
    AlreadyStored,
    AwsPlace,
    AzurePlace,
    ConnectionInAnotherClass,
    CreditGovernor,
    CreditsExhausted,
    DisconnectFailed,
    Onboarding,
    OnboardingRefused,
    StoreFailed,
    VaultPlace,
)
from functions.onboarding.stores import StoreError, TokenExists
from functions.rotation.makini_client import MakiniAuthError, MakiniClient
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


def vault_read(openbao, vault_platform, vault_env, connection_id, consumer="work-orders"):
    path = f"{vault_env.mount}/data/connections/linked/{connection_id}/token"
    status, body = openbao.http("GET", path, token=onboarding_token(vault_platform, vault_env, consumer))
    return body["data"]["data"]["token"] if status == 200 else status


def test_a_second_store_is_refused_and_never_overwrites(rig, openbao, vault_platform, vault_env):
    """Customer B's token at customer A's name, a blank, or a reconnect's new token: refused before any write, on
    the first backend that holds one, with what to do instead; every backend keeps the first token."""
    client, sm, _, kv, env = rig
    cid = "29000207611901"
    assert client.store(cid, "linked", "tok-1").outcomes == {"aws": "created", "vault": "created", "azure": "created"}
    for token in ("tok-of-customer-b", "tok-2"):
        with pytest.raises(AlreadyStored) as info:
            client.store(cid, "linked", token)
        message = str(info.value)
        assert f"connection {cid} in run-time class 'linked'" in message and "on aws" in message
        assert "never overwrites" in message and "rotation issues a fresh token" in message
        assert (info.value.connection_id, info.value.access_class, info.value.backend) == (cid, "linked", "aws")
    assert aws_value(sm, env, cid)["token"] == "tok-1"
    assert len(sm.list_secret_version_ids(SecretId=f"makini/{env}/connections/linked/{cid}/token")["Versions"]) == 1
    assert vault_read(openbao, vault_platform, vault_env, cid) == "tok-1"
    assert len(kv["linked"].versions[f"connections-linked-{cid}-token"]) == 1


@pytest.mark.parametrize("backend", ["aws", "vault", "azure"])
def test_each_backend_alone_refuses_to_overwrite(rig, backend, openbao, vault_platform, vault_env):
    client, sm, _, kv, env = rig
    cid = f"29000207612{['aws', 'vault', 'azure'].index(backend)}01"
    place = next(p for p in client.stores if p.backend == backend)
    alone = Onboarding(env, ["linked"], [place])
    alone.store(cid, "linked", "tok-1")
    with pytest.raises(AlreadyStored, match=f"on {backend} already has a token"):
        alone.store(cid, "linked", "tok-2")
    # the place itself (a store that raced past the look): the cloud refuses on AWS and Vault, the place on Azure
    with pytest.raises(TokenExists):
        place.store("linked", cid, '{"connection_id":"x","token":"tok-3"}', "0b5f8a4e-6f0c-4d61-9a4e-1b2c3d4e5f60")
    if backend == "aws":
        assert aws_value(sm, env, cid)["token"] == "tok-1"
    elif backend == "vault":
        assert vault_read(openbao, vault_platform, vault_env, cid) == "tok-1"
    else:
        assert [json.loads(v.value)["token"] for v in kv["linked"].versions[f"connections-linked-{cid}-token"]] == [
            "tok-1"
        ]


def test_connect_refuses_a_stored_connection_before_the_code_is_exchanged(rig, makini):
    client, *_ = rig
    cid = "29000207611911"
    client.store(cid, "linked", "tok-1")
    code = makini.link_code(cid, REDIRECT)
    with pytest.raises(AlreadyStored, match=f"connection {cid}"):
        client.connect(code, REDIRECT, cid, "linked", tier=1, deployment="cloud")
    assert not [r for r in makini.requests if r.path == "/link/token"]


class Down:
    """A backend that cannot be reached: it finds nothing, and every write or delete fails."""

    def __init__(self, backend):
        self.backend = backend

    def look(self, *args):
        return "absent"

    def store(self, *args):
        raise StoreError(f"{self.backend}: https://{self.backend}.example unreachable (ConnectionRefusedError)")

    delete = store


class LostAnswer:
    """A place whose write lands but whose answer is lost (a timeout after the backend stored it)."""

    def __init__(self, place):
        self.place, self.backend, self.lost = place, place.backend, 1

    def look(self, *args):
        return self.place.look(*args)

    def delete(self, *args):
        return self.place.delete(*args)

    def store(self, *args):
        outcome = self.place.store(*args)
        if self.lost:
            self.lost -= 1
            raise StoreError(f"{self.backend}: no answer (timed out)")
        return outcome


def test_a_retry_writes_only_the_backends_that_did_not_store(rig, openbao, vault_platform, vault_env):
    client, sm, _, kv, env = rig
    cid = "29000207611921"

    aws, vault, azure = client.stores
    with pytest.raises(StoreFailed) as info:
        Onboarding(env, ["linked"], [aws, Down("vault"), azure]).store(cid, "linked", "tok-1")
    failed = info.value
    assert failed.stored_on == frozenset({"aws"}) and "stored on: aws" in str(failed)
    stored = client.store(cid, "linked", "tok-1", retry=failed)
    assert stored.outcomes == {"aws": "unchanged", "vault": "created", "azure": "created"}
    assert stored.request_id == failed.request_id
    assert len(sm.list_secret_version_ids(SecretId=f"makini/{env}/connections/linked/{cid}/token")["Versions"]) == 1
    assert vault_read(openbao, vault_platform, vault_env, cid) == "tok-1"
    # a store without the failed attempt's record finds tokens it cannot tell from another's: refused
    with pytest.raises(AlreadyStored):
        client.store(cid, "linked", "tok-1")


@pytest.mark.parametrize("backend", ["aws", "azure"])
def test_a_retry_recognises_its_own_write_whose_answer_was_lost(rig, backend):
    client, sm, _, kv, env = rig
    cid = f"2900020761193{['aws', 'azure'].index(backend)}"
    places = [LostAnswer(p) if p.backend == backend else p for p in client.stores if p.backend in ("aws", "azure")]
    flaky = Onboarding(env, ["linked"], places)
    with pytest.raises(StoreFailed) as info:
        flaky.store(cid, "linked", "tok-1")
    assert backend not in info.value.stored_on  # the client never saw the answer
    stored = flaky.store(cid, "linked", "tok-1", retry=info.value)
    assert stored.outcomes[backend] == "unchanged"
    if backend == "aws":
        name = f"makini/{env}/connections/linked/{cid}/token"
        (version,) = sm.list_secret_version_ids(SecretId=name)["Versions"]
        assert version["VersionId"] == info.value.request_id
    else:
        (version,) = kv["linked"].versions[f"connections-linked-{cid}-token"]
        assert version.properties.tags["makini:request-id"] == info.value.request_id


def test_vault_cannot_tell_its_own_lost_write_and_says_so(rig, openbao, vault_platform, vault_env):
    client, *_ = rig
    cid = "29000207611941"
    vault = next(p for p in client.stores if p.backend == "vault")
    flaky = Onboarding(client.environment, ["linked"], [LostAnswer(vault)])
    with pytest.raises(StoreFailed) as info:
        flaky.store(cid, "linked", "tok-1")
    with pytest.raises(AlreadyStored, match="answer from Vault was lost, the token there may be this one"):
        flaky.store(cid, "linked", "tok-1", retry=info.value)
    assert vault_read(openbao, vault_platform, vault_env, cid) == "tok-1"  # and nothing was overwritten


def test_the_request_id_is_random_not_derived_from_the_token(rig):
    """The version id anyone who may describe the secret sees tells nothing about the token: two stores of the
    same token for two connections get unrelated random (version 4) UUIDs."""
    client, sm, _, _, env = rig
    ids = []
    for cid in ("29000207611951", "29000207611952"):
        stored = client.store(cid, "linked", "tok-same")
        (version,) = sm.list_secret_version_ids(SecretId=f"makini/{env}/connections/linked/{cid}/token")["Versions"]
        assert version["VersionId"] == stored.request_id
        ids.append(uuid.UUID(stored.request_id))
    assert ids[0] != ids[1] and {i.version for i in ids} == {4}


def test_a_retry_in_another_class_is_refused(moto_aws):
    sm, key = moto_aws
    kv = {"linked": FakeSecretClient("https://a"), "eu": FakeSecretClient("https://b")}

    aws = AwsPlace(sm, "retrycls", key)
    with pytest.raises(StoreFailed) as info:
        Onboarding("retrycls", ["linked", "eu"], [aws, Down("azure")]).store("29000207611961", "linked", "tok-1")
    client = Onboarding("retrycls", ["linked", "eu"], [aws, AzurePlace(kv, "retrycls")])
    with pytest.raises(ConnectionInAnotherClass, match="was being stored in run-time class 'linked'"):
        client.store("29000207611961", "eu", "tok-1", retry=info.value)
    with pytest.raises(ConnectionInAnotherClass, match="already stored in run-time class 'linked' on aws"):
        client.store("29000207611961", "eu", "tok-1")
    assert not kv["eu"].versions


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


@pytest.mark.parametrize("backend", ["aws", "vault", "azure"])
def test_a_second_store_in_another_class_is_refused_on_every_backend(moto_aws, openbao, backend):
    """Each backend alone refuses it (the name differs per class, so no cloud policy can: the client looks)."""
    sm, key = moto_aws
    env = f"twoclass-{backend}"
    kv = {"linked": FakeSecretClient("https://a"), "eu": FakeSecretClient("https://b")}
    place = {
        "aws": lambda: AwsPlace(sm, env, key),
        "vault": lambda: VaultPlace(openbao.addr, openbao.root_token, openbao.enable_kv2("twoclass")),
        "azure": lambda: AzurePlace(kv, env),
    }[backend]()
    client = Onboarding(env, ["linked", "eu"], [place])
    client.store("29000207611903", "linked", "tok-1")
    with pytest.raises(ConnectionInAnotherClass, match=f"already stored in run-time class 'linked' on {backend}"):
        client.store("29000207611903", "eu", "tok-1")
    assert place.look("eu", "29000207611903") == "absent"


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

    failing = Onboarding(
        env,
        ["linked"],
        [client.stores[0], Down("azure")],
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
    retried = client.store("29000207611905", "linked", issued.token, retry=info.value)
    assert retried.outcomes == {"aws": "unchanged", "vault": "created", "azure": "created"}
    assert aws_value(sm, env, "29000207611905")["token"] == issued.token


# -- disconnect -------------------------------------------------------------------------------------------------


def test_disconnect_schedules_deletion_on_every_backend_recoverably(rig, openbao, vault_platform, vault_env):
    client, sm, _, kv, env = rig
    cid = "29000207611971"
    client.store(cid, "linked", "tok-1")
    done = client.disconnect(cid, "linked")
    assert done.outcomes == {"aws": "scheduled", "vault": "scheduled", "azure": "scheduled"} and not done.makini
    # AWS: scheduled for deletion after the place's recovery window (the default, 30 days), never forced
    described = sm.describe_secret(SecretId=f"makini/{env}/connections/linked/{cid}/token")
    days = (described["DeletedDate"] - datetime.now(UTC)).total_seconds() / 86400
    assert 29.9 < days <= 30
    # Vault: the consumers lose it; the version is soft-deleted, not destroyed
    assert vault_read(openbao, vault_platform, vault_env, cid) == 404
    status, meta = openbao.http("GET", f"{vault_env.mount}/metadata/connections/linked/{cid}/token")
    assert status == 200 and meta["data"]["versions"]["1"]["destroyed"] is False
    # Azure: soft-deleted (recoverable), not purged
    name = f"connections-linked-{cid}-token"
    assert name not in kv["linked"].versions and name in kv["linked"].deleted
    # a second disconnect is a no-op; a store of the same connection says it is disconnected, never overwrites
    again = client.disconnect(cid, "linked")
    assert again.outcomes == {"aws": "already-deleted", "vault": "already-deleted", "azure": "absent"}
    with pytest.raises(AlreadyStored, match="is disconnected: its token is scheduled for deletion"):
        client.store(cid, "linked", "tok-2")
    # the operators' restore steps (docs/operations.md) bring the first token back
    sm.restore_secret(SecretId=f"makini/{env}/connections/linked/{cid}/token")
    assert aws_value(sm, env, cid)["token"] == "tok-1"
    assert (
        openbao.http("POST", f"{vault_env.mount}/undelete/connections/linked/{cid}/token", {"versions": [1]})[0] == 204
    )
    assert vault_read(openbao, vault_platform, vault_env, cid) == "tok-1"
    kv["linked"].recover(name)
    assert json.loads(kv["linked"].get_secret(name).value)["token"] == "tok-1"


def test_disconnect_on_aws_uses_the_places_recovery_window(moto_aws):
    sm, key = moto_aws
    client = Onboarding("window", ["linked"], [AwsPlace(sm, "window", key, recovery_window_days=7)])
    client.store("29000207611972", "linked", "tok-1")
    client.disconnect("29000207611972", "linked")
    described = sm.describe_secret(SecretId="makini/window/connections/linked/29000207611972/token")
    assert 6.9 < (described["DeletedDate"] - datetime.now(UTC)).total_seconds() / 86400 <= 7


def test_an_aws_place_takes_only_a_window_secrets_manager_accepts(moto_aws):
    sm, key = moto_aws
    for days in (0, 6, 31):
        with pytest.raises(ValueError, match="7 to 30 days"):
            AwsPlace(sm, "window", key, recovery_window_days=days)


def test_a_refused_aws_deletion_names_the_window(moto_aws):
    """What AWS answers when the place's window is shorter than the stack's (the policy's KeepRecoveryWindow deny)."""
    from botocore.exceptions import ClientError

    sm, key = moto_aws

    class Refusing:
        def __getattr__(self, name):
            return getattr(sm, name)

        def delete_secret(self, **kwargs):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "explicit deny"}}, "DeleteSecret")

    place = AwsPlace(Refusing(), "refused", key, recovery_window_days=7)
    Onboarding("refused", ["linked"], [place]).store("29000207611980", "linked", "tok-1")
    with pytest.raises(
        DisconnectFailed, match="a recovery window of 7 days: the onboarding policy refuses one shorter"
    ):
        Onboarding("refused", ["linked"], [place]).disconnect("29000207611980", "linked")
    assert place.look("linked", "29000207611980") == "present"


def test_disconnect_of_a_connection_never_stored_is_a_no_op(rig):
    client, *_ = rig
    assert client.disconnect("29000207611973", "linked").outcomes == {
        "aws": "absent",
        "vault": "absent",
        "azure": "absent",
    }


@pytest.mark.parametrize(
    ("connection_id", "access_class", "message"),
    [
        ("", "linked", "connection_id is missing"),
        (None, "linked", "connection_id is missing"),
        ("Conn/1", "linked", "not a Makini connection key"),
        ("acme-maintainx", "standard", "unknown run-time class 'standard'"),  # a declared class: never onboarding's
        ("29000207611974", "*", "unknown run-time class"),
    ],
)
def test_disconnect_refuses_bad_input_and_deletes_nothing(rig, makini, connection_id, access_class, message):
    client, sm, *_ = rig
    if client.stores[0].look("linked", "29000207611975") == "absent":
        client.store("29000207611975", "linked", "tok-keep")
    before = sm.list_secrets()["SecretList"]
    with pytest.raises(OnboardingRefused, match=message):
        client.disconnect(connection_id, access_class, in_makini=True)
    assert sm.list_secrets()["SecretList"] == before
    assert not [r for r in makini.requests if r.method == "DELETE"]


def test_disconnect_in_makini_when_the_customer_asked(rig, makini):
    client, sm, _, _, env = rig
    cid = "29000207611976"
    code = makini.link_code(cid, REDIRECT)
    client.connect(code, REDIRECT, cid, "linked", tier=1, deployment="cloud")
    token = aws_value(sm, env, cid)["token"]
    done = client.disconnect(cid, "linked", in_makini=True)
    assert done.makini and done.outcomes["aws"] == "scheduled"
    deletes = [r for r in makini.requests if r.method == "DELETE"]
    assert [r.path for r in deletes] == [f"/api/system/connections/{cid}"]
    assert [p for r in makini.requests for p in check_request(r.method, r.path, r.json, r.headers)] == []
    with pytest.raises(MakiniAuthError):  # Makini revoked it
        MakiniClient(makini.base_url, allow_loopback=True).check_token(token)
    # a second disconnect: Makini no longer knows the connection (404), the stores are already deleted
    again = client.disconnect(cid, "linked", in_makini=True)
    assert again.makini and set(again.outcomes.values()) <= {"already-deleted", "absent"}


def test_a_failed_disconnect_says_where_and_is_retried(rig):
    client, sm, _, _, env = rig
    cid = "29000207611977"
    client.store(cid, "linked", "tok-1")

    aws, vault, azure = client.stores
    with pytest.raises(DisconnectFailed, match="deletion scheduled on: aws") as info:
        Onboarding(env, ["linked"], [aws, Down("vault"), azure]).disconnect(cid, "linked")
    assert info.value.done == frozenset({"aws"})
    assert client.disconnect(cid, "linked").outcomes == {
        "aws": "already-deleted",
        "vault": "scheduled",
        "azure": "scheduled",
    }


def test_makini_refusing_the_disconnect_deletes_nothing(rig, makini):
    client, sm, _, kv, env = rig
    cid = "29000207611978"
    client.store(cid, "linked", "tok-1")
    makini.add_connection(cid)
    makini.fail_next(401, method="DELETE")
    with pytest.raises(MakiniAuthError):
        client.disconnect(cid, "linked", in_makini=True)
    assert client.stores[0].look("linked", cid) == "present"
    assert aws_value(sm, env, cid)["token"] == "tok-1"
    assert kv["linked"].versions[f"connections-linked-{cid}-token"]


def test_bad_input_is_refused_before_any_backend_is_asked():
    class Untouchable:
        backend = "aws"

        def __getattr__(self, name):
            raise AssertionError(f"the place was asked: {name}")

    client = Onboarding("quiet", ["linked"], [Untouchable()])
    for args, message in (
        (("29000207611979", "linked", 42), "must be a non-empty string \\(got int\\)"),
        (("29000207611979", "linked", b"tok"), "got bytes"),
        (("29000207611979", "standard", "tok"), "unknown run-time class"),
        (("", "linked", "tok"), "connection_id is missing"),
    ):
        with pytest.raises(OnboardingRefused, match=message):
            client.store(*args)
    with pytest.raises(OnboardingRefused, match="unknown run-time class"):
        client.disconnect("29000207611979", "standard")


def test_one_place_per_backend(moto_aws):
    sm, key = moto_aws
    with pytest.raises(OnboardingRefused, match="one place per backend"):
        Onboarding("dup", ["linked"], [AwsPlace(sm, "dup", key), AwsPlace(sm, "dup", key)])
