"""`python -m infra.rotate STACK --connection <class>/<id>`: the operator commands reach run-time connections.

A run-time connection is stored by the onboarding service (issue 19) at ``connections/<class>/<id>/token`` and
declared nowhere, so it has no key: the command names it by class and Makini connection id. ``--now`` asks every
backend exactly as for a declared token (AWS: botocore's Stubber, since moto serves RotateSecret only by running a
Lambda container; Azure: the Key Vault double, in the class's own vault; Vault: the real OpenBao server), and
``--revoke`` disconnects that id at the fake Makini (requests checked against the published OAS). Bad names are
one clear error each and touch nothing.
"""

from __future__ import annotations

import io
import json

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from functions.rotation.azure_function import ROTATE_REQUESTED_TAG
from functions.rotation.makini_client import MakiniClient
from functions.rotation.vault_rotator import META_ROTATE_REQUESTED
from infra.rotate import EXIT_INVALID, EXIT_OK, Clients, revoke, rotate_now
from infra.stores import AwsSecretsReader
from stacks.config.stack_file import dump_stack_yaml
from stacks.naming import class_key_vault_name, vault_mount
from tests.engines.vault_platform import env_name
from tests.fakes.key_vault import FakeSecretClient
from tests.fakes.makini_api import FakeMakini
from tests.fakes.makini_contract import check_recorded
from tests.support import VAULT_ROTATOR, azure_section, runtime_config

REGION = "eu-west-1"
RUNTIME_ID = "0900777"
STAMP = "2026-11-29T10:00:00.000000Z"


def _never(*_args):
    raise AssertionError("a refused name must not reach a backend")


def _stack_file(tmp_path, env: str, backends: tuple[str, ...], **extra):
    cfg = runtime_config(env, backends)
    if "azure" in backends:
        cfg["makini:azure"] = azure_section()
        for i, consumer in enumerate(sorted(cfg["makini:consumers"])):
            cfg["makini:consumers"][consumer]["azure"] = {"principalId": f"{i + 1:08x}-0000-4000-8000-000000000001"}
    if "vault" in backends:
        cfg["makini:vault"] = {"rotator": dict(VAULT_ROTATOR)}
        for name, consumer in cfg["makini:consumers"].items():
            consumer["vault"] = {"auth": {"kubernetes": {"serviceAccountNames": [name], "namespaces": ["ns"]}}}
    cfg.update(extra)
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(dump_stack_yaml({"config": cfg}))
    return path


