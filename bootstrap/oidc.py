"""GitHub Actions OIDC tokens: the claims a job's token carries, and the exact claims each CI identity needs.

Sources (GitHub Docs, "OpenID Connect reference", https://docs.github.com/en/actions/reference/security/oidc):

* the token's claims: ``sub``, ``aud``, ``iss`` and GitHub's own (``repository``, ``repository_id``,
  ``ref``, ``environment``, ``event_name``, ``job_workflow_ref``, ...). ``job_workflow_ref`` is
  ``<owner>/<repo>/<path>@<ref>``: for a job of a non-reusable workflow it names that workflow file at the
  ref that triggered the run (real tokens show it equal to ``workflow_ref``, e.g. the sample output in the
  README of github/actions-oidc-debugger);
* the default subject: ``repo:<owner>/<repo>:environment:<env>`` when the job names an environment, else
  ``repo:<owner>/<repo>:pull_request`` for ``pull_request`` events, else ``repo:<owner>/<repo>:ref:<ref>``;
* "Customizing the subject claims for an organization or repository": with ``include_claim_keys`` the
  subject is ``key:value`` pairs joined by ``:`` in the listed order, ``repo`` standing for
  ``repository`` and ``context`` for the part that follows the repository in the default subject
  (e.g. ``repo:octo-org/octo-repo:environment:prod:job_workflow_ref:...``); a ``:`` inside a value is
  written ``%3A``;
* pull requests from forks: GitHub grants no ``id-token: write`` to ``pull_request`` runs from forks
  (GitHub Docs, "Automatic token authentication" / "Permissions for the GITHUB_TOKEN": forked pull
  requests get read-only permissions), so no OIDC token exists for them; :func:`token_claims` returns
  None for such a job.

makini-infra's subject template (:data:`SUBJECT_CLAIM_KEYS`) puts the repository id, the context, the
event and the workflow file *with its ref* into the subject, so an identity whose credential matches the
subject exactly (Azure) or by pattern (AWS, Vault) names one workflow file on one branch in one
environment. The bootstrap manages the template (pulumi-github) when ``github.manage`` is set.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

#: The only branch any stack is deployed from, and the only workflow files that deploy and preview.
DEPLOY_BRANCH = "main"
DEPLOY_WORKFLOW = ".github/workflows/main.yml"
PREVIEW_WORKFLOW = ".github/workflows/pr.yml"
#: The daily drift check (read-only), on main only, run by its schedule or by hand, in no GitHub environment.
DRIFT_WORKFLOW = ".github/workflows/drift.yml"
DRIFT_EVENTS = ("schedule", "workflow_dispatch")

ISSUER = "https://token.actions.githubusercontent.com"
HOST = "token.actions.githubusercontent.com"
AWS_AUDIENCE = "sts.amazonaws.com"
AZURE_AUDIENCE = "api://AzureADTokenExchange"
#: The audience the workflows request for Vault's JWT login (hashicorp/vault-action jwtGithubAudience).
VAULT_AUDIENCE = "makini-infra-vault"

#: The repository's OIDC subject template (PUT /repos/{owner}/{repo}/actions/oidc/customization/sub).
SUBJECT_CLAIM_KEYS: tuple[str, ...] = ("repo", "repository_id", "context", "event_name", "job_workflow_ref")


@dataclass(frozen=True)
class Job:
    """A GitHub Actions job that asks for an OIDC token (what the claims are computed from)."""

    repository: str
    repository_id: str
    event_name: str
    ref: str
    workflow: str = ".github/workflows/main.yml"
    environment: str | None = None
    #: The pull request comes from a fork (GitHub issues no OIDC token to it).
    from_fork: bool = False
    #: A reusable workflow the job runs (``owner/repo/path``) instead of ``workflow`` of ``repository``.
    reusable_workflow: str | None = None
    reusable_workflow_ref: str | None = None

    @property
    def job_workflow_ref(self) -> str:
        if self.reusable_workflow is not None:
            return f"{self.reusable_workflow}@{self.reusable_workflow_ref or self.ref}"
        return f"{self.repository}/{self.workflow}@{self.ref}"

    @property
    def context(self) -> str:
        if self.environment is not None:
            return f"environment:{_escape(self.environment)}"
        if self.event_name == "pull_request":
            return "pull_request"
        return f"ref:{self.ref}"


def _escape(value: str) -> str:
    return value.replace(":", "%3A")


def render_subject(claims: dict[str, str], context: str, keys: tuple[str, ...] = SUBJECT_CLAIM_KEYS) -> str:
    """The ``sub`` claim under a custom template (``keys``), from the other claims and the context."""
    parts: list[str] = []
    for key in keys:
        if key == "context":
            parts.append(context)
        elif key == "repo":
            parts.append(f"repo:{_escape(claims['repository'])}")
        else:
            parts.append(f"{key}:{_escape(claims[key])}")
    return ":".join(parts)


def default_subject(claims: dict[str, str], context: str) -> str:
    return f"repo:{claims['repository']}:{context}"


def token_claims(
    job: Job, audience: str, template: tuple[str, ...] | None = SUBJECT_CLAIM_KEYS
) -> dict[str, str] | None:
    """The claims of ``job``'s OIDC token for ``audience`` (None: GitHub issues no token to this job).

    ``template`` is the repository's subject template (None: GitHub's default subject).
    """
    if job.from_fork and job.event_name == "pull_request":
        return None
    claims = {
        "iss": ISSUER,
        "aud": audience,
        "repository": job.repository,
        "repository_id": job.repository_id,
        "repository_owner": job.repository.split("/")[0],
        "ref": job.ref,
        "ref_type": "tag" if job.ref.startswith("refs/tags/") else "branch",
        "event_name": job.event_name,
        "job_workflow_ref": job.job_workflow_ref,
        "workflow_ref": f"{job.repository}/{job.workflow}@{job.ref}",
    }
    if job.environment is not None:
        claims["environment"] = job.environment
    claims["sub"] = (
        default_subject(claims, job.context) if template is None else render_subject(claims, job.context, template)
    )
    return claims


# --------------------------------------------------------------------------------------------------
# What each identity requires


def deploy_job(repository: str, repository_id: str, stack_environment: str) -> Job:
    """The one job allowed to deploy a stack: ``main.yml`` on a push to ``main``, in the stack's environment."""
    return Job(
        repository=repository,
        repository_id=repository_id,
        event_name="push",
        ref=f"refs/heads/{DEPLOY_BRANCH}",
        workflow=DEPLOY_WORKFLOW,
        environment=stack_environment,
    )


