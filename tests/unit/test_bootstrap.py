"""bootstrap/: the CI identities. The deploy role is trusted for one repository's main branch and
environments, the read-only preview role for its pull requests only; both policies are linted by
parliament, the preview policy's read-only-ness is judged by parliament's IAM action catalogue (access
levels) and its secret denial by moto's IAM policy evaluator, and the program runs under mocks.

What moto's ``IAMPolicy`` evaluator (moto 5, ``moto/iam/access_control.py``) checks: Allow/Deny with
explicit-deny precedence, Action and Resource wildcards, and StringEquals conditions against the values
passed in; other condition operators (StringLike, the KMS tag condition) are ignored, i.e. treated as
met. The deploy trust (StringLike) is therefore matched here with fnmatch, and the KMS tag scoping is
checked by shape only."""

from __future__ import annotations

import fnmatch
import json
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from moto.iam.access_control import IAMPolicy, PermissionResult

from infra.offline import OfflineMocks, RecordingMonitor, run_program

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    import parliament

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
    assert subs == [
        "repo:acme/makini-infra:ref:refs/heads/main",
        "repo:acme/makini-infra:environment:dev",
        "repo:acme/makini-infra:environment:production",
    ]
    assert not any("*" in s or "pull_request" in s for s in subs)


@pytest.mark.parametrize("bad", ["acme", "acme/*", "acme/makini infra", "*/*"])
def test_repository_must_be_owner_slash_name(bad):
    with pytest.raises(ValueError, match="owner/name"):
        ci_policy.trust_policy("arn", bad)


def test_deploy_policy_lints_clean_and_is_scoped_to_makini_names():
    doc = ci_policy.deploy_policy("123456789012", "eu-west-1")
    findings = [
        f
        for f in parliament.analyze_policy_string(json.dumps(doc)).findings
        if f.severity in ("MEDIUM", "HIGH", "CRITICAL")
    ]
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
        assert statement["Sid"] == "HttpApis" or all("makini" in r or r.endswith(":key/*") for r in resources), (
            statement
        )
    assert not any(a in ("*", "secretsmanager:*", "kms:*", "iam:*") for s in doc["Statement"] for a in s["Action"])


