"""stacks.locations: every catalog secret's location on every backend is where the program puts it.

The expected names are read from the resources the real program registers under mocks (the offline
plan's harness), not recomputed from stacks.naming, so the commands that read secrets after deployment
(infra.doctor, infra.rotate) cannot drift from what `pulumi up` creates.
"""

from __future__ import annotations

import pytest

from infra.offline import PROJECT
from stacks.catalog import SecretKind, build_catalog
from stacks.locations import SecretLocation, locate
from tests.support import VAULT_ROTATOR, azure_section, base_config, load, run


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
