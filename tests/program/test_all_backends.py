"""All three backends in one stack: each materialises the whole catalog, values stay secret, and no dev
resource references a prod one (or the other way round)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from infra.offline import is_secret_marker, load_stack_file, run_program
from tests.support import VAULT_ROTATOR, azure_section, base_config, run

SECRET_KEYS = ["makini:oauthClientSecret", "makini:webhookSecret", "makini:connectionTokens"]
CANARY = "CANARY-all-9a1f-do-not-print"
PATHS = ["connections/acme-sap/token", "connections/globex-mx/token", "oauth/client", "webhook/secret"]


def all_config(env: str) -> dict:
    cfg = base_config(env)
    cfg["makini:backends"] = ["aws", "azure", "vault"]
    cfg["makini:azure"] = azure_section()
    cfg["makini:vault"] = {"deleteVersionAfter": "5040h", "rotator": VAULT_ROTATOR}
    cfg["makini:consumers"] = {}  # Azure/Vault consumer identities are the access issue's
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)
    cfg["makini:oauthClientSecret"] = f"{CANARY}-{env}-oauth"
    cfg["makini:webhookSecret"] = f"{CANARY}-{env}-webhook"
    cfg["makini:connectionTokens"] = {"acme-sap": f"{CANARY}-{env}-token"}
    return cfg


@pytest.fixture(scope="module")
def runs():
    return {env: run(all_config(env), SECRET_KEYS) for env in ("dev", "prod")}


def leaves(value: Any, secret: bool = False) -> Iterator[tuple[str, bool]]:
    """Every string in a recorded structure, with whether it sits under a secret marker."""
    if is_secret_marker(value):
        yield from leaves(value["value"], True)
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(k, secret)
            yield from leaves(v, secret)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from leaves(v, secret)
    elif isinstance(value, str):
        yield value, secret


def test_each_backend_materialises_the_whole_catalog(runs):
    r = runs["dev"]
    assert sorted(s.plain_inputs["name"] for s in r.of_type("aws:secretsmanager/secret:Secret")) == sorted(
        f"makini/dev/{p}" for p in PATHS
    )
    assert len(r.of_type("azure-native:keyvault:Secret")) == len(PATHS)
    assert sorted(m.plain_inputs["path"] for m in r.of_type("vault:generic/endpoint:Endpoint")) == sorted(
        f"makini-dev/metadata/{p}" for p in PATHS
    )
    out = r.outputs
    for key in ("awsSecretArns", "azureSecretIds", "azureSecretUris", "vaultPaths"):
        assert set(out[key]) == set(PATHS), key


def test_every_configured_value_is_secret_everywhere_and_never_in_outputs(runs):
    for r in runs.values():
        found = 0
        for res in r.resources:
            for text, secret in leaves(res.inputs):
                if CANARY in text:
                    found += 1
                    assert secret, f"{res.type} {res.name} holds a configured value unmarked"
        # oauth + webhook + one token on each of three backends.
        assert found >= 9, found
        assert CANARY not in json.dumps(r.outputs)
        assert not [t for t, s in leaves(r.outputs) if s], "an output is secret: outputs must hold locations only"


def _locations(r) -> set[str]:
    """The environment-specific names and ids a run exports (vault name, mount, ARNs, ids, paths)."""

    def values(v: Any) -> Iterator[str]:
        if isinstance(v, dict):
            for x in v.values():
                yield from values(x)
        elif isinstance(v, str):
            yield v

    # Secret names within the (per-environment) vault are equal by design.
    stores = ("awsKmsKeyArn", "awsSecretArns", "azureVaultName", "azureVaultUri", "azureSecretIds", "azureSecretUris")
    return set(values({k: v for k, v in r.outputs.items() if k in (*stores, "vaultMount", "vaultPaths")}))


def test_no_dev_resource_references_a_prod_one_and_vice_versa(runs):
    dev, prod = runs["dev"], runs["prod"]
    dev_locs, prod_locs = _locations(dev), _locations(prod)
    assert dev_locs and prod_locs and not dev_locs & prod_locs
    assert dev.outputs["azureVaultName"] != prod.outputs["azureVaultName"]
    for mine, other_locs, other_env in ((dev, prod_locs, "prod"), (prod, dev_locs, "dev")):
        for res in mine.resources:
            assert f"makini-{other_env}" not in res.name and f"makini-{other_env}" not in res.urn
            for text, _ in leaves(res.inputs):
                for loc in other_locs:
                    assert loc not in text, f"{mine.stack} resource {res.name} references {other_env}'s {loc}"
                assert f"makini-{other_env}/" not in text and f"makini/{other_env}/" not in text
                assert f"rg-makini-{other_env}" not in text


def test_prod_protects_every_store_on_every_backend(runs):
    stores = (
        "aws:secretsmanager/secret:Secret",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Secret",
        "vault:index/mount:Mount",
        "vault:kv/secretV2:SecretV2",
        "vault:generic/endpoint:Endpoint",
    )
    for typ in stores:
        assert runs["prod"].of_type(typ), typ
        assert all(r.protect and r.retain_on_delete for r in runs["prod"].of_type(typ)), typ
        assert not any(r.protect for r in runs["dev"].of_type(typ)), typ


def test_staging_stack_file_uses_all_three_backends():
    src = load_stack_file("staging")
    r = run_program("staging", src.config, src.secret_keys)
    assert r.outputs["backends"] == ["aws", "azure", "vault"]
    # the environment's vault and the access classes' own ('standard', run-time 'linked'), same settings each
    vaults = {
        v.plain_inputs["vaultName"]: v.plain_inputs["properties"] for v in r.of_type("azure-native:keyvault:Vault")
    }
    classes = r.outputs["azureClassVaultNames"]
    assert set(vaults) == {r.outputs["azureVaultName"], *(classes[k] for k in ("standard", "linked"))}
    for props in vaults.values():
        assert props["publicNetworkAccess"] == "Disabled" and props["enablePurgeProtection"] is True
        assert props["softDeleteRetentionInDays"] == 90
    assert len(r.of_type("azure-native:network:PrivateEndpoint")) == 3  # one per vault
    assert len(r.of_type("azure-native:monitor:DiagnosticSetting")) == 3  # one per vault
    [config] = r.of_type("vault:kv/secretBackendV2:SecretBackendV2")
    assert config.plain_inputs["deleteVersionAfter"] == 5040 * 3600
    assert r.outputs["vaultMount"] == "makini-staging"
    assert r.outputs["azureVaultName"].startswith("kv-mk-staging-")


def test_a_subset_of_backends_builds_only_those():
    cfg = all_config("dev")
    cfg["makini:backends"] = ["aws", "vault"]
    del cfg["makini:azure"]
    r = run(cfg, SECRET_KEYS)
    assert not [x for x in r.resources if x.type.startswith(("azure-native:", "makini:azure:"))]
    assert not [k for k in r.outputs if k.startswith("azure")] and set(r.outputs) >= {"awsSecretArns", "vaultPaths"}
