"""The operator tools never print a traceback: a bad stack is exit 2 with its message, the tools that take
several stacks go on to the others, and every --help lists the exit codes."""

from __future__ import annotations

import importlib
import io

import pytest

from infra import access_check, due, offline, rotate
from infra.access_check import environment_collisions
from stacks.config.stack_file import dump_stack_yaml
from tests.support import base_config, load


@pytest.mark.parametrize("module", ["plan", "due", "access_check", "rotate", "config_reference", "doctor", "drift"])
def test_every_help_lists_the_exit_codes(module, capsys):
    with pytest.raises(SystemExit) as info:
        importlib.import_module(f"infra.{module}").main(["--help"])
    assert info.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "Exit codes: 0" in out and " 1 " in out


def _stacks(tmp_path, **configs):
    for stack, c in configs.items():
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(dump_stack_yaml({"config": c}))


def test_due_reports_a_bad_stack_and_goes_on_to_the_others(tmp_path, monkeypatch):
    good = base_config("dev")
    good["makini:rotation"] = {"webhookSecretRotatedOn": "2026-01-01"}
    bad = base_config("qa")
    bad["makini:credits"]["pool"] = "lots"
    _stacks(tmp_path, dev=good, qa=bad)
    monkeypatch.setattr(due, "load_stack_file", lambda s: offline.load_stack_file(s, tmp_path / f"Pulumi.{s}.yaml"))
    outs, errs = io.StringIO(), io.StringIO()
    code = due.main(["qa", "dev", "--today", "2026-11-29"], out=outs, err=errs)
    out, err = outs.getvalue(), errs.getvalue()
    assert code == due.EXIT_INVALID
    assert "makini:credits.pool" in err and "Traceback" not in err
    assert "OVERDUE: dev webhook/secret" in out  # the good stack was still checked


def test_due_turns_an_unexpected_failure_into_one_line(tmp_path, monkeypatch):
    def boom(stack):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(due, "load_stack_file", boom)
    errs = io.StringIO()
    assert due.main(["dev"], out=io.StringIO(), err=errs) == due.EXIT_FAILED
    err = errs.getvalue()
    assert "could not check: RuntimeError: disk on fire" in err and "Traceback" not in err


def test_access_check_refuses_one_environment_name_twice_in_one_account(tmp_path, capsys):
    a = base_config("prod") | {"aws:allowedAccountIds": ["111111111111"]}
    b = base_config("prod") | {"aws:allowedAccountIds": ["111111111111"]}
    b["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::111111111111:role/orders-other"
    b["makini:consumers"]["assets"]["aws"]["roleArn"] = "arn:aws:iam::111111111111:role/assets-other"
    _stacks(tmp_path, prod=a, **{"prod-copy": b | {"makini:production": True}})
    assert access_check.main(["--dir", str(tmp_path)]) == access_check.EXIT_INVALID
    err = capsys.readouterr().err
    assert "both deploy environment 'prod' on aws, in AWS account 111111111111" in err


def test_one_environment_name_in_two_accounts_is_fine():
    a = base_config("prod") | {"aws:allowedAccountIds": ["111111111111"]}
    b = base_config("prod") | {"aws:allowedAccountIds": ["222222222222"]}
    for consumer in b["makini:consumers"].values():
        consumer["aws"]["roleArn"] = consumer["aws"]["roleArn"].replace("111111111111", "222222222222")
    flat = lambda c: {k: v if isinstance(v, str) else __import__("json").dumps(v) for k, v in c.items()}  # noqa: E731
    assert environment_collisions({"a": (load(a), flat(a)), "b": (load(b, stack="prod"), flat(b))}) == []
    unpinned = base_config("prod")
    found = environment_collisions({"a": (load(a), flat(a)), "b": (load(unpinned), flat(unpinned))})
    assert len(found) == 1 and "aws:allowedAccountIds is not set in b" in found[0].message


def test_rotate_reports_an_invalid_stack_with_exit_2(tmp_path):
    c = base_config("dev")
    c["makni:aws"] = {}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": c}))
    errs = io.StringIO()
    code = rotate.rotate_now("dev", "acme-sap", path, out=io.StringIO(), err=errs)
    assert code == rotate.EXIT_INVALID
    assert "did you mean makini:aws?" in errs.getvalue()


def test_plan_exits_2_when_function_dependencies_are_missing(tmp_path, capsys):
    from infra import plan

    text = (offline.PROJECT_ROOT / "Pulumi.staging.yaml").read_text()
    text = text.replace(
        "    location: westeurope\n", "    location: westeurope\n    functionDependenciesDir: build/none\n"
    )
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(text)
    assert plan.main(["staging", "--config-file", str(path)]) == plan.EXIT_INVALID
    assert "makini:azure.functionDependenciesDir" in capsys.readouterr().err
