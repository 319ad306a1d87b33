"""Fixtures for ``python -m infra.doctor``: the fake Makini on 127.0.0.1, stack files, and the stores.

The stores are the real readers of ``infra.stores`` over moto (AWS, in process), the Key Vault
``SecretClient`` double (``tests/fakes/key_vault.py``: no Azure engine installs here) and the session's real
OpenBao server (``tests/engines/openbao.py``), where the doctor reads with a token whose policy allows exactly
what the identity running it would hold. Values are put where :func:`stacks.locations.locate` says the
program puts them (``tests/unit/test_locations.py`` holds that to the program's own resource names).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from functions.rotation.makini_client import MakiniClient
from infra import doctor
from infra.offline import PROJECT
from infra.stores import AwsSecretsReader, KeyVaultReader, StoreReader, VaultReader
from stacks.catalog import SecretKind, build_catalog
from stacks.locations import RuntimeClassPlace, SecretLocation, locate, locate_runtime_class
from tests.fakes.key_vault import FakeSecretClient
from tests.fakes.makini_api import FakeMakini
from tests.support import VAULT_ROTATOR, azure_section, load

REGION = "eu-west-1"
CLIENT_ID = "mk_doctor_client"
#: Canaries: if one of these ever reaches an output stream or a log record, a test fails.
OAUTH_CANARY = "CANARY-oauth-secret-7d1e0b-do-not-print"


class ThreadSafeClock:
    """A monotonic clock whose sleep advances it (waits are recorded, never slept). Thread-safe."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


def connection(key: str, makini_id: str | None, system: str = "NetSuite", tier: int = 2, deployment="cloud") -> dict:
    out: dict[str, Any] = {"key": key, "system": system, "tier": tier, "deployment": deployment}
    if makini_id is not None:
        out["makiniId"] = makini_id
    return out


def stack_config(env: str, connections: Iterable[dict], backends=("aws",), pool: int = 100) -> dict:
    cfg: dict[str, Any] = {
        "aws:region": REGION,
        "makini:environment": env,
        "makini:tags": {"owner": "platform-team", "costCenter": "cc-1"},
        "makini:backends": list(backends),
        "makini:oauth": {"clientId": CLIENT_ID},
        "makini:connections": list(connections),
        "makini:consumers": {},
        "makini:credits": {"pool": pool},
    }
    if "azure" in backends:
        cfg["makini:azure"] = azure_section()
    if "vault" in backends:
        cfg["makini:vault"] = {"rotator": VAULT_ROTATOR}
    return cfg


def with_runtime(config: dict, classes: Iterable[str] = ("linked",)) -> dict:
    """``config`` with run-time classes read by ``reader`` and stored into by ``onboarding`` (issue 19)."""
    backends = config["makini:backends"]
    consumers: dict[str, Any] = {"onboarding": {"onboarding": True}, "reader": {}}
    for i, (name, consumer) in enumerate(consumers.items()):
        if "aws" in backends:
            consumer["aws"] = {"roleArn": f"arn:aws:iam::123456789012:role/{name}"}
        if "azure" in backends:
            consumer["azure"] = {"principalId": f"{i + 1:08x}-0000-4000-8000-{i + 1:012x}"}
        if "vault" in backends:
            consumer["vault"] = {"auth": {"kubernetes": {"serviceAccountNames": [name], "namespaces": ["apps"]}}}
    config["makini:consumers"] = consumers
    config["makini:accessClasses"] = {c: {"consumers": ["reader"], "runtime": True} for c in classes}
    return config


