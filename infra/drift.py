"""The scheduled drift workflow's two helpers (``.github/workflows/drift.yml``).

    python -m infra.drift matrix                      # the stacks to check, from Pulumi.*.yaml (JSON)
    python -m infra.drift report JOBS.json --run-url URL --body-file BODY.md [--publish]

``matrix`` prints one entry per ``Pulumi.<stack>.yaml`` with what its check job needs, all derived from the
stack file like ``infra.ci``'s: ``stack``, ``backends``, ``awsRoleArn`` / ``awsRegion`` (the role
``makini-infra-<stack>-drift`` in the account ``aws:allowedAccountIds`` pins), ``vaultAddress`` /
``vaultRole``, ``azure``, ``pulumiTeam``. A stack file that cannot be read still gets its entry (and its
check job, which then says why).

``report`` reads the workflow run's jobs (``GET /repos/{repo}/actions/runs/{id}/attempts/{n}/jobs``, the
answer ``gh api`` prints) and writes the body of the drift issue: per stack, whether the cloud resources
match (``pulumi preview --refresh --expect-no-changes``), whether Makini could be checked and whether it
matches (``python -m infra.doctor``), each from the conclusion of one named verdict step of the check
job, with links to the job (its summary holds the doctor's table). It prints ``status=healthy`` or
``status=attention`` and ``digest=<hash of the verdicts>``; with ``--publish`` it then opens, updates,
reopens or closes the one drift issue through the ``gh`` CLI (:func:`issue_commands` decides; it comments
only when the verdicts change). Nothing here reads or prints a secret value: the inputs are job and step
conclusions.

Exit codes: 0 done (the matrix printed; the body written and, with --publish, the issue updated); 2 the
jobs file cannot be read or arguments are wrong; 1 the issue could not be updated (gh's message is shown).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from bootstrap.model import drift_role_name, pinned_account
from bootstrap.pulumi_cloud import DRIFT_TEAM
from stacks import clock
from stacks.config import ConfigError

from .access_check import stack_files
from .cli import make_parser
from .offline import DEFAULT_REGION, PROJECT_ROOT, StackFileError, load_stack_file
from .stores import vault_address

#: The check job's name for a stack (``name:`` in drift.yml), and its verdict steps. The workflow test
#: holds drift.yml to these names.
JOB_NAME = "check ({stack})"
STEP_CLOUD = "Verdict: the cloud resources match the stack"
STEP_MAKINI_CHECKED = "Verdict: Makini could be checked"
STEP_MAKINI_HEALTHY = "Verdict: Makini matches the stack"
VERDICT_STEPS = (STEP_CLOUD, STEP_MAKINI_CHECKED, STEP_MAKINI_HEALTHY)
ISSUE_TITLE = "Drift: makini-infra stacks against their clouds and Makini"
ISSUE_LABEL = "makini-drift"
DIGEST_MARKER = "<!-- makini-drift-digest: {digest} -->"


def _entry(name: str, path: Path) -> dict[str, str]:
    """One stack's matrix entry; a stack file that cannot be read still gets one (its check then says why)."""
    entry = dict.fromkeys(("backends", "awsRoleArn", "awsRegion", "vaultAddress", "vaultRole", "azure"), "")
    entry.update(stack=name, pulumiTeam=DRIFT_TEAM)
    try:
        source = load_stack_file(name, path)
        cfg = source.load()
    except (StackFileError, ConfigError):
        return entry
    entry["backends"] = " ".join(cfg.backends)
    account = pinned_account(source.config)
    if "aws" in cfg.backends and account:
        entry["awsRoleArn"] = f"arn:aws:iam::{account}:role/{drift_role_name(name)}"
        entry["awsRegion"] = source.config.get("aws:region") or DEFAULT_REGION
    if "vault" in cfg.backends:
        entry["vaultAddress"] = vault_address(cfg, source.config, {}) or ""
        entry["vaultRole"] = drift_role_name(name)
    entry["azure"] = "true" if "azure" in cfg.backends else ""
    return entry


def matrix(root: Path = PROJECT_ROOT) -> list[dict[str, str]]:
    """Every ``Pulumi.<stack>.yaml`` under ``root``, with what its drift job needs to reach the stack."""
    return [_entry(name, path) for name, path in stack_files(root).items()]


@dataclass(frozen=True)
class StackResult:
    stack: str
    cloud: str  # "match", "drift or error", "not run"
    makini: str  # "healthy", "attention", "could not check", "not run"
    url: str | None

    @property
    def healthy(self) -> bool:
        return self.cloud == "match" and self.makini == "healthy"


def _step_conclusions(job: Mapping[str, Any]) -> dict[str, str]:
    return {str(s.get("name")): str(s.get("conclusion") or "") for s in job.get("steps") or [] if isinstance(s, dict)}


def results(jobs_answer: Mapping[str, Any], stacks: Sequence[str]) -> list[StackResult]:
    jobs = {str(j.get("name")): j for j in jobs_answer.get("jobs") or [] if isinstance(j, dict)}
    out = []
    for stack in stacks:
        job = jobs.get(JOB_NAME.format(stack=stack))
        if job is None:
            out.append(StackResult(stack, "not run", "not run", None))
            continue
        steps = _step_conclusions(job)
        cloud = {"success": "match", "failure": "drift or error"}.get(steps.get(STEP_CLOUD, ""), "not run")
        checked, healthy = steps.get(STEP_MAKINI_CHECKED, ""), steps.get(STEP_MAKINI_HEALTHY, "")
        if checked == "failure":
            makini = "could not check"
        elif checked == "success" and healthy == "success":
            makini = "healthy"
        elif checked == "success" and healthy == "failure":
            makini = "attention"
        else:
            makini = "not run"
        out.append(StackResult(stack, cloud, makini, job.get("html_url")))
    return out


