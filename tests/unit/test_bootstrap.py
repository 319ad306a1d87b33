"""bootstrap/: the CI deploy identity. Trust limited to one repository's main branch and environments,
least-privilege permissions linted by parliament, and the program run under mocks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import parliament
import pytest

from infra.offline import run_program

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bootstrap"))
import ci_policy  # noqa: E402

REPO = "acme/makini-infra"


def test_trust_only_this_repository_main_and_environments():
    doc = ci_policy.trust_policy("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com", REPO)
    (statement,) = doc["Statement"]
    cond = statement["Condition"]
    assert cond["StringEquals"] == {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}
    subs = cond["StringLike"]["token.actions.githubusercontent.com:sub"]
    assert subs == ["repo:acme/makini-infra:ref:refs/heads/main", "repo:acme/makini-infra:environment:dev",
                    "repo:acme/makini-infra:environment:production"]
    assert not any("*" in s or "pull_request" in s for s in subs)


@pytest.mark.parametrize("bad", ["acme", "acme/*", "acme/makini infra", "*/*"])
def test_repository_must_be_owner_slash_name(bad):
    with pytest.raises(ValueError, match="owner/name"):
        ci_policy.trust_policy("arn", bad)


def test_deploy_policy_lints_clean_and_is_scoped_to_makini_names():
    doc = ci_policy.deploy_policy("123456789012", "eu-west-1")
    findings = [f for f in parliament.analyze_policy_string(json.dumps(doc)).findings
                if f.severity in ("MEDIUM", "HIGH", "CRITICAL")]
    assert findings == [], [(f.issue, f.detail) for f in findings]
    for statement in doc["Statement"]:
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"]
        if resources == ["*"]:
            assert all(a.split(":")[1].startswith(("Create", "List", "Describe")) for a in actions), statement["Sid"]
            continue
        if statement["Sid"] == "KmsOfMakini":  # key ids are random: scoped by the makini-infra tag instead
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/managed-by": "makini-infra"}}
            continue
        assert statement["Sid"] == "HttpApis" or all("makini" in r or r.endswith(":key/*") for r in resources), statement
    assert not any(a in ("*", "secretsmanager:*", "kms:*", "iam:*") for s in doc["Statement"] for a in s["Action"])


def test_program_under_mocks():
    run = run_program("bootstrap", {"makini-infra-bootstrap:repository": REPO}, program=ROOT / "bootstrap" / "__main__.py")
    provider = next(r for r in run.resources if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.protect and provider.plain_inputs["url"] == "https://token.actions.githubusercontent.com"
    role = next(r for r in run.resources if r.type == "aws:iam/role:Role")
    trust = json.loads(role.plain_inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"]["Federated"].endswith("github-actions")
    policy = next(r for r in run.resources if r.type == "aws:iam/rolePolicy:RolePolicy")
    assert "arn:aws:iam::123456789012:role/makini-*" in policy.plain_inputs["policy"]
    assert set(run.outputs) == {"deployRoleArn", "oidcProviderArn"}