class MemoryReader:
    """A StoreReader over a dict (the doctor's interface itself): for the scale test only, where the
    store is not what is measured. The real readers are tested in test_stores.py."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.values: dict[str, str] = {}
        self.reads = 0
        self.lists = 0
        self._lock = threading.Lock()

    def read(self, location: SecretLocation) -> str | None:
        with self._lock:
            self.reads += 1
        return self.values.get(f"{location.container}/{location.name}")

    def put(self, location: SecretLocation, value: str) -> None:
        self.values[f"{location.container}/{location.name}"] = value

    def live_names(self, place: RuntimeClassPlace, names: list[str]) -> list[str]:
        return list(names)

    def list_names(self, place: RuntimeClassPlace) -> list[str]:
        with self._lock:
            self.lists += 1
        start = f"{place.container}/{place.prefix}"
        return [k.split("/", 1)[1] if place.container else k[1:] for k in self.values if k.startswith(start)]


@dataclass
class Rig:
    """One stack, its stores and the fake Makini; ``run()`` is the doctor's command line."""

    tmp: Path
    makini: FakeMakini
    clock: ThreadSafeClock
    config: dict
    readers: dict[str, StoreReader] = field(default_factory=dict)
    stack: str = ""
    #: Every log line of the last run (all loggers, all levels).
    logs: str = ""

    @property
    def cfg(self):
        return load(self.config)

    def location_of_oauth(self, backend: str) -> SecretLocation:
        return self.location(SecretKind.OAUTH_CLIENT, backend)

    def place(self, access_class: str, backend: str) -> RuntimeClassPlace:
        return locate_runtime_class(self.cfg, access_class, backend, project=PROJECT)

    def location(self, kind: SecretKind, backend: str, connection: str | None = None) -> SecretLocation:
        cfg = self.cfg
        secret = next(s for s in build_catalog(cfg).of_kind(kind) if connection is None or s.connection == connection)
        return locate(cfg, secret, backend, project=PROJECT)

    def write_stack(self) -> Path:
        path = self.tmp / f"Pulumi.{self.stack}.yaml"
        path.write_text(yaml.safe_dump({"config": self.config}))
        return path

    def makini_factory(self) -> Callable[..., MakiniClient]:
        base = self.makini.base_url

        def build(**kwargs: Any) -> MakiniClient:
            # The fake on 127.0.0.1: the one exception to the host pin, allowed in code by tests only.
            return MakiniClient(base, allow_loopback=True, **kwargs)

        return build

    def run(self, *args: str, env: dict | None = None, **overrides: Any) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        kwargs: dict[str, Any] = {
            "out": out,
            "err": err,
            "env": env if env is not None else {},
            "makini_factory": self.makini_factory(),
            "reader_factory": lambda backend, cfg, provider, environ: self.readers[backend],
            "sleep": self.clock.sleep,
            "monotonic": self.clock,
        }
        kwargs.update(overrides)
        path = self.write_stack()
        with capture_every_log() as records:  # every logger, every level, during the command only
            code = doctor.main([self.stack, "--config-file", str(path), *args], **kwargs)
        self.logs = "\n".join(records)
        return code, out.getvalue(), err.getvalue()

    def run_json(self, *args: str, **kw: Any) -> tuple[int, dict, str]:
        code, out, err = self.run("--json", *args, **kw)
        return code, json.loads(out), err


@pytest.fixture
def fake_makini():
    with FakeMakini(client_id=CLIENT_ID, client_secret=OAUTH_CANARY, per_page=3) as fake:
        yield fake


@pytest.fixture
def clock() -> ThreadSafeClock:
    return ThreadSafeClock()


@pytest.fixture
def new_stack(tmp_path, fake_makini, clock):
    def make(connections: Iterable[dict], backends=("aws",), pool: int = 100) -> Rig:
        env = "t" + uuid.uuid4().hex[:8]  # unique secret names in the module's shared moto
        rig = Rig(tmp_path, fake_makini, clock, stack_config(env, connections, backends, pool), stack=env)
        return rig

    return make


