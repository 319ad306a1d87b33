"""The limits model on real plans: the preflight predicts what the program renders, the plan shows it, and
a stack that would exceed a documented limit is refused before anything is registered."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pulumi
import pytest

from infra import plan as plan_cli
from infra.offline import OfflineMocks, RecordingMonitor, load_stack_file, run_program
from stacks.catalog import build_catalog
from stacks.config.stack_file import dump_stack_yaml
from stacks.environment.preflight import Target, limits_context, predicted_resources
from stacks.limits import LIMITS, iam_policy_chars, lambda_permission_statement, measure, report
from stacks.load import load_stack_config
from tests.support import base_config, flatten, scale_config

#: The mocks' deploying principal (infra.offline: assumed-role/makini-deployer), as aws:PrincipalArn.
MOCK_DEPLOYER = "arn:aws:iam::{account}:role/makini-deployer"


def _measured(resources, cfg, raw):
    target = Target.from_config(raw)
    return {(m.limit_id, m.resource): m.value for m in measure(resources, limits_context(cfg, target))}


def _compare(stack: str, raw: dict[str, str], secret_keys=()) -> int:
    cfg = load_stack_config(stack, raw, secret_keys)
    target = Target.from_config(raw)
    target = Target(target.partition, target.region, target.account_id, MOCK_DEPLOYER.format(account=target.account_id))
    predicted = _measured(predicted_resources(cfg, build_catalog(cfg), target, "makini-infra", None), cfg, raw)
    run = run_program(stack, raw, secret_keys)
    actual = _measured(plan_cli.plan_resources(run), cfg, raw)
    wrong = {k: (v, actual.get(k)) for k, v in predicted.items() if actual.get(k) != v}
    assert wrong == {}, wrong
    return len(predicted)


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_the_preflight_predicts_the_example_stacks_documents_exactly(stack):
    source = load_stack_file(stack)
    assert _compare(stack, source.config, source.secret_keys) > 10


def test_the_preflight_predicts_a_stack_with_classes_on_three_backends_exactly():
    c = scale_config(12)
    c["makini:consumers"]["sync"]["aws"] = {
        "createRole": {
            "trustPolicy": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": "arn:aws:iam::111111111111:role/ci"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        }
    }
    c["makini:aws"] = {"operatorArns": ["arn:aws:iam::111111111111:role/ops"]}
    covered = _compare("dev", flatten(c))
    assert covered > 12 * 5


# --------------------------------------------------------------------------------------------------
# Refusals


def too_many_explicit_tokens(n: int = 80) -> dict:
    """One consumer reading n explicit-list tokens: its read policy outgrows 6,144 characters."""
    c = base_config()
    c["aws:allowedAccountIds"] = ["111111111111"]
    c["makini:connections"] = [
        {"key": f"customer-{i:03d}", "system": "S", "tier": 1, "deployment": "cloud", "consumers": ["orders"]}
        for i in range(n)
    ]
    c["makini:connections"][0]["consumers"] = ["orders", "assets"]
    c["makini:credits"] = {"pool": n}
    return c


def test_the_program_refuses_before_registering_anything():
    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", flatten(too_many_explicit_tokens()), monitor=monitor)
    message = str(info.value)
    assert "IAM managed policy document" in message and "makini-dev-orders-read" in message
    assert "6,144" in message and "makini:accessClasses" in message
    assert "Nothing was created" in message
    assert [r.type for r in monitor.records.values()] == ["pulumi:pulumi:Stack"]


def test_the_plan_exits_2_naming_the_limit_the_resource_the_value_and_the_fix(tmp_path: Path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": too_many_explicit_tokens()}))
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = plan_cli.main(["dev", "--config-file", str(path)])
    assert code == 2 and out.getvalue() == ""
    text = err.getvalue()
    assert "would exceed 1 documented cloud limit" in text
    assert "makini-dev-aws-access-orders (makini-dev-orders-read)" in text
    measured = int(text.split(" measures ")[1].split(" ")[0].replace(",", ""))
    assert measured > 6144 and "reference_iam-quotas.html" in text
    assert "fix: file the consumer's connections under access classes" in text
    assert "Traceback" not in text


def test_the_same_stack_with_a_class_plans():
    c = too_many_explicit_tokens()
    c["makini:accessClasses"] = {"customers": {"consumers": ["orders"]}}
    for conn in c["makini:connections"][1:]:
        del conn["consumers"]
        conn["class"] = "customers"
    cfg = load_stack_config("dev", flatten(c))
    result = report(measure(predicted_resources(cfg, build_catalog(cfg), Target.from_config(flatten(c)))))
    assert result.ok


def test_azure_role_assignments_are_counted_against_the_budget():
    c = scale_config(40, ("azure",))
    c["makini:azure"]["roleAssignmentBudget"] = 20
    cfg = load_stack_config("dev", flatten(c))
    result = report(
        measure(
            predicted_resources(cfg, build_catalog(cfg), Target()),
            limits_context(cfg, Target()),
        )
    )
    (m,) = result.exceeded
    assert m.limit_id == "azure.rbac.role-assignments" and m.limit == 20 and m.value > 20
    assert "roleAssignmentBudget" in m.spec.fix


# --------------------------------------------------------------------------------------------------
# The measures themselves, against the documented definitions


def test_iam_sizes_exclude_whitespace():
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}
    compact = json.dumps(doc, separators=(",", ":"))
    assert iam_policy_chars(json.dumps(doc, indent=4)) == len(compact) == iam_policy_chars(doc)


def test_a_lambda_permission_adds_the_documented_statement_shape():
    statement = lambda_permission_statement(
        {
            "principal": "secretsmanager.amazonaws.com",
            "function": "f",
            "sourceArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-*",
            "sourceAccount": "111111111111",
        },
        type("C", (), {"partition": "aws", "region": "eu-west-1", "account_id": "111111111111"})(),
    )
    assert statement["Condition"] == {
        "StringEquals": {"AWS:SourceAccount": "111111111111"},
        "ArnLike": {"AWS:SourceArn": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-*"},
    }
    assert statement["Resource"] == "arn:aws:lambda:eu-west-1:111111111111:function:f"


def test_every_limit_cites_its_documentation():
    for limit in LIMITS.values():
        assert limit.doc.startswith("https://") and limit.value > 0 and limit.fix, limit


# --------------------------------------------------------------------------------------------------
# Path moves (a connection moving into a class is a new secret, not a rename)


def _plan_file(tmp_path: Path, config: dict, name: str) -> Path:
    path = tmp_path / name
    path.write_text(dump_stack_yaml({"config": config}))
    return path


def _moved_config(env: str) -> dict:
    c = base_config(env)
    c["makini:accessClasses"] = {"standard": {"consumers": ["orders", "assets"]}}
    del c["makini:connections"][1]["consumers"]
    c["makini:connections"][1]["class"] = "standard"
    return c


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_a_move_into_a_class_is_flagged_and_refused_in_production(tmp_path: Path, env: str):
    before = plan_cli.build_plan(env, _plan_file(tmp_path, base_config(env), "before.yaml"))
    previous = tmp_path / "previous.json"
    previous.write_text(json.dumps(before.to_json()))
    after = _plan_file(tmp_path, _moved_config(env), "after.yaml")
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = plan_cli.main([env, "--config-file", str(after), "--previous", str(previous)])
    moved = "globex-mx: connections/globex-mx/token -> connections/standard/globex-mx/token"
    if env == "prod":
        assert code == 2 and out.getvalue() == ""
        assert "its token moves from connections/globex-mx/token to connections/standard/globex-mx/token" in (
            err.getvalue()
        )
        assert "--allow-moves" in err.getvalue() and "protected" in err.getvalue()
        with redirect_stdout(io.StringIO()) as allowed, redirect_stderr(io.StringIO()):
            assert plan_cli.main([env, "--config-file", str(after), "--previous", str(previous), "--allow-moves"]) == 0
        assert moved in allowed.getvalue()
    else:
        assert code == 0, err.getvalue()
        text = out.getvalue()
        assert f"! secret path move: {moved}" in text and "Secret path moves" in text
    # the same configuration against itself: nothing moves
    same = plan_cli.build_plan(env, after, previous=None)
    again = tmp_path / "again.json"
    again.write_text(json.dumps(same.to_json()))
    assert plan_cli.build_plan(env, after, previous=again).sections[0].key != "moves"


def test_a_previous_file_that_is_not_a_plan_exits_2(tmp_path: Path):
    bogus = tmp_path / "x.json"
    bogus.write_text("{}")
    with redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()) as err:
        assert plan_cli.main(["dev", "--previous", str(bogus)]) == 2
    assert "not a plan's JSON" in err.getvalue()
