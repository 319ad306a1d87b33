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


def _stack_with_netsuite(tmp_path, monkeypatch, not_after=None):
    import yaml

    from infra import due as due_module
    from infra import offline

    doc = yaml.safe_load((offline.PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    first = doc["config"]["makini:connections"][0]
    ns = {"signer": (first.get("consumers") or ["orders"])[0]}
    if not_after:
        ns["certificateNotAfter"] = not_after
    doc["config"]["makini:connections"].append(
        {
            "key": "initech-ns",
            "system": "Oracle NetSuite",
            "tier": 2,
            "deployment": "cloud",
            "consumers": first.get("consumers") or ["orders"],
            "netsuite": ns,
        }
    )
    doc["config"]["makini:credits"]["pool"] = 100
    doc["config"].pop("makini:rotation", None)  # the hand-issued secrets undated: only the certificate can be due
    (tmp_path / "Pulumi.dev.yaml").write_text(dump_stack_yaml(doc))
    monkeypatch.setattr(
        due_module, "load_stack_file", lambda stack: offline.load_stack_file(stack, tmp_path / f"Pulumi.{stack}.yaml")
    )


@pytest.mark.parametrize(
    ("today", "line", "code"),
    [
        ("2027-02-28", None, EXIT_OK),
        ("2027-03-01", "REMINDER-DUE: dev connections/initech-ns/m2m-key", EXIT_DUE),  # renew by: 30 days before
        ("2027-03-31", "OVERDUE: dev connections/initech-ns/m2m-key", EXIT_DUE),
    ],
)
def test_a_netsuite_certificate_is_due_from_its_renew_by_date(tmp_path, monkeypatch, today, line, code):
    """Finding 8: it printed "no reminder possible" even after the renew-by date; now the recorded notAfter
    dates it, and infra.due fails from the renew-by date on."""
    _stack_with_netsuite(tmp_path, monkeypatch, "2027-03-31T10:00:00Z")
    got, out, err = due("dev", "--today", today)
    assert got == code, out + err
    if line:
        assert line in out
    else:
        assert "m2m-key" not in out


def test_an_undated_netsuite_certificate_fails(tmp_path, monkeypatch):
    _stack_with_netsuite(tmp_path, monkeypatch)
    code, out, _ = due("dev", "--today", "2026-11-29")
    assert code == EXIT_DUE and "UNDATED: dev connections/initech-ns/m2m-key" in out
    assert "netsuite.certificateNotAfter" in out
