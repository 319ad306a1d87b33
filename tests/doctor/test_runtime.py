"""The doctor and run-time connections (issue 19): names listed on each backend's real store (moto, the Key Vault
double, the session's OpenBao), never a value; the findings against the fake Makini (requests checked against the
OAS); and 3,000 run-time connections in one run.
"""

from __future__ import annotations

import json
import time

import pytest

from infra.stores import AwsSecretsReader, KeyVaultReader, StoreError, VaultReader
from stacks.locations import RuntimeClassPlace, SecretLocation
from tests.fakes.key_vault import FakeSecretClient
from tests.fakes.makini_contract import check_recorded

from .conftest import (
    OAUTH_CANARY,
    REGION,
    MemoryReader,
    OpenBaoMount,
    Stores,
    assert_no_secret,
    connection,
    oauth_value,
    with_runtime,
)

BACKENDS = ("aws", "azure", "vault")


def _runtime_stack(new_stack, backends=BACKENDS, classes=("linked",), pool=100, connections=None):
    rig = new_stack(connections if connections is not None else [connection("a", "100")], backends=backends, pool=pool)
    with_runtime(rig.config, classes)
    return rig


# -- listing names on each real store ----------------------------------------------------------------------------


def test_aws_lists_every_page_by_name_prefix_and_nothing_else(new_stack, moto_sm):
    rig = _runtime_stack(new_stack, backends=("aws",), classes=("linked", "linked2"))
    place = rig.place("linked", "aws")
    for i in range(230):  # three pages of 100
        moto_sm.create_secret(Name=place.name_of(f"{i:05d}"), SecretString="{}")
    moto_sm.create_secret(Name=rig.place("linked2", "aws").name_of("99999"), SecretString="{}")  # another class
    moto_sm.create_secret(Name=place.prefix.upper() + "00001/token", SecretString="{}")  # case differs: not ours
    moto_sm.create_secret(Name=place.name_of("gone"), SecretString="{}")
    moto_sm.delete_secret(SecretId=place.name_of("gone"), RecoveryWindowInDays=7)  # scheduled: not listed
    names = AwsSecretsReader(moto_sm, REGION).list_names(place)
    assert sorted(names) == sorted(place.name_of(f"{i:05d}") for i in range(230))


def test_aws_listing_denied_says_which_right_is_missing():
    from botocore.exceptions import ClientError

    class Denied:
        def get_paginator(self, name):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListSecrets")

    place = RuntimeClassPlace("aws", "linked", "", "makini/dev/connections/linked/", "/token")
    with pytest.raises(StoreError, match="secretsmanager:ListSecrets"):
        AwsSecretsReader(Denied(), REGION).list_names(place)


def test_key_vault_lists_the_class_vault_and_a_denied_list_is_a_store_error(new_stack):
    rig = _runtime_stack(new_stack, backends=("azure",))
    place = rig.place("linked", "azure")
    client = FakeSecretClient(place.vault_url)
    reader = KeyVaultReader(lambda url: client if url == client.vault_url else pytest.fail(f"wrong vault {url}"))
    assert reader.list_names(place) == []
    client.set_secret(place.name_of("500"), "v1")
    client.set_secret(place.name_of("500"), "v2")
    client.set_secret(place.name_of("501-b"), "v")
    assert sorted(reader.list_names(place)) == [place.name_of("500"), place.name_of("501-b")]
    assert client.reads == 0  # names only: no value was read
    client.list_denied = True
    with pytest.raises(StoreError, match="readMetadata"):
        reader.list_names(place)


def test_vault_lists_the_class_folder_with_list_and_no_read(new_stack, openbao):
    rig = _runtime_stack(new_stack, backends=("vault",))
    place = rig.place("linked", "vault")
    vault = OpenBaoMount(openbao, place.container)
    policy = openbao.unique("lister")
    vault.root.sys.create_or_update_policy(
        name=policy, policy=f'path "{place.container}/metadata/{place.prefix}" {{\n  capabilities = ["list"]\n}}\n'
    )
    token = vault.root.auth.token.create(policies=[policy], no_default_policy=True, ttl="1h")["auth"]["client_token"]
    reader = VaultReader(openbao.client(token=token), openbao.addr)
    assert reader.list_names(place) == []  # nothing stored yet: no error
    for cid in ("500", "501", "7a-b"):
        vault.put(place.name_of(cid), '{"token": "t"}')
    assert sorted(reader.list_names(place)) == sorted(place.name_of(c) for c in ("500", "501", "7a-b"))
    with pytest.raises(StoreError, match="permission denied"):  # a value is out of reach of this token
        reader.read(SecretLocation("vault", place.container, place.name_of("500"), place.name_of("500")))
    denied = VaultReader(openbao.client(token=vault.reader(readable=["oauth/client"]).client.token), openbao.addr)
    with pytest.raises(StoreError, match=f"allow list on {place.container}/metadata/{place.prefix}"):
        denied.list_names(place)


