"""Property: a random single-key mutation of any example stack is either harmless (exit 0, the same plan)
or refused (exit 2 naming the key); never a traceback, never a secret value in any message.

Mutations: type swaps, out-of-range numbers, key typos inside sections, namespace typos, a key written
twice, a secret in plain text, and (the harmless control) a top-level key moved to the end. Each is judged by reading the mutated file as the offline plan does
(``load_stack_file(...).load()``: milliseconds); a harmless one must load to the same model and the same
provider keys, the only inputs of the program, and the first few such cases also run the program and
compare its plan JSON with the committed snapshot.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.offline import PROJECT_ROOT, StackFileError, load_stack_file
from stacks import clock
from stacks.config import ConfigError, StackConfig
from stacks.config.base import NAMESPACE
from stacks.config.loader import _alias_fields, _model_at, key_path
from stacks.config.namespaces import KNOWN_NAMESPACES
from stacks.config.stack_file import dump_stack_yaml, parse_stack_yaml

STACKS = sorted(p.name.split(".")[1] for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))
DOCS = {s: parse_stack_yaml((PROJECT_ROOT / f"Pulumi.{s}.yaml").read_text(encoding="utf-8"))[0] for s in STACKS}
BASE = {s: load_stack_file(s).load() for s in STACKS}
SNAPSHOTS = PROJECT_ROOT / "tests" / "program" / "snapshots"
#: Sections whose contents are free-form (a policy document) or keys the user chooses (names).
FREE = ("trustPolicy", "extra", "boundClaims")
PLAN_RUNS = {"left": 2}


def _leaves(value: Any, parts: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], Any]]:
    out = [(parts, value)] if parts else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _leaves(v, (*parts, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _leaves(v, (*parts, i))
    return out


def _path(parts: tuple[Any, ...]) -> str:
    ns, _, name = str(parts[0]).rpartition(":")
    return key_path((name, *parts[1:]), namespace=ns or None)


def _get_parent(config: dict, parts: tuple[Any, ...]) -> Any:
    node: Any = config
    for p in parts[:-1]:
        node = node[p]
    return node


def _typo(draw, word: str) -> str:
    i = draw(st.integers(0, len(word) - 1))
    kind = draw(st.sampled_from(["drop", "double", "swap", "case", "letter"]))
    if kind == "drop" and len(word) > 1:
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    if kind == "swap" and i < len(word) - 1 and word[i] != word[i + 1]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "case" and word[i].isalpha():
        return word[:i] + word[i].swapcase() + word[i + 1 :]
    return word[:i] + draw(st.sampled_from("aeiouxz")) + word[i + 1 :]


def _is_model_field(config: dict, parts: tuple[Any, ...]) -> bool:
    """Is ``parts`` a fixed field of a section (not a user-chosen map key, not free-form)?"""
    if not str(parts[0]).startswith(NAMESPACE + ":") or any(str(p) in FREE for p in parts):
        return False
    loc = (str(parts[0]).split(":", 1)[1], *parts[1:])
    model = _model_at(loc)
    return model is not None and loc[-1] in _alias_fields(model)


def _is_float_field(parts: tuple[Any, ...]) -> bool:
    if not str(parts[0]).startswith(NAMESPACE + ":"):
        return False
    loc = (str(parts[0]).split(":", 1)[1], *parts[1:])
    model = _model_at(loc)
    field = _alias_fields(model).get(loc[-1]) if model is not None else None
    return field is not None and float in (field.annotation, *getattr(field.annotation, "__args__", ()))


def _other_kind(draw, value: Any, number_field: bool = False) -> Any:
    if number_field:
        return draw(st.sampled_from([True, str(value), [value]]))
    if isinstance(value, bool):
        return draw(st.sampled_from([1, 0, "true", "yes", 1.5]))
    if isinstance(value, int):
        return draw(st.sampled_from([True, float(value) + 0.5, float(value), str(value), [value]]))
    if isinstance(value, float):
        return draw(st.sampled_from([True, str(value), [value]]))
    if isinstance(value, str):
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return draw(st.sampled_from([int(value.replace("-", "")), True]))
        return draw(st.sampled_from([12345, True, 1.5, [value]]))
    return draw(st.sampled_from(["text", 7]))


@st.composite
def mutations(draw) -> dict[str, Any]:
    stack = draw(st.sampled_from(STACKS))
    doc = copy.deepcopy(DOCS[stack])
    config = doc["config"]
    kind = draw(st.sampled_from(["type", "range", "key", "namespace", "duplicate", "secret", "reorder"]))
    canaries: list[str] = []
    suffix = ""
    leaves = [
        (p, v) for p, v in _leaves(config) if not isinstance(v, dict | list) and not any(str(x) in FREE for x in p)
    ]
    if kind == "type":
        parts, value = draw(st.sampled_from(leaves))
        _get_parent(config, parts)[parts[-1]] = _other_kind(draw, value, _is_float_field(parts))
        path = _path(parts)
    elif kind == "range":
        numbers = [(p, v) for p, v in leaves if isinstance(v, int) and not isinstance(v, bool)]
        parts, _ = draw(st.sampled_from(numbers))
        _get_parent(config, parts)[parts[-1]] = draw(st.sampled_from([-1, -(10**9), 10**12, 10**20]))
        path = _path(parts)
    elif kind == "key":
        fields = [p for p, _ in _leaves(config) if len(p) > 1 and isinstance(p[-1], str) and _is_model_field(config, p)]
        parts = draw(st.sampled_from(fields))
        parent = _get_parent(config, parts)
        new = _typo(draw, parts[-1])
        model = _model_at((str(parts[0]).split(":", 1)[1], *parts[1:]))
        if new == parts[-1] or (model is not None and new in _alias_fields(model)) or new in parent:
            new = parts[-1] + "s" if parts[-1] + "s" not in _alias_fields(model) else "x" + parts[-1]
        items = [(new if k == parts[-1] else k, v) for k, v in parent.items()]
        parent.clear()
        parent.update(items)
        path = _path((*parts[:-1], new))
    elif kind == "namespace":
        top = draw(st.sampled_from(sorted(config)))
        ns, _, name = top.partition(":")
        new_ns = draw(st.sampled_from(["", _typo(draw, ns), ns + "s", ns.upper()]))
        if new_ns in KNOWN_NAMESPACES or new_ns == ns:
            new_ns = ns + "x"
        new_key = f"{new_ns}:{name}" if new_ns else name
        config[new_key] = config.pop(top)
        path = new_key if new_ns else f"makini-infra:{name}"
    elif kind == "duplicate":
        parts, value = draw(st.sampled_from([(p, v) for p, v in leaves if isinstance(p[-1], str)]))
        parent = _get_parent(config, parts)
        parent["zzduplicatezz"] = _other_kind(draw, value, _is_float_field(parts)) if draw(st.booleans()) else value
        path = _path(parts)
        suffix = parts[-1]
    elif kind == "reorder":  # harmless: the same keys in another order
        top = draw(st.sampled_from(sorted(config)))
        config[top] = config.pop(top)
        path = top
    else:
        canary = f"CANARY-{draw(st.integers(10**8, 10**9 - 1))}"
        canaries.append(canary)
        where = draw(st.sampled_from(["webhookSecret", "oauthClientSecret", "connectionTokens", "nested"]))
        if where == "connectionTokens":
            first = BASE[stack].connections[0].key
            config["makini:connectionTokens"] = {first: {"secure": "v1:abc"}, "other-connection": canary}
            if draw(st.booleans()):
                config["makini:connectionTokens"] = {first: canary}
            path = "makini:connectionTokens"
        elif where == "nested":
            config["makini:oauth"]["clientSecret"] = canary
            path = "makini:oauth.clientSecret"
        else:
            config[f"makini:{where}"] = canary
            path = f"makini:{where}"
    text = dump_stack_yaml(doc)
    if suffix:
        text = text.replace("zzduplicatezz:", f"{suffix}:", 1)
    return {"stack": stack, "kind": kind, "text": text, "path": path, "canaries": canaries}


def _same_form(path: str) -> str:
    return re.sub(r'\["([^"]+)"\]', r".\1", path)


def _related(problem_path: str, path: str) -> bool:
    a, b = _same_form(problem_path), _same_form(path)
    return a.startswith(b) or b.startswith(a.rstrip("."))


def _provider_keys(config: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in config.items() if not k.startswith(NAMESPACE + ":")}


@settings(
    max_examples=400,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(m=mutations())
def test_a_single_key_mutation_is_harmless_or_refused_naming_the_key(m, tmp_path_factory):
    path = tmp_path_factory.mktemp("mut") / f"Pulumi.{m['stack']}.yaml"
    path.write_text(m["text"], encoding="utf-8")
    try:
        source = load_stack_file(m["stack"], path)
        cfg = source.load()
    except (ConfigError, StackFileError) as err:
        message = str(err)
        paths = [p.path for p in err.problems] if isinstance(err, ConfigError) else []
        assert any(_related(p, m["path"]) for p in paths), f"{m['kind']}: {m['path']} not named in {paths}"
        for canary in m["canaries"]:
            assert canary not in message
        return
    assert not m["canaries"], "a plaintext secret was accepted"
    base = load_stack_file(m["stack"])
    assert cfg == BASE[m["stack"]], f"{m['kind']} of {m['path']} accepted with a different configuration"
    assert _provider_keys(source.config) == _provider_keys(base.config)
    if PLAN_RUNS["left"] > 0:
        PLAN_RUNS["left"] -= 1
        _assert_same_plan(m["stack"], path)


def _assert_same_plan(stack: str, path: Path) -> None:
    from infra.plan import build_plan

    saved = clock.utc_now
    clock.utc_now = lambda: datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # as the snapshots pin it
    try:
        text = json.dumps(build_plan(stack, path).to_json(), indent=1, sort_keys=True) + "\n"
    finally:
        clock.utc_now = saved
    assert text == (SNAPSHOTS / f"{stack}.plan.json").read_text(encoding="utf-8")


@pytest.mark.parametrize("stack", STACKS)
def test_the_unmutated_example_stacks_load(stack):
    assert isinstance(BASE[stack], StackConfig)
