"""Run-time tokens (issue 19) rotated by the Key Vault timer: found by listing each run-time class's own vault
(names and attributes only), bound by their name, rotated when due and only then.

Two vaults of the Key Vault double: the environment's (the OAuth client) and the run-time class ``linked``'s,
where the onboarding client stores ``connections-linked-<id>-token`` with its tags. The bindings are what the
program ships for such a stack (``runtimeClasses``), read by the runtime loader.
"""

from __future__ import annotations

import json
import logging
import time

import pytest
from rotation import azure_function as af
from rotation.bindings import Bindings

from functions.onboarding import places
from stacks.rotation import bindings_document
from tests.fakes.key_vault import FakeSecretClient

from .conftest import log_events
from .test_azure_function import PERIOD, Clock

HOME = "https://kv-mk-prod-123456.vault.azure.net"
CLASS_VAULT = "kvc-prod-linked-1a2b3c"
CLASS_URL = f"https://{CLASS_VAULT}.vault.azure.net"
DECLARED_KEY = "kv-mk-prod-123456/connections-acme-token"


@pytest.fixture
def wall():
    return Clock()  # T0 as in test_azure_function.py


@pytest.fixture
def vaults(makini, wall):
    home = FakeSecretClient(HOME, clock=wall)
    home.set_secret("oauth-client", json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret}))
    makini.add_connection("0900001")
    home.set_secret(
        "connections-acme-token",
        json.dumps({"token": makini.mint_connection_token("0900001"), "connection_id": "0900001"}),
    )
    return {HOME: home, CLASS_URL: FakeSecretClient(CLASS_URL, clock=wall)}


def package() -> Bindings:
    text = bindings_document(
        "prod", "azure", PERIOD, {DECLARED_KEY: "0900001"}, {"linked": f"{CLASS_VAULT}/connections-linked-"}
    )
    return Bindings.parse(text, source="rotation/bindings.json", backend="azure")


def onboard(vaults, makini, connection_id: str, *, claims: str | None = None, name: str | None = None) -> str:
    """What the onboarding client stores in the class vault (places.py's name and tags)."""
    makini.add_connection(connection_id)
    token = makini.mint_connection_token(connection_id)
    vaults[CLASS_URL].set_secret(
        name or places.key_vault_secret_name("linked", connection_id),
        json.dumps({"connection_id": claims or connection_id, "token": token}),
        tags=places.tags("prod", "linked", claims or connection_id),
        content_type="application/json",
    )
    return token


def rotator(vaults, client_factory, wall, monotonic=None) -> af.KeyVaultRotator:
    return af.KeyVaultRotator(
        package(),
        env={"OAUTH_CLIENT_SECRET_NAME": "oauth-client", "KEY_VAULT_URL": HOME},
        secret_client_factory=lambda url: vaults[url] if url in vaults else pytest.fail(f"unexpected vault {url}"),
        makini_client_factory=client_factory,
        now=wall,
        clock=monotonic or (lambda: 0.0),
    )


def key(connection_id: str) -> str:
    return f"{CLASS_VAULT}/connections-linked-{connection_id}-token"


def test_a_run_time_token_is_found_in_its_class_vault_and_rotated_each_period(
    vaults, makini, client_factory, wall, caplog
):
    caplog.set_level(logging.INFO, logger="rotation")
    old = onboard(vaults, makini, "0900002")
    wall.advance(days=1)
    first = rotator(vaults, client_factory, wall).run()
    assert first.failed == {} and first.rotated == [] and sorted(first.not_due) == [DECLARED_KEY, key("0900002")]
    wall.advance(days=PERIOD)
    report = rotator(vaults, client_factory, wall).run()
    assert report.failed == {} and sorted(report.rotated) == [DECLARED_KEY, key("0900002")]
    current = vaults[CLASS_URL].versions["connections-linked-0900002-token"][-1]
    value = json.loads(current.value)
    assert value["connection_id"] == "0900002" and value["token"] != old and makini.token_is_valid(value["token"])
    assert makini.token_is_valid(old)  # the previous version keeps working
    assert current.properties.tags[places.TAG_CONNECTION_ID] == "0900002"
    rotated = {e["secret"]: e for e in log_events(caplog, "rotated")}
    assert rotated[key("0900002")]["bound_by"] == "runtime-name"
    assert rotated[DECLARED_KEY]["bound_by"] == "deployment"
    assert old not in caplog.text and value["token"] not in caplog.text


def test_a_run_time_token_claiming_another_connection_is_rotated_for_its_name(
    vaults, makini, client_factory, wall, caplog
):
    caplog.set_level(logging.INFO, logger="rotation")
    makini.add_connection("0900666")
    onboard(vaults, makini, "0900003", claims="0900666")
    wall.advance(days=PERIOD, hours=1)
    report = rotator(vaults, client_factory, wall).run()
    assert key("0900003") in report.rotated and report.failed == {}
    current = vaults[CLASS_URL].versions["connections-linked-0900003-token"][-1]
    assert json.loads(current.value)["connection_id"] == "0900003"
    assert current.properties.tags[places.TAG_CONNECTION_ID] == "0900003"  # the claim is not carried forward
    assert makini.tokens_issued("0900666") == []
    mismatches = [m for m in log_events(caplog, "binding_mismatch") if m["secret"] == key("0900003")]
    assert {m["where"] for m in mismatches} == {f"tag {places.TAG_CONNECTION_ID}", "current value's connection_id"}
    assert all(m["claimed"] == "0900666" and m["connection_id"] == "0900003" for m in mismatches)
    assert all(m["bound_by"] == "runtime-name" for m in mismatches)