@dataclass(frozen=True)
class ClaimRequirement:
    """The claims an identity requires, exactly (``equals``), as ``*`` patterns (``like``), or exactly one of
    a few values (``any_of``)."""

    equals: dict[str, str]
    like: dict[str, str]
    any_of: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def matches(self, claims: dict[str, str] | None) -> bool:
        """A reference matcher (exact strings; ``*`` any run of characters): what each cloud must implement."""
        if claims is None:
            return False
        for key, value in self.equals.items():
            if claims.get(key) != value:
                return False
        for key, values in self.any_of.items():
            if claims.get(key) not in values:
                return False
        for key, pattern in self.like.items():
            got = claims.get(key)
            if got is None or not fnmatch.fnmatchcase(got, pattern.replace("[", "[[]")):
                return False
        return True


def deploy_requirement(repository: str, repository_id: str, stack_environment: str, audience: str) -> ClaimRequirement:
    claims = token_claims(deploy_job(repository, repository_id, stack_environment), audience)
    assert claims is not None
    keys = ("aud", "sub", "repository_id", "ref", "environment", "event_name", "job_workflow_ref")
    return ClaimRequirement(equals={k: claims[k] for k in keys}, like={})


def preview_requirement(repository: str, repository_id: str, audience: str) -> ClaimRequirement:
    """Any pull request of the repository (base: this repository), running ``pr.yml`` of its merge ref."""
    pr_ref = "refs/pull/*/merge"
    job = Job(repository, repository_id, "pull_request", pr_ref, workflow=PREVIEW_WORKFLOW)
    claims = token_claims(job, audience)
    assert claims is not None
    return ClaimRequirement(
        equals={"aud": audience, "repository_id": repository_id, "event_name": "pull_request"},
        like={"sub": claims["sub"], "ref": pr_ref, "job_workflow_ref": claims["job_workflow_ref"]},
    )


def drift_jobs(repository: str, repository_id: str) -> tuple[Job, ...]:
    """The jobs of the drift check: ``drift.yml`` on ``main``, by schedule or by hand, in no environment."""
    return tuple(
        Job(
            repository=repository,
            repository_id=repository_id,
            event_name=event,
            ref=f"refs/heads/{DEPLOY_BRANCH}",
            workflow=DRIFT_WORKFLOW,
        )
        for event in DRIFT_EVENTS
    )


def drift_requirement(repository: str, repository_id: str, audience: str) -> ClaimRequirement:
    """Exactly the drift check's jobs: this repository (by id), ``drift.yml`` on ``main``, its two events.

    The subject names the event and, since the jobs name no environment, the ref (``context`` is
    ``ref:refs/heads/main``): a job naming an environment, another branch or workflow, a pull request or a
    push matches neither subject."""
    subjects = []
    for job in drift_jobs(repository, repository_id):
        claims = token_claims(job, audience)
        assert claims is not None
        subjects.append(claims["sub"])
    return ClaimRequirement(
        equals={
            "aud": audience,
            "repository_id": repository_id,
            "ref": f"refs/heads/{DEPLOY_BRANCH}",
            "job_workflow_ref": f"{repository}/{DRIFT_WORKFLOW}@refs/heads/{DEPLOY_BRANCH}",
        },
        like={},
        any_of={"sub": tuple(subjects), "event_name": DRIFT_EVENTS},
    )
