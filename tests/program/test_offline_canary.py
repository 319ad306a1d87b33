"""Canary for the Pulumi SDK internals the offline harness (infra/offline.py) relies on.

The harness runs the real program under the SDK's mocks without the CLI; to do that it reaches into
names the SDK does not document (``rpc._special_sig_key``, ``_sync_await``, ``SETTINGS.rpc_manager``,
...). A Pulumi upgrade may move any of them. These tests fail first, naming the internal, what the
harness uses it for and what to do, instead of the whole suite failing with an AttributeError
somewhere in the engine. They import infra.offline only where they run it, so a moved import does not
stop them from reporting.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from tests.pyparse import parse_python

OFFLINE = Path(__file__).resolve().parents[2] / "infra" / "offline.py"

#: Every Pulumi SDK name infra/offline.py uses, and what for.
INTERNALS: dict[str, str] = {
    "pulumi.runtime.rpc._special_sig_key": "the key that marks a serialized secret",
    "pulumi.runtime.rpc._special_secret_sig": "the value of that key that means 'secret'",
    "pulumi.runtime.rpc.deserialize_properties": "turns a RegisterResource request's inputs into Python values",
    "pulumi.runtime.settings.ROOT": "the root-resource context variable",
    "pulumi.runtime.settings.ROOT.set": "resets the root resource before each run",
    "pulumi.runtime.settings.SETTINGS": "the SDK's global settings",
    "pulumi.runtime.settings.SETTINGS.rpc_manager": "the pending RPCs, cleared before each run",
    "pulumi.runtime.settings.SETTINGS.rpc_manager.clear": "clears them",
    "pulumi.runtime.settings.SETTINGS.rpc_manager.rpcs": "the RPC tasks; a drain drops the finished ones",
    "pulumi.resource.register_resource": "wrapped while a program runs, to drain registrations in batches "
    "(the module-level name Resource.__init__ calls)",
    "pulumi.runtime.settings.SETTINGS.outputs": "the pending outputs, cleared before each run",
    "pulumi.runtime.settings.SETTINGS.outputs.clear": "clears them",
    "pulumi.runtime.stack.run_pulumi_func": "runs the program and waits for every RPC it started",
    "pulumi.runtime.stack.Stack": "the root resource's class, whose outputs are the stack outputs",
    "pulumi.runtime.sync_await._sync_await": "drives that coroutine to completion on the run's event loop",
    "pulumi.runtime.mocks.MockMonitor": "the mock engine the recording monitor extends",
    "pulumi.runtime.mocks.MockMonitor.RegisterResource": "overridden to record each resource's options and inputs",
    "pulumi.runtime.mocks.MockMonitor.Invoke": "overridden to track the event loops of the SDK's executor threads",
    "pulumi.runtime.Mocks": "the base class of OfflineMocks",
    "pulumi.runtime.MockResourceArgs": "what new_resource receives",
    "pulumi.runtime.MockCallArgs": "what call receives",
    "pulumi.runtime.set_mocks": "installs the mocks (with the monitor= and logger= keywords)",
    "pulumi.runtime.set_all_config": "hands the stack's configuration to the program",
    "pulumi.runtime.get_root_resource": "the root stack, whose outputs are the stack outputs",
    "pulumi.runtime.proto.resource_pb2": "the engine protocol's messages",
    "pulumi.runtime.proto.resource_pb2.DeploymentInfo": "what GetDeploymentInfo answers (the monitor's features)",
    "pulumi.runtime.proto.resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS": "left out by AliasUrnMonitor, so "
    "the SDK computes alias URNs itself",
    "pulumi.runtime.mocks.MockMonitor.make_urn": "overridden to build URNs with the whole parent type chain",
    "pulumi.runtime.mocks.MockMonitor.GetDeploymentInfo": "overridden by AliasUrnMonitor",
}
#: Fields of the RegisterResource request the recording monitor reads.
REQUEST_FIELDS = (
    "type",
    "name",
    "parent",
    "custom",
    "protect",
    "retainOnDelete",
    "ignoreChanges",
    "dependencies",
    "object",
    "aliasURNs",
)


def _what_to_do() -> str:
    return (
        f"pulumi {version('pulumi')} is installed. Adapt infra/offline.py to this SDK (and this table), or keep "
        "pulumi below this version in pyproject.toml until it is adapted."
    )


def _resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then follow the attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


@pytest.mark.parametrize("name", sorted(INTERNALS))
def test_the_sdk_still_has_what_the_harness_uses(name):
    try:
        _resolve(name)
    except (ImportError, AttributeError) as err:
        pytest.fail(f"the Pulumi SDK no longer has {name} ({INTERNALS[name]}): {err}. {_what_to_do()}")


def test_the_sdk_still_takes_and_sends_what_the_harness_passes_and_reads():
    from pulumi.runtime import set_mocks
    from pulumi.runtime.proto import resource_pb2

    params = inspect.signature(set_mocks).parameters
    missing = [p for p in ("monitor", "logger", "project", "stack", "preview") if p not in params]
    assert not missing, f"pulumi.runtime.set_mocks no longer takes {missing}. {_what_to_do()}"
    fields = resource_pb2.RegisterResourceRequest.DESCRIPTOR.fields_by_name
    gone = [f for f in REQUEST_FIELDS if f not in fields]
    assert not gone, f"RegisterResourceRequest no longer has the fields {gone} the recorder reads. {_what_to_do()}"


def _sdk_names_used(path: Path) -> set[str]:
    """Every ``pulumi.runtime`` name the module imports or reaches through an attribute chain."""
    tree = parse_python(path.read_text())
    aliases: dict[str, str] = {}
    used: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pulumi.runtime"):
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                used.add(f"{node.module}.{a.name}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            chain: list[str] = []
            inner: ast.expr = node
            while isinstance(inner, ast.Attribute):
                chain.insert(0, inner.attr)
                inner = inner.value
            if not isinstance(inner, ast.Name):
                continue
            if inner.id in aliases:
                base = aliases[inner.id]
            elif inner.id == "pulumi" and chain[:1] == ["runtime"]:
                base, chain = "pulumi.runtime", chain[1:]
            else:
                continue
            for i in range(1, len(chain) + 1):
                used.add(".".join([base, *chain[:i]]))
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = {ast.unparse(b) for b in cls.bases}
        if "pulumi_mocks.MockMonitor" in bases:
            overridden = {f.name for f in cls.body if isinstance(f, ast.FunctionDef) and f.name[0].isupper()}
            used.update(f"pulumi.runtime.mocks.MockMonitor.{m}" for m in overridden)
    # A module alias itself is not a name the SDK could move on its own.
    return {u for u in used if u not in {"pulumi.runtime.rpc", "pulumi.runtime.mocks"}}


def test_this_canary_covers_every_sdk_name_the_harness_uses():
    """Keeps the table honest: a new internal used by infra/offline.py must be listed (and so checked)."""
    unlisted = sorted(_sdk_names_used(OFFLINE) - set(INTERNALS))
    assert not unlisted, f"infra/offline.py uses Pulumi SDK names this canary does not check: {unlisted}; add them"


def test_the_harness_still_records_options_and_marks_secrets(tmp_path):
    """Behaviour, not just names: a resource's options reach the record and a secret stays marked."""
    from infra.offline import SECRET_PLACEHOLDER, is_secret_marker, redact, run_program

    program = tmp_path / "__main__.py"
    program.write_text(
        "import pulumi, pulumi_aws as aws\n"
        "q = aws.sqs.Queue('q', name='canary', opts=pulumi.ResourceOptions(protect=True, ignore_changes=['tags']))\n"
        "pulumi.export('url', q.url)\n"
        "pulumi.export('token', pulumi.Output.secret('canary-secret-value'))\n"
    )
    run = run_program("canary", {"aws:region": "eu-west-1"}, program=program)
    (queue,) = run.of_type("aws:sqs/queue:Queue")
    assert (queue.name, queue.protect, queue.ignore_changes, queue.inputs.get("name")) == (
        "q",
        True,
        ("tags",),
        "canary",
    ), f"the recording monitor no longer sees resource options or inputs. {_what_to_do()}"
    assert run.outputs["url"].endswith("/canary")
    assert is_secret_marker(run.outputs["token"]) and redact(run.outputs)["token"] == SECRET_PLACEHOLDER, (
        f"secret outputs are no longer marked the way the harness detects them. {_what_to_do()}"
    )