# -- the doctor end to end ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("backends", [("aws",), ("azure",), ("vault",), BACKENDS], ids="+".join)
def test_the_doctor_reports_runtime_connections_on_every_backend(new_stack, moto_sm, openbao, fake_makini, backends):
    rig = _runtime_stack(new_stack, backends=backends, classes=("linked", "partners"))
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth()
    fake_makini.add_connection("100")
    stores.put_token("a", json.dumps({"token": fake_makini.mint_connection_token("100")}))
    for cid in ("500", "501", "502", "503"):
        fake_makini.add_connection(cid)
    fake_makini.connections["503"].status = "disconnected"
    fake_makini.add_connection("504")  # stored nowhere
    stores.put_runtime("linked", "500")
    stores.put_runtime("linked", "501")
    stores.put_runtime("partners", "501")  # two classes
    stores.put_runtime("linked", "502", backends=backends[:1])  # one backend only (when there are several)
    stores.put_runtime("linked", "503")  # disconnected
    stores.put_runtime("linked", "599")  # deleted in Makini
    fake_makini.clear_requests()
    code, doc, err = rig.run_json()
    assert code == 3, doc
    rows = {r["makini_id"]: r for r in doc["connections"]}
    assert rows["500"]["kind"] == "runtime" and rows["500"]["verdict"] == "ok"
    assert rows["500"]["runtime"] == {"linked": list(backends)}
    assert rows["501"]["attention"][0].startswith("stored in 2 run-time classes (linked, partners)")
    if len(backends) > 1:
        assert rows["502"]["attention"] == [
            "class linked: stored on aws but not on azure, vault: every backend the stack uses should hold it "
            "(store it again with the onboarding client, which writes every backend)"
        ]
    else:
        assert rows["502"]["verdict"] == "ok"
    assert rows["503"]["attention"][0].startswith("not active in Makini (status 'disconnected')")
    assert rows["599"]["attention"][0].startswith("not in Makini: no connection 599")
    assert rows["504"]["kind"] == "undeclared" and "nothing is stored for it anywhere" in rows["504"]["attention"][0]
    assert doc["runtime_classes"] == ["linked", "partners"]
    assert doc["summary"]["runtime"] == 5 and doc["summary"]["undeclared"] == 1
    # credits: a (tier 2: 2) + run-time 500..503 listed by Makini (4) + 504 undeclared, each 1 to 8
    assert doc["credits"]["runtime_connections"] == 4 and doc["credits"]["undeclared_connections"] == 1
    assert (doc["credits"]["in_use_min"], doc["credits"]["in_use_max"]) == (2 + 5, 2 + 5 * 8)
    assert check_recorded(fake_makini.requests) == []
    checked = [r for r in fake_makini.requests if r.path == "/api/integrations/current"]
    assert len(checked) == len(backends)  # the declared token only: run-time tokens are listed, never read
    assert_no_secret([OAUTH_CANARY, "runtime-token-"], json.dumps(doc), err, rig.logs)


def test_the_text_report_counts_runtime_connections_and_credits(new_stack, moto_sm, fake_makini):
    rig = _runtime_stack(new_stack, backends=("aws",))
    stores = Stores(rig, moto_sm)
    stores.put_oauth()
    fake_makini.add_connection("100")
    stores.put_token("a", json.dumps({"token": fake_makini.mint_connection_token("100")}))
    for cid in ("500", "501"):
        fake_makini.add_connection(cid)
        stores.put_runtime("linked", cid)
    stores.put_runtime("linked", "502")
    code, out, _ = rig.run("--no-progress")
    assert code == 3
    assert "the stack declares 1; 3 run-time connection(s) stored (3 name(s) listed); 1 stored token(s) checked." in out
    assert "(run-time)  502" in out and "linked: aws (names)" in out
    assert "Credits: 4 to 18 in use at Makini (the stack declares 2; 2 run-time connection(s) of unknown tier)" in out


