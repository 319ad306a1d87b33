"""The doctor's store readers on each backend, at each SDK's boundary, and the doctor end to end on each.

AWS: boto3 against moto (in process). Azure: azure-keyvault-secrets' ``SecretClient`` double (no Azure
engine installs here). Vault: hvac against the session's real OpenBao server, with tokens whose policies
grant exactly what the test says.
"""

from __future__ import annotations

import json

import pytest
from azure.core.exceptions import ServiceRequestError
from botocore.exceptions import ClientError, EndpointConnectionError

from infra.stores import AwsSecretsReader, KeyVaultReader, StoreError, default_reader, vault_address
from stacks.catalog import SecretKind
from stacks.locations import SecretLocation
from tests.fakes.key_vault import FakeSecretClient
from tests.support import load

from .conftest import (
    OAUTH_CANARY,
    REGION,
    OpenBaoMount,
    Stores,
    assert_no_secret,
    connection,
    stack_config,
    token_value,
)

AWS_LOC = SecretLocation("aws", "", "makini/dev/connections/a/token", "connections/a/token")
KV_LOC = SecretLocation("azure", "kv-mk-dev-abcde", "connections-a-token", "connections/a/token")
VAULT_LOC = SecretLocation("vault", "makini-dev", "connections/a/token", "connections/a/token")


# -- AWS ---------------------------------------------------------------------------------------------------


def test_aws_reads_the_current_value_and_none_when_nothing_is_stored(moto_sm):
    reader = AwsSecretsReader(moto_sm, REGION)
    moto_sm.create_secret(Name="makini/rd1/connections/a/token", SecretString='{"token": "t"}')
    moto_sm.put_secret_value(SecretId="makini/rd1/connections/a/token", SecretString='{"token": "t2"}')
    moto_sm.create_secret(Name="makini/rd1/connections/empty/token")
    at = lambda name: SecretLocation("aws", "", name, "x")  # noqa: E731
    assert reader.read(at("makini/rd1/connections/a/token")) == '{"token": "t2"}'
    assert reader.read(at("makini/rd1/connections/empty/token")) is None  # no AWSCURRENT value yet
    assert reader.read(at("makini/rd1/connections/nope/token")) is None  # no such secret


class Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_secret_value(self, **kwargs):
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (
            ClientError({"Error": {"Code": "AccessDeniedException", "Message": "explicit deny"}}, "GetSecretValue"),
            "access denied. Each secret's resource policy lets only its readers read it",
        ),
        (
            ClientError({"Error": {"Code": "DecryptionFailure", "Message": "KMS refused"}}, "GetSecretValue"),
            "DecryptionFailure: KMS refused",
        ),
        (
            EndpointConnectionError(endpoint_url="https://secretsmanager.eu-west-1.amazonaws.com"),
            "EndpointConnectionError",
        ),
    ],
)
def test_aws_errors_name_the_secret_and_why(error, message):
    with pytest.raises(StoreError) as exc:
        AwsSecretsReader(Refusing(error), REGION).read(AWS_LOC)
    assert "AWS Secrets Manager secret makini/dev/connections/a/token (eu-west-1)" in str(exc.value)
    assert message in str(exc.value)


# -- Azure -------------------------------------------------------------------------------------------------


def _kv() -> tuple[FakeSecretClient, KeyVaultReader]:
    client = FakeSecretClient(KV_LOC.vault_url)
    return client, KeyVaultReader(lambda url: client if url == client.vault_url else pytest.fail(f"wrong vault {url}"))


def test_key_vault_reads_the_latest_version_and_none_for_the_placeholder():
    client, reader = _kv()
    assert reader.read(KV_LOC) is None  # no such secret
    client.set_secret(KV_LOC.name, "unset: written out of band or by rotation (makini-infra)", enabled=False)
    assert reader.read(KV_LOC) is None  # the program's disabled placeholder: never filled in
    client.set_secret(KV_LOC.name, '{"token": "t"}')
    assert reader.read(KV_LOC) == '{"token": "t"}'


def test_key_vault_denied_is_a_clear_store_error():
    client, reader = _kv()
    client.set_secret(KV_LOC.name, '{"token": "t"}')
    client.denied.add(KV_LOC.name)
    with pytest.raises(StoreError, match="Key Vault kv-mk-dev-abcde secret connections-a-token: access denied"):
        reader.read(KV_LOC)


# -- Vault -------------------------------------------------------------------------------------------------


def test_vault_reads_the_current_version_as_the_program_wrote_it(openbao):
    vault = OpenBaoMount(openbao, openbao.unique("makini"))
    reader = vault.reader()
    at = lambda path: SecretLocation("vault", vault.mount, path, path)  # noqa: E731
    assert reader.read(at("connections/a/token")) is None  # nothing there
    vault.put("connections/a/token", '{"token": "t1", "connection_id": "1"}')
    vault.put("connections/a/token", '{"token": "t2", "connection_id": "1"}')
    assert json.loads(reader.read(at("connections/a/token"))) == {"token": "t2", "connection_id": "1"}
    vault.put("webhook/secret", "plain")  # stored as {"value": ...}, read back as the value itself
    assert reader.read(at("webhook/secret")) == "plain"
    vault.root.secrets.kv.v2.delete_latest_version_of_secret(path="connections/a/token", mount_point=vault.mount)
    assert reader.read(at("connections/a/token")) is None  # the current version is deleted: no value


