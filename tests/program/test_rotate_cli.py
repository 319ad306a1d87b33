"""`python -m infra.rotate`: rotates one connection token now through Secrets Manager, prints the
disconnect step, never a token; clear exit codes. moto (in process) and botocore's Stubber.

The whole revoke-now path (RotateSecret served as Secrets Manager serves it, the real rotation function's
four steps, a fresh AWSCURRENT) is tests/functions/rotation/test_aws_rotation_protocol.py; moto's own
RotateSecret is not used for it (it moves AWSCURRENT itself and needs a container to run the function)."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from infra.rotate import EXIT_FAILED, EXIT_INVALID, EXIT_OK, main, rotate_now
from stacks.config.stack_file import dump_stack_yaml
from tests.support import base_config

REGION = "eu-west-1"
TOKEN = "mk_live_tok_DO-NOT-PRINT-0123456789"


def _stack_file(tmp_path: Path, env: str = "dev", **changes) -> Path:
    cfg = base_config(env)
    cfg.update(changes)
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(dump_stack_yaml({"config": cfg}))
    return path


def _run(path: Path, connection: str, factory, stack: str = "dev"):
    out, err = io.StringIO(), io.StringIO()
    code = rotate_now(stack, connection, path, client_factory=factory, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_stubbed_call_is_rotate_secret_immediately_on_the_env_secret(tmp_path):
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    regions = []
    with Stubber(client) as stub:
        stub.add_response(
            "describe_secret",
            {
                "Name": "makini/dev/connections/acme-sap/token",
                "VersionIdsToStages": {"6f1c5c1e-0000-4000-8000-00000000a000": ["AWSCURRENT"]},
            },
            {"SecretId": "makini/dev/connections/acme-sap/token"},
        )
        stub.add_response(
            "rotate_secret",
            {
                "ARN": f"arn:aws:secretsmanager:{REGION}:111111111111:secret:makini/dev/connections/acme-sap/token-AbCdEf",
                "Name": "makini/dev/connections/acme-sap/token",
                "VersionId": "6f1c5c1e-0000-4000-8000-00000000a123",
            },
            {"SecretId": "makini/dev/connections/acme-sap/token", "RotateImmediately": True},
        )
        code, out, err = _run(_stack_file(tmp_path), "acme-sap", lambda r: regions.append(r) or client)
        stub.assert_no_pending_responses()
    assert code == EXIT_OK, err
    assert regions == [REGION]
    assert "makini/dev/connections/acme-sap/token" in out and "6f1c5c1e-0000-4000-8000-00000000a123" in out
    assert "DELETE https://api.makini.io/api/system/connections/0900001" in out
    assert "$MAKINI_SYSTEM_TOKEN" in out


def test_a_class_token_is_rotated_under_its_class_prefix(tmp_path):
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    cfg = base_config()
    cfg["makini:accessClasses"] = {"standard": {"consumers": ["orders", "assets"]}}
    del cfg["makini:connections"][1]["consumers"]
    cfg["makini:connections"][1]["class"] = "standard"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": cfg}))
    name = "makini/dev/connections/standard/globex-mx/token"
    with Stubber(client) as stub:
        stub.add_response(
            "describe_secret",
            {"Name": name, "VersionIdsToStages": {"6f1c5c1e-0000-4000-8000-00000000a000": ["AWSCURRENT"]}},
            {"SecretId": name},
        )
        stub.add_response(
            "rotate_secret",
            {"ARN": f"arn:aws:secretsmanager:{REGION}:111111111111:secret:{name}-AbCdEf", "Name": name},
            {"SecretId": name, "RotateImmediately": True},
        )
        code, out, err = _run(path, "globex-mx", lambda r: client)
        stub.assert_no_pending_responses()
    assert code == EXIT_OK, err
    assert name in out


def test_unknown_connection_exits_2_naming_the_valid_keys(tmp_path):
    called = []
    code, out, err = _run(_stack_file(tmp_path), "acme-sapp", lambda r: called.append(r))
    assert code == EXIT_INVALID and not called and out == ""
    assert "no connection 'acme-sapp'" in err and "acme-sap, globex-mx" in err


def test_connection_without_makini_id_is_not_rotatable(tmp_path):
    cfg = base_config("dev")
    del cfg["makini:connections"][1]["makiniId"]
    path = _stack_file(tmp_path, **{"makini:connections": cfg["makini:connections"]})
    code, _, err = _run(path, "globex-mx", lambda r: pytest.fail("no AWS call expected"))
    assert code == EXIT_FAILED and "no makiniId" in err and "makini:connections[1].makiniId" in err


def test_rotation_disabled_exits_1(tmp_path):
    path = _stack_file(tmp_path, **{"makini:rotation": {"enabled": False}})
    code, _, err = _run(path, "acme-sap", lambda r: pytest.fail("no AWS call expected"))
    assert code == EXIT_FAILED and "rotation is not configured" in err


def test_invalid_config_exits_2(tmp_path):
    path = _stack_file(tmp_path, **{"makini:rotation": {"connectionTokenDays": 30}})
    code, _, err = _run(path, "acme-sap", lambda r: pytest.fail("no AWS call expected"))
    assert code == EXIT_INVALID and "makini:rotation.connectionTokenDays" in err and "30-day" in err


def test_now_is_required(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["dev", "--connection", "acme-sap", "--config-file", str(_stack_file(tmp_path))])
    assert exc.value.code == 2 and "--now is required" in capsys.readouterr().err


@mock_aws
def test_moto_secret_without_the_secret_is_a_clear_aws_error(tmp_path):
    code, out, err = _run(_stack_file(tmp_path), "acme-sap", lambda r: boto3.client("secretsmanager", region_name=r))
    assert code == EXIT_FAILED and out == ""
    assert "makini/dev/connections/acme-sap/token" in err and "ResourceNotFoundException" in err
