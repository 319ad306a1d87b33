"""stacks.locations: every catalog secret's location on every backend is where the program puts it.

The expected names are read from the resources the real program registers under mocks (the offline
plan's harness), not recomputed from stacks.naming, so the commands that read secrets after deployment
(infra.doctor, infra.rotate) cannot drift from what `pulumi up` creates.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.onboarding import places
from infra.offline import PROJECT
from stacks.catalog import SecretKind, build_catalog
from stacks.locations import SecretLocation, locate, locate_runtime_class
from stacks.naming import RUNTIME_CONNECTION_ID, class_key_vault_name
from tests.support import VAULT_ROTATOR, azure_section, base_config, load, run, runtime_config


def all_backends_config() -> dict:
    cfg = base_config("dev")
    cfg["makini:backends"] = ["aws", "azure", "vault"]
    cfg["makini:azure"] = azure_section()
    cfg["makini:vault"] = {"rotator": VAULT_ROTATOR}
    cfg["makini:consumers"] = {}
    # A key that Key Vault cannot hold as is (hashed name) next to a readable one.
    cfg["makini:connections"][0]["key"] = "Acme_SAP.eu"
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)  # nobody reads the tokens: the test is about where they are
    # A token filed under an access class: its own path prefix, and on Azure the class's own vault.
    cfg["makini:accessClasses"] = {"standard": {}}
    cfg["makini:connections"].append(
        {"key": "initech-fiix", "system": "Fiix", "tier": 1, "deployment": "cloud", "class": "standard"}
    )
    return cfg


@pytest.fixture(scope="module")
def program():
    config = all_backends_config()
    return load(config), run(config)


def test_every_location_is_a_resource_the_program_creates(program):
    cfg, r = program
    aws_names = {s.plain_inputs["name"] for s in r.of_type("aws:secretsmanager/secret:Secret")}
    kv = {
        (s.plain_inputs["vaultName"], s.plain_inputs["secretName"]) for s in r.of_type("azure-native:keyvault:Secret")
    }
    vault = {s.plain_inputs["path"] for s in r.of_type("vault:generic/endpoint:Endpoint")}
    catalog = build_catalog(cfg)
    assert len(catalog.secrets) == 5
    for secret in catalog.secrets:
        aws = locate(cfg, secret, "aws", project=PROJECT)
        azure = locate(cfg, secret, "azure", project=PROJECT)
        hv = locate(cfg, secret, "vault", project=PROJECT)
        assert aws.name in aws_names
        assert (azure.container, azure.name) in kv
        assert f"{hv.container}/metadata/{hv.name}" in vault
        assert aws.path == azure.path == hv.path == secret.path
    tokens = catalog.of_kind(SecretKind.CONNECTION_TOKEN)
    assert {locate(cfg, s, "azure", project=PROJECT).name for s in tokens} >= {"connections-globex-mx-token"}
    assert any("--" in locate(cfg, s, "azure", project=PROJECT).name for s in tokens)  # the hashed family
    (classed,) = [s for s in tokens if s.access_class == "standard"]
    assert locate(cfg, classed, "aws", project=PROJECT).name == "makini/dev/connections/standard/initech-fiix/token"
    assert locate(cfg, classed, "azure", project=PROJECT).container == r.outputs["azureClassVaultNames"]["standard"]
    assert (
        locate(cfg, classed, "azure", project=PROJECT).container
        != locate(cfg, tokens[0], "azure", project=PROJECT).container
    )


def test_descriptions_name_the_store_and_never_a_value():
    cfg = load(all_backends_config())
    secret = build_catalog(cfg).of_kind(SecretKind.OAUTH_CLIENT)[0]
    assert str(locate(cfg, secret, "aws", project=PROJECT)) == "AWS Secrets Manager secret makini/dev/oauth/client"
    kv = locate(cfg, secret, "azure", project=PROJECT)
    assert str(kv) == f"Key Vault {kv.container} secret oauth-client"
    assert kv.vault_url == f"https://{kv.container}.vault.azure.net"
    assert str(locate(cfg, secret, "vault", project=PROJECT)) == "Vault KV makini-dev/oauth/client"


def test_the_vault_name_follows_the_override_and_the_organization():
    config = all_backends_config()
    cfg = load(config)
    secret = build_catalog(cfg).secrets[0]
    default = locate(cfg, secret, "azure", project=PROJECT).container
    assert locate(cfg, secret, "azure", project=PROJECT, organization="acme").container != default
    config["makini:azure"]["vaultName"] = "kv-acme-dev"
    cfg = load(config)
    assert locate(cfg, secret, "azure", project=PROJECT, organization="acme").container == "kv-acme-dev"


def test_a_backend_the_stack_does_not_use_is_refused():
    cfg = load(base_config("dev"))
    with pytest.raises(ValueError, match="does not use the vault backend"):
        locate(cfg, build_catalog(cfg).secrets[0], "vault", project=PROJECT)
    with pytest.raises(ValueError, match="not in a Key Vault"):
        _ = SecretLocation("aws", "", "x", "x").vault_url


# -- run-time classes: where the doctor lists their tokens ---------------------------------------------------

_ids = st.from_regex(RUNTIME_CONNECTION_ID, fullmatch=True)
_classes = st.from_regex(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(_ids, _classes)
def test_a_runtime_class_place_names_what_the_onboarding_client_writes(connection_id, access_class):
    config = runtime_config("prod", backends=("aws", "azure", "vault"))
    config["makini:azure"] = azure_section()
    config["makini:vault"] = {"rotator": VAULT_ROTATOR}
    config["makini:accessClasses"] = {access_class: {"consumers": ["assets"], "runtime": True}}
    config["makini:connections"][1].pop("class")
    config["makini:connections"][1]["consumers"] = ["orders"]
    for i, (name, consumer) in enumerate(config["makini:consumers"].items()):
        consumer["azure"] = {"principalId": f"{i + 1:08x}-0000-4000-8000-{i + 1:012x}"}
        consumer["vault"] = {"auth": {"kubernetes": {"serviceAccountNames": [name], "namespaces": ["apps"]}}}
    cfg = load(config)
    aws = locate_runtime_class(cfg, access_class, "aws", project=PROJECT)
    azure = locate_runtime_class(cfg, access_class, "azure", project=PROJECT)
    vault = locate_runtime_class(cfg, access_class, "vault", project=PROJECT)
    assert aws.name_of(connection_id) == places.aws_secret_name("prod", access_class, connection_id)
    assert azure.name_of(connection_id) == places.key_vault_secret_name(access_class, connection_id)
    assert vault.name_of(connection_id) == places.catalog_path(access_class, connection_id)
    assert vault.container == "makini-prod" and aws.container == ""
    assert azure.container == class_key_vault_name("prod", access_class, PROJECT)  # the class's own vault
    for place in (aws, azure, vault):
        assert place.connection_of(place.name_of(connection_id)) == connection_id
        assert place.connection_of(place.name_of(connection_id) + "x") is None
        assert place.connection_of(place.prefix + "a/b" + place.suffix) is None


def test_a_runtime_class_place_is_refused_for_a_declared_class():
    cfg = load(runtime_config("dev"))
    assert locate_runtime_class(cfg, "linked", "aws", project=PROJECT).prefix == "makini/dev/connections/linked/"
    with pytest.raises(ValueError, match="no run-time class 'standard'"):
        locate_runtime_class(cfg, "standard", "aws", project=PROJECT)
