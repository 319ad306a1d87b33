"""The HashiCorp Vault KV v2 store under mocks: mount, engine config, metadata, values, protection, outputs."""

from __future__ import annotations

import json

import pytest

from infra.offline import is_secret_marker
from tests.support import VAULT_ROTATOR, base_config, run, tokens

MOUNT = "vault:index/mount:Mount"
CONFIG = "vault:kv/secretBackendV2:SecretBackendV2"
META = "vault:generic/endpoint:Endpoint"
VALUE = "vault:kv/secretV2:SecretV2"
CANARY = "CANARY-vault-0b5e-do-not-print"


def vault_config(env: str, vault: dict | None = None) -> dict:
    cfg = base_config(env)
    cfg["makini:backends"] = ["vault"]
    cfg["makini:vault"] = {"rotator": VAULT_ROTATOR, **(vault or {})}
    cfg["makini:consumers"] = {}  # consumer identities on Vault are the access issue's
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)
    return cfg


@pytest.fixture(scope="module")
def dev():
    cfg = vault_config("dev", {"maxVersions": 5, "casRequired": True, "deleteVersionAfter": "5040h"})
    cfg["makini:rotation"] = {"connectionTokenDays": 25}
    cfg["makini:oauthClientSecret"] = CANARY
    cfg["makini:webhookSecret"] = CANARY + "-webhook"
    return run(cfg, ["makini:oauthClientSecret", "makini:webhookSecret"])


@pytest.fixture(scope="module")
def prod():
    cfg = vault_config("prod")
    cfg["makini:connectionTokens"] = {"globex-mx": CANARY + "-token"}
    return run(cfg, ["makini:connectionTokens"])


def test_kv_v2_mount_per_environment_with_configured_engine_options(dev, prod):
    [mount] = dev.of_type(MOUNT)
    assert mount.plain_inputs["path"] == "makini-dev"
    assert mount.plain_inputs["type"] == "kv" and mount.plain_inputs["options"] == {"version": "2"}
    [config] = dev.of_type(CONFIG)
    assert config.plain_inputs == {
        "mount": "makini-dev",
        "maxVersions": 5,
        "casRequired": True,
        "deleteVersionAfter": 5040 * 3600,
    }
    [prod_config] = prod.of_type(CONFIG)
    assert prod_config.plain_inputs["maxVersions"] == 10 and prod_config.plain_inputs["casRequired"] is True
    assert prod_config.plain_inputs["deleteVersionAfter"] == 0


def test_every_catalog_entry_gets_custom_metadata(dev):
    metas = {m.plain_inputs["path"]: m for m in dev.of_type(META)}
    assert sorted(metas) == [
        "makini-dev/metadata/connections/acme-sap/token",
        "makini-dev/metadata/connections/globex-mx/token",
        "makini-dev/metadata/oauth/client",
        "makini-dev/metadata/webhook/secret",
    ]
    token = json.loads(metas["makini-dev/metadata/connections/acme-sap/token"].plain_inputs["dataJson"])
    assert token == {
        "custom_metadata": {
            "environment": "dev",
            "owner": "platform-team",
            "kind": "connection-token",
            "managed_by": "makini-infra",
            "connection": "acme-sap",
            "makini_connection_id": "0900001",
            "rotation_period_days": "25",
        }
    }
    oauth = json.loads(metas["makini-dev/metadata/oauth/client"].plain_inputs["dataJson"])["custom_metadata"]
    assert oauth["kind"] == "oauth-client" and "connection" not in oauth and "rotation_period_days" not in oauth
    for m in metas.values():
        # Never read back (rotation's last_rotated is not drift), never deleted (a metadata DELETE loses every version).
        assert m.plain_inputs["disableRead"] is True and m.plain_inputs["disableDelete"] is True


def test_a_token_from_config_is_written_in_the_rotators_format(prod):
    """Finding 10: the first value already has the rotators' keys (issued_at unknown: null)."""
    [value] = [v for v in prod.of_type(VALUE) if v.plain_inputs["name"] == "connections/globex-mx/token"]
    token = json.loads(value.plain_inputs["dataJson"])
    assert token == {"token": CANARY + "-token", "connection_id": token["connection_id"], "issued_at": None}
    assert token["connection_id"]


def test_values_only_when_config_supplies_them_secret_written_once_never_reverted(dev):
    values = {v.plain_inputs["name"]: v for v in dev.of_type(VALUE)}
    assert sorted(values) == ["oauth/client", "webhook/secret"]
    for v in values.values():
        assert v.plain_inputs["mount"] == "makini-dev"
        assert is_secret_marker(v.inputs["dataJson"])
        # Check-and-set 0 where KV v2 reads it (options.cas): only if the key has no version yet, so an
        # out-of-band value wins; never the top-level `cas` KV v2 ignores (tests/vault: on OpenBao).
        assert v.plain_inputs["options"] == {"cas": "0"} and "cas" not in v.plain_inputs
        assert v.plain_inputs["disableRead"] is True
        assert "dataJson" in v.ignore_changes and "options" in v.ignore_changes
    assert json.loads(values["webhook/secret"].plain_inputs["dataJson"]) == {"value": CANARY + "-webhook"}
    oauth = json.loads(values["oauth/client"].plain_inputs["dataJson"])
    assert oauth == {"client_id": "mk_dev_client", "client_secret": CANARY}


def test_prod_is_protected_and_retained(prod, dev):
    for typ in (MOUNT, META, VALUE):
        assert prod.of_type(typ)
        for r in prod.of_type(typ):
            assert r.protect and r.retain_on_delete, r.name
        for r in dev.of_type(typ):
            assert not r.protect and not r.retain_on_delete, r.name
    [config] = prod.of_type(CONFIG)
    assert config.protect


def test_children_are_named_after_and_parented_by_the_component(prod):
    [store] = prod.of_type("makini:vault:SecretStore")
    assert store.name == "makini-prod-vault"
    for typ in (MOUNT, CONFIG, META, VALUE):
        for r in prod.of_type(typ):
            assert r.parent == store.urn and r.name.startswith("makini-prod-vault-")


def test_outputs_name_paths_never_values(dev, prod):
    assert dev.outputs["vaultMount"] == "makini-dev"
    assert dev.outputs["vaultPaths"] == {
        "oauth/client": "makini-dev/data/oauth/client",
        "webhook/secret": "makini-dev/data/webhook/secret",
        "connections/acme-sap/token": "makini-dev/data/connections/acme-sap/token",
        "connections/globex-mx/token": "makini-dev/data/connections/globex-mx/token",
    }
    assert tokens(prod.outputs["vaultPaths"])["globex-mx"] == "makini-prod/data/connections/globex-mx/token"
    for r in (dev, prod):
        assert CANARY not in json.dumps(r.outputs)