def test_rotate_now_asks_every_backend_for_the_run_time_token(tmp_path, openbao):
    from datetime import UTC, datetime

    env = env_name("rtn")
    path = _stack_file(tmp_path, env, ("aws", "azure", "vault"))
    # Azure: the run-time class's own vault
    vault_name = class_key_vault_name(env, "linked", "makini-infra", None, None)
    kv = FakeSecretClient(f"https://{vault_name}.vault.azure.net")
    current = kv.set_secret(f"connections-linked-{RUNTIME_ID}-token", '{"token": "t"}')
    # Vault: the run-time path in the environment's mount, written as an operator
    mount = vault_mount(env)
    status, answer = openbao.http("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}})
    assert status < 300, answer
    root = openbao.client().secrets.kv.v2
    runtime_path = f"connections/linked/{RUNTIME_ID}/token"
    for _ in range(50):  # a new mount answers 400 "upgrading" for a moment
        try:
            root.create_or_update_secret(path=runtime_path, secret={"token": "t"}, mount_point=mount)
            break
        except Exception:  # noqa: BLE001
            import time

            time.sleep(0.05)
    urls: list[str] = []
    token_name = f"makini/{env}/connections/linked/{RUNTIME_ID}/token"
    client = boto3.client("secretsmanager", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    out, err = io.StringIO(), io.StringIO()
    with Stubber(client) as stub:
        stub.add_response("describe_secret", {"Name": token_name, "VersionIdsToStages": {}}, {"SecretId": token_name})
        stub.add_response(
            "rotate_secret",
            {"Name": token_name, "VersionId": "6f1c5c1e-0000-4000-8000-00000000a123"},
            {"SecretId": token_name, "RotateImmediately": True},
        )
        code = rotate_now(
            env,
            f"linked/{RUNTIME_ID}",
            path,
            out=out,
            err=err,
            clients=Clients(
                aws=lambda region: client,
                azure=lambda url: urls.append(url) or kv,
                vault=lambda address: openbao.client(),
            ),
            env={"VAULT_ADDR": openbao.addr},
            now=lambda: datetime(2026, 11, 29, 10, 0, tzinfo=UTC),
        )
        assert code == EXIT_OK, err.getvalue()
        stub.assert_no_pending_responses()
    printed = out.getvalue()
    assert urls == [f"https://{vault_name}.vault.azure.net"]
    assert current.properties.tags == {ROTATE_REQUESTED_TAG: STAMP}
    custom = root.read_secret_metadata(path=runtime_path, mount_point=mount)["data"]["custom_metadata"]
    assert custom[META_ROTATE_REQUESTED] == STAMP
    assert "AWS: started an immediate rotation" in printed and "Vault: requested" in printed
    assert printed.count(f"DELETE https://api.makini.io/api/system/connections/{RUNTIME_ID}") == 1


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("nope/0900777", "'nope' is not a run-time class (run-time classes: linked"),
        ("standard/0900777", "'standard' is not a run-time class"),
        ("linked/ABC*", "'ABC*' in 'linked/ABC*' is not a Makini connection id"),
        ("linked/", "'' in 'linked/' is not a Makini connection id"),
        ("linked/0900001", "is the declared connection 'acme-sap'"),
        ("nobody", "a run-time connection is <class>/<id> (run-time classes: linked)"),
    ],
)
def test_a_bad_run_time_name_is_one_clear_error_and_touches_nothing(tmp_path, name, says):
    path = _stack_file(tmp_path, "dev", ("aws",))
    for command in (rotate_now, revoke):
        out, err = io.StringIO(), io.StringIO()
        kwargs = {"clients": Clients(aws=_never, azure=_never, vault=_never)} if command is rotate_now else {}
        code = command("dev", name, path, out=out, err=err, **kwargs)
        assert code == EXIT_INVALID, (command.__name__, out.getvalue())
        assert says in err.getvalue() and err.getvalue().count("\n") == 1, err.getvalue()
        assert out.getvalue() == ""


@mock_aws
def test_revoke_disconnects_the_run_time_connection_only_and_says_to_schedule_its_deletion(tmp_path):
    with FakeMakini() as makini:
        makini.add_connection(RUNTIME_ID)
        makini.add_connection("0900001")
        path = _stack_file(tmp_path, "dev", ("aws",), **{"makini:oauth": {"clientId": makini.client_id}})
        sm = boto3.client("secretsmanager", region_name=REGION)
        sm.create_secret(
            Name="makini/dev/oauth/client",
            SecretString=json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret}),
        )
        stored = makini.mint_connection_token(RUNTIME_ID)
        declared = makini.mint_connection_token("0900001")
        out, err = io.StringIO(), io.StringIO()
        code = revoke(
            "dev",
            f"linked/{RUNTIME_ID}",
            path,
            out=out,
            err=err,
            stdin=io.StringIO(f"linked/{RUNTIME_ID}\n"),
            env={},
            makini_factory=lambda: MakiniClient(makini.base_url, allow_loopback=True, timeout=2.0),
            reader_factory=lambda backend, cfg, provider, env: AwsSecretsReader(
                boto3.client("secretsmanager", region_name=REGION), REGION
            ),
        )
        assert code == EXIT_OK, err.getvalue()
        assert not makini.token_is_valid(stored) and makini.token_is_valid(declared)
        [delete] = [r for r in makini.requests if r.method == "DELETE"]
        assert delete.path == f"/api/system/connections/{RUNTIME_ID}"
        assert check_recorded(makini.requests) == []
        text = out.getvalue()
        assert f"Onboarding.disconnect('{RUNTIME_ID}', 'linked')" in text and "makini:connections[" not in text
        assert makini.client_secret not in text + err.getvalue() and stored not in text + err.getvalue()
