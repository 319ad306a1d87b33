"""The offline plan of every example stack, byte for byte, against a committed snapshot.

A restructuring commit must leave these files unchanged: that is the proof it changed no behaviour.
A deliberate behaviour change regenerates them in its own commit, and the diff is the review:

    UPDATE_SNAPSHOTS=1 uv run pytest tests/program/test_plan_snapshot.py

"Now" is pinned (stacks.clock), so the calendar, reminders and certificate dates do not move daily.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from infra.plan import build_plan
from stacks import clock

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
PINNED_NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXAMPLE_STACKS = sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))


def plan_json(stack: str) -> str:
    return json.dumps(build_plan(stack).to_json(), indent=1, sort_keys=True) + "\n"


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_plan_json_matches_snapshot(stack, monkeypatch):
    monkeypatch.setattr(clock, "utc_now", lambda: PINNED_NOW)
    text = plan_json(stack)
    snapshot = SNAPSHOTS / f"{stack}.plan.json"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        snapshot.write_text(text, encoding="utf-8")
    assert snapshot.exists(), f"no snapshot for {stack}: run UPDATE_SNAPSHOTS=1 uv run pytest {__file__}"
    expected = snapshot.read_text(encoding="utf-8")
    assert text == expected, (
        f"the offline plan of {stack} changed. If the change is deliberate, regenerate the snapshot "
        f"(UPDATE_SNAPSHOTS=1 uv run pytest tests/program/test_plan_snapshot.py) in its own commit."
    )


def test_there_is_a_snapshot_per_example_stack():
    assert sorted(p.name.split(".")[0] for p in SNAPSHOTS.glob("*.plan.json")) == EXAMPLE_STACKS
