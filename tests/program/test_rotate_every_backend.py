"""`python -m infra.rotate` acts on every backend of the stack (finding 5), with --dry-run.

One stack on AWS, Azure and Vault: AWS Secrets Manager is moto (webhook secret) or botocore's Stubber
(RotateSecret, which moto can only serve by running a Lambda container); Azure Key Vault is the SDK-boundary
fake (tests/fakes/key_vault.py, no Azure engine installs here); Vault is the session's real OpenBao server,
written as an operator (root token) on the mount the program would create.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.rotation.azure_function import ROTATE_REQUESTED_TAG
from functions.rotation.vault_rotator import META_ROTATE_REQUESTED
from infra.rotate import EXIT_FAILED, EXIT_OK, Clients, rotate_now, stage_webhook_secret
from stacks.config.stack_file import dump_stack_yaml
from stacks.naming import key_vault_name, vault_mount
from tests.engines.vault_platform import env_name
from tests.fakes.key_vault import FakeSecretClient
from tests.support import VAULT_ROTATOR, azure_section, base_config

REGION = "eu-west-1"
OLD, NEW = "whsec_old_DO-NOT-PRINT-1111", "whsec_new_DO-NOT-PRINT-2222"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)
GRACE = 7200


class Everything:
    """A stack on the three backends, its file, and one client per backend."""

    def __init__(self, tmp_path: Path, openbao) -> None:
        self.env = env_name("rt")
        cfg = base_config(self.env)
        cfg["makini:backends"] = ["aws", "azure", "vault"]
        cfg["makini:azure"] = azure_section()
        cfg["makini:consumers"] = {}
        for conn in cfg["makini:connections"]:
            conn.pop("consumers", None)
        cfg["makini:vault"] = {"rotator": dict(VAULT_ROTATOR)}
        cfg["makini:webhooks"] = {"enabled": True, "allowAnySource": True, "graceSeconds": GRACE}
        self.path = tmp_path / f"Pulumi.{self.env}.yaml"
        self.path.write_text(dump_stack_yaml({"config": cfg}))
        self.vault_name = key_vault_name(self.env, "makini-infra", None, None)
        self.kv = FakeSecretClient(f"https://{self.vault_name}.vault.azure.net", clock=lambda: NOW - timedelta(days=3))
        self.bao = openbao
        self.mount = vault_mount(self.env)
        status, answer = openbao.http("POST", f"sys/mounts/{self.mount}", {"type": "kv", "options": {"version": "2"}})
        assert status < 300, answer
        self.root = openbao.client().secrets.kv.v2
        self.azure_urls: list[str] = []
        self.vault_addresses: list[str] = []

    def clients(self, aws) -> Clients:
        def azure(url: str):
            self.azure_urls.append(url)
            return self.kv

        def vault(address: str):
            self.vault_addresses.append(address)
            return self.bao.client()

        return Clients(aws=aws, azure=azure, vault=vault)

    def vault_write(self, path: str, data: dict) -> None:
        for _ in range(50):  # a new mount answers 400 "upgrading" for a moment
            try:
                current = 0
                try:
                    current = self.root.read_secret_metadata(path=path, mount_point=self.mount)["data"][
                        "current_version"
                    ]
                except Exception:  # noqa: BLE001 - not written yet
                    current = 0
                self.root.create_or_update_secret(path=path, secret=data, cas=current, mount_point=self.mount)
                return
            except Exception:  # noqa: BLE001
                import time

                time.sleep(0.05)
        raise AssertionError(f"cannot write {path}")


@pytest.fixture
def stack(tmp_path, openbao):
    return Everything(tmp_path, openbao)


def never(*_args):
    raise AssertionError("--dry-run must not reach a backend")


@mock_aws
def test_the_webhook_secret_is_stored_on_every_backend_and_azures_previous_expires(stack):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name=f"makini/{stack.env}/webhook/secret", SecretString=OLD)
    old = stack.kv.set_secret("webhook-secret", OLD, content_type="text/plain")
    stack.vault_write("webhook/secret", {"value": OLD})
    out, err = io.StringIO(), io.StringIO()
    code = stage_webhook_secret(
        stack.env,
        "-",
        stack.path,
        out=out,
        err=err,
        stdin=io.StringIO(NEW + "\n"),
        now=lambda: NOW,
        clients=stack.clients(lambda region: boto3.client("secretsmanager", region_name=region)),
        env={"VAULT_ADDR": stack.bao.addr},
    )
    printed = out.getvalue() + err.getvalue()
    assert code == EXIT_OK, printed
    # AWS
    name = f"makini/{stack.env}/webhook/secret"
    assert sm.get_secret_value(SecretId=name)["SecretString"] == NEW
    assert sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["SecretString"] == OLD
    # Azure: a new version; the replaced one expires after graceSeconds, and the settings to apply are printed
    assert stack.azure_urls == [f"https://{stack.vault_name}.vault.azure.net"]
    assert stack.kv.get_secret("webhook-secret").value == NEW
    assert old.properties.expires_on == NOW + timedelta(seconds=GRACE)
    assert f"previousSecretVersion' {old.properties.version}" in printed
    assert "previousSecretExpiresAt' 2026-11-29T12:00:00Z" in printed
    # Vault: a new version written with check-and-set
    assert stack.vault_addresses == [stack.bao.addr]
    current = stack.root.read_secret_version(path="webhook/secret", mount_point=stack.mount)["data"]
    assert current["data"] == {"value": NEW} and current["metadata"]["version"] == 2
    assert NEW not in printed and OLD not in printed


def test_dry_run_names_every_backend_and_touches_none(stack):
    out, err = io.StringIO(), io.StringIO()
    code = stage_webhook_secret(
        stack.env,
        "-",
        stack.path,
        out=out,
        err=err,
        stdin=io.StringIO(NEW),
        now=lambda: NOW,
        clients=Clients(aws=never, azure=never, vault=never),
        dry_run=True,
    )
    assert code == EXIT_OK, err.getvalue()
    assert [line.split(":")[0] for line in out.getvalue().splitlines()] == [
        "[dry-run] AWS",
        "[dry-run] Azure",
        "[dry-run] Vault",
    ]
    code = rotate_now(
        stack.env,
        "acme-sap",
        stack.path,
        out=out,
        err=err,
        clients=Clients(aws=never, azure=never, vault=never),
        dry_run=True,
    )
    assert code == EXIT_OK, err.getvalue()
    assert NEW not in out.getvalue()


def test_rotate_now_asks_every_backend(stack):
    """AWS starts at once; Azure and Vault get a request their rotator honours at its next run (the rotators'
    side: tests/functions/rotation/test_azure_function.py and test_vault_rotator.py)."""
    token_name = f"makini/{stack.env}/connections/acme-sap/token"
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    current = stack.kv.set_secret("connections-acme-sap-token", '{"token": "t"}', tags={"environment": stack.env})
    stack.vault_write("connections/acme-sap/token", {"token": "t"})
    out, err = io.StringIO(), io.StringIO()
    with Stubber(client) as stub:
        stub.add_response(
            "describe_secret",
            {"Name": token_name, "VersionIdsToStages": {"6f1c5c1e-0000-4000-8000-00000000a000": ["AWSCURRENT"]}},
            {"SecretId": token_name},
        )
        stub.add_response(
            "rotate_secret",
            {"Name": token_name, "VersionId": "6f1c5c1e-0000-4000-8000-00000000a123"},
            {"SecretId": token_name, "RotateImmediately": True},
        )
        code = rotate_now(
            stack.env,
            "acme-sap",
            stack.path,
            out=out,
            err=err,
            clients=stack.clients(lambda region: client),
            env={"VAULT_ADDR": stack.bao.addr},
            now=lambda: NOW,
        )
        stub.assert_no_pending_responses()
    printed = out.getvalue()
    assert code == EXIT_OK, err.getvalue()
    assert current.properties.tags == {"environment": stack.env, ROTATE_REQUESTED_TAG: "2026-11-29T10:00:00.000000Z"}
    custom = stack.root.read_secret_metadata(path="connections/acme-sap/token", mount_point=stack.mount)["data"][
        "custom_metadata"
    ]
    assert custom[META_ROTATE_REQUESTED] == "2026-11-29T10:00:00.000000Z"
    assert "AWS: started an immediate rotation" in printed and "Azure: requested" in printed
    assert f"create job --from=cronjob/makini-{stack.env}-token-rotator" in printed
    assert printed.count("DELETE https://api.makini.io/api/system/connections/0900001") == 1


def test_a_refusing_backend_is_named_and_the_others_are_still_tried(stack):
    stack.kv.denied.add("connections-acme-sap-token")
    stack.vault_write("connections/acme-sap/token", {"token": "t"})
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    token_name = f"makini/{stack.env}/connections/acme-sap/token"
    out, err = io.StringIO(), io.StringIO()
    with Stubber(client) as stub:
        stub.add_response("describe_secret", {"Name": token_name, "VersionIdsToStages": {}}, {"SecretId": token_name})
        stub.add_response("rotate_secret", {"Name": token_name}, {"SecretId": token_name, "RotateImmediately": True})
        code = rotate_now(
            stack.env,
            "acme-sap",
            stack.path,
            out=out,
            err=err,
            clients=stack.clients(lambda region: client),
            env={"VAULT_ADDR": stack.bao.addr},
        )
    assert code == EXIT_FAILED
    assert "makini-infra: Azure: could not request the rotation of Key Vault" in err.getvalue()
    assert "HTTP 403" in err.getvalue()
    assert "AWS: started" in out.getvalue() and "Vault: requested" in out.getvalue()
