"""The Key Vault SecretNearExpiry rotation function with a fake SecretClient and the fake Makini."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import azure.functions as func
import pytest
from rotation import azure_function as af
from rotation.makini_client import MakiniAuthError, MakiniUnavailable

from tests.fakes.key_vault import FakeSecretClient

from .conftest import CONNECTION_ID

VAULT = "https://kv-makini-prod.vault.azure.net"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def kv(makini):
    client = FakeSecretClient(VAULT)
    client.set_secret(
        "makini-oauth-client", json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret})
    )
    old = makini.mint_connection_token(CONNECTION_ID)
    client.set_secret(
        "conn-acme-netsuite",
        json.dumps({"token": old, "connection_id": CONNECTION_ID, "issued_at": "2025-01-01T00:00:00Z"}),
        tags={af.CONNECTION_TAG: CONNECTION_ID, "environment": "prod"},
        expires_on=NOW + timedelta(days=30),
    )
    client.writes.clear()
    client.old_token = old
    return client


def settings(**extra):
    return {
        "OAUTH_CLIENT_SECRET_NAME": "makini-oauth-client",
        "ROTATION_PERIOD_DAYS": "7",
        "KEY_VAULT_URL": VAULT,
        **extra,
    }


def event(kv, name="conn-acme-netsuite", event_type=af.EVENT_TYPE, version=None):
    current = kv.get_secret(name)
    data = {
        "Id": f"{VAULT}/secrets/{name}/{current.properties.version}",
        "VaultName": "kv-makini-prod",
        "ObjectType": "Secret",
        "ObjectName": name,
        "Version": version or current.properties.version,
        "NBF": None,
        "EXP": 1740830400,
    }
    return func.EventGridEvent(
        id=str(uuid.uuid4()),
        data=data,
        topic="/subscriptions/x/vaults/kv-makini-prod",
        subject=name,
        event_type=event_type,
        event_time=NOW,
        data_version="1",
    )


def run(kv, client_factory, ev, env=None):
    return af.handle_event(
        ev,
        secret_client_factory=lambda url: kv if url == kv.vault_url else None,
        makini_client_factory=client_factory,
        env=env or settings(),
        now=lambda: NOW,
    )


def test_rotates_with_new_version_expiry_and_tags(kv, makini, client_factory):
    outcome = run(kv, client_factory, event(kv))
    assert outcome.rotated
    new = kv.get_secret("conn-acme-netsuite")
    value = json.loads(new.value)
    assert set(value) == {"token", "connection_id", "issued_at"}
    assert value["connection_id"] == CONNECTION_ID and value["token"] != kv.old_token
    assert makini.token_is_valid(value["token"]) and makini.token_is_valid(kv.old_token)
    assert new.properties.expires_on == NOW + timedelta(days=7 + 30)
    assert new.properties.tags == {
        af.CONNECTION_TAG: CONNECTION_ID,
        "environment": "prod",
        af.LAST_ROTATED_TAG: "2025-03-01T12:00:00Z",
    }
    assert new.properties.content_type == "application/json"
    assert [(r.method, r.path) for r in makini.requests] == [
        ("POST", "/link/token"),
        ("POST", f"/api/system/connections/{CONNECTION_ID}/token"),
        ("GET", "/api/integrations/current"),
    ]


def test_lead_zero_gives_exp_equal_to_period(kv, client_factory):
    run(kv, client_factory, event(kv), env=settings(ROTATION_PERIOD_DAYS="45", NEAR_EXPIRY_LEAD_DAYS="0"))
    assert kv.get_secret("conn-acme-netsuite").properties.expires_on == NOW + timedelta(days=45)


def test_duplicate_delivery_is_ignored(kv, client_factory):
    ev = event(kv)
    assert run(kv, client_factory, ev).rotated
    second = run(kv, client_factory, ev)  # Event Grid delivers at least once
    assert not second.rotated and "newer version" in second.reason
    assert len(kv.writes) == 1


@pytest.mark.parametrize("etype", ["Microsoft.KeyVault.SecretNewVersionCreated", "Microsoft.KeyVault.SecretExpired"])
def test_other_event_types_are_ignored(kv, client_factory, etype):
    assert not run(kv, client_factory, event(kv, event_type=etype)).rotated
    assert kv.writes == []


def test_secret_without_connection_tag_is_skipped(kv, client_factory, makini):
    outcome = run(kv, client_factory, event(kv, name="makini-oauth-client"))
    assert not outcome.rotated and af.CONNECTION_TAG in outcome.reason
    assert kv.writes == [] and makini.requests == []


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (dict(status=401, path_prefix="/link/token"), MakiniAuthError),
        (dict(status=503, count=50), MakiniUnavailable),
        (dict(status=401, path_prefix="/api/integrations/current"), MakiniAuthError),
    ],
)
def test_makini_failure_writes_nothing(kv, client_factory, makini, fault, error):
    makini.fail_next(**fault)
    with pytest.raises(error):
        run(kv, client_factory, event(kv))
    assert kv.writes == []
    assert json.loads(kv.get_secret("conn-acme-netsuite").value)["token"] == kv.old_token


def test_sync_status_fail_writes_nothing(kv, client_factory, makini):
    makini.set_sync_status(CONNECTION_ID, "fail")
    with pytest.raises(af.RotationError, match="must reconnect"):
        run(kv, client_factory, event(kv))
    assert kv.writes == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ROTATION_PERIOD_DAYS": ""}, "ROTATION_PERIOD_DAYS is not set"),
        ({"ROTATION_PERIOD_DAYS": "weekly"}, "not a whole number"),
        ({"ROTATION_PERIOD_DAYS": "0"}, "out of range"),
        ({"OAUTH_CLIENT_SECRET_NAME": ""}, "OAUTH_CLIENT_SECRET_NAME is not set"),
        ({"KEY_VAULT_URL": "https://kv-other.vault.azure.net"}, "rotates only"),
    ],
)
def test_bad_settings_are_clear_errors(kv, client_factory, env, message):
    with pytest.raises(af.RotationError, match=message):
        run(kv, client_factory, event(kv), env=settings(**env))
    assert kv.writes == []


def test_function_app_registers_the_event_grid_trigger():
    functions = af.app.get_functions()
    assert [f.get_function_name() for f in functions] == ["makini_rotate_connection_token"]
    bindings = functions[0].get_bindings_dict()["bindings"]
    assert [(b["type"], b["name"]) for b in bindings] == [("eventGridTrigger", "event")]


# -- token lifetime: the new version must outlive ROTATION_PERIOD_DAYS + NEAR_EXPIRY_LEAD_DAYS + 1 day


@pytest.mark.parametrize("expires_in", [300, 30 * 86400, (7 + 30 + 1) * 86400 - 1])
def test_short_lived_token_is_refused_and_nothing_written(kv, makini, client_factory, expires_in):
    from rotation.token_lifetime import TokenLifetimeTooShort

    makini.connection_token_lifetime = expires_in
    before = kv.get_secret("conn-acme-netsuite")
    with pytest.raises(TokenLifetimeTooShort) as err:
        run(kv, client_factory, event(kv))
    message = str(err.value)
    assert "conn-acme-netsuite" in message and f"expires in {expires_in} s" in message
    assert "ROTATION_PERIOD_DAYS + NEAR_EXPIRY_LEAD_DAYS" in message and "at least 38 days" in message
    assert makini.tokens_issued(CONNECTION_ID)[-1] not in message
    assert kv.writes == []
    assert kv.get_secret("conn-acme-netsuite").properties.version == before.properties.version
    assert json.loads(kv.get_secret("conn-acme-netsuite").value)["token"] == kv.old_token


@pytest.mark.parametrize("expires_in,expected_exp_days", [(None, 37), (38 * 86400, 37), (400 * 86400, 37)])
def test_long_or_absent_lifetime_rotates(kv, makini, client_factory, expires_in, expected_exp_days):
    makini.connection_token_lifetime = expires_in
    assert run(kv, client_factory, event(kv)).rotated
    new = kv.get_secret("conn-acme-netsuite")
    assert json.loads(new.value)["token"] != kv.old_token
    assert new.properties.expires_on == NOW + timedelta(days=expected_exp_days)
    assert new.properties.expires_on <= NOW + timedelta(seconds=expires_in or 10**9)


CLASS_VAULT = "https://kvc-prod-standard-1a22.vault.azure.net"


def test_a_class_vault_event_rotates_there_with_the_oauth_client_from_the_environment_vault(kv, makini, client_factory):
    """An access class's vault holds only its tokens: the function takes the token from the event's vault
    (one of TOKEN_VAULT_URLS) and the OAuth client from the environment's vault (KEY_VAULT_URL)."""
    klass = FakeSecretClient(CLASS_VAULT)
    klass.versions["connections-standard-acme-netsuite-token"] = kv.versions.pop("conn-acme-netsuite")
    ev = event(klass, name="connections-standard-acme-netsuite-token")
    ev_data = ev.get_json()
    ev_data["Id"] = ev_data["Id"].replace(VAULT, CLASS_VAULT)
    ev = func.EventGridEvent(
        id=ev.id,
        data=ev_data,
        topic=ev.topic,
        subject=ev.subject,
        event_type=ev.event_type,
        event_time=NOW,
        data_version="1",
    )
    clients = {VAULT: kv, CLASS_VAULT: klass}
    outcome = af.handle_event(
        ev,
        secret_client_factory=lambda url: clients[url],
        makini_client_factory=client_factory,
        env=settings(TOKEN_VAULT_URLS=f"{VAULT},{CLASS_VAULT}"),
        now=lambda: NOW,
    )
    assert outcome.rotated and [w["name"] for w in klass.writes] == ["connections-standard-acme-netsuite-token"]
    assert kv.writes == []  # nothing written to the environment's vault
    # a vault that is not listed is refused before anything is read
    with pytest.raises(af.RotationError, match="rotates only"):
        af.handle_event(
            ev,
            secret_client_factory=lambda url: clients[url],
            makini_client_factory=client_factory,
            env=settings(TOKEN_VAULT_URLS=VAULT),
            now=lambda: NOW,
        )
