"""Vault rotation: the rotator's policy parses as HCL and grants exactly its paths; role; CronJob manifest."""

from __future__ import annotations

from pathlib import Path

import hcl2
import pytest
import yaml

from components.vault.rotation import cronjob_manifest, rotator_policy
from infra.offline import run_program

PROGRAM = Path(__file__).parent / "programs" / "vault_rotation.py"
TOKENS = ["connections/acme-sap/token", "connections/globex-mx/token"]


def grants(hcl: str) -> dict[str, list[str]]:
    parsed = hcl2.loads(hcl)
    out = {}
    for block in parsed["path"]:
        for path, body in block.items():
            path = path.strip('"')
            assert path not in out, f"{path} granted twice"
            out[path] = [c.strip('"') for c in body["capabilities"]]
    return out


#: Its token may look itself up, renew and revoke itself (roles set token_no_default_policy).
OWN_TOKEN = {
    "auth/token/lookup-self": ["read"],
    "auth/token/renew-self": ["update"],
    "auth/token/revoke-self": ["update"],
}


def test_policy_grants_exactly_the_declared_paths():
    assert grants(rotator_policy("makini-dev", TOKENS, "oauth/client")) == {
        "makini-dev/metadata/connections/": ["list"],
        "makini-dev/metadata/connections/acme-sap/": ["list"],
        "makini-dev/metadata/connections/globex-mx/": ["list"],
        "makini-dev/metadata/connections/acme-sap/token": ["read", "update"],
        "makini-dev/data/connections/acme-sap/token": ["create", "update"],
        "makini-dev/metadata/connections/globex-mx/token": ["read", "update"],
        "makini-dev/data/connections/globex-mx/token": ["create", "update"],
        "makini-dev/data/oauth/client": ["read"],
        **OWN_TOKEN,
    }


def test_policy_never_reads_token_data_nor_uses_globs():
    g = grants(rotator_policy("makini-prod", TOKENS, "oauth/client"))
    assert not any("*" in p or "+" in p for p in g)
    assert all("read" not in caps for p, caps in g.items() if "/data/connections/" in p)


def test_a_run_time_class_is_listed_at_its_folder_only():
    """Run-time tokens are found from the class folder's ``<id>/`` keys (bound by path): no list below it,
    unlike a declared class, whose walk lists each key's folder."""
    g = grants(rotator_policy("makini-dev", [], "oauth/client", ["linked", "standard"], ["linked"]))
    classes = {p: caps for p, caps in g.items() if "/linked/" in p or "/standard/" in p}
    assert classes == {
        "makini-dev/metadata/connections/linked/": ["list"],
        "makini-dev/metadata/connections/linked/+/token": ["read", "update"],
        "makini-dev/data/connections/linked/+/token": ["create", "update"],
        "makini-dev/metadata/connections/standard/": ["list"],
        "makini-dev/metadata/connections/standard/+/": ["list"],
        "makini-dev/metadata/connections/standard/+/token": ["read", "update"],
        "makini-dev/data/connections/standard/+/token": ["create", "update"],
    }
    with pytest.raises(ValueError, match="not among the rotated classes"):
        rotator_policy("makini-dev", [], "oauth/client", ["standard"], ["linked"])


def test_path_outside_connections_refused():
    with pytest.raises(ValueError):
        rotator_policy("makini-dev", ["oauth/client"], "oauth/client")


def test_cronjob_sets_mount_and_catalog_oauth_path():
    doc = yaml.safe_load(
        cronjob_manifest(
            "prod",
            "https://vault.example:8200",
            "ghcr.io/acme/rotator:1",
            "makini",
            "makini-token-rotator",
            "makini-prod-rotator",
        )
    )
    assert doc["kind"] == "CronJob" and doc["spec"]["concurrencyPolicy"] == "Forbid"
    pod = doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["VAULT_OAUTH_CLIENT_PATH"] == "oauth/client"
    assert env["VAULT_MOUNT"] == "makini-prod"
    assert env["VAULT_AUTH_METHOD"] == "kubernetes" and env["VAULT_AUTH_ROLE"] == "makini-prod-rotator"
    assert pod["serviceAccountName"] == "makini-token-rotator"
    assert pod["containers"][0]["command"] == ["python", "-m", "rotation.vault_rotator"]
    assert "VAULT_TOKEN" not in env


@pytest.fixture(scope="module")
def program():
    return run_program("dev", {}, program=PROGRAM)


def test_component_policy_and_kubernetes_role(program):
    [policy] = program.of_type("vault:index/policy:Policy")
    assert policy.plain_inputs["name"] == "makini-dev-rotator"
    assert grants(policy.plain_inputs["policy"]) == grants(rotator_policy("makini-dev", TOKENS, "oauth/client"))
    [role] = program.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
    r = role.plain_inputs
    assert r["boundServiceAccountNames"] == ["makini-token-rotator"]
    assert r["boundServiceAccountNamespaces"] == ["makini"]
    assert r["tokenPolicies"] == ["makini-dev-rotator"]