def test_vault_denied_is_a_clear_store_error(openbao):
    vault = OpenBaoMount(openbao, openbao.unique("makini"))
    vault.put("connections/a/token", '{"token": "t"}')
    vault.put("oauth/client", '{"client_id": "c", "client_secret": "s"}')
    reader = vault.reader(readable=["oauth/client"])  # this token may read the OAuth client, no token
    assert (
        json.loads(reader.read(SecretLocation("vault", vault.mount, "oauth/client", "oauth/client")))["client_id"]
        == "c"
    )
    location = SecretLocation("vault", vault.mount, "connections/a/token", "connections/a/token")
    with pytest.raises(
        StoreError, match=rf"Vault KV {vault.mount}/connections/a/token at http://127.0.0.1:\d+: permission denied"
    ):
        reader.read(location)


def test_vault_address_comes_from_the_environment_then_the_stack():
    cfg = load(stack_config("dev", [], backends=("vault",)))
    assert vault_address(cfg, {}, {"VAULT_ADDR": "https://env:8200"}) == "https://env:8200"
    assert vault_address(cfg, {"vault:address": "https://provider:8200"}, {}) == "https://provider:8200"
    assert vault_address(cfg, {}, {}) == "https://vault.example.internal:8200"  # the rotator's


def test_vault_reader_without_credentials_is_a_store_error(tmp_path):
    cfg = load(stack_config("dev", [], backends=("vault",)))
    with pytest.raises(StoreError, match="VAULT_TOKEN is not set"):
        default_reader("vault", cfg, {}, {"HOME": str(tmp_path)})
    (tmp_path / ".vault-token").write_text("s.from-vault-login\n")
    reader = default_reader("vault", cfg, {}, {"HOME": str(tmp_path)})
    assert reader.client.token == "s.from-vault-login" and reader.address == "https://vault.example.internal:8200"


# -- the doctor end to end on each backend, and on all three at once --------------------------------------


@pytest.mark.parametrize("backends", [("aws",), ("azure",), ("vault",), ("aws", "azure", "vault")], ids="+".join)
def test_the_doctor_on_every_backend(new_stack, moto_sm, openbao, fake_makini, backends, capfd):
    rig = new_stack([connection("a", "500"), connection("b", "501"), connection("c", "502")], backends=backends)
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth()
    tokens = []
    for key, cid in (("a", "500"), ("b", "501")):
        fake_makini.add_connection(cid)
        for b in backends:  # each backend rotates its own copy: a token per backend
            token = fake_makini.mint_connection_token(cid)
            tokens.append(token)
            stores.put_token(key, token_value(token, cid), backends=[b])
    fake_makini.add_connection("502")
    stores.put_token("c", None)  # never filled in: the placeholder (Azure), an empty secret (AWS), nothing (Vault)
    code, doc, err = rig.run_json()
    assert code == 3
    rows = {r["key"]: r for r in doc["connections"]}
    for key in ("a", "b"):
        assert [t["backend"] for t in rows[key]["tokens"]] == list(backends)
        assert {t["state"] for t in rows[key]["tokens"]} == {"works"}
    assert [t["state"] for t in rows["c"]["tokens"]] == ["no-value"] * len(backends)
    assert doc["backends"] == list(backends)
    captured = capfd.readouterr()
    assert_no_secret([OAUTH_CANARY, *tokens], json.dumps(doc), err, rig.logs, captured.out, captured.err)


def test_a_store_that_cannot_be_read_is_could_not_check(new_stack, moto_sm, openbao, fake_makini):
    rig = new_stack([connection("a", "600")], backends=("aws", "vault"))
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth()
    fake_makini.add_connection("600")
    stores.put_token("a", token_value(fake_makini.mint_connection_token("600"), "600"))
    rig.readers["vault"] = stores.vault.reader(readable=["oauth/client"])  # a Vault policy without the tokens
    code, doc, _ = rig.run_json()
    assert code == 1
    [row] = doc["connections"]
    states = {t["backend"]: t["state"] for t in row["tokens"]}
    assert states == {"aws": "works", "vault": "unreadable"}
    assert "permission denied" in row["unchecked"][0]


def test_oauth_clients_that_differ_between_backends_are_reported(new_stack, moto_sm, openbao, fake_makini):
    rig = new_stack([], backends=("aws", "vault"))
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth(backends=["aws"])
    stores.put_oauth(json.dumps({"client_id": "someone-else", "client_secret": "old-secret-value-1"}), ["vault"])
    code, doc, _ = rig.run_json()
    assert code == 3
    assert any("holds client_id 'someone-else', the stack declares 'mk_doctor_client'" in a for a in doc["attention"])
    assert any("Makini refuses the one stored in Vault KV" in a for a in doc["attention"])
    assert "old-secret-value-1" not in json.dumps(doc)


def test_the_doctor_reads_every_secret_where_stacks_locations_puts_it(new_stack, moto_sm, fake_makini):
    """A stored value in the wrong place is not found: the doctor does not guess paths."""
    rig = new_stack([connection("a", "700")])
    stores = Stores(rig, moto_sm)
    stores.put_oauth()
    fake_makini.add_connection("700")
    moto_sm.create_secret(
        Name=f"makini/{rig.stack}/connections/a/token-copy",
        SecretString=token_value(fake_makini.mint_connection_token("700"), "700"),
    )
    code, doc, _ = rig.run_json()
    assert code == 3 and doc["connections"][0]["tokens"][0]["state"] == "no-value"
    assert doc["connections"][0]["tokens"][0]["location"] == str(rig.location(SecretKind.CONNECTION_TOKEN, "aws", "a"))


def test_an_unreachable_vault_names_the_likely_causes():
    class Unreachable:
        def get_secret(self, name, **kwargs):
            raise ServiceRequestError("Failed to resolve 'kv-mk-dev-abcde.vault.azure.net'")

    with pytest.raises(StoreError, match=r"unreachable .*--pulumi-org.*makini:azure.vaultName"):
        KeyVaultReader(lambda url: Unreachable()).read(KV_LOC)
