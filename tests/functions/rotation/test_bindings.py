"""The rotation bindings: written by the program from the stack's config, read by every rotator.

The round trip runs the real program under mocks and reads what it ships (the Lambda archive's
``rotation/bindings.json``, the Azure package's, the Vault ConfigMap) with the runtime loader itself.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from rotation.bindings import FORMAT, BindingError, Bindings, UnboundSecret

from components.aws.lambda_package import BINDINGS_FILE, ROTATION_LAMBDA
from stacks.rotation import BINDINGS_FORMAT, bindings_document, rotation_bindings
from tests.support import base_config, load, run

from ..archive_layout import unpack


def document(**changes) -> str:
    doc = {
        "format": FORMAT,
        "environment": "dev",
        "backend": "aws",
        "periodDays": 21,
        "bindings": {"makini/dev/connections/a/token": "0900001"},
    }
    doc.update(changes)
    return json.dumps(doc)


def test_the_program_and_the_runtime_agree_on_the_format():
    assert BINDINGS_FORMAT == FORMAT
    text = bindings_document("dev", "vault", 7, {"connections/b/token": "2", "connections/a/token": "1"})
    b = Bindings.parse(text, source="t", backend="vault")
    assert b.entries == {"connections/a/token": "1", "connections/b/token": "2"} and b.period_days == 7
    assert b.secrets() == ["connections/a/token", "connections/b/token"]
    assert b.require("connections/a/token").connection_id == "1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "is not JSON"),
        ('{"format": "x"}', "is not a makini-rotation-bindings/1 document"),
        (document(backend="azure"), "is for backend 'azure'"),
        (document(environment=""), "names no environment"),
        (document(periodDays=0), "periodDays 0"),
        (document(periodDays=True), "periodDays True"),
        (document(bindings=[]), "has no bindings object"),
        (document(bindings={"makini/dev/connections/a/token": ""}), "is not bound"),
        (document(bindings={"makini/dev/connections/a/token": 5}), "is not bound"),
        (
            '{"format": "makini-rotation-bindings/1", "backend": "aws", "environment": "dev", "bindings": '
            '{"s": "1", "s": "2"}}',
            "appears twice",
        ),
    ],
)
def test_anything_else_is_refused_naming_the_source(text, message):
    with pytest.raises(BindingError, match=message) as err:
        Bindings.parse(text, source="package bindings.json", backend="aws")
    assert "package bindings.json" in str(err.value)


def test_an_unbound_secret_is_refused_with_the_fix():
    b = Bindings.parse(document(), source="t", backend="aws")
    with pytest.raises(UnboundSecret, match="not in the deployed rotation bindings of dev") as err:
        b.require("makini/dev/connections/other/token")
    assert "makiniId" in str(err.value) and "never from the secret's tags or value" in str(err.value)


class Onboarding:
    """A second source (issue 19's run-time connections), as the interface expects one."""

    source = "onboarding registry"

    def __init__(self, entries):
        self.entries = entries

    def binding_for(self, secret):
        from rotation.bindings import Binding

        return Binding(secret, self.entries[secret], self.source) if secret in self.entries else None

    def secrets(self):
        return sorted(self.entries)


def test_a_second_source_extends_the_bindings_and_a_conflict_is_refused():
    b = Bindings.parse(document(), source="package", backend="aws")
    chained = b.chain(Onboarding({"makini/dev/connections/new/token": "0900009"}))
    assert chained.require("makini/dev/connections/new/token").source == "onboarding registry"
    assert chained.secrets() == ["makini/dev/connections/a/token", "makini/dev/connections/new/token"]
    clash = b.chain(Onboarding({"makini/dev/connections/a/token": "0900666"}))
    with pytest.raises(BindingError, match="bound to different connections"):
        clash.require("makini/dev/connections/a/token")


def test_bindings_come_from_the_config_alone():
    cfg = load(base_config("dev"))
    expected = {f"connections/{c.key}/token": c.makini_id for c in cfg.connections if c.makini_id}
    assert rotation_bindings(cfg) == expected and expected
    manual = base_config("dev")
    manual["makini:rotation"] = {"enabled": False}
    assert rotation_bindings(load(manual)) == {}


def _lambda_archive(result):
    [fn] = [f for f in result.of_type("aws:lambda/function:Function") if f.plain_inputs["name"].endswith("-rotation")]
    return fn.inputs["code"]


def test_the_lambda_package_carries_the_bindings_and_the_handler_reads_them(tmp_path):
    """The real program's Lambda archive: rotation/bindings.json is there, holds the config's bindings by
    Secrets Manager name, and the handler unpacked from the archive loads it with Bindings.packaged."""
    config = base_config("dev")
    result = run(config)
    archive = _lambda_archive(result)
    text = archive.assets[BINDINGS_FILE].text
    cfg = load(config)
    b = Bindings.parse(text, source="archive", backend="aws")
    assert b.entries == {f"makini/dev/connections/{c.key}/token": c.makini_id for c in cfg.connections if c.makini_id}
    assert b.period_days == cfg.rotation.connection_token_days
    root = unpack(ROTATION_LAMBDA.files() | {BINDINGS_FILE: text}, tmp_path)
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(root)!r}]\n"
        "from rotation.bindings import Bindings\n"
        "print(sorted(Bindings.packaged('aws').entries))\n"
    )
    out = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == repr(sorted(b.entries))


def test_the_vault_config_map_carries_the_bindings_by_kv_path():
    from tests.program.test_rotation_vault_wiring import vault_cfg

    config = vault_cfg()
    result = run(config)
    config_map = result.outputs["vaultRotatorBindingsConfigMap"]
    assert config_map["kind"] == "ConfigMap" and config_map["metadata"]["name"] == "makini-dev-rotation-bindings"
    b = Bindings.parse(config_map["data"]["bindings.json"], source="ConfigMap", backend="vault")
    assert b.entries == rotation_bindings(load(config)) and b.entries
    job = result.outputs["vaultRotatorCronJob"]
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    [volume] = [v for v in pod["volumes"] if v.get("configMap")]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    [mount] = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume["name"]]
    assert mount["readOnly"] is True and env["ROTATION_BINDINGS_FILE"] == f"{mount['mountPath']}/bindings.json"
