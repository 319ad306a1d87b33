"""Bad input: a bootstrap configuration that would widen trust, or drop the boundary, is refused before
anything is declared, with the key and the fix (the program, and the offline plan with exit code 2)."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from bootstrap.model import BOOTSTRAP_DIR, BootstrapConfigError, load_bootstrap
from infra.ci import read_stack_files
from infra.offline import PROJECT_ROOT, OfflineMocks, RecordingMonitor, run_program
from infra.plan import main as plan_main
from stacks.config.stack_file import dump_stack_yaml
from tests.bootstrap.conftest import EXAMPLES, example, raw_example

NS = "makini-infra-bootstrap"


def _refused(config: dict[str, str], name: str = "dev", account: str | None = "111111111111") -> BootstrapConfigError:
    with pytest.raises(BootstrapConfigError) as info:
        load_bootstrap(name, config, read_stack_files(), aws_account_id=account)
    return info.value


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_bootstrap_stacks_are_valid(name):
    boot = example(name)
    assert [s.name for s in boot.served] == [name]
    assert boot.repository == "acme/makini-infra" and boot.repository_id == "704215839"


@pytest.mark.parametrize(
    ("key", "value", "expect"),
    [
        ("repository", "acme/*", "is a pattern"),
        ("repository", "*/*", "is a pattern"),
        ("repository", "acme/makini-?", "is a pattern"),
        ("repository", "acme", "is not owner/name"),
        ("repository", "acme/makini infra", "is not owner/name"),
        ("repositoryId", "12*", "is not a repository id"),
        ("branch", "main", "cannot be configured"),
        ("branches", json.dumps(["main", "release/*"]), "cannot be configured"),
        ("deployBranch", "release/*", "cannot be configured"),
        ("environments", json.dumps({"prod": "*"}), "cannot be configured"),
        ("subjects", json.dumps(["repo:acme/makini-infra:*"]), "cannot be configured"),
        ("workflows", json.dumps([".github/workflows/*.yml"]), "cannot be configured"),
        ("permissionsBoundary", "false", "cannot be changed or switched off"),
        ("permissionsBoundaryArn", "arn:aws:iam::aws:policy/AdministratorAccess", "cannot be changed or switched off"),
        ("aws", json.dumps({"permissionsBoundary": None}), "cannot be changed or switched off"),
    ],
)
def test_widening_settings_are_refused_with_the_key_and_the_fix(key, value, expect):
    config = {**raw_example("dev"), f"{NS}:{key}": value}
    err = _refused(config)
    (problem,) = [p for p in err.problems if expect in p.message]
    assert problem.path.startswith(f"{NS}:{key.split('.')[0]}") or problem.path.startswith(f"{NS}:aws")
    assert problem.fix, problem
    assert "Nothing was created or changed" in str(err)


def test_unknown_keys_and_unknown_stacks_are_refused():
    config = {**raw_example("dev"), f"{NS}:stacks": json.dumps(["dev", "qa"]), f"{NS}:extraRoles": "[]"}
    err = _refused(config)
    paths = {p.path for p in err.problems}
    assert f"{NS}:extraRoles" in paths
    assert f"{NS}:stacks[1]" in paths and any("no Pulumi.qa.yaml" in p.message for p in err.problems)


def test_a_stack_of_another_account_is_refused():
    config = {**raw_example("dev"), f"{NS}:stacks": json.dumps(["prod"])}
    err = _refused(config, account="111111111111")
    assert any("deploys into account 333333333333" in p.message for p in err.problems)


def test_stacks_of_two_accounts_in_one_bootstrap_stack_are_refused():
    config = {**raw_example("dev"), f"{NS}:stacks": json.dumps(["dev", "prod"])}
    err = _refused(config, account=None)
    assert any("different AWS accounts" in p.message for p in err.problems)


def test_missing_vault_and_azure_sections_are_named():
    config = {k: v for k, v in raw_example("staging").items() if not k.startswith((f"{NS}:vault", f"{NS}:azure"))}
    err = _refused(config, "staging", account="222222222222")
    paths = {p.path for p in err.problems}
    assert {f"{NS}:vault", f"{NS}:azure"} <= paths


def test_a_served_stack_whose_roles_would_carry_another_boundary_is_refused(tmp_path):
    root = tmp_path
    for name in ("dev", "staging", "prod"):
        (root / f"Pulumi.{name}.yaml").write_text((PROJECT_ROOT / f"Pulumi.{name}.yaml").read_text())
    doc = yaml.safe_load((root / "Pulumi.dev.yaml").read_text())
    doc["config"]["makini:aws"] = {"permissionsBoundaryArn": "arn:aws:iam::111111111111:policy/something-else"}
    (root / "Pulumi.dev.yaml").write_text(dump_stack_yaml(doc))
    with pytest.raises(BootstrapConfigError) as info:
        load_bootstrap("dev", raw_example("dev"), read_stack_files(root), aws_account_id="111111111111")
    (problem,) = info.value.problems
    assert problem.path == "Pulumi.dev.yaml: makini:aws.permissionsBoundaryArn"
    assert "pulumi config rm --path makini:aws.permissionsBoundaryArn --stack dev" in problem.fix


def test_the_program_refuses_before_declaring_anything():
    monitor = RecordingMonitor(OfflineMocks())
    config = {**raw_example("dev"), f"{NS}:repository": "acme/*"}
    with pytest.raises(pulumi.RunError, match=r"makini-infra-bootstrap:repository: 'acme/\*' is a pattern"):
        run_program(
            "dev",
            config,
            program=BOOTSTRAP_DIR / "__main__.py",
            monitor=monitor,
            project="makini-infra-bootstrap",
        )
    assert not [r for r in monitor.records.values() if r.type != "pulumi:pulumi:Stack"]


def test_the_offline_plan_exits_2_with_the_message(tmp_path, capsys):
    doc = yaml.safe_load((BOOTSTRAP_DIR / "Pulumi.dev.yaml").read_text())
    doc["config"]["makini-infra-bootstrap:branches"] = ["main", "release/*"]
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml(doc))
    assert plan_main(["dev", "--program", "bootstrap", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "makini-infra-bootstrap:branches: deploy branches cannot be configured" in err
    assert "fix: pulumi config rm makini-infra-bootstrap:branches" in err
    assert "Traceback" not in err