@pytest.mark.parametrize(
    "name",
    [
        "connections-linked-0900004--token",  # a malformed id
        "connections-standard-0900004-token",  # another class's name (not its vault)
        "Connections-linked-0900004-token",
        "something-else",
    ],
)
def test_a_name_in_the_class_vault_that_is_not_a_run_time_tokens_is_never_rotated(
    vaults, makini, client_factory, wall, caplog, name
):
    caplog.set_level(logging.INFO, logger="rotation")
    onboard(vaults, makini, "0900004", name=name)
    wall.advance(days=PERIOD, hours=1)
    report = rotator(vaults, client_factory, wall).run()
    assert report.rotated == [DECLARED_KEY] and report.failed == {}
    assert report.skipped == [f"{CLASS_VAULT}/{name}"]
    assert [e["reason"] for e in log_events(caplog, "not_bound")] == ["not a run-time token's name of class linked"]
    assert len(makini.tokens_issued("0900004")) == 1


def test_a_class_vault_that_cannot_be_listed_fails_the_run_after_the_others(vaults, makini, client_factory, wall):
    vaults[CLASS_URL].list_denied = True
    wall.advance(days=PERIOD, hours=1)
    with pytest.raises(af.RotationRunFailed, match=f"{CLASS_VAULT}.*readMetadata"):
        af.run_scheduled(
            bindings=package(),
            env={"OAUTH_CLIENT_SECRET_NAME": "oauth-client", "KEY_VAULT_URL": HOME},
            secret_client_factory=lambda url: vaults[url],
            makini_client_factory=client_factory,
            now=wall,
        )
    assert len(vaults[HOME].versions["connections-acme-token"]) == 2  # the declared token was still rotated


def test_a_forced_rotation_of_a_run_time_token_by_name(vaults, makini, client_factory, wall):
    onboard(vaults, makini, "0900005")
    report = rotator(vaults, client_factory, wall).run(only=key("0900005"))
    assert report.rotated == [key("0900005")]
    with_bad_id = rotator(vaults, client_factory, wall).run(only=f"{CLASS_VAULT}/connections-linked-x--y-token")
    assert list(with_bad_id.failed) == [f"{CLASS_VAULT}/connections-linked-x--y-token"]


def test_2000_run_time_tokens_only_the_due_are_reissued_within_the_budget(vaults, makini, client_factory, wall):
    """The hourly timer over a class vault of 2,000 run-time tokens: 20 due (written a period ago), 5 asked for
    by infra.rotate, the rest not due. Only those 25 get a token; the not-due ones cost no call per secret
    (their current version's attributes come with the listing), so the run is the listing's pages plus the
    due secrets' work."""
    kv = vaults[CLASS_URL]
    ids = [f"0901{i:06d}" for i in range(2000)]
    for cid in ids[:20]:
        onboard(vaults, makini, cid)
    wall.advance(days=PERIOD, hours=1)
    for cid in ids[20:]:
        onboard(vaults, makini, cid)
    wall.advance(minutes=10)
    for cid in ids[20:25]:
        name = places.key_vault_secret_name("linked", cid)
        version = kv.versions[name][-1].properties
        kv.update_secret_properties(
            name, version.version, tags={**version.tags, af.ROTATE_REQUESTED_TAG: af._iso(wall.now)}
        )
    wall.advance(minutes=30)
    issued_before = sum(len(makini.tokens_issued(c)) for c in ids)
    kv.list_pages = kv.version_lists = kv.reads = 0
    kv.writes.clear()
    report = rotator(vaults, client_factory, wall, monotonic=time.monotonic).run()
    assert report.failed == {} and report.deferred == []
    assert sorted(report.rotated) == sorted([key(c) for c in ids[:25]] + [DECLARED_KEY])
    assert len(report.not_due) == 1975
    assert sum(len(makini.tokens_issued(c)) for c in ids) - issued_before == 25  # nothing re-issued that was not due
    assert len(kv.writes) == 25
    assert kv.list_pages == 80  # 2,000 names, 25 a page
    assert kv.version_lists == 25 and kv.reads == 25  # only the due secrets are looked at one by one


def test_a_run_time_name_taking_a_declared_connections_id_fails_alone(vaults, makini, client_factory, wall):
    onboard(vaults, makini, "0900001")  # the declared connection of the package (connections-acme-token)
    onboard(vaults, makini, "0900006")
    wall.advance(days=PERIOD, hours=1)
    issued = len(makini.tokens_issued("0900001"))
    report = rotator(vaults, client_factory, wall).run()
    assert "is a declared connection" in report.failed[key("0900001")]
    assert sorted(report.rotated) == [DECLARED_KEY, key("0900006")]
    assert len(makini.tokens_issued("0900001")) == issued + 1  # for the declared secret only
    assert len(vaults[CLASS_URL].versions["connections-linked-0900001-token"]) == 1


def test_a_disconnected_customers_deleted_token_is_not_brought_back(vaults, makini, client_factory, wall):
    """The onboarding client's disconnect soft-deletes the secret: Key Vault lists it no more (its deleted
    secrets are another listing), so the timer never writes it again."""
    onboard(vaults, makini, "0900007")
    vaults[CLASS_URL].begin_delete_secret("connections-linked-0900007-token")
    wall.advance(days=PERIOD, hours=1)
    report = rotator(vaults, client_factory, wall).run()
    assert report.rotated == [DECLARED_KEY] and report.failed == {}
    assert len(makini.tokens_issued("0900007")) == 1
