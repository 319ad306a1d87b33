"""The trust matrix: synthetic GitHub OIDC tokens for every kind of job, against every CI identity of the
example bootstrap stacks; exactly the intended identities are assumable.

How each cloud decides, and what decides here:

* AWS: the role's trust policy, by the policy evaluator in ``tests/iam`` (``sts:AssumeRoleWithWebIdentity``
  with the token's claims as ``token.actions.githubusercontent.com:*`` context keys, as AWS STS puts them;
  AWS evaluates the GitHub claim keys sub, aud, repository_id, ref, environment and job_workflow_ref);
* Azure: a federated identity credential matches when issuer, subject and audience are equal (Microsoft
  Entra's documented exact, case-sensitive match): :meth:`bootstrap.azure_ci.FederatedCredential.matches`;
* Vault: the JWT auth role's bound_audiences / bound_subject / bound_claims (string or glob), as the Vault
  JWT auth API documents them: :meth:`bootstrap.vault_ci.JwtRole.matches`. No Vault server runs here for
  this test (a documented matcher, not a real engine);
* Pulumi Cloud: the OIDC issuer's team policies (claim rules, ``*`` wildcards): the reference matcher
  :meth:`bootstrap.oidc.ClaimRequirement.matches`.

The tokens come from :func:`bootstrap.oidc.token_claims`, which renders the subject from the repository's
custom template exactly as GitHub documents it; the matrix also runs with GitHub's default subject (the
template not applied) to show that nothing opens then either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest

from bootstrap import aws_policies, azure_ci, oidc, pulumi_cloud, vault_ci
from bootstrap.model import deploy_role_name, drift_role_name, preview_role_name
from tests.bootstrap.conftest import EXAMPLES, REPO, REPO_ID, example
from tests.iam.aws_policy import Request, evaluate

PROVIDER = "arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com"
VAULT_AUD = example("staging").settings.vault.audience  # type: ignore[union-attr]
PULUMI_AUD = pulumi_cloud.audience("acme")


@dataclass(frozen=True)
class Identity:
    name: str
    cloud: str
    audience: str
    accepts: Callable[[dict[str, str] | None], bool]


def _aws(name: str, account: str, trust: dict, role: str) -> Identity:
    provider = PROVIDER.format(account=account)

    def accepts(claims: dict[str, str] | None) -> bool:
        if claims is None:
            return False
        context = {f"{oidc.HOST}:{k}": v for k, v in claims.items() if k != "iss"}
        request = Request(
            provider, "sts:AssumeRoleWithWebIdentity", f"arn:aws:iam::{account}:role/{role}", context=context
        )
        return evaluate(request, resource_policy=trust).allowed

    return Identity(name, "aws", oidc.AWS_AUDIENCE, accepts)


def identities() -> list[Identity]:
    out: list[Identity] = []
    for name in EXAMPLES:
        boot = example(name)
        for stack in boot.served:
            account = stack.aws_account_id
            assert account is not None
            provider = PROVIDER.format(account=account)
            out.append(
                _aws(
                    f"aws:{deploy_role_name(stack.name)}",
                    account,
                    aws_policies.deploy_trust_policy(provider, REPO, REPO_ID, stack),
                    deploy_role_name(stack.name),
                )
            )
            out.append(
                _aws(
                    f"aws:{drift_role_name(stack.name)}",
                    account,
                    aws_policies.drift_trust_policy(provider, REPO, REPO_ID),
                    drift_role_name(stack.name),
                )
            )
            if stack.previewable_from_pull_requests:
                out.append(
                    _aws(
                        f"aws:{preview_role_name(stack.name)}",
                        account,
                        aws_policies.preview_trust_policy(provider, REPO, REPO_ID),
                        preview_role_name(stack.name),
                    )
                )
            if "azure" in stack.backends:
                cred = azure_ci.deploy_credential(REPO, REPO_ID, stack)
                out.append(
                    Identity(
                        f"azure:{azure_ci.deploy_identity_name(stack)}", "azure", oidc.AZURE_AUDIENCE, cred.matches
                    )
                )
            if "vault" in stack.backends:
                roles = [
                    vault_ci.deploy_role(REPO, REPO_ID, stack, VAULT_AUD),
                    vault_ci.drift_role(REPO, REPO_ID, stack, VAULT_AUD),
                ]
                if stack.previewable_from_pull_requests:
                    roles.append(vault_ci.preview_role(REPO, REPO_ID, stack, VAULT_AUD))
                out += [Identity(f"vault:{r.name}", "vault", VAULT_AUD, r.matches) for r in roles]
    # The Azure drift identity: one for every Azure stack, any of its credentials (one per event) issues a token.
    drift_credentials = azure_ci.drift_credentials(REPO, REPO_ID)
    out.append(
        Identity(
            f"azure:{azure_ci.DRIFT_IDENTITY_NAME}",
            "azure",
            oidc.AZURE_AUDIENCE,
            lambda claims, creds=drift_credentials: any(c.matches(claims) for c in creds),
        )
    )
    # A team's token is issued when any one of its OIDC policies matches (the drift team has one per event).
    policies: dict[str, list[oidc.ClaimRequirement]] = {}
    for team in pulumi_cloud.team_policies(example("dev"), "acme"):
        policies.setdefault(team.team, []).append(
            oidc.ClaimRequirement(
                equals={k: v for k, v in team.rules.items() if "*" not in v},
                like={k: v for k, v in team.rules.items() if "*" in v},
            )
        )
    for team, reqs in policies.items():
        out.append(
            Identity(
                f"pulumi:{team}", "pulumi", PULUMI_AUD, lambda claims, reqs=reqs: any(r.matches(claims) for r in reqs)
            )
        )
    return out


IDENTITIES = identities()


def _job(**kw) -> oidc.Job:
    base = {"repository": REPO, "repository_id": REPO_ID, "event_name": "push", "ref": "refs/heads/main"}
    return oidc.Job(**{**base, **kw})


MAIN = ".github/workflows/main.yml"
PR = ".github/workflows/pr.yml"


def _deployers(stack: str) -> set[str]:
    names = {f"aws:{deploy_role_name(stack)}", f"pulumi:{deploy_role_name(stack)}"}
    if stack == "staging":
        names |= {f"azure:{deploy_role_name(stack)}", f"vault:{deploy_role_name(stack)}"}
    return names


PREVIEWERS = {"aws:makini-infra-dev-preview", "pulumi:makini-infra-preview"}
DRIFT = ".github/workflows/drift.yml"
#: The drift check of every stack: one workflow, read-only identities per stack, one Pulumi team.
DRIFT_CHECKERS = {
    "aws:makini-infra-dev-drift",
    "aws:makini-infra-staging-drift",
    "aws:makini-infra-prod-drift",
    "vault:makini-infra-staging-drift",
    "azure:makini-infra-drift",
    "pulumi:makini-infra-drift",
}

#: Scenario -> (the job, the identities it may assume).
SCENARIOS: dict[str, tuple[oidc.Job, set[str]]] = {
    "push to main, deploy job of dev": (_job(workflow=MAIN, environment="dev"), _deployers("dev")),
    "push to main, deploy job of staging": (_job(workflow=MAIN, environment="staging"), _deployers("staging")),
    "push to main, deploy job of prod": (_job(workflow=MAIN, environment="prod"), _deployers("prod")),
    "push to main, job without an environment": (_job(workflow=MAIN), set()),
    "push to main, another workflow naming environment prod": (
        _job(workflow=".github/workflows/other.yml", environment="prod"),
        set(),
    ),
    "push to a feature branch naming environment prod": (
        _job(ref="refs/heads/feature", workflow=MAIN, environment="prod"),
        set(),
    ),
    "push to a feature branch naming environment dev": (
        _job(ref="refs/heads/feature", workflow=MAIN, environment="dev"),
        set(),
    ),
    "push to a feature branch without an environment": (_job(ref="refs/heads/feature", workflow=MAIN), set()),
    "push to a branch named like main in another form": (
        _job(ref="refs/heads/main-hotfix", workflow=MAIN, environment="prod"),
        set(),
    ),
    "pull request from this repository": (
        _job(event_name="pull_request", ref="refs/pull/7/merge", workflow=PR),
        PREVIEWERS,
    ),
    "pull request from this repository, job naming environment prod": (
        _job(event_name="pull_request", ref="refs/pull/7/merge", workflow=PR, environment="prod"),
        set(),
    ),
    "pull request whose branch edits main.yml (runs it on the merge ref)": (
        _job(event_name="pull_request", ref="refs/pull/7/merge", workflow=MAIN, environment="prod"),
        set(),
    ),
    "pull request from a fork (GitHub issues no token)": (
        _job(event_name="pull_request", ref="refs/pull/8/merge", workflow=PR, from_fork=True),
        set(),
    ),
    "pull_request_target on main naming environment prod": (
        _job(event_name="pull_request_target", workflow=".github/workflows/target.yml", environment="prod"),
        set(),
    ),
    "tag push naming environment prod": (_job(ref="refs/tags/v1.0.0", workflow=MAIN, environment="prod"), set()),
    "tag push without an environment": (_job(ref="refs/tags/v1.0.0", workflow=MAIN), set()),
    "workflow_dispatch on a branch naming environment prod": (
        _job(event_name="workflow_dispatch", ref="refs/heads/feature", workflow=MAIN, environment="prod"),
        set(),
    ),
    "workflow_dispatch of main.yml on main naming environment prod": (
        _job(event_name="workflow_dispatch", workflow=MAIN, environment="prod"),
        set(),
    ),
    "another repository's main deploy job": (
        _job(repository="evil/makini-infra", repository_id="999", workflow=MAIN, environment="prod"),
        set(),
    ),
    "a re-created repository of the same name (new id)": (
        _job(repository_id="999", workflow=MAIN, environment="prod"),
        set(),
    ),
    "scheduled drift check on main": (_job(event_name="schedule", workflow=DRIFT), DRIFT_CHECKERS),
    "drift check run by hand on main": (_job(event_name="workflow_dispatch", workflow=DRIFT), DRIFT_CHECKERS),
    "drift check run by hand on a feature branch": (
        _job(event_name="workflow_dispatch", ref="refs/heads/feature", workflow=DRIFT),
        set(),
    ),
    "drift.yml on a push to main (a trigger added in a branch)": (_job(workflow=DRIFT), set()),
    "drift.yml on main naming environment prod": (
        _job(event_name="workflow_dispatch", workflow=DRIFT, environment="prod"),
        set(),
    ),
    "drift.yml from a pull request": (_job(event_name="pull_request", ref="refs/pull/7/merge", workflow=DRIFT), set()),
    "drift.yml of another repository on main": (
        _job(repository="evil/makini-infra", repository_id="999", event_name="schedule", workflow=DRIFT),
        set(),
    ),
    "main.yml run by schedule on main (drift's event, another workflow)": (
        _job(event_name="schedule", workflow=MAIN),
        set(),
    ),
    "a reusable workflow of another repository on main": (
        _job(workflow=MAIN, environment="prod", reusable_workflow="evil/tools/.github/workflows/deploy.yml"),
        set(),
    ),
}


def assumable(job: oidc.Job, template: tuple[str, ...] | None = oidc.SUBJECT_CLAIM_KEYS) -> set[str]:
    return {i.name for i in IDENTITIES if i.accepts(oidc.token_claims(job, i.audience, template))}


def test_the_matrix_covers_every_identity():
    names = {i.name for i in IDENTITIES}
    assert names == set().union(*(expected for _, expected in SCENARIOS.values())), "an identity no job reaches"
    assert {i.cloud for i in IDENTITIES} == {"aws", "azure", "vault", "pulumi"}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_exactly_the_intended_identities_are_assumable(scenario):
    job, expected = SCENARIOS[scenario]
    assert assumable(job) == expected


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_with_githubs_default_subject_nothing_opens(scenario):
    """If the custom template is reset, the exact subjects no longer match: everything fails closed (AWS,
    Azure and Vault deploy identities check the subject too), never open."""
    job, expected = SCENARIOS[scenario]
    assert assumable(job, template=None) <= expected


def test_production_is_reachable_only_by_its_main_deploy_job():
    """Production's deploy identities: only its deploy job on main. Its read-only drift identity (and the
    drift team, which reads every stack): only the drift check on main."""
    names = {i.name for i in IDENTITIES}
    prod = {n for n in names if "prod" in n and "preview" not in n and "drift" not in n}
    reaching = {s for s, (job, _) in SCENARIOS.items() if assumable(job) & prod}
    assert reaching == {"push to main, deploy job of prod"}
    drift = {"aws:makini-infra-prod-drift", "pulumi:makini-infra-drift"}
    reaching = {s for s, (job, _) in SCENARIOS.items() if assumable(job) & drift}
    assert reaching == {"scheduled drift check on main", "drift check run by hand on main"}


def test_a_fork_pull_request_would_reach_only_non_production_previews_even_if_github_issued_a_token():
    """GitHub gives fork pull requests no id-token permission; were a token issued (it would carry this
    repository's claims), it would still reach only the non-production preview identities."""
    job, _ = SCENARIOS["pull request from a fork (GitHub issues no token)"]
    assert assumable(replace(job, from_fork=False)) == PREVIEWERS


def test_the_matrix_can_fail():
    """A trust like the old one (any subject of the repository, StringLike) lets a feature branch in."""
    loose = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": PROVIDER.format(account="333333333333")},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{oidc.HOST}:aud": oidc.AWS_AUDIENCE},
                    "StringLike": {f"{oidc.HOST}:sub": f"repo:{REPO}:environment:prod"},
                },
            }
        ],
    }
    old = _aws("old", "333333333333", loose, "makini-infra-deploy")
    job, _ = SCENARIOS["push to a feature branch naming environment prod"]
    assert old.accepts(oidc.token_claims(job, oidc.AWS_AUDIENCE, template=None))
