"""`python -m infra.due`: the backend-independent reminder for hand-issued secrets."""

from __future__ import annotations

import io

import pytest

from infra.due import EXIT_DUE, EXIT_INVALID, EXIT_OK, main
from stacks.config.stack_file import dump_stack_yaml


def due(*argv):
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out=out, err=err), out.getvalue(), err.getvalue()


def test_nothing_due_today_in_the_example_stacks():
    code, out, _ = due("--today", "2026-11-29")
    assert code == EXIT_OK and "Nothing due as of 2026-11-29." in out


@pytest.mark.parametrize(
    ("today", "status", "code"),
    [
        # prod's webhook secret was issued 2026-10-01, maximum age 90 days (due 2026-12-30), reminder 14 days before
        ("2026-12-15", None, EXIT_OK),
        ("2026-12-16", "REMINDER-DUE: prod webhook/secret", EXIT_DUE),
        ("2026-12-30", "OVERDUE: prod webhook/secret", EXIT_DUE),
    ],
)
def test_prod_webhook_secret_reminder_dates(today, status, code):
    got, out, _ = due("prod", "--today", today)
    assert got == code, out
    if status:
        assert status in out and "need rotating" in out
    else:
        assert "webhook/secret" not in out


def test_unknown_issue_dates_are_reported_but_not_due(tmp_path, monkeypatch):
    import yaml

    from infra import due as due_module
    from infra import offline

    doc = yaml.safe_load((offline.PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    del doc["config"]["makini:rotation"]
    (tmp_path / "Pulumi.dev.yaml").write_text(dump_stack_yaml(doc))
    monkeypatch.setattr(
        due_module, "load_stack_file", lambda stack: offline.load_stack_file(stack, tmp_path / f"Pulumi.{stack}.yaml")
    )
    code, out, _ = due("dev", "--today", "2026-11-29")
    assert code == EXIT_OK
    assert "no reminder possible: dev webhook/secret" in out and "webhookSecretRotatedOn" in out


def test_unreadable_stack_exits_2():
    code, _, err = due("nosuchstack")
    assert code == EXIT_INVALID and "nosuchstack" in err
