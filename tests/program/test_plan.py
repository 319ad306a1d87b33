"""The offline plan, the main job on a machine without cloud credentials."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from infra import plan
from infra.offline import PROJECT_ROOT
from stacks.config.stack_file import dump_stack_yaml

CANARY = "CANARY-plan-4b1d-never-print"


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "infra.plan", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )


def test_cli_prints_tree_credits_and_outputs_for_dev():
    result = run_cli("dev")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "makini:aws:SecretStore  makini-dev-aws" in out
    assert "aws:secretsmanager/secret:Secret  makini-dev-aws-connections-acme-maintainx-token" in out
    assert "Connection credits" in out and "11 of 20 (9 free)" in out
    assert "policy: 8 statements: DenyInsecureTransport" in out


def test_json_document_shape(capsys):
    assert plan.main(["prod", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert all("urn" not in r for r in printed["resources"] if r["parent"])  # the parent's URN gives it
    doc = plan.expand_documents(printed)
    assert doc["stack"] == "prod"
    assert {"stack", "resources", "outputs", "credits"} <= set(doc)
    urns = {r["urn"] for r in doc["resources"]}
    for r in doc["resources"]:
        assert set(r) >= {"urn", "type", "name", "parent", "protect", "inputs"}
        assert r["parent"] is None or r["parent"] in urns
    secrets = [r for r in doc["resources"] if r["type"] == "aws:secretsmanager/secret:Secret"]
    assert secrets and all(r["protect"] for r in secrets)
    assert all("recoveryWindowInDays" in r["inputs"] for r in secrets)  # camelCase inputs
    assert doc["credits"]["used"] == 15 and doc["credits"]["free"] == 25


def write_stack(tmp_path, mutate):
    document = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    mutate(document["config"])
    path = tmp_path / "Pulumi.custom.yaml"
    path.write_text(dump_stack_yaml(document))
    return path


def test_secure_values_are_placeholders_and_shown_as_secret(tmp_path, capsys):
    def add_secrets(config):
        config["makini:oauthClientSecret"] = {"secure": "v1:" + CANARY}
        config["makini:connectionTokens"] = {"acme-maintainx": {"secure": "v1:" + CANARY}}

    path = write_stack(tmp_path, add_secrets)
    assert plan.main(["dev", "--config-file", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert CANARY not in out
    doc = json.loads(out)
    versions = [r for r in doc["resources"] if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert {v["name"] for v in versions} == {
        "makini-dev-aws-oauth-client-initial",
        "makini-dev-aws-connections-acme-maintainx-token-initial",
    }
    assert all(v["inputs"]["secretString"] == "[secret]" for v in versions)


def test_canary_secret_values_never_reach_any_format(capsys, monkeypatch):
    """Real secret values (as the CLI would decrypt them) never appear in text, JSON or Markdown."""
    from infra import offline

    real_load = offline.load_stack_file

    def with_canaries(stack, path=None, project=offline.PROJECT):
        src = real_load(stack, path, project)
        config = dict(src.config)
        config["makini:oauthClientSecret"] = CANARY
        config["makini:webhookSecret"] = CANARY
        config["makini:connectionTokens"] = json.dumps({"acme-maintainx": CANARY})
        keys = src.secret_keys | {"makini:oauthClientSecret", "makini:webhookSecret", "makini:connectionTokens"}
        return offline.StackSource(stack, config, frozenset(keys))

    monkeypatch.setattr(plan, "load_stack_file", with_canaries)
    for fmt in ([], ["--json"], ["--markdown"]):
        assert plan.main(["dev", *fmt]) == 0
        out = capsys.readouterr()
        assert CANARY not in out.out and CANARY not in out.err
        assert "[secret]" in out.out or fmt == ["--markdown"]


def test_invalid_config_exits_2_with_the_message_and_no_traceback(tmp_path):
    def break_it(config):
        config["makini:connections"][0]["tier"] = 4
        config["makini:oauthClientSecret"] = CANARY

    result = run_cli("dev", "--config-file", str(write_stack(tmp_path, break_it)))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "makini:connections[0].tier" in result.stderr
    assert "pulumi config set --secret makini:oauthClientSecret" in result.stderr
    assert "Traceback" not in result.stderr and CANARY not in result.stderr


@pytest.mark.parametrize("content", ["config: [unclosed", "- just\n- a list\n", "config: 42\n"])
def test_unreadable_stack_file_exits_2(tmp_path, content, capsys):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(content)
    assert plan.main(["dev", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "makini-infra:" in err and "Traceback" not in err


def test_missing_stack_file_exits_2(capsys):
    assert plan.main(["nosuchstack"]) == 2
    assert "Pulumi.nosuchstack.yaml does not exist" in capsys.readouterr().err


def test_markdown_has_credits_table_and_resources(capsys):
    assert plan.main(["staging", "--markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("## makini-infra plan: `staging`")
    assert "| connection | system | tier | deployment | credits |" in out
    assert "<summary>Resources</summary>" in out


def test_program_warnings_are_a_section_of_the_plan_not_stray_stderr(capsys):
    """staging's Azure apps have no vendored dependencies: the program warns, and the plan shows it."""
    assert plan.main(["staging"]) == 0
    out = capsys.readouterr()
    assert "\nWarnings\n  ! staging: the Azure " in out.out
    assert "  ! staging: the Azure webhook_receiver package carries no dependencies" in out.out
    assert out.err == ""
    assert plan.main(["staging", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert any("functionDependenciesDir" in w for w in doc["warnings"])
    assert plan.main(["dev", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["warnings"] == []


def test_access_matrix_names_the_webhook_queue_consumers(capsys):
    assert plan.main(["dev"]) == 0
    out = capsys.readouterr().out
    assert (
        "Webhook queue consumers (receive and delete, on this environment's queue and its dead-letter queue only; "
        "nobody else receives, only the receiver sends, nothing is redriven): asset-sync." in out
    )
    assert plan.main(["staging"]) == 0
    assert "Webhook queue consumers" not in capsys.readouterr().out  # staging names none


@pytest.mark.parametrize(
    ("config", "account"),
    [
        ({"aws:allowedAccountIds": '["333333333333"]'}, "333333333333"),
        ({"aws:allowedAccountIds": '["333333333333", "444444444444"]'}, "333333333333"),
        ({}, "123456789012"),
        ({"aws:allowedAccountIds": "not json"}, "123456789012"),
    ],
)
def test_mock_account_follows_the_pinned_account(config, account):
    from infra.offline import stack_account_id

    assert stack_account_id(config) == account


def test_a_program_run_leaves_no_event_loop_open():
    """The SDK calls the mock monitor from executor threads, where a loop is made per thread; left open,
    they were torn down at interpreter exit with a stray 'Exception ignored' traceback on stderr."""
    from infra.offline import OfflineMocks, RecordingMonitor, load_stack_file, run_program

    monitor = RecordingMonitor(OfflineMocks())
    src = load_stack_file("dev")
    run_program("dev", src.config, src.secret_keys, monitor=monitor)
    assert monitor.thread_loops, "the monitor was called from executor threads"
    assert all(loop.is_closed() for loop in monitor.thread_loops)
