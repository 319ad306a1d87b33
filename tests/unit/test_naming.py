"""Key Vault and Vault names for the catalog: deterministic, valid, and injective or refused by name."""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stacks import naming
from stacks.catalog import OAUTH_CLIENT_PATH, WEBHOOK_SECRET_PATH, connection_token_path
from stacks.config import ConfigError
from tests.support import VAULT_ROTATOR, azure_section, base_config, load

# Independent restatements of the rules (Azure docs / base.py), not the module's own regexes.
KV_SECRET = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
CONNECTION_KEY = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"

keys = st.from_regex(CONNECTION_KEY, fullmatch=True)
# Keys that stress the sanitiser: mostly punctuation and case variants of the same letters.
tricky = st.from_regex(r"[aA0][aA0._-]{0,6}", fullmatch=True)


def kv_vault_name_ok(name: str) -> bool:
    return (
        3 <= len(name) <= 24
        and name[0].isascii()
        and name[0].isalpha()
        and name[-1].isascii()
        and name[-1].isalnum()
        and all(c.isascii() and (c.isalnum() or c == "-") for c in name)
        and "--" not in name
    )


def azure_config(keys_: list[str]) -> dict:
    cfg = base_config("dev")
    cfg["makini:backends"] = ["azure"]
    cfg["makini:azure"] = azure_section()
    cfg["makini:consumers"] = {}
    cfg["makini:connections"] = [{"key": k, "system": "MaintainX", "tier": 1, "deployment": "cloud"} for k in keys_]
    cfg["makini:credits"] = {"pool": len(keys_)}
    return cfg


def test_common_keys_are_readable():
    assert naming.key_vault_secret_name(connection_token_path("acme-sap")) == "connections-acme-sap-token"
    assert naming.key_vault_secret_name(OAUTH_CLIENT_PATH) == "oauth-client"
    assert naming.key_vault_secret_name(WEBHOOK_SECRET_PATH) == "webhook-secret"


def test_forbidden_characters_and_uppercase_get_a_sanitised_form_and_a_stable_hash():
    expected_hash = hashlib.sha256(b"Acme_SAP.prod").hexdigest()[:10]
    name = naming.key_vault_secret_name(connection_token_path("Acme_SAP.prod"))
    assert name == f"connections-acme-sap-prod--{expected_hash}-token"
    # Case variants that Key Vault would fold together get different names.
    assert (
        naming.key_vault_secret_name(connection_token_path("acme"))
        != naming.key_vault_secret_name(connection_token_path("Acme")).lower()
    )
    # A readable key that merely doubles a dash is not readable (readable names never hold '--').
    assert "--" in naming.key_vault_secret_name(connection_token_path("a--b"))


@settings(max_examples=150, deadline=None)
@given(keys)
def test_any_connection_key_gives_a_valid_key_vault_name_and_vault_path(key):
    path = connection_token_path(key)
    name = naming.key_vault_secret_name(path)
    assert KV_SECRET.match(name)
    assert name == naming.key_vault_secret_name(path)  # deterministic
    assert name == name.lower()  # case-insensitive store: one spelling only
    assert naming.valid_vault_path(path)
    assert naming.vault_data_path("dev", path) == f"makini-dev/data/connections/{key}/token"
    assert naming.vault_metadata_path("dev", path) == f"makini-dev/metadata/connections/{key}/token"


@settings(max_examples=120, deadline=None)
@given(st.sets(st.one_of(keys, tricky), min_size=1, max_size=12))
def test_mapping_is_injective_ignoring_case_over_any_set_of_distinct_keys(key_set):
    paths = [OAUTH_CLIENT_PATH, WEBHOOK_SECRET_PATH, *(connection_token_path(k) for k in sorted(key_set))]
    names = [naming.key_vault_secret_name(p).lower() for p in paths]
    if len(set(names)) == len(names):
        assert naming.key_vault_name_collisions(paths) == []
    else:  # only a hash collision could get here; then the rule must report it
        assert naming.key_vault_name_collisions(paths)


@settings(max_examples=40, deadline=None)
@given(st.sets(tricky, min_size=1, max_size=6))
def test_config_accepts_exactly_the_key_sets_that_map_injectively(key_set):
    ordered = sorted(key_set)
    names = [naming.key_vault_secret_name(connection_token_path(k)).lower() for k in ordered]
    if len(set(names)) == len(names):
        cfg = load(azure_config(ordered))
        assert [c.key for c in cfg.connections] == ordered
    else:  # pragma: no cover - needs a SHA-256 prefix collision
        with pytest.raises(ConfigError):
            load(azure_config(ordered))


def test_a_remaining_collision_is_refused_naming_both_keys(monkeypatch):
    # Force the hash to collide: two keys with the same sanitised form now map to one name.
    monkeypatch.setattr(naming, "stable_hash", lambda text, length=naming.HASH_LENGTH: "0" * length)
    with pytest.raises(ConfigError) as info:
        load(azure_config(["Acme.SAP", "acme_sap", "globex"]))
    [problem] = [p for p in info.value.problems if "same Key Vault secret name" in p.message]
    assert problem.path == "makini:connections[1].key"
    assert "'Acme.SAP'" in problem.message and "'acme_sap'" in problem.message
    assert "makini:connections[0].key" in problem.message
    assert "connections-acme-sap--0000000000-token" in problem.message
    assert problem.fix


def test_collisions_only_matter_when_azure_is_a_backend(monkeypatch):
    monkeypatch.setattr(naming, "stable_hash", lambda text, length=naming.HASH_LENGTH: "0" * length)
    cfg = azure_config(["Acme.SAP", "acme_sap"])
    cfg["makini:backends"] = ["vault"]
    cfg["makini:vault"] = {"rotator": VAULT_ROTATOR}
    del cfg["makini:azure"]
    assert len(load(cfg).connections) == 2


@settings(max_examples=80, deadline=None)
@given(st.from_regex(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,11}", fullmatch=True), st.text(min_size=1, max_size=30))
def test_derived_vault_name_is_valid_stable_and_environment_specific(env, project):
    name = naming.key_vault_name(env, project, "acme")
    assert kv_vault_name_ok(name), name
    assert name.startswith(f"kv-mk-{env}-")
    assert name == naming.key_vault_name(env, project, "acme")
    other = "qa" if env != "qa" else "uat"
    assert naming.key_vault_name(other, project, "acme") != name


def test_vault_name_depends_on_stack_identity_not_subscription_and_override_wins():
    a = naming.key_vault_name("dev", "makini-infra", "acme")
    assert a == "kv-mk-dev-" + hashlib.sha256(b"acme/makini-infra/dev").hexdigest()[:5]
    assert naming.key_vault_name("dev", "makini-infra", "globex") != a
    assert naming.key_vault_name("dev", "makini-infra", None) == naming.key_vault_name(
        "dev", "makini-infra", "organization"
    )
    assert naming.key_vault_name("dev", "makini-infra", "acme", override="kv-acme-dev") == "kv-acme-dev"


def test_vault_mount_and_paths():
    assert naming.vault_mount("prod") == "makini-prod"
    assert naming.vault_data_path("prod", OAUTH_CLIENT_PATH) == "makini-prod/data/oauth/client"
    assert not naming.valid_vault_path("connections//token")
    assert not naming.valid_vault_path("connections/../token")
    assert not naming.valid_vault_path("connections/a b/token")
