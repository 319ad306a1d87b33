"""`python -m infra.rotate <stack> --webhook-secret --from-file PATH`: zero-downtime webhook secret change.

Against moto: the new secret becomes AWSCURRENT, the old one AWSPREVIOUS (which the receiver accepts
during its grace period), and no secret value is ever printed.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.rotate import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main, stage_webhook_secret
from stacks.config.stack_file import dump_stack_yaml
from tests.support import base_config

REGION = "eu-west-1"
OLD, NEW = "whsec_old_DO-NOT-PRINT-1111", "whsec_new_DO-NOT-PRINT-2222"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


def stack_file(tmp_path: Path, **changes) -> Path:
    cfg = base_config("dev")
    cfg["makini:webhooks"] = {"enabled": True, "allowAnySource": True, "graceSeconds": 7200}
    cfg.update(changes)
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": cfg}))
    return path


def stage(path, source, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    code = stage_webhook_secret(
        "dev",
        source,
        path,
        client_factory=lambda region: boto3.client("secretsmanager", region_name=region),
        out=out,
        err=err,
        stdin=stdin or io.StringIO(""),
        now=lambda: NOW,
    )
    return code, out.getvalue(), err.getvalue()


@mock_aws
def test_new_secret_becomes_current_and_old_previous(tmp_path):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="makini/dev/webhook/secret", SecretString=OLD)
    secret_file = tmp_path / "new.txt"
    secret_file.write_text(NEW + "\n")
    code, out, err = stage(stack_file(tmp_path), str(secret_file))
    assert code == EXIT_OK, err
    assert sm.get_secret_value(SecretId="makini/dev/webhook/secret")["SecretString"] == NEW
    previous = sm.get_secret_value(SecretId="makini/dev/webhook/secret", VersionStage="AWSPREVIOUS")
    assert previous["SecretString"] == OLD
    assert "until about 2026-11-29 12:00 UTC" in out and "graceSeconds = 7200" in out
    assert "webhookSecretRotatedOn' 2026-11-29" in out
    assert NEW not in out + err and OLD not in out + err


@mock_aws
def test_reads_stdin_with_dash(tmp_path):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="makini/dev/webhook/secret", SecretString=OLD)
    code, out, err = stage(stack_file(tmp_path), "-", stdin=io.StringIO(NEW))
    assert code == EXIT_OK and sm.get_secret_value(SecretId="makini/dev/webhook/secret")["SecretString"] == NEW


@mock_aws
def test_empty_input_stores_nothing(tmp_path):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(Name="makini/dev/webhook/secret", SecretString=OLD)
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    code, _, err = stage(stack_file(tmp_path), str(empty))
    assert code == EXIT_INVALID and "empty" in err
    assert sm.get_secret_value(SecretId="makini/dev/webhook/secret")["SecretString"] == OLD


@mock_aws
def test_missing_secret_is_one_clear_aws_error(tmp_path):
    secret_file = tmp_path / "new.txt"
    secret_file.write_text(NEW)
    code, out, err = stage(stack_file(tmp_path), str(secret_file))
    assert code == EXIT_FAILED and "ResourceNotFoundException" in err
    assert NEW not in out + err and "Traceback" not in err


def test_unreadable_file_and_missing_from_file(tmp_path, capsys):
    code, _, err = stage(stack_file(tmp_path), str(tmp_path / "nope.txt"))
    assert code == EXIT_INVALID and "cannot read the new webhook secret" in err
    with pytest.raises(SystemExit) as info:
        main(["dev", "--webhook-secret", "--config-file", str(stack_file(tmp_path))])
    assert info.value.code == 2 and "never pass a secret as an argument" in capsys.readouterr().err
