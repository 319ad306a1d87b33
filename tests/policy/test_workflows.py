"""The delivery workflows: audited by zizmor (offline, auditor persona), valid against GitHub's workflow
schema, every action pinned to a full commit SHA, the tools pinned too, minimal permissions, OIDC and no
stored cloud keys; what a pull request's jobs can reach, and the deploy order."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from stacks.config.stack_file import dump_stack_yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
BIN = Path(sys.executable).parent
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
ALLOWED_PERMISSIONS = {
    "contents": "read",
    "id-token": "write",
    "pull-requests": "write",
    # only drift.yml's report job (test_drift_workflow_...): it reads the run's jobs and writes the issue
    "actions": "read",
    "issues": "write",
}
OIDC_ACTIONS = {"pulumi/auth-actions", "aws-actions/configure-aws-credentials", "hashicorp/vault-action"}
UV_VERSION = "0.13.9"
# Commits checked against each action's published tags (git tags of the upstream repositories).
PINS = {
    "actions/checkout": ("93cb6efe18208431cddfb8368fd83d5badbf9bfd", "v5.0.1"),
    "astral-sh/setup-uv": ("37802adc94f370d6bfd71619e3f0bf239e1f3b78", "v7.6.0"),
    "pulumi/auth-actions": ("1c89817aab0c66407723cdef72b05266e7376640", "v1.0.1"),
    "aws-actions/configure-aws-credentials": ("61815dcd50bd041e203e49132bacad1fd04d2708", "v5.1.1"),
    "pulumi/actions": ("8582a9e8cc630786854029b4e09281acd6794b58", "v6.6.1"),
    "hashicorp/vault-action": ("4c06c5ccf5c0761b6029f56cfb1dcf5565918a3b", "v3.4.0"),
}


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True; keep it a string.
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)


def steps(doc: dict):
    for job_name, job in doc["jobs"].items():
        for step in job.get("steps", []):
            yield job_name, step


def test_the_workflows_exist():
    assert [f.name for f in FILES] == ["drift.yml", "main.yml", "pr.yml", "reminders.yml"]


def test_reminders_run_daily_without_cloud_access():
    doc = load(WORKFLOWS / "reminders.yml")
    triggers = doc.get("on") or doc.get(True)  # YAML 1.1 reads a bare `on` as True
    assert [t["cron"] for t in triggers["schedule"]] == ["17 6 * * *"]
    [job] = doc["jobs"].values()
    assert job["permissions"] == {"contents": "read"}
    runs = [s["run"] for s in job["steps"] if "run" in s]
    assert runs == ["uv run --locked python -m infra.due"]


def test_zizmor_offline_finds_nothing_at_the_auditor_persona():
    """Every finding counts, whatever its severity or confidence (the auditor persona)."""
    zizmor = shutil.which("zizmor", path=str(BIN)) or shutil.which("zizmor")
    assert zizmor, "zizmor is a dev dependency: uv sync"
    result = subprocess.run(
        [zizmor, "--offline", "--format", "json", "--persona", "auditor", str(WORKFLOWS)],
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
        if uses & OIDC_ACTIONS:
            assert perms.get("id-token") == "write"
        else:
            assert "id-token" not in perms, f"job {name} needs no OIDC token"
        commenting = any(s.get("with", {}).get("comment-on-pr") == "true" for s in job.get("steps", []))
        assert ("pull-requests" in perms) == commenting, f"job {name}: pull-requests only where commenting"
        if "issues" in perms or "actions" in perms:
            assert (path.name, name) == ("drift.yml", "report"), f"{path.name} job {name}: issues/actions permission"


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


def _uses(job: dict) -> dict[str, dict]:
    return {s.get("uses", "").split("@")[0]: s for s in job.get("steps", []) if "uses" in s}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_tools_are_pinned_uv_and_the_pulumi_cli(path):
    """setup-uv installs one exact uv; pulumi/actions one exact Pulumi CLI: the SDK version of uv.lock."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    (sdk,) = [p["version"] for p in lock["package"] if p["name"] == "pulumi"]
    for _, step in steps(load(path)):
        use = step.get("uses", "").split("@")[0]
        if use == "astral-sh/setup-uv":
            assert step["with"]["version"] == UV_VERSION, step
        if use == "pulumi/actions":
            assert step["with"]["pulumi-version"] == sdk, step