def digest(rows: Sequence[StackResult]) -> str:
    text = json.dumps([(r.stack, r.cloud, r.makini) for r in rows])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


_ICON = {"match": "✅", "healthy": "✅", "attention": "⚠️", "drift or error": "⚠️", "could not check": "❓"}


def body(rows: Sequence[StackResult], run_url: str, checked_on: str) -> str:
    healthy = all(r.healthy for r in rows)
    lines = [
        DIGEST_MARKER.format(digest=digest(rows)),
        f"**{'All stacks match' if healthy else 'Drift or a failed check'}** as of {checked_on} "
        f"([workflow run]({run_url})).",
        "",
        "| stack | cloud resources (`pulumi preview --refresh --expect-no-changes`) | Makini (`python -m infra.doctor`) | details |",
        "|---|---|---|---|",
    ]
    for r in rows:
        link = f"[job summary]({r.url})" if r.url else "-"
        lines.append(
            f"| {r.stack} | {_ICON.get(r.cloud, '⏭️')} {r.cloud} | {_ICON.get(r.makini, '⏭️')} {r.makini} | {link} |"
        )
    lines += [
        "",
        "What to do: open the job summary of a stack for the doctor's table (connections, reasons, credits; never a "
        "value) and the preview's log for the resources that drifted; then follow docs/operations.md, "
        "'Drift and the daily check'. This issue is updated by `.github/workflows/drift.yml` every day: if the date "
        "above is more than two days old, the schedule has stopped (GitHub disables scheduled workflows after 60 "
        "days without repository activity): re-enable it under Actions.",
    ]
    return "\n".join(lines) + "\n"


Gh = Callable[[list[str]], str]


def gh_cli(args: list[str]) -> str:
    """Run the GitHub CLI (``GH_TOKEN`` and ``GH_REPO`` come from the job's environment)."""
    result = subprocess.run(["gh", *args], capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"gh {args[0]} {args[1] if len(args) > 1 else ''} failed: {result.stderr.strip()[:300]}")
    return result.stdout


def issue_commands(
    existing: Mapping[str, Any] | None, status: str, new_digest: str, body_file: Path
) -> list[list[str]]:
    """The ``gh`` commands that bring the drift issue up to date (pure).

    No issue and all healthy: nothing. No issue and drift: create it. Otherwise the body is replaced (it
    carries the date of the check), and: drift on a closed issue reopens it; drift that changed since the
    last body comments (a notification for subscribers, once per change, not daily); all healthy closes an
    open issue with a comment.
    """
    if existing is None:
        if status != "attention":
            return []
        return [["issue", "create", "--title", ISSUE_TITLE, "--label", ISSUE_LABEL, "--body-file", str(body_file)]]
    number = str(existing["number"])
    commands = [["issue", "edit", number, "--body-file", str(body_file)]]
    is_open = str(existing.get("state", "")).upper() == "OPEN"
    same = DIGEST_MARKER.format(digest=new_digest) in str(existing.get("body") or "")
    if status == "attention":
        if not is_open:
            commands.append(
                ["issue", "reopen", number, "--comment", "Drift or a failed check again: see the table above."]
            )
        elif not same:
            commands.append(["issue", "comment", number, "--body", "The results changed: see the table above."])
    elif is_open:
        commands.append(["issue", "close", number, "--comment", "Every stack matches its clouds and Makini again."])
    return commands


def publish(status: str, new_digest: str, body_file: Path, gh: Gh = gh_cli) -> list[list[str]]:
    """Create, update, reopen or close the drift issue; returns the commands it ran."""
    gh(["label", "create", ISSUE_LABEL, "--color", "D93F0B", "--description", "Daily drift check", "--force"])
    listed = json.loads(
        gh(["issue", "list", "--label", ISSUE_LABEL, "--state", "all", "--limit", "1", "--json", "number,state,body"])
        or "[]"
    )
    commands = issue_commands(listed[0] if listed else None, status, new_digest, body_file)
    for command in commands:
        gh(command)
    return commands


def main(argv: list[str] | None = None, out: IO[str] = sys.stdout, gh: Gh = gh_cli) -> int:
    parser = make_parser("python -m infra.drift", __doc__ or "")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("matrix", help="the stacks to check, as JSON for a job matrix")
    rep = sub.add_parser("report", help="the drift issue's body from the run's jobs")
    rep.add_argument("jobs", type=Path, help="the jobs of this workflow run (gh api ... > FILE)")
    rep.add_argument("--run-url", required=True)
    rep.add_argument("--body-file", type=Path, required=True)
    rep.add_argument("--checked-on", default=None, help="date shown in the issue (default: today, UTC)")
    rep.add_argument("--publish", action="store_true", help="open, update or close the drift issue (gh CLI)")
    args = parser.parse_args(argv)
    if args.command == "matrix":
        out.write(json.dumps(matrix()) + "\n")
        return 0
    try:
        answer = json.loads(args.jobs.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        print(f"makini-infra drift: cannot read the jobs of this run from {args.jobs}: {err}", file=sys.stderr)
        return 2
    rows = results(answer, [m["stack"] for m in matrix()])
    args.body_file.write_text(
        body(rows, args.run_url, args.checked_on or clock.utc_today().isoformat()), encoding="utf-8"
    )
    status = "healthy" if all(r.healthy for r in rows) else "attention"
    out.write(f"status={status}\ndigest={digest(rows)}\n")
    if args.publish:
        try:
            for command in publish(status, digest(rows), args.body_file, gh):
                out.write(f"gh {' '.join(command[:3])}\n")
        except (RuntimeError, ValueError, KeyError, OSError, subprocess.SubprocessError) as err:
            print(f"makini-infra drift: could not update the drift issue: {err}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
