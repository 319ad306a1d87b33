"""Adoption: ``python -m infra.plan <stack> --import-file FILE`` against stores that already exist.

AWS in moto (secrets named like the program's, created before the stack, with values the import never reads),
Vault on the real OpenBao server (the environment's mount and some of its secrets). The document must name
exactly the existing resources, with the program's own types, names and parents (so ``pulumi import`` gives
them the URNs ``pulumi up`` will use), and list their components so they can be created first.
"""

from __future__ import annotations

import json

import boto3
from moto import mock_aws

from infra import adopt, plan
from infra.offline import load_stack_file, run_program

REGION = "eu-west-1"


def program_run(stack: str):
    src = load_stack_file(stack)
    return run_program(stack, src.config, src.secret_keys)


def by_name(doc):
    return {r["name"]: r for r in doc["resources"]}


@mock_aws
def test_existing_aws_secrets_and_key_are_adopted_with_the_programs_names(tmp_path, capsys):
    sm = boto3.client("secretsmanager", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/makini/dev", TargetKeyId=key_id)
    oauth = sm.create_secret(
        Name="makini/dev/oauth/client", SecretString='{"client_id":"c","client_secret":"CANARY-x"}'
    )
    token = sm.create_secret(Name="makini/dev/connections/acme-maintainx/token", SecretString="CANARY-y")
    sm.create_secret(Name="makini/prod/oauth/client", SecretString="other environment")
    sm.create_secret(Name="makini/dev-old/oauth/client", SecretString="a look-alike prefix")

    out = tmp_path / "import.json"
    assert plan.main(["dev", "--import-file", str(out), "--json"]) == 0
    err = capsys.readouterr().err
    assert f"wrote {out}" in err and "pulumi import --file" in err
    text = out.read_text()
    assert "CANARY" not in text
    doc = json.loads(text)
    run = program_run("dev")
    program = {r.name: r for r in run.resources}
    got = by_name(doc)
    adopted = {n: r["id"] for n, r in got.items() if not r.get("component")}
    assert adopted == {
        "makini-dev-aws-oauth-client": oauth["ARN"],
        "makini-dev-aws-connections-acme-maintainx-token": token["ARN"],
        "makini-dev-aws-key": key_id,
        "makini-dev-aws-key-alias": "alias/makini/dev",
    }
    for name, entry in got.items():
        r = program[name]
        assert entry["type"] == r.type and entry["logicalName"] == r.name
        parent = program[entry["parent"]] if "parent" in entry else None
        assert (parent.urn if parent else None) == (r.parent if not r.parent.endswith("makini-infra-dev") else None)
    # The components come first, each before its children, and carry no ID.
    components = [r for r in doc["resources"] if r.get("component")]
    assert [c["type"] for c in components] == ["makini:environment:Environment", "makini:aws:SecretStore"]
    assert all("id" not in c for c in components)
    assert doc["resources"][: len(components)] == components


@mock_aws
def test_nothing_exists_writes_an_empty_document(tmp_path, capsys):
    out = tmp_path / "import.json"
    assert plan.main(["dev", "--import-file", str(out)]) == 0
    assert json.loads(out.read_text()) == {"resources": []}
    assert "nothing (no existing store found)" in capsys.readouterr().err


def test_unresolved_config_exits_2_like_the_plan(tmp_path, capsys):
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text(
        (load_stack_file("dev").path if hasattr(load_stack_file("dev"), "path") else None) or "", encoding="utf-8"
    )
    bad.write_text("config:\n  makini:environment: dev\n  makini:backends: [aws]\n", encoding="utf-8")
    out = tmp_path / "import.json"
    assert plan.main(["dev", "--config-file", str(bad), "--import-file", str(out)]) == 2
    assert not out.exists() and "Traceback" not in capsys.readouterr().err


def test_vault_needs_an_address_and_token(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with mock_aws():
        assert plan.main(["staging", "--import-file", str(tmp_path / "i.json")]) == 2
    assert "set VAULT_ADDR and VAULT_TOKEN" in capsys.readouterr().err


def test_existing_vault_mount_on_openbao(openbao):
    """Creating a mount that exists fails ("path is already in use"): it is adopted. The stack writes no value
    on Vault without a configured one (only the secrets' metadata, a write that succeeds on an existing secret),
    so an existing secret needs no import and its value stays; a configured value (a SecretV2 with cas 0) would."""
    run = program_run("staging")
    cfg = load_stack_file("staging").load()
    root = openbao.client()
    mount = "makini-staging"
    assert f"{mount}/" not in root.sys.list_mounted_secrets_engines()["data"], "the session server is shared"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    try:
        check_staging_mount(run, cfg, root, mount)
    finally:  # the session's server is shared: leave no mount named like a stack's behind
        root.sys.disable_secrets_engine(mount)


def check_staging_mount(run, cfg, root, mount):
    root.secrets.kv.v2.create_or_update_secret(path="oauth/client", secret={"value": "CANARY"}, mount_point=mount)
    assert not run.of_type(adopt.VAULT_SECRET), "the staging stack file gives no value: no SecretV2"
    found = adopt.vault_existing(cfg, root, ["oauth/client", "webhook/secret"])
    assert found.vault_mounts == {mount} and found.vault_secrets == {f"{mount}/data/oauth/client"}
    doc = adopt.import_document(run, found)
    got = {r["name"]: r for r in doc["resources"] if not r.get("component")}
    assert got == {
        "makini-staging-vault-mount": {
            "type": "vault:index/mount:Mount",
            "name": "makini-staging-vault-mount",
            "logicalName": "makini-staging-vault-mount",
            "id": mount,
            "parent": "makini-staging-vault",
        },
    }
    assert [c["type"] for c in doc["resources"] if c.get("component")] == [
        "makini:environment:Environment",
        "makini:vault:SecretStore",
    ]
    assert "CANARY" not in json.dumps(doc)


def test_a_missing_vault_mount_adopts_nothing(openbao):
    cfg = load_stack_file("dev").load().model_copy(update={"environment": openbao.unique("nomount")[:12]})
    found = adopt.vault_existing(cfg, openbao.client(), ["oauth/client"])
    assert found.vault_mounts == set() and found.vault_secrets == set()
