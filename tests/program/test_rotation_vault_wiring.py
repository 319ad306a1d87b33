"""The Vault rotator inside the whole program: identity from makini:vault.rotator, refused without it, outputs."""

from __future__ import annotations

import copy

import pytest
import yaml

from stacks.config import ConfigError
from tests.support import VAULT_ROTATOR, base_config, load, run


def vault_cfg(rotator=VAULT_ROTATOR, **rotation):
    c = base_config()
    c["makini:backends"] = ["vault"]
    c["makini:consumers"] = {}
    for conn in c["makini:connections"]:
        conn.pop("consumers", None)
    if rotator is not None:
        c["makini:vault"] = {"rotator": copy.deepcopy(rotator)}
    if rotation:
        c["makini:rotation"] = rotation
    return c


def test_rotation_on_vault_without_rotator_is_refused_naming_the_key_and_fix():
    with pytest.raises(ConfigError) as err:
        load(vault_cfg(rotator=None))
    [p] = [p for p in err.value.problems if p.path == "makini:vault.rotator"]
    assert "connections/acme-sap/token" in p.message
    assert "makini:vault.rotator.auth.kubernetes" in p.fix and "serviceAccountName" in p.fix


def test_no_rotator_needed_when_nothing_rotates():
    assert load(vault_cfg(rotator=None, enabled=False)).vault is None


def test_jwt_rotator_must_bind_a_subject_or_claims():
    rot = {**VAULT_ROTATOR, "auth": {"jwt": {"boundAudiences": ["vault"]}}}
    with pytest.raises(ConfigError) as err:
        load(vault_cfg(rot))
    assert "makini:vault.rotator.auth.jwt" in {p.path for p in err.value.problems}


@pytest.fixture(scope="module")
def program():
    return run(vault_cfg())


def test_kubernetes_role_binds_the_configured_service_account(program):
    [role] = [
        r
        for r in program.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
        if r.plain_inputs["roleName"] == "makini-dev-rotator"
    ]
    i = role.plain_inputs
    assert i["boundServiceAccountNames"] == [VAULT_ROTATOR["serviceAccountName"]]
    assert i["boundServiceAccountNamespaces"] == [VAULT_ROTATOR["namespace"]]
    assert i["tokenPolicies"] == ["makini-dev-rotator"] and i["tokenNoDefaultPolicy"] is True


def test_output_rotation_vault_has_policy_role_and_cronjob(program):
    out = program.outputs
    assert out["vaultRotatorPolicy"] == "makini-dev-rotator" and out["vaultRotatorRole"] == "makini-dev-rotator"
    assert out["vaultRotatorSchedule"] == "17 3 * * *"
    job = out["vaultRotatorCronJob"]
    # The manifest as an object, and kubectl's YAML of it.
    assert yaml.safe_load(yaml.safe_dump(job)) == job
    assert job["kind"] == "CronJob" and job["metadata"]["namespace"] == "makini"
    assert job["spec"]["timeZone"] == "Etc/UTC" and job["spec"]["schedule"] == "17 3 * * *"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    assert env["VAULT_ADDR"] == VAULT_ROTATOR["vaultAddress"] and env["VAULT_AUTH_ROLE"] == "makini-dev-rotator"
    assert pod["containers"][0]["image"] == VAULT_ROTATOR["image"]
    assert "VAULT_TOKEN" not in env


def test_jwt_rotator_gets_a_jwt_role_and_a_projected_token():
    rot = {
        **VAULT_ROTATOR,
        "auth": {
            "jwt": {"boundAudiences": ["vault"], "boundSubject": "system:serviceaccount:makini:makini-token-rotator"}
        },
    }
    r = run(vault_cfg(rot))
    [role] = r.of_type("vault:jwt/authBackendRole:AuthBackendRole")
    assert role.plain_inputs["boundSubject"] == "system:serviceaccount:makini:makini-token-rotator"
    assert not [
        x
        for x in r.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
        if x.plain_inputs["roleName"] == "makini-dev-rotator"
    ]
    pod = r.outputs["vaultRotatorCronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    [projected] = [v for v in pod["volumes"] if "projected" in v]
    assert projected["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "vault"


def test_plan_rotation_section_shows_the_vault_schedule(program):
    from datetime import date

    from infra.plan import rotation_section

    section = rotation_section(load(vault_cfg()), program, date(2026, 1, 1))
    assert section.data["vault"]["schedule"] == "17 3 * * *"
    assert any("'17 3 * * *' (UTC)" in n and "makini-dev-rotator" in n for n in section.notes)
