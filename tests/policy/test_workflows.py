"""The delivery workflows: audited by zizmor (offline), valid against GitHub's workflow schema, every
action pinned to a full commit SHA, minimal permissions, OIDC and no stored cloud keys, prod gated."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ALLOWED_PERMISSIONS = {"contents": "read", "id-token": "write", "pull-requests": "write"}
# Commits checked against each action's published tags (git tags of the upstream repositories).
PINS = {
    "actions/checkout": ("93cb6efe18208431cddfb8368fd83d5badbf9bfd", "v5.0.1"),
    "astral-sh/setup-uv": ("37802adc94f370d6bfd71619e3f0bf239e1f3b78", "v7.6.0"),
    "pulumi/auth-actions": ("1c89817aab0c66407723cdef72b05266e7376640", "v1.0.1"),
    "aws-actions/configure-aws-credentials": ("61815dcd50bd041e203e49132bacad1fd04d2708", "v5.1.1"),
    "pulumi/actions": ("8582a9e8cc630786854029b4e09281acd6794b58", "v6.6.1"),
}


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True; keep it a string.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


def steps(doc: dict):
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def test_the_workflows_exist():
    assert [f.name for f in FILES] == ["main.yml", "pr.yml", "reminders.yml"]


def test_reminders_run_daily_without_cloud_access():
    doc = load(WORKFLOWS / "reminders.yml")
    triggers = doc.get("on") or doc.get(True)  # YAML 1.1 reads a bare `on` as True
    assert [t["cron"] for t in triggers["schedule"]] == ["17 6 * * *"]
    [job] = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["uv run --locked python -m infra.due"]


def test_zizmor_offline_finds_nothing_at_medium_or_above():
    zizmor = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
    assert zizmor, "zizmor is a dev dependency: uv sync"
    result = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--min-severity", "medium", str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], json.dumps(findings, indent=1)[:3000]
    assert result.returncode == 0, result.stderr[-2000:]


def test_zizmor_would_catch_an_unpinned_action(tmp_path):
    """The audit is live: the same workflow with a tag instead of a SHA is a finding."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    text = (WORKFLOWS / "pr.yml").read_text(encoding="utf-8")
    (bad / "pr.yml").write_text(re.sub(r"pulumi/actions@[0-9a-f]{40}", "pulumi/actions@v6", text), encoding="utf-8")
    zizmor = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
    result = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--persona", "pedantic", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert any(f["ident"] == "unpinned-uses" for f in json.loads(result.stdout))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_valid_against_the_github_workflow_schema(path):
    checker = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    result = subprocess.run(
        [checker, "--builtin-schema", "vendor.github-workflows", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_verified_commit(path):
    doc = load(path)
    uses = [step["uses"] for _, step in steps(doc) if "uses" in step]
    assert uses
    for use in uses:
        assert SHA_PIN.match(use), f"{path.name}: {use} is not pinned to a 40-hex commit SHA"
        action, sha = use.split("@")
        assert PINS[action][0] == sha, f"{use}: not the verified commit {PINS[action]}"
    for line in path.read_text(encoding="utf-8").splitlines():
        if "uses:" in line:
            action, sha = line.split("uses:")[1].split("#")[0].strip().split("@")
            assert line.rstrip().endswith(f"# {PINS[action][1]}"), f"version comment missing or wrong: {line}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_minimal(path):
    doc = load(path)
    assert doc["permissions"] == {}, "top-level permissions must be {} (jobs opt in)"
    for name, job in doc["jobs"].items():
        perms = job.get("permissions")
        assert isinstance(perms, dict) and perms, f"job {name} must declare its permissions"
        for scope, level in perms.items():
            assert ALLOWED_PERMISSIONS.get(scope) == level, f"job {name}: {scope}: {level}"
        uses = {s.get("uses", "").split("@")[0] for s in job.get("steps", [])}
        if "pulumi/auth-actions" in uses or "aws-actions/configure-aws-credentials" in uses:
            assert perms.get("id-token") == "write"
        else:
            assert "id-token" not in perms, f"job {name} needs no OIDC token"
        commenting = any(s.get("with", {}).get("comment-on-pr") == "true" for s in job.get("steps", []))
        assert ("pull-requests" in perms) == commenting, f"job {name}: pull-requests only where commenting"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_stored_cloud_keys_and_no_expressions_in_run_blocks(path):
    text = path.read_text(encoding="utf-8")
    for forbidden in (
        "aws-access-key-id",
        "aws-secret-access-key",
        "PULUMI_ACCESS_TOKEN",
        "ARM_CLIENT_SECRET",
        "secrets.",
    ):
        assert forbidden not in text, forbidden
    doc = load(path)
    assert doc.get("concurrency", {}).get("group")
    for job, step in steps(doc):
        assert "${{" not in step.get("run", ""), f"{path.name} job {job}: expression in a run block"
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] == "false"


def test_pull_request_workflow_previews_every_stack_with_policy_pack_and_plan():
    doc = load(WORKFLOWS / "pr.yml")
    assert list(doc["on"]) == ["pull_request"]
    preview = doc["jobs"]["preview"]
    assert preview["needs"] == "tests" and preview["strategy"]["matrix"]["stack"] == ["dev", "staging", "prod"]
    assert preview["env"]["ARM_USE_OIDC"] == "true"
    by_action = {s.get("uses", "").split("@")[0]: s for s in preview["steps"]}
    pulumi = by_action["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview" and pulumi["comment-on-pr"] == "true" and pulumi["policyPacks"] == "policy"
    assert "role-to-assume" in by_action["aws-actions/configure-aws-credentials"]["with"]
    runs = [s.get("run", "") for s in preview["steps"]]
    assert any('python -m infra.plan "$STACK" --markdown >> "$GITHUB_STEP_SUMMARY"' in r for r in runs)
    assert any("uv sync --locked" in r for r in runs)
    tests = doc["jobs"]["tests"]
    assert any("uv run --locked pytest" in s.get("run", "") for s in tests["steps"])


def test_main_workflow_deploys_dev_then_prod_behind_the_production_environment():
    doc = load(WORKFLOWS / "main.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    dev, prod = doc["jobs"]["up-dev"], doc["jobs"]["up-prod"]
    assert prod["needs"] == "up-dev" and prod["environment"] == "production"
    assert doc["concurrency"]["cancel-in-progress"] == "false"
    for job, stack in ((dev, "dev"), (prod, "prod")):
        pulumi = next(s for s in job["steps"] if s.get("uses", "").startswith("pulumi/actions@"))["with"]
        assert pulumi["command"] == "up" and pulumi["stack-name"].endswith(f"/makini-infra/{stack}")
        assert pulumi["policyPacks"] == "policy"
