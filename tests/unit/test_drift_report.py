"""infra.drift: the drift workflow's stack matrix, its reading of the check jobs, and the issue it keeps."""

from __future__ import annotations

import io
import json

import pytest

from infra import drift

RUN = "https://github.com/acme/makini-infra/actions/runs/42"


def job(stack: str, cloud: str = "success", checked: str = "success", healthy: str = "success") -> dict:
    return {
        "name": drift.JOB_NAME.format(stack=stack),
        "html_url": f"{RUN}/job/{stack}",
        "conclusion": "success" if "failure" not in (cloud, checked, healthy) else "failure",
        "steps": [
            {"name": "Set up job", "conclusion": "success"},
            {"name": "Check against Makini (python -m infra.doctor)", "conclusion": "success"},
            {"name": drift.STEP_CLOUD, "conclusion": cloud},
            {"name": drift.STEP_MAKINI_CHECKED, "conclusion": checked},
            {"name": drift.STEP_MAKINI_HEALTHY, "conclusion": healthy},
        ],
    }


def test_the_repository_matrix_is_the_example_stacks():
    assert [(m["stack"], m["backends"]) for m in drift.matrix()] == [
        ("dev", "aws"),
        ("prod", "aws"),
        ("staging", "aws azure vault"),
    ]


@pytest.mark.parametrize(
    ("steps", "cloud", "makini"),
    [
        (("success", "success", "success"), "match", "healthy"),
        (("failure", "success", "success"), "drift or error", "healthy"),
        (("success", "success", "failure"), "match", "attention"),
        (("success", "failure", "failure"), "match", "could not check"),
        (("skipped", "skipped", "skipped"), "not run", "not run"),
    ],
)
def test_results_from_the_verdict_steps(steps, cloud, makini):
    [row] = drift.results({"jobs": [job("dev", *steps)]}, ["dev"])
    assert (row.cloud, row.makini) == (cloud, makini)
    assert row.healthy is (cloud == "match" and makini == "healthy")


def test_a_stack_without_a_job_did_not_run():
    [row] = drift.results({"jobs": [job("dev")]}, ["prod"])
    assert (row.cloud, row.makini, row.url) == ("not run", "not run", None)


def test_body_and_digest():
    healthy = drift.results({"jobs": [job("dev"), job("prod")]}, ["dev", "prod"])
    drifted = drift.results({"jobs": [job("dev"), job("prod", healthy="failure")]}, ["dev", "prod"])
    text = drift.body(drifted, RUN, "2026-12-01")
    assert text.startswith(drift.DIGEST_MARKER.format(digest=drift.digest(drifted)))
    assert "**Drift or a failed check** as of 2026-12-01 ([workflow run](" in text
    assert f"| prod | ✅ match | ⚠️ attention | [job summary]({RUN}/job/prod) |" in text
    assert "60 days without repository activity" in text
    assert drift.digest(healthy) != drift.digest(drifted)
    assert drift.digest(drifted) == drift.digest(
        drift.results({"jobs": [job("dev"), job("prod", healthy="failure")]}, ["dev", "prod"])
    )
    assert "All stacks match" in drift.body(healthy, RUN, "2026-12-01")


# -- the issue ------------------------------------------------------------------------------------------------


BODY = "body.md"


def test_no_issue_and_healthy_does_nothing():
    assert drift.issue_commands(None, "healthy", "d1", BODY) == []


def test_no_issue_and_drift_opens_one():
    assert drift.issue_commands(None, "attention", "d1", BODY) == [
        ["issue", "create", "--title", drift.ISSUE_TITLE, "--label", drift.ISSUE_LABEL, "--body-file", BODY]
    ]


def test_open_issue_same_drift_updates_the_body_without_a_comment():
    existing = {"number": 7, "state": "OPEN", "body": drift.DIGEST_MARKER.format(digest="d1") + "\n..."}
    assert drift.issue_commands(existing, "attention", "d1", BODY) == [["issue", "edit", "7", "--body-file", BODY]]


def test_open_issue_changed_drift_comments_once():
    existing = {"number": 7, "state": "OPEN", "body": drift.DIGEST_MARKER.format(digest="d1")}
    commands = drift.issue_commands(existing, "attention", "d2", BODY)
    assert commands[0][:3] == ["issue", "edit", "7"] and commands[1][:3] == ["issue", "comment", "7"]


def test_closed_issue_with_new_drift_is_reopened():
    existing = {"number": 7, "state": "CLOSED", "body": drift.DIGEST_MARKER.format(digest="d1")}
    commands = drift.issue_commands(existing, "attention", "d1", BODY)
    assert [c[:3] for c in commands] == [["issue", "edit", "7"], ["issue", "reopen", "7"]]


def test_healthy_again_closes_the_open_issue_and_keeps_a_closed_one_dated():
    open_issue = {"number": 7, "state": "OPEN", "body": ""}
    assert [c[:3] for c in drift.issue_commands(open_issue, "healthy", "d0", BODY)] == [
        ["issue", "edit", "7"],
        ["issue", "close", "7"],
    ]
    closed = {"number": 7, "state": "CLOSED", "body": ""}
    assert drift.issue_commands(closed, "healthy", "d0", BODY) == [["issue", "edit", "7", "--body-file", BODY]]


class FakeGh:
    def __init__(self, issues: list[dict]) -> None:
        self.issues = issues
        self.calls: list[list[str]] = []

    def __call__(self, args: list[str]) -> str:
        self.calls.append(args)
        if args[:2] == ["issue", "list"]:
            return json.dumps(self.issues)
        return ""


def test_report_command_writes_the_body_and_publishes(tmp_path, monkeypatch):
    monkeypatch.setattr(drift, "matrix", lambda: [{"stack": "dev", "backends": "aws"}])
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"jobs": [job("dev", healthy="failure")]}))
    body_file = tmp_path / "drift.md"
    gh, out = FakeGh([]), io.StringIO()
    argv = [
        "report",
        str(jobs),
        "--run-url",
        RUN,
        "--body-file",
        str(body_file),
        "--publish",
        "--checked-on",
        "2026-12-01",
    ]
    assert drift.main(argv, out=out, gh=gh) == 0
    digest = drift.digest(drift.results({"jobs": [job("dev", healthy="failure")]}, ["dev"]))
    assert out.getvalue().startswith(f"status=attention\ndigest={digest}\n")
    assert "| dev | ✅ match | ⚠️ attention |" in body_file.read_text()
    assert gh.calls[0][:2] == ["label", "create"] and gh.calls[1][:2] == ["issue", "list"]
    assert gh.calls[2][:2] == ["issue", "create"]


def test_report_command_with_unreadable_jobs_is_exit_2(tmp_path, capsys):
    argv = ["report", str(tmp_path / "missing.json"), "--run-url", RUN, "--body-file", str(tmp_path / "b.md")]
    assert drift.main(argv) == 2
    assert "cannot read the jobs of this run" in capsys.readouterr().err


def test_a_failing_gh_is_exit_1_with_its_message(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(drift, "matrix", lambda: [{"stack": "dev", "backends": "aws"}])
    jobs = tmp_path / "jobs.json"
    jobs.write_text(json.dumps({"jobs": [job("dev")]}))

    def broken(args):
        raise RuntimeError("gh label create failed: HTTP 403: Resource not accessible by integration")

    argv = ["report", str(jobs), "--run-url", RUN, "--body-file", str(tmp_path / "b.md"), "--publish"]
    assert drift.main(argv, out=io.StringIO(), gh=broken) == 1
    assert "could not update the drift issue: gh label create failed: HTTP 403" in capsys.readouterr().err