def test_registrations_complete_while_the_program_runs(tmp_path, monkeypatch):
    """The harness drains registrations every DRAIN_EVERY constructions (see _DrainingRegistrations): by the
    time the program constructs its last resource, the earlier ones are registered. Without the drain the
    loop runs only after the program body, and none would be."""
    import builtins

    from infra import offline

    monkeypatch.setattr(offline, "DRAIN_EVERY", 10)
    monitor = offline.RecordingMonitor(offline.OfflineMocks())
    monkeypatch.setattr(builtins, "MAKINI_CANARY_MONITOR", monitor, raising=False)
    program = tmp_path / "__main__.py"
    program.write_text(
        "import builtins, pulumi_aws as aws\n"
        "for i in range(41):\n"
        "    aws.sqs.Queue(f'q{i}')\n"
        "builtins.MAKINI_CANARY_SEEN = len(builtins.MAKINI_CANARY_MONITOR.records)\n"
    )
    offline.run_program("canary", {"aws:region": "eu-west-1"}, program=program, monitor=monitor)
    seen = builtins.MAKINI_CANARY_SEEN  # type: ignore[attr-defined]
    monkeypatch.delattr(builtins, "MAKINI_CANARY_SEEN")
    assert seen >= 30, f"only {seen} of 41 resources were registered while the program ran. {_what_to_do()}"
    assert len(monitor.records) == 42
