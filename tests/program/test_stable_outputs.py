"""Stack outputs are a contract: flat, documented, and the same whatever day the program runs.

A preview or a pull-request comment shows a diff on every output that changes, and application stacks read
them through ``pulumi.StackReference``; an output that moves with the calendar (an ``asOf`` date, a
reminder status) is a daily diff nobody caused. Dates and statuses belong to ``python -m infra.due`` and the
plan's rotation calendar, never to outputs.

The program runs twice per example stack under the offline mocks, on two "today"s (stacks.clock is the
seam) on either side of the webhook secret's maximum age, so every date-dependent branch differs between
the runs. What the clouds return for a resource does not depend on the day the program runs (a NetSuite
certificate is created once, so its dates stay): the mocks' own clock is pinned to one creation time.
"""

from __future__ import annotations

import types
from datetime import UTC, datetime

import pytest

from infra import offline
from infra.offline import load_stack_file, run_program
from stacks import clock
from stacks.outputs import DOCUMENTED, documented_name, is_flat
from tests.program.test_netsuite import netsuite_config
from tests.support import run

#: The example stacks, and every backend with a NetSuite connection (certificate dates).
STACKS = ("dev", "staging", "prod", "netsuite")
DAY_ONE = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
#: Past every example stack's webhook and OAuth client secret maximum age: statuses and reminders differ.
DAY_TWO = datetime(2028, 3, 1, 12, 0, tzinfo=UTC)
CREATED = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)


def outputs_on(stack: str, now: datetime, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    monkeypatch.setattr(clock, "utc_now", lambda: now)
    monkeypatch.setattr(offline, "clock", types.SimpleNamespace(utc_now=lambda: CREATED))
    if stack == "netsuite":
        cfg = netsuite_config()
        cfg["makini:rotation"] = {"webhookSecretRotatedOn": "2026-10-01", "oauthClientSecretRotatedOn": "2026-09-01"}
        return run(cfg).outputs
    src = load_stack_file(stack)
    return run_program(stack, src.config, src.secret_keys).outputs


@pytest.fixture(scope="module")
def two_days() -> dict[str, tuple[dict[str, object], dict[str, object]]]:
    with pytest.MonkeyPatch.context() as mp:
        return {s: (outputs_on(s, DAY_ONE, mp), outputs_on(s, DAY_TWO, mp)) for s in STACKS}


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_are_identical_on_two_different_days(stack, two_days):
    first, second = two_days[stack]
    changed = sorted(k for k in first.keys() | second.keys() if first.get(k) != second.get(k))
    assert changed == [], f"{stack}: outputs that depend on the day the program runs: {changed}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_output_carries_a_date_of_today(stack, two_days):
    text = repr(two_days[stack][1])
    assert "2028-03-01" not in text and "asOf" not in text


@pytest.mark.parametrize("stack", STACKS)
def test_every_output_is_documented_and_flat(stack, two_days):
    outputs = two_days[stack][0]
    undocumented = sorted(k for k in outputs if documented_name(k) is None)
    assert undocumented == [], f"{stack}: outputs missing from stacks/outputs.py: {undocumented}"
    nested = sorted(k for k, v in outputs.items() if not is_flat(documented_name(k), v))
    assert nested == [], f"{stack}: outputs nested deeper than documented: {nested}"


@pytest.mark.parametrize("stack", STACKS)
def test_no_output_holds_a_null(stack, two_days):
    """The engine drops null values from maps: a key documented as always present would go missing."""

    def nulls(value: object, where: str) -> list[str]:
        if value is None:
            return [where]
        if isinstance(value, dict):
            return [n for k, v in value.items() for n in nulls(v, f"{where}.{k}")]
        if isinstance(value, list):
            return [n for i, v in enumerate(value) for n in nulls(v, f"{where}[{i}]")]
        return []

    assert [n for k, v in two_days[stack][0].items() for n in nulls(v, k)] == []


def test_every_documented_output_is_exported_by_an_example_stack(two_days):
    exported = {documented_name(k) for first, _ in two_days.values() for k in first}
    assert sorted(set(DOCUMENTED) - exported) == []


def test_the_vault_cronjob_is_a_manifest_object_not_a_yaml_string(two_days):
    job = two_days["staging"][0]["vaultRotatorCronJob"]
    assert isinstance(job, dict) and job["kind"] == "CronJob" and job["apiVersion"] == "batch/v1"
    assert not any(isinstance(v, str) and "\n" in v for v in two_days["staging"][0].values() if v is not job)


def test_flatness_check_can_fail():
    assert not is_flat("awsSecretArns", {"connections": {"acme": "arn"}})
    assert is_flat("awsSecretArns", {"connections/acme/token": "arn"})
    assert not is_flat("environment", {"a": 1})