# -- stores ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_sm():
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(var, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield boto3.client("secretsmanager", region_name=REGION)


def oauth_value(client_id: str = CLIENT_ID, secret: str = OAUTH_CANARY) -> str:
    return json.dumps({"client_id": client_id, "client_secret": secret})


def token_value(token: str, connection_id: str | None) -> str:
    return json.dumps({"token": token, "connection_id": connection_id, "issued_at": "2026-11-01T00:00:00Z"})


class OpenBaoMount:
    """A stack's KV v2 mount on the session's OpenBao server; values written with the root token, read by
    the doctor with a token whose policy allows ``read`` on exactly the given paths of the mount."""

    def __init__(self, openbao: Any, mount: str) -> None:
        self.openbao = openbao
        self.mount = mount
        status, answer = openbao.http("POST", f"sys/mounts/{mount}", {"type": "kv", "options": {"version": "2"}})
        assert status < 300, answer
        deadline = time.monotonic() + 10  # a new KV v2 mount answers 400 "Upgrading ..." for a moment
        while openbao.http("GET", f"{mount}/config")[0] != 200:
            assert time.monotonic() < deadline, f"KV v2 at {mount} did not become ready"
            time.sleep(0.02)
        self.root = openbao.client()

    def put(self, path: str, value: str) -> None:
        """As the program writes it (components/vault/store.py): a JSON object as is, else under ``value``."""
        try:
            data = json.loads(value)
        except ValueError:
            data = None
        self.root.secrets.kv.v2.create_or_update_secret(
            path=path, secret=data if isinstance(data, dict) else {"value": value}, mount_point=self.mount
        )

    def reader(self, readable: Iterable[str] = ("*",), listable: Iterable[str] = ()) -> VaultReader:
        """``listable``: metadata paths the token may list and read (the run-time classes' folders and their tokens'
        versions, never a value: as the drift role's ``metadata/*``)."""
        policy = self.openbao.unique("doctor")
        rules = "".join(f'path "{self.mount}/data/{p}" {{\n  capabilities = ["read"]\n}}\n' for p in readable)
        rules += "".join(
            f'path "{self.mount}/metadata/{p}" {{\n  capabilities = ["read", "list"]\n}}\n' for p in listable
        )
        self.root.sys.create_or_update_policy(name=policy, policy=rules)
        token = self.root.auth.token.create(policies=[policy], no_default_policy=True, ttl="1h")["auth"]["client_token"]
        return VaultReader(self.openbao.client(token=token), self.openbao.addr)


class Stores:
    """Put values where the program keeps them, on each backend, through that backend's own SDK."""

    def __init__(self, rig: Rig, moto_sm: Any = None, openbao: Any = None) -> None:
        self.rig = rig
        self.sm = moto_sm
        self.kv: FakeSecretClient | None = None
        #: One Key Vault double per vault URL (the environment's, each class's).
        self.kvs: dict[str, FakeSecretClient] = {}
        self.vault: OpenBaoMount | None = None
        cfg = rig.cfg
        if "aws" in cfg.backends:
            assert moto_sm is not None
            rig.readers["aws"] = AwsSecretsReader(moto_sm, REGION)
        if "azure" in cfg.backends:
            loc = rig.location(SecretKind.OAUTH_CLIENT, "azure")
            self.kv = self.kv_for(loc.vault_url)
            rig.readers["azure"] = KeyVaultReader(lambda url: self.kvs.get(url))
        if "vault" in cfg.backends:
            assert openbao is not None, "a Vault stack needs the openbao fixture"
            self.vault = OpenBaoMount(openbao, rig.location(SecretKind.OAUTH_CLIENT, "vault").container)
            rig.readers["vault"] = self.vault.reader(listable=["connections/*"])

    def put(self, backend: str, loc: SecretLocation, value: str | None) -> None:
        if backend == "aws":
            if value is None:
                self.sm.create_secret(Name=loc.name)  # the program's secret, never filled in
            else:
                self.sm.create_secret(Name=loc.name, SecretString=value)
        elif backend == "azure":
            if value is None:  # the program's disabled placeholder
                self.kv.set_secret(loc.name, "unset: written out of band or by rotation (makini-infra)", enabled=False)
            else:
                self.kv.set_secret(loc.name, value)
        elif value is not None:
            self.vault.put(loc.name, value)

    def put_oauth(self, value: str | None = None, backends: Iterable[str] | None = None) -> None:
        for b in backends or self.rig.cfg.backends:
            self.put(b, self.rig.location(SecretKind.OAUTH_CLIENT, b), oauth_value() if value is None else value)

    def put_runtime(self, access_class: str, connection_id: str, backends: Iterable[str] | None = None) -> None:
        """A run-time token, where the onboarding client stores it (the doctor lists names, never reads it)."""
        for b in backends or self.rig.cfg.backends:
            name = self.rig.place(access_class, b).name_of(connection_id)
            value = token_value(f"runtime-token-{connection_id}", connection_id)
            if b == "aws":
                self.sm.create_secret(Name=name, SecretString=value)
            elif b == "azure":
                self.kv_for(self.rig.place(access_class, b).vault_url).set_secret(name, value)
            else:
                self.vault.put(name, value)

    def kv_for(self, vault_url: str) -> FakeSecretClient:
        return self.kvs.setdefault(vault_url, FakeSecretClient(vault_url))

    def put_token(self, key: str, value: str | None, backends: Iterable[str] | None = None) -> None:
        for b in backends or self.rig.cfg.backends:
            self.put(b, self.rig.location(SecretKind.CONNECTION_TOKEN, b, key), value)


def assert_no_secret(secrets: Iterable[str], *streams: str) -> None:
    for secret in secrets:
        for text in streams:
            assert secret not in text, "a secret value reached an output stream or a log"


@contextlib.contextmanager
def capture_every_log():
    """Every record any logger emits (root at DEBUG, so nothing is filtered but what the code under
    test filters itself), formatted with its arguments."""
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(f"{record.name} {record.levelname} {record.getMessage()}")

    root = logging.getLogger()
    handler, level = Collect(level=logging.DEBUG), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
