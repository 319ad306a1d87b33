"""infra.doctor's command line: exit codes, bad input, what could not be checked, and no secret anywhere.

Bad input is exit 2 before anything is read; an unreachable Makini, a missing OAuth client secret or an
unreadable store is exit 1 naming what could not be checked and why; never a traceback, never a value.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from functions.rotation.makini_client import MakiniClient
from infra import doctor
from infra.stores import StoreError

from .conftest import OAUTH_CANARY, Stores, assert_no_secret, connection, token_value

ROOT = Path(__file__).resolve().parents[2]


def test_help_names_every_exit_code(capsys):
    with pytest.raises(SystemExit) as exc:
        doctor.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    text = " ".join(out.split())
    for line in ("Exit codes: 0 healthy", "3 attention needed", "2 bad input", "1 could not check"):
        assert line in text
    assert "--connection KEY" in out and "--json" in out


@pytest.fixture
def rig(new_stack, moto_sm, fake_makini):
    rig = new_stack([connection("a", "800"), connection("b", "801")])
    rig.stores = Stores(rig, moto_sm)
    rig.tokens = []
    for key, cid in (("a", "800"), ("b", "801")):
        fake_makini.add_connection(cid)
        token = fake_makini.mint_connection_token(cid)
        rig.tokens.append(token)
        rig.stores.put_token(key, token_value(token, cid))
    return rig


# -- bad input: exit 2, nothing read -----------------------------------------------------------------------


def _never(*args, **kwargs):
    raise AssertionError("nothing may be read or sent on bad input")


def test_unknown_stack(capsys):
    code = doctor.main(["no-such-stack"], reader_factory=_never, makini_factory=_never)
    assert code == 2 and "Pulumi.no-such-stack.yaml does not exist" in capsys.readouterr().err


def test_unknown_connection_names_the_declared_ones(rig):
    code, out, err = rig.run("--connection", "nope", reader_factory=_never)
    assert code == 2 and out == ""
    assert f"stack '{rig.stack}' declares no connection 'nope'. Declared: a, b" in err


def test_backend_the_stack_does_not_use(rig):
    code, _, err = rig.run("--backend", "vault", reader_factory=_never)
    assert code == 2 and "does not use the vault backend (backends: aws)" in err


def test_invalid_stack_file_is_the_config_error(rig):
    rig.config["makini:connections"][0]["tier"] = 5
    code, _, err = rig.run(reader_factory=_never)
    assert code == 2 and "makini:connections[0].tier" in err and "Traceback" not in err


@pytest.mark.parametrize("flag", [["--concurrency", "0"], ["--concurrency", "65"], ["--timeout", "0"]])
def test_bad_numbers(rig, flag):
    code, _, err = rig.run(*flag, reader_factory=_never)
    assert code == 2 and "must be" in err


@pytest.mark.parametrize(
    "base", ["https://evil.example", "https://api.makini.io@evil.example", "https://api.makini.io:8443", None]
)
def test_a_hostile_makini_api_base_is_refused_before_any_store_is_read(rig, fake_makini, base):
    rig.stores.put_oauth()
    env = {"MAKINI_API_BASE": base or fake_makini.base_url}  # None: the fake itself, 127.0.0.1 outside tests
    code, out, err = rig.run(env=env, makini_factory=None, reader_factory=_never)
    assert code == 2 and out == ""
    assert "MAKINI_API_BASE is refused" in err and "Nothing was sent" in err
    assert fake_makini.requests == []


def test_the_real_entry_point_refuses_a_hostile_base_without_a_traceback(rig):
    path = rig.write_stack()
    env = {**os.environ, "MAKINI_API_BASE": "https://evil.example", "AWS_EC2_METADATA_DISABLED": "true"}
    result = subprocess.run(
        [sys.executable, "-m", "infra.doctor", rig.stack, "--config-file", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "host 'evil.example' is not a documented Makini API host" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


# -- could not check: exit 1, what and why ------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_makini(rig, clock):
    rig.stores.put_oauth()
    port = _closed_port()

    def unreachable(**kwargs):
        return MakiniClient(f"http://127.0.0.1:{port}", allow_loopback=True, **kwargs)

    code, out, err = rig.run(makini_factory=unreachable)
    assert code == 1
    assert "could not check: Makini: could not obtain a system token with the OAuth client in AWS Secrets" in out
    assert "ConnectionRefusedError" in out and "Verdict: could not check everything (exit 1)" in out
    assert len(clock.sleeps) == 4  # retried with backoff (fake clock: not slept)
    assert_no_secret([OAUTH_CANARY, *rig.tokens], out, err, rig.logs)


def test_missing_oauth_client_secret(rig, fake_makini):
    code, out, err = rig.run()  # nothing stored at oauth/client
    assert code == 1
    assert (
        f"attention: OAuth client: nothing is stored in AWS Secrets Manager secret makini/{rig.stack}/oauth/client"
        in out
    )
    assert "Makini was not asked" in out and fake_makini.requests == []
    code, doc, _ = rig.run_json()
    assert code == 1 and doc["verdict"] == "could-not-check" and doc["connections"] == []


def test_oauth_client_that_is_not_the_documented_json(rig, fake_makini):
    rig.stores.put_oauth(OAUTH_CANARY)  # the bare secret, not {"client_id", "client_secret"}
    code, out, err = rig.run()
    assert code == 1 and 'does not hold {"client_id", "client_secret"}' in out
    assert_no_secret([OAUTH_CANARY], out, err, rig.logs)


def test_a_store_that_cannot_be_opened(rig):
    def no_credentials(backend, cfg, provider, env):
        raise StoreError("AWS Secrets Manager (eu-west-1): NoCredentialsError: Unable to locate credentials")

    code, out, _ = rig.run(reader_factory=no_credentials)
    assert code == 1
    assert "AWS Secrets Manager: cannot read the store: AWS Secrets Manager (eu-west-1): NoCredentialsError" in out


def test_a_bad_token_value_is_attention_and_never_printed(rig, fake_makini):
    rig.stores.put_oauth()
    raw = "CANARY-raw-token-not-json-3c9e"
    rig.config["makini:connections"].append(connection("c", "802"))
    fake_makini.add_connection("802")
    rig.stores.put_token("c", raw)
    code, out, err = rig.run()
    assert code == 3 and 'c: aws: the stored value is not {"token": ...}' in out
    assert_no_secret([raw, OAUTH_CANARY, *rig.tokens], out, err, rig.logs)


def test_an_unexpected_error_is_one_line_without_a_traceback_or_a_secret(rig):
    rig.stores.put_oauth()

    class Exploding:
        backend = "aws"

        def __init__(self, inner):
            self.inner = inner

        def read(self, location):
            if "connections/" in location.name:
                raise RuntimeError(f"boom near {OAUTH_CANARY}")
            return self.inner.read(location)

    reader = Exploding(rig.readers["aws"])
    code, out, err = rig.run(reader_factory=lambda *a: reader)
    assert code == 1 and out == ""
    assert err.startswith("makini-infra doctor: internal error: RuntimeError: boom near [redacted]")
    assert "Traceback" not in err and OAUTH_CANARY not in err


# -- the progress line ---------------------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal_only(rig):
    rig.stores.put_oauth()
    tty = Terminal()
    code, out, _ = rig.run(err=tty)
    assert code == 0
    progress = tty.getvalue()
    assert "\r\x1b[K" in progress and "listing Makini's connections, page 1/1" in progress
    assert progress.endswith("\r\x1b[K")  # cleared before the report is printed
    assert "\r" not in out
    for quiet in (["--json"], ["--no-progress"]):
        tty = Terminal()
        rig.run(*quiet, err=tty)
        assert tty.getvalue() == ""
    code, _, err = rig.run()  # not a terminal
    assert err == ""


def test_progress_throttles_and_reports_tokens():
    ticks = iter([0.0, 0.05, 0.2, 0.25, 0.5])
    tty = Terminal()
    p = doctor.Progress(tty, enabled=True, now=lambda: next(ticks))
    for i in range(1, 6):
        p.show(f"checked {i}/5 tokens")
    p.clear()
    shown = [part for part in tty.getvalue().split("\r\x1b[K") if part]
    assert shown == ["checked 1/5 tokens", "checked 3/5 tokens", "checked 5/5 tokens"]


def test_json_is_one_document_with_the_api_and_time(rig):
    rig.stores.put_oauth()
    code, doc, err = rig.run_json()
    assert code == 0 and err == ""
    assert doc["makini"]["api"].startswith("http://127.0.0.1:") and doc["checked_at"].endswith("Z")
    assert set(doc) >= {"stack", "environment", "exit_code", "verdict", "summary", "credits", "connections"}
    assert json.dumps(doc).count(OAUTH_CANARY) == 0