def test_a_class_that_cannot_be_listed_is_could_not_check(new_stack, moto_sm, openbao, fake_makini):
    rig = _runtime_stack(new_stack, backends=("aws", "vault"))
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth()
    fake_makini.add_connection("100")
    fake_makini.add_connection("500")
    stores.put_token("a", json.dumps({"token": fake_makini.mint_connection_token("100")}))
    stores.put_runtime("linked", "500", backends=["aws"])
    rig.readers["vault"] = stores.vault.reader()  # read, but no list: the class cannot be listed on Vault
    code, doc, _ = rig.run_json()
    assert code == 1
    assert any("run-time class linked: could not list the tokens" in u and "allow list" in u for u in doc["unchecked"])
    row = next(r for r in doc["connections"] if r["makini_id"] == "500")
    assert row["verdict"] == "ok"  # not called missing on Vault: Vault was not listed


# -- at scale ----------------------------------------------------------------------------------------------------

N = 3000


def test_three_thousand_runtime_connections_in_one_run(new_stack, fake_makini):
    fake_makini.per_page = 100
    rig = _runtime_stack(new_stack, backends=BACKENDS, classes=("linked", "partners"), pool=30_000, connections=[])
    readers = {b: MemoryReader(b) for b in BACKENDS}
    rig.readers.update(readers)
    for b, reader in readers.items():
        reader.put(rig.location_of_oauth(b), oauth_value())
    for i in range(N):
        cid = f"7{i:08d}"
        fake_makini.add_connection(cid)
        access_class = "linked" if i % 3 else "partners"
        for b, reader in readers.items():
            if b == "vault" and i % 1000 == 1:
                continue  # a few missing on Vault
            place = rig.place(access_class, b)
            reader.values[f"{place.container}/{place.name_of(cid)}"] = "{}"
    fake_makini.clear_requests()
    started = time.monotonic()
    code, out, err = rig.run("--no-progress", "--limit", "20")
    elapsed = time.monotonic() - started
    assert code == 3, out
    assert f"{N} run-time connection(s) stored ({N * 3 - 3} name(s) listed)" in out
    assert f"{N - 3} connection(s) healthy, not listed" in out
    assert out.count("but not on vault") == 3
    assert all(r.lists == 2 for r in readers.values())  # one listing per class and backend
    assert all(r.reads == 1 for r in readers.values())  # the OAuth client alone: no token value is read
    assert check_recorded(fake_makini.requests) == []
    # Not a benchmark: a bound that catches an accidental quadratic path. Measured ~2 s on the 2-core runner.
    assert elapsed < 60, f"{N} run-time connections took {elapsed:.1f}s"
    print(f"\n{N} run-time connections on 3 backends: {elapsed:.2f}s")


def test_a_token_whose_deletion_is_scheduled_is_not_reported(new_stack, moto_sm, openbao, fake_makini):
    """The onboarding client's disconnect schedules the deletion: AWS stops listing the secret, Vault keeps the
    soft-deleted token's metadata (LIST shows it). The doctor asks Vault about the ids it would flag only."""
    rig = _runtime_stack(new_stack, backends=("aws", "vault"))
    stores = Stores(rig, moto_sm, openbao)
    stores.put_oauth()
    fake_makini.add_connection("100")
    stores.put_token("a", json.dumps({"token": fake_makini.mint_connection_token("100")}))
    fake_makini.add_connection("500")
    stores.put_runtime("linked", "500")  # healthy
    stores.put_runtime("linked", "501")  # disconnected, deletion scheduled on both backends
    stores.put_runtime("linked", "502")  # disconnected, its deletion never scheduled on Vault
    for gone in ("501", "502"):
        moto_sm.delete_secret(SecretId=rig.place("linked", "aws").name_of(gone), RecoveryWindowInDays=7)
    vault_name = rig.place("linked", "vault").name_of("501")
    stores.vault.root.secrets.kv.v2.delete_latest_version_of_secret(path=vault_name, mount_point=stores.vault.mount)
    asked: list[list[str]] = []
    reader = rig.readers["vault"]
    live = reader.live_names
    reader.live_names = lambda place, names: asked.append(list(names)) or live(place, names)  # type: ignore[method-assign]
    code, doc, _ = rig.run_json()
    rows = {r["makini_id"]: r for r in doc["connections"] if not r["declared"]}
    assert set(rows) == {"500", "502"}, rows  # 501 is gone everywhere: nothing to do
    assert rows["502"]["attention"][0].startswith("not in Makini: no connection 502")
    assert rows["502"]["runtime"] == {"linked": ["vault"]}
    assert rows["500"]["verdict"] == "ok" and code == 3
    place = rig.place("linked", "vault")
    assert asked == [[place.name_of("501"), place.name_of("502")]]  # never the healthy 500
