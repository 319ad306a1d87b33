"""The plan at scale stays readable (issue 19): beyond ``SUMMARY_THRESHOLD`` rows the human plan summarises the
credits per class, tier and deployment, the calendar per due day or week, the resource tree and the outputs, and
says how to see every row (``--detail``); the JSON keeps every row and prints a document that repeats across
resources once. Sizes at 1,000 and 5,000 connections are measured side by side in bench/plan_size.py."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infra import plan
from infra.plan import SUMMARY_THRESHOLD, _calendar_summary, build_plan, expand_documents, share_documents
from stacks.catalog import SecretKind
from stacks.config.stack_file import dump_stack_yaml
from stacks.credits import credit_report
from stacks.rotation import CalendarEntry, Mode, Status
from tests.support import load, scale_config

N = SUMMARY_THRESHOLD + 10


@pytest.fixture(scope="module")
def scaled(tmp_path_factory):
    config = scale_config(N, backends=("aws",))
    path = tmp_path_factory.mktemp("scale") / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": config}))
    return path, build_plan("dev", path), load(config)


def test_the_credits_are_summed_per_class_tier_and_deployment(scaled):
    _, p, cfg = scaled
    credits = next(s for s in p.sections if s.key == "credits")
    assert len(credits.rows) == N + 1  # every connection, and the total: --detail and the JSON keep them
    assert credits.summary is not None
    *groups, total = credits.summary.rows
    report = credit_report(cfg.connections, cfg.credits)
    assert sum(int(g[3]) for g in groups) == N and sum(int(g[4]) for g in groups) == report.used
    expected = {(c.access_class or "(own consumer list)", str(c.tier), c.deployment) for c in cfg.connections}
    assert {g[:3] for g in groups} == expected
    assert total[0] == "total" and total[3] == f"{N}"


def test_the_text_plan_summarises_and_detail_lists_everything(scaled):
    _, p, cfg = scaled
    last = cfg.connections[-1].key
    text, full = p.to_text(), p.to_text(detail=True)
    assert last not in text, "a per-connection row reached the summarised plan"
    assert last in full
    assert f"... and {N + 2 - 3} more aws:secretsmanager/secret:Secret (--detail lists every resource)" in text
    assert f"{N} connections: totals per class, tier and deployment" in text
    assert f"{N} connection tokens" in text  # the calendar's one row for every token on the same schedule
    assert len(text.splitlines()) * 2 < len(full.splitlines())  # at 60 connections; bench/plan_size.py at scale
    md = p.to_markdown()
    assert last not in md and last in p.to_markdown(detail=True)


def test_small_stacks_are_shown_row_by_row():
    p = build_plan("dev")
    assert all(s.summary is None for s in p.sections)
    assert p.to_text() == p.to_text(detail=True)


def test_the_json_keeps_every_row_and_prints_a_repeated_document_once(scaled, capsys):
    path, p, cfg = scaled
    assert plan.main(["dev", "--config-file", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    full = json.loads(json.dumps(p.to_json()))
    assert expand_documents(printed) == full  # nothing lost
    assert len(printed["credits"]["connections"]) == N and len(printed["rotation"]["secrets"]) == N + 2
    policies = [r["inputs"]["policy"] for r in printed["resources"] if r["type"].endswith("secretPolicy:SecretPolicy")]
    shared = {p["$document"] for p in policies if isinstance(p, dict)}
    assert shared and len(shared) < len(policies) / 5  # one document per class, not per secret
    assert len(json.dumps(printed)) < len(json.dumps(full)) * 0.8


def test_the_detail_flag_prints_every_row(scaled, capsys):
    path, _, cfg = scaled
    assert plan.main(["dev", "--config-file", str(path), "--detail"]) == 0
    assert cfg.connections[-1].key in capsys.readouterr().out


_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(["a" * 600, "b" * 700, "short", "c" * 511])),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from("xyz"), inner, max_size=3)),
    max_leaves=12,
)


ROOT_URN = "urn:pulumi:dev::makini-infra::pulumi:pulumi:Stack::makini-infra-dev"


def _resource(i: int, inputs, protect: bool, ignore: list[str], nested: bool, odd_urn: bool) -> dict:
    parent = ROOT_URN if not nested else "urn:pulumi:dev::makini-infra::makini:environment:Environment::makini-dev"
    qualified = "t:m:R" if not nested else "makini:environment:Environment$t:m:R"
    urn = f"urn:pulumi:dev::makini-infra::{qualified}::r{i}" + ("-renamed" if odd_urn else "")
    return {
        "urn": urn,
        "type": "t:m:R",
        "name": f"r{i}",
        "parent": parent,
        "protect": protect,
        "retainOnDelete": False,
        "ignoreChanges": ignore,
        "inputs": inputs,
    }


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(_values, st.booleans(), st.sampled_from([[], ["tags"]]), st.booleans(), st.booleans()), max_size=6
    )
)
def test_the_printed_json_loses_nothing(specs):
    root = {
        "urn": ROOT_URN,
        "type": "pulumi:pulumi:Stack",
        "name": "makini-infra-dev",
        "parent": None,
        "protect": False,
        "retainOnDelete": False,
        "ignoreChanges": [],
    }
    resources = [root, *(_resource(i, *spec) for i, spec in enumerate(specs))]
    doc = {"stack": "s", "resources": resources, "outputs": {}}
    printed = share_documents(doc)
    assert expand_documents(json.loads(json.dumps(printed))) == doc
    for text in printed.get("documents", {}).values():
        assert len(text) >= 512 and json.dumps(doc["resources"]).count(json.dumps(text)) > 1
    for r, spec in zip(printed["resources"][1:], specs, strict=True):
        assert ("urn" in r) == spec[4]  # left out exactly when the parent's URN gives it


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_example_plan_prints_without_loss(stack):
    p = build_plan(stack)
    full = json.loads(json.dumps(p.to_json()))
    printed = json.loads(json.dumps(p.to_document()))
    assert expand_documents(printed) == full
    assert all(r["parent"] is None for r in printed["resources"] if "urn" in r)  # the stack's root alone


def _entry(path: str, next_date: date | None, kind=SecretKind.CONNECTION_TOKEN) -> CalendarEntry:
    return CalendarEntry(
        "dev", path, kind, Mode.AUTOMATIC, 21, None, next_date, "rotation" if next_date else "", Status.SCHEDULED, ""
    )


def test_the_calendar_is_counted_per_day_then_per_week_with_the_first_items_due():
    today = date(2026, 12, 1)
    entries = (
        _entry("oauth/client", None, SecretKind.OAUTH_CLIENT),
        *(_entry(f"connections/a{i}/token", date(2026, 12, 3)) for i in range(5)),
        *(_entry(f"connections/b{i}/token", date(2026, 12, 21 + i % 3)) for i in range(6)),  # one week
        *(_entry(f"connections/c{i}/token", None) for i in range(7)),
    )
    summary = _calendar_summary(entries, today, 0)
    rows = {r[1]: r[5] for r in summary.rows}
    assert "oauth/client" in rows  # one of a kind: its own row
    assert rows["5 connection tokens"] == "rotation 2026-12-03"
    assert rows["6 connection tokens"] == "rotation in the week of 2026-12-21"
    assert rows["7 connection tokens"] == "every 21 d"
    assert "First due: connections/a0/token rotation 2026-12-03; connections/a1/token" in summary.notes[1]
