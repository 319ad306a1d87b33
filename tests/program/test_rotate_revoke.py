"""`python -m infra.rotate STACK --connection KEY --revoke` (finding 9): the one real revocation.

A new token does not invalidate the old one; only ``DELETE /api/system/connections/{id}`` does, and it
invalidates every token of the connection. Against the fake Makini written from the published OAS (a real
HTTP server on 127.0.0.1; the requests made are checked against the spec, tests/fakes/makini_contract.py), with
the OAuth client read from an AWS store served by moto.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from functions.rotation.makini_client import MakiniClient
from infra.rotate import EXIT_FAILED, EXIT_INVALID, EXIT_OK, revoke
from infra.stores import AwsSecretsReader
from stacks.config.stack_file import dump_stack_yaml
from tests.fakes.makini_api import FakeMakini
from tests.fakes.makini_contract import check_recorded
from tests.support import base_config

REGION = "eu-west-1"


@pytest.fixture
def makini():
    with FakeMakini() as fake:
        fake.add_connection("0900001")
        fake.add_connection("0900002")
        yield fake


@pytest.fixture
def stack_file(tmp_path, makini) -> Path:
    cfg = base_config("dev")
    cfg["makini:oauth"] = {"clientId": makini.client_id}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": cfg}))
    return path


def store_oauth(makini) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    sm.create_secret(
        Name="makini/dev/oauth/client",
        SecretString=json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret}),
    )


def run(stack_file, makini, *, stdin="", **kw):
    out, err = io.StringIO(), io.StringIO()
    code = revoke(
        "dev",
        kw.pop("connection", "acme-sap"),
        stack_file,
        out=out,
        err=err,
        stdin=io.StringIO(stdin),
        env={},
        makini_factory=lambda: MakiniClient(makini.base_url, allow_loopback=True, timeout=2.0),
        reader_factory=lambda backend, cfg, provider, env: AwsSecretsReader(
            boto3.client("secretsmanager", region_name=REGION), REGION
        ),
        **kw,
    )
    return code, out.getvalue(), err.getvalue()


@mock_aws
def test_revoke_after_typing_the_key_invalidates_every_token_of_that_connection_only(stack_file, makini):
    store_oauth(makini)
    stored = makini.mint_connection_token("0900001")
    left_live = makini.mint_connection_token("0900001")  # e.g. issued by a failed rotation
    other = makini.mint_connection_token("0900002")
    code, out, err = run(stack_file, makini, stdin="acme-sap\n")
    assert code == EXIT_OK, err
    assert "Type the connection key (acme-sap) to confirm" in err
    assert not makini.token_is_valid(stored) and not makini.token_is_valid(left_live)
    assert makini.token_is_valid(other)
    [delete] = [r for r in makini.requests if r.method == "DELETE"]
    assert delete.path == "/api/system/connections/0900001"
    assert check_recorded(makini.requests) == []  # every request as the published spec describes it
    assert "makini:connections[0].makiniId' <new id>" in out and "reconnect" in out.lower()
    assert makini.client_secret not in out + err and stored not in out + err


@mock_aws
@pytest.mark.parametrize("answer", ["", "yes\n", "acme-sapp\n"])
def test_without_the_exact_key_nothing_happens(stack_file, makini, answer):
    store_oauth(makini)
    stored = makini.mint_connection_token("0900001")
    code, _, err = run(stack_file, makini, stdin=answer)
    assert code == EXIT_INVALID and "not confirmed" in err and "nothing was done" in err
    assert makini.token_is_valid(stored) and makini.requests == []


def test_dry_run_and_a_connection_without_makini_id_touch_nothing(stack_file, makini, tmp_path):
    code, out, _ = run(stack_file, makini, dry_run=True)
    assert code == EXIT_OK and "[dry-run] would disconnect" in out and makini.requests == []
    cfg = base_config("dev")
    del cfg["makini:connections"][1]["makiniId"]
    other = tmp_path / "other.yaml"
    other.write_text(dump_stack_yaml({"config": cfg}))
    code, _, err = run(other, makini, connection="globex-mx", confirm="globex-mx")
    assert code == EXIT_FAILED and "no makiniId" in err and makini.requests == []


@mock_aws
def test_an_unreadable_oauth_client_is_one_clear_error_and_nothing_is_done(stack_file, makini):
    code, _, err = run(stack_file, makini, confirm="acme-sap")
    assert code == EXIT_FAILED and "cannot read the OAuth client" in err and makini.requests == []