def test_program_under_mocks():
    run = run_program(
        "bootstrap",
        {"makini-infra-bootstrap:repository": REPO, "aws:region": REGION},
        program=ROOT / "bootstrap" / "__main__.py",
    )
    provider = next(r for r in run.resources if r.type == "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.protect and provider.plain_inputs["url"] == "https://token.actions.githubusercontent.com"
    roles = {r.plain_inputs["name"]: r for r in run.resources if r.type == "aws:iam/role:Role"}
    assert set(roles) == {"makini-infra-deploy", "makini-infra-preview"}
    trust = json.loads(roles["makini-infra-deploy"].plain_inputs["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"]["Federated"].endswith("github-actions")
    policies = {
        r.plain_inputs["role"]: json.loads(r.plain_inputs["policy"])
        for r in run.resources
        if r.type == "aws:iam/rolePolicy:RolePolicy"
    }
    assert set(policies) == {"makini-infra-deploy", "makini-infra-preview"}
    assert "arn:aws:iam::123456789012:role/makini-*" in json.dumps(policies["makini-infra-deploy"])

    preview_trust = json.loads(roles["makini-infra-preview"].plain_inputs["assumeRolePolicy"])
    (statement,) = preview_trust["Statement"]
    assert statement["Principal"]["Federated"] == trust["Statement"][0]["Principal"]["Federated"]  # same provider
    assert statement["Condition"]["StringEquals"][SUB] == "repo:acme/makini-infra:pull_request"
    preview = policies["makini-infra-preview"]
    assert _decide(preview, "secretsmanager:GetSecretValue", _secret_arn("prod")) == "denied"
    assert _decide(preview, "secretsmanager:DescribeSecret", _secret_arn("prod")) == "allowed"

    assert set(run.outputs) == {"deployRoleArn", "previewRoleArn", "oidcProviderArn"}
    assert run.outputs["previewRoleArn"] == "arn:aws:iam::123456789012:role/makini-infra-preview"
    assert run.outputs["deployRoleArn"] == "arn:aws:iam::123456789012:role/makini-infra-deploy"


def test_program_refuses_a_bad_repository_before_declaring_anything():
    import pulumi

    monitor = RecordingMonitor(OfflineMocks())
    with pytest.raises(pulumi.RunError, match=r"makini-infra-bootstrap:repository: .*owner/name.*pulumi config set"):
        run_program(
            "bootstrap",
            {"makini-infra-bootstrap:repository": "acme/*"},
            program=ROOT / "bootstrap" / "__main__.py",
            monitor=monitor,
        )
    assert not [r for r in monitor.records.values() if r.type.startswith("aws:")]


# --- The pull-request preview role -------------------------------------------------------------------------

SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
ACCOUNT, REGION = "123456789012", "eu-west-1"


def _secret_arn(env: str, path: str = "webhook-secret", account: str = ACCOUNT) -> str:
    return f"arn:aws:secretsmanager:{REGION}:{account}:secret:makini/{env}/{path}-AbC123"


def _decide(doc: dict, action: str, resource: str) -> str:
    """moto's evaluator, mapped to IAM's words: explicit deny, allow, or implicit deny (nothing matched)."""
    result = IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource)
    return {
        PermissionResult.DENIED: "denied",
        PermissionResult.PERMITTED: "allowed",
        PermissionResult.NEUTRAL: "implicitly denied",
    }[result]


def _may_assume(trust: dict, sub: str, aud: str = "sts.amazonaws.com") -> bool:
    result = IAMPolicy(json.dumps(trust)).is_action_permitted(
        "sts:AssumeRoleWithWebIdentity", incoming_condition_values={AUD: aud, SUB: sub}
    )
    return result == PermissionResult.PERMITTED


def test_preview_trust_accepts_only_pull_requests_of_this_repository():
    trust = ci_policy.preview_trust_policy(PROVIDER, REPO)
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Federated": PROVIDER}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # Exact matches only: one operator, two keys, no wildcard anywhere.
    assert statement["Condition"] == {
        "StringEquals": {AUD: "sts.amazonaws.com", SUB: "repo:acme/makini-infra:pull_request"}
    }
    assert "*" not in json.dumps(statement["Condition"]) and "?" not in json.dumps(statement["Condition"])

    assert _may_assume(trust, "repo:acme/makini-infra:pull_request")
    for sub in [
        "repo:acme/makini-infra:ref:refs/heads/main",
        "repo:acme/makini-infra:environment:production",
        "repo:acme/makini-infra:environment:dev",
        "repo:acme/makini-infra:ref:refs/heads/feature",
        "repo:acme/makini-infra-fork:pull_request",
        "repo:evil/makini-infra:pull_request",
        "repo:acme/makini-infra:pull_request_target",
        "repo:acme/makini-infra:pull_request:x",
    ]:
        assert not _may_assume(trust, sub), sub
    assert not _may_assume(trust, "repo:acme/makini-infra:pull_request", aud="https://github.com/acme")


@pytest.mark.parametrize("bad", ["acme", "acme/*", "acme/makini infra", "*/*"])
def test_preview_trust_refuses_a_repository_that_is_not_owner_slash_name(bad):
    with pytest.raises(ValueError, match="owner/name"):
        ci_policy.preview_trust_policy(PROVIDER, bad)


def test_deploy_role_never_trusts_pull_requests():
    """IAM StringLike: ``*`` any run of characters, ``?`` one character, as fnmatch (no brackets in use)."""
    trust = ci_policy.trust_policy(PROVIDER, REPO)
    patterns = trust["Statement"][0]["Condition"]["StringLike"][SUB]
    assert not any("[" in p for p in patterns)
    main = "repo:acme/makini-infra:ref:refs/heads/main"
    assert any(fnmatch.fnmatchcase(main, p) for p in patterns)  # the matcher can say yes
    for sub in ["repo:acme/makini-infra:pull_request", "repo:acme/other:pull_request"]:
        assert not any(fnmatch.fnmatchcase(sub, p) for p in patterns), sub


def test_pr_workflow_previews_with_the_preview_role_as_a_pull_request_subject():
    """The trust above only matches if the preview job's token has the default pull_request subject:
    the workflow runs on pull_request (not pull_request_target) and the job names no environment."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "pr.yml").read_text())
    assert set(workflow[True]) == {"pull_request"}  # YAML 1.1 reads the `on` key as True
    job = workflow["jobs"]["preview"]
    assert "environment" not in job
    steps = [s for s in job["steps"] if str(s.get("uses", "")).startswith("aws-actions/configure-aws-credentials@")]
    assert [s["with"]["role-to-assume"] for s in steps] == ["${{ vars.AWS_PREVIEW_ROLE_ARN }}"]


PRIVILEGES = {
    (service["prefix"], p["privilege"]): p for service in parliament.iam_definition for p in service["privileges"]
}
EXPECTED_PREVIEW_READS = {
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:ListAliases",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:GetFunctionConcurrency",
    "lambda:GetFunctionCodeSigningConfig",
    "lambda:GetPolicy",
    "lambda:ListVersionsByFunction",
    "lambda:ListTags",
    "apigateway:GET",
    "sqs:GetQueueAttributes",
    "sqs:ListQueueTags",
    "dynamodb:DescribeTable",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:DescribeContinuousBackups",
    "dynamodb:ListTagsOfResource",
    "sns:GetTopicAttributes",
    "sns:ListTagsForResource",
    "sns:GetSubscriptionAttributes",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "scheduler:GetSchedule",
    "scheduler:ListTagsForResource",
    "sts:GetCallerIdentity",
}


def _allow_statements(doc: dict) -> list[dict]:
    return [s for s in doc["Statement"] if s["Effect"] == "Allow"]


def _as_list(value) -> list[str]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("region", [REGION, "*"])
def test_preview_policy_lints_clean_with_no_exception(region):
    """Every parliament finding counts, INFO and LOW included: there is no accepted exception."""
    doc = ci_policy.preview_policy(ACCOUNT, region)
    findings = parliament.analyze_policy_string(json.dumps(doc)).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


def test_preview_policy_only_reads_and_denies_secret_values():
    doc = ci_policy.preview_policy(ACCOUNT, REGION)
    allowed = {a for s in _allow_statements(doc) for a in _as_list(s["Action"])}
    assert {a for a in allowed if not a.startswith("iam:")} == EXPECTED_PREVIEW_READS
    assert all(a.split(":")[1].startswith(("Get", "List")) for a in allowed if a.startswith("iam:")), allowed
    # Read-only, by AWS's own access levels (parliament's copy of the IAM action catalogue): no Write,
    # no Permissions management, no Tagging; and no wildcard that could grow with AWS's catalogue.
    for action in allowed:
        assert "*" not in action, action
        service, name = action.split(":")
        level = PRIVILEGES[(service, name)]["access_level"]
        assert level in ("Read", "List"), (action, level)
    assert not allowed & {"secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "kms:Decrypt"}

    denies = [s for s in doc["Statement"] if s["Effect"] == "Deny"]
    assert len(denies) == 1 and "Condition" not in denies[0] and denies[0]["Resource"] == "*"
    assert {"secretsmanager:GetSecretValue", "kms:Decrypt"} <= set(denies[0]["Action"])


def test_preview_policy_is_scoped_to_makini_names_wherever_the_service_allows():
    doc = ci_policy.preview_policy(ACCOUNT, REGION)
    for statement in _allow_statements(doc):
        resources = _as_list(statement["Resource"])
        actions = _as_list(statement["Action"])
        if resources == ["*"]:
            # Only actions AWS cannot scope: no resource type in the catalogue.
            for action in actions:
                service, name = action.split(":")
                assert all(not r["resource_type"] for r in PRIVILEGES[(service, name)]["resource_types"]), action
        elif statement["Sid"] == "KmsKeysOfMakini":  # key ids are random: scoped by the makini-infra tag
            assert resources == [f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"]
            assert statement["Condition"] == {"StringEquals": {"aws:ResourceTag/managed-by": "makini-infra"}}
        elif statement["Sid"] == "HttpApisRead":  # API Gateway ids are random: read-only GET on HTTP APIs
            assert actions == ["apigateway:GET"]
            assert all(r.startswith(f"arn:aws:apigateway:{REGION}::/") for r in resources)
            assert not any("restapis" in r for r in resources)
        else:
            assert all(("makini-" in r or ":secret:makini/" in r) and f":{ACCOUNT}:" in r for r in resources), statement


def test_moto_denies_secret_values_and_allows_metadata_even_next_to_a_broader_policy():
    doc = ci_policy.preview_policy(ACCOUNT, REGION)
    for env in ("dev", "prod"):
        secret = _secret_arn(env)
        assert _decide(doc, "secretsmanager:DescribeSecret", secret) == "allowed"
        assert _decide(doc, "secretsmanager:GetResourcePolicy", secret) == "allowed"
        assert _decide(doc, "secretsmanager:GetSecretValue", secret) == "denied"
        assert _decide(doc, "secretsmanager:PutSecretValue", secret) == "implicitly denied"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert _decide(doc, "kms:Decrypt", key) == "denied"
    assert _decide(doc, "kms:DescribeKey", key) == "allowed"
    # Not makini's: not even metadata.
    assert (
        _decide(
            doc, "secretsmanager:DescribeSecret", f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:payroll/db-AbC123"
        )
        == "implicitly denied"
    )
    assert (
        _decide(doc, "secretsmanager:DescribeSecret", _secret_arn("prod", account="210987654321"))
        == "implicitly denied"
    )

    # Someone later attaches a broad policy: alone it would read every secret (the check can fail)...
    broad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": "*"}],
    }
    assert _decide(broad, "secretsmanager:GetSecretValue", _secret_arn("prod")) == "allowed"
    # ...but next to the preview policy the explicit Deny still wins (both documents apply to the role).
    both = {"Version": "2012-10-17", "Statement": broad["Statement"] + doc["Statement"]}
    assert _decide(both, "secretsmanager:GetSecretValue", _secret_arn("prod")) == "denied"
    assert _decide(both, "kms:Decrypt", key) == "denied"
    assert _decide(both, "secretsmanager:DescribeSecret", _secret_arn("prod")) == "allowed"