def test_dependabot_keeps_the_action_pins_and_both_locks_current():
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    updates = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    assert {("github-actions", "/"), ("uv", "/"), ("uv", "/policy")} <= updates


# --- Pull requests: what their code can reach --------------------------------------------------------------


def test_pull_requests_run_only_on_pull_request_and_never_in_an_environment():
    doc = load(WORKFLOWS / "pr.yml")
    assert list(doc["on"]) == ["pull_request"]  # not pull_request_target, not workflow_run
    for name, job in doc["jobs"].items():
        assert "environment" not in job, f"{name}: a pull-request job must not name an environment"


def test_pull_request_jobs_without_oidc_hold_no_credentials():
    doc = load(WORKFLOWS / "pr.yml")
    for name in ("tests", "stacks", "plan"):
        job = doc["jobs"][name]
        assert job["permissions"] == {"contents": "read"}, name
        assert not set(_uses(job)) & OIDC_ACTIONS, name


def test_every_stack_gets_an_offline_plan_and_its_bootstrap_plan_in_the_summary():
    doc = load(WORKFLOWS / "pr.yml")
    plan = doc["jobs"]["plan"]
    assert plan["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.all) }}"
    base, run = [s["run"] for s in plan["steps"] if "run" in s]
    assert 'python -m infra.plan "$STACK" --markdown --previous "$RUNNER_TEMP/base-plan.json"' in run
    assert '>> "$GITHUB_STEP_SUMMARY"' in run
    assert '--program bootstrap --markdown >> "$GITHUB_STEP_SUMMARY"' in run
    # the base branch's plan, checked out apart (no credentials), so the PR's plan reports secret path moves
    checkouts = [s for s in plan["steps"] if s.get("with", {}).get("path") == "base"]
    assert checkouts and checkouts[0]["with"] == {
        "ref": "${{ github.event.pull_request.base.sha }}",
        "path": "base",
        "persist-credentials": "false",
    }
    assert base.startswith("cd base") and '--json > "$RUNNER_TEMP/base-plan.json"' in base


def test_the_preview_job_reaches_only_preview_identities_and_the_preview_team():
    doc = load(WORKFLOWS / "pr.yml")
    preview = doc["jobs"]["preview"]
    assert preview["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.preview) }}"
    by = _uses(preview)
    assert by["pulumi/auth-actions"]["with"]["requested-token-type"] == "urn:pulumi:token-type:access_token:team"
    assert by["pulumi/auth-actions"]["with"]["scope"] == "team:${{ matrix.pulumiTeam }}"
    assert by["aws-actions/configure-aws-credentials"]["with"]["role-to-assume"] == "${{ matrix.awsRoleArn }}"
    assert by["hashicorp/vault-action"]["with"]["role"] == "${{ matrix.vaultRole }}"
    pulumi = by["pulumi/actions"]["with"]
    assert pulumi["command"] == "preview" and pulumi["policyPacks"] == "policy"
    assert "refresh" not in pulumi  # a refresh would read secret versions (GetSecretValue is denied)
    # The only repository variable a pull request sees; no secret, no Azure identity.
    text = (WORKFLOWS / "pr.yml").read_text()
    assert set(re.findall(r"vars\.(\w+)", text)) == {"PULUMI_ORG"}
    code = "\n".join(line.split(" #")[0] for line in text.splitlines() if not line.lstrip().startswith("#"))
    assert "secrets." not in code and "ARM_" not in code and "azure" not in code.lower()


def test_the_preview_matrix_is_non_production_stacks_with_their_preview_identities():
    from infra.ci import delivery_stacks, matrix

    m = matrix()
    by_name = {s.name: s for s in delivery_stacks()}
    assert [e["stack"] for e in m["preview"]] == ["dev"]
    for entry in m["preview"]:
        stack = by_name[entry["stack"]]
        assert not stack.production and "azure" not in stack.backends
        assert entry["awsRoleArn"] == f"arn:aws:iam::{stack.aws_account_id}:role/makini-infra-{stack.name}-preview"
        assert entry["pulumiTeam"] == "makini-infra-preview"
    assert {e["stack"] for e in m["all"]} == set(by_name)


def test_the_pulumi_preview_team_can_read_no_production_stack():
    from bootstrap.pulumi_cloud import PREVIEW_TEAM, READ, team_policies
    from tests.bootstrap.conftest import example

    (preview,) = [t for t in team_policies(example("dev"), "acme") if t.team == PREVIEW_TEAM]
    assert preview.stacks == {"dev": READ}
    assert preview.rules["event_name"] == "pull_request"


# --- Main: deploys in order, each job reaching its own stack only -------------------------------------------


def test_main_deploys_non_production_in_order_then_production():
    doc = load(WORKFLOWS / "main.yml")
    assert doc["on"] == {"push": {"branches": ["main"]}}
    assert doc["concurrency"]["cancel-in-progress"] == "false"
    nonprod, prod = doc["jobs"]["up-nonprod"], doc["jobs"]["up-prod"]
    assert nonprod["needs"] == ["tests", "stacks"] and prod["needs"] == ["stacks", "up-nonprod"]
    for job, key in ((nonprod, "nonprod"), (prod, "prod")):
        assert job["strategy"]["matrix"]["include"] == f"${{{{ fromJSON(needs.stacks.outputs.{key}) }}}}"
        assert job["strategy"]["max-parallel"] == "1" and job["strategy"]["fail-fast"] == "true"
        assert job["environment"] == "${{ matrix.environment }}"
        by = _uses(job)
        assert by["pulumi/auth-actions"]["with"]["scope"] == "team:${{ matrix.pulumiTeam }}"
        pulumi = by["pulumi/actions"]["with"]
        assert pulumi["command"] == "up" and pulumi["policyPacks"] == "policy"
        assert pulumi["stack-name"] == "${{ vars.PULUMI_ORG }}/makini-infra/${{ matrix.stack }}"
        runs = " ".join(s.get("run", "") for s in job["steps"])
        assert "uv sync --locked" in runs and "uv sync --locked --project policy" in runs

    from infra.ci import matrix

    m = matrix()
    assert [e["stack"] for e in m["nonprod"]] == ["dev", "staging"]
    assert [e["stack"] for e in m["prod"]] == ["prod"]


def test_each_deploy_entry_is_assumable_by_exactly_that_job_of_main_yml():
    """The workflow and the trust agree: the job main.yml runs for an entry (push to main, in the entry's
    environment) assumes that stack's deploy role, and no other stack's."""
    from bootstrap import aws_policies, oidc
    from infra.ci import matrix
    from tests.bootstrap.conftest import REPO, REPO_ID, example
    from tests.iam.aws_policy import Request, evaluate

    stacks = {s.name: s for name in ("dev", "staging", "prod") for s in example(name).served}
    entries = matrix()["nonprod"] + matrix()["prod"]
    for entry in entries:
        job = oidc.Job(REPO, REPO_ID, "push", "refs/heads/main", ".github/workflows/main.yml", entry["environment"])
        claims = oidc.token_claims(job, oidc.AWS_AUDIENCE)
        assert claims is not None
        context = {f"{oidc.HOST}:{k}": v for k, v in claims.items() if k != "iss"}
        for other in entries:
            stack = stacks[other["stack"]]
            provider = f"arn:aws:iam::{stack.aws_account_id}:oidc-provider/{oidc.HOST}"
            trust = aws_policies.deploy_trust_policy(provider, REPO, REPO_ID, stack)
            decision = evaluate(
                Request(provider, "sts:AssumeRoleWithWebIdentity", other["awsRoleArn"], context=context),
                resource_policy=trust,
            )
            assert decision.allowed == (other is entry), (entry["stack"], other["stack"])
            assert other["awsRoleArn"] == stack.deploy_role_arn()


def test_the_matrix_follows_the_stack_files(tmp_path):
    from infra.ci import matrix

    for name in ("dev", "staging", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text((ROOT / f"Pulumi.{name}.yaml").read_text())
    # Another account: every ARN of the copied dev file moves with it (roles must be in the stack's account).
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text().replace("111111111111", "444444444444"))
    doc["config"]["makini:environment"] = "qa"
    (tmp_path / "Pulumi.qa.yaml").write_text(dump_stack_yaml(doc))
    doc["config"]["makini:environment"] = "live"
    doc["config"]["makini:production"] = True
    doc["config"]["makini:webhooks"]["allowAnySource"] = False
    (tmp_path / "Pulumi.live.yaml").write_text(dump_stack_yaml(doc))
    m = matrix(tmp_path)
    assert [e["stack"] for e in m["nonprod"]] == ["dev", "qa", "staging"]
    assert [e["stack"] for e in m["prod"]] == ["live", "prod"]  # production by makini:production, not name
    assert [e["stack"] for e in m["preview"]] == ["dev", "qa"]
    (qa,) = [e for e in m["nonprod"] if e["stack"] == "qa"]
    assert qa["awsRoleArn"] == "arn:aws:iam::444444444444:role/makini-infra-qa-deploy"


def test_the_policy_pack_is_locked_like_the_program():
    """policy/ has its own dependency set, locked with hashes, at the program lock's versions; the
    workflows install it only from the lock."""
    pack = tomllib.loads((ROOT / "policy" / "uv.lock").read_text())
    program = tomllib.loads((ROOT / "uv.lock").read_text())
    versions = {p["name"]: p["version"] for p in program["package"]}
    for package in pack["package"]:
        if package.get("source", {}).get("virtual"):
            continue
        assert package.get("sdist", {}).get("hash") or all(w.get("hash") for w in package.get("wheels", [])), package
        assert package.get("wheels") or package.get("sdist"), package["name"]
        if package["name"] in ("pulumi", "pulumi-policy"):
            assert package["version"] == versions[package["name"]], package["name"]
    assert not (ROOT / "policy" / "requirements.txt").exists()
    assert yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["runtime"]["options"] == {
        "virtualenv": "venv"
    }
    for path in FILES:
        for _, step in steps(load(path)):
            assert "pip install" not in step.get("run", ""), step


# --- Drift: daily, per stack, reported in one issue ---------------------------------------------------------


def test_drift_workflow_checks_every_stack_daily_and_reports_to_an_issue():
    from infra import drift

    doc = load(WORKFLOWS / "drift.yml")
    triggers = doc.get("on") or doc.get(True)
    assert [t["cron"] for t in triggers["schedule"]] == ["41 5 * * *"] and "workflow_dispatch" in triggers
    stacks, check, report = doc["jobs"]["stacks"], doc["jobs"]["check"], doc["jobs"]["report"]
    # The stack list comes from the Pulumi.*.yaml files, not from a list in the workflow.
    assert "python -m infra.drift matrix" in stacks["steps"][-1]["run"]
    assert [m["stack"] for m in drift.matrix()] == sorted(p.name.split(".")[1] for p in ROOT.glob("Pulumi.*.yaml"))
    assert check["strategy"]["matrix"]["include"] == "${{ fromJSON(needs.stacks.outputs.matrix) }}"
    assert check["strategy"]["fail-fast"] == "false"
    assert check["name"] == drift.JOB_NAME.format(stack="${{ matrix.stack }}")
    # The check: a refreshed preview that must find no change, and the doctor; neither writes anything.
    by_action = {s.get("uses", "").split("@")[0]: s for s in check["steps"]}
    preview = by_action["pulumi/actions"]["with"]
    assert preview["command"] == "preview" and preview["refresh"] == "true" and preview["expect-no-changes"] == "true"
    assert "comment-on-pr" not in preview and "policyPacks" not in preview
    # Identities from the stack files (as pr.yml and main.yml), never a variable per stack; no environment.
    assert "environment" not in check
    assert by_action["pulumi/auth-actions"]["with"]["scope"] == "team:${{ matrix.pulumiTeam }}"
    aws = by_action["aws-actions/configure-aws-credentials"]
    assert aws["with"]["role-to-assume"] == "${{ matrix.awsRoleArn }}" and aws["if"] == "matrix.awsRoleArn != ''"
    vault = by_action["hashicorp/vault-action"]["with"]
    assert (vault["role"], vault["path"], vault["method"]) == ("${{ matrix.vaultRole }}", "jwt-github", "jwt")
    text = (WORKFLOWS / "drift.yml").read_text()
    assert set(re.findall(r"vars\.(\w+)", text)) == {
        "PULUMI_ORG",
        "AZURE_DRIFT_CLIENT_ID",
        "AZURE_DRIFT_TENANT_ID",
        "AZURE_DRIFT_SUBSCRIPTION_ID",
    }
    runs = "\n".join(s.get("run", "") for s in check["steps"])
    assert 'python -m infra.doctor "$STACK" --markdown --no-progress >> "$GITHUB_STEP_SUMMARY"' in runs
    assert "--show-secrets" not in runs
    verdicts = [s["name"] for s in check["steps"] if s.get("name", "").startswith("Verdict:")]
    assert verdicts == list(drift.VERDICT_STEPS)
    assert all(s["if"] == "${{ !cancelled() }}" for s in check["steps"] if s.get("name") in verdicts)
    assert check["permissions"] == {"contents": "read", "id-token": "write"}
    # The report: no cloud identity, only the run's job conclusions and the issue.
    assert report["needs"] == ["stacks", "check"] and report["if"] == "${{ !cancelled() }}"
    assert report["permissions"] == {"contents": "read", "actions": "read", "issues": "write"}
    used = {st.get("uses", "").split("@")[0] for st in report["steps"]} - {""}
    assert used == {"actions/checkout", "astral-sh/setup-uv"}
    run = report["steps"][-1]["run"]
    assert "/actions/runs/$GITHUB_RUN_ID/attempts/$GITHUB_RUN_ATTEMPT/jobs" in run
    assert "python -m infra.drift report" in run and "--publish" in run
    assert report["env"] == {"GH_TOKEN": "${{ github.token }}", "GH_REPO": "${{ github.repository }}"}


def test_the_drift_matrix_follows_the_stack_files(tmp_path):
    from infra import drift

    for name in ("dev", "staging", "prod"):
        (tmp_path / f"Pulumi.{name}.yaml").write_text((ROOT / f"Pulumi.{name}.yaml").read_text())
    doc = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text().replace("111111111111", "444444444444"))
    doc["config"]["makini:environment"] = "qa"
    (tmp_path / "Pulumi.qa.yaml").write_text(dump_stack_yaml(doc))
    (tmp_path / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
    by = {e["stack"]: e for e in drift.matrix(tmp_path)}
    assert sorted(by) == ["broken", "dev", "prod", "qa", "staging"]
    assert by["qa"]["awsRoleArn"] == "arn:aws:iam::444444444444:role/makini-infra-qa-drift"
    assert by["prod"]["awsRoleArn"] == "arn:aws:iam::333333333333:role/makini-infra-prod-drift"
    staging = by["staging"]
    assert (staging["backends"], staging["azure"], staging["vaultRole"]) == (
        "aws azure vault",
        "true",
        "makini-infra-staging-drift",
    )
    assert staging["vaultAddress"] == "https://vault.staging.internal:8200"  # the rotator's, as the doctor uses
    # A file that cannot be read still gets its check job (which then says why), with no identity at all.
    assert {k: v for k, v in by["broken"].items() if v} == {"stack": "broken", "pulumiTeam": drift.DRIFT_TEAM}
