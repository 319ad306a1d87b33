"""A corpus of realistic configuration mistakes against a production AWS + Azure stack: each one exits 2
naming the key (or is a documented, deliberate acceptance), and no secret value is ever printed.

The corpus is data (tests/unit/data/config_mistakes.yaml: one text edit of
tests/unit/data/prod-aws-azure.yaml each); this is its one parametrised test, on the path the offline plan
and every tool take: the stack file read as the Pulumi CLI reads it, then the configuration loaded.
A sample also goes through ``python -m infra.plan`` itself (exit code and streams).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from infra import plan
from infra.offline import StackFileError, load_stack_file
from stacks.config import ConfigError

DATA = Path(__file__).parent / "data"
BASE = (DATA / "prod-aws-azure.yaml").read_text(encoding="utf-8")
MISTAKES = yaml.safe_load((DATA / "config_mistakes.yaml").read_text(encoding="utf-8"))
STACK = "prod-eu"


def apply(mistake: dict) -> str:
    if mistake.get("regex"):
        text, n = re.subn(mistake["find"], mistake["replace"], BASE, count=1, flags=re.M)
        assert n == 1, f"pattern not found: {mistake['find']!r}"
        return text
    assert BASE.count(mistake["find"]) == 1, f"not exactly once in the base file: {mistake['find']!r}"
    return BASE.replace(mistake["find"], mistake["replace"])


def same_form(path: str) -> str:
    """``consumers["orders"]`` and ``consumers.orders`` name the same key (both are Pulumi --path syntax)."""
    return re.sub(r'\["([^"]+)"\]', r".\1", path)


def canaries(text: str) -> set[str]:
    return set(re.findall(r"[\w.~/+-]*CANARY[\w.~/+-]*", text))


def outcome(tmp_path: Path, text: str) -> tuple[int, str]:
    path = tmp_path / f"Pulumi.{STACK}.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_stack_file(STACK, path).load()
    except ConfigError as err:
        return 2, str(err)
    except StackFileError as err:
        return 2, f"makini-infra: {err}"
    return 0, ""


def test_the_base_stack_is_valid(tmp_path):
    assert outcome(tmp_path, BASE) == (0, "")


def test_the_corpus_is_large_and_every_mistake_is_distinct():
    assert len([m for m in MISTAKES if not m.get("accepted")]) > 100
    edits = [(m["find"], m["replace"]) for m in MISTAKES]
    assert len(set(edits)) == len(edits)


@pytest.mark.parametrize("mistake", MISTAKES, ids=[m["what"] for m in MISTAKES])
def test_every_mistake_exits_2_naming_the_key(mistake, tmp_path):
    text = apply(mistake)
    code, message = outcome(tmp_path, text)
    if mistake.get("accepted"):
        assert mistake.get("why"), "a deliberate acceptance says why"
        assert code == 0, message
        return
    assert code == 2, f"accepted silently: {mistake['what']}"
    if mistake["key"].startswith("Pulumi."):
        assert mistake["key"] in message
    else:
        paths = [same_form(p) for p in re.findall(r"^  (\S.*?): ", message, flags=re.M)]
        assert any(same_form(mistake["key"]) in p for p in paths), f"{mistake['key']} not among {paths}"
    assert "Traceback" not in message
    for canary in canaries(text):
        assert canary not in message


SAMPLE = [m for m in MISTAKES if "CANARY" in m.get("replace", "")][:3] + [MISTAKES[0], MISTAKES[30]]


@pytest.mark.parametrize("mistake", SAMPLE, ids=[m["what"] for m in SAMPLE])
def test_the_plan_command_exits_2_on_stderr_without_secrets(mistake, tmp_path, capsys):
    text = apply(mistake)
    path = tmp_path / f"Pulumi.{STACK}.yaml"
    path.write_text(text, encoding="utf-8")
    assert plan.main([STACK, "--config-file", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and mistake["key"] in err and "Traceback" not in err
    for canary in canaries(text):
        assert canary not in out + err
