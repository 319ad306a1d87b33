"""The offline plan of the bootstrap program: the CI identities, who may assume each, and what it may do.

    python -m infra.plan <stack> --program bootstrap [--config-file FILE] [--json | --markdown]

Reads ``bootstrap/Pulumi.<stack>.yaml`` (or FILE), validates it and the stack files it serves, runs
``bootstrap/__main__.py`` under the same mocks as the program's plan, and adds one report,
``ci_identities``: per identity, the one job its trust accepts (from the same builders the trust
policies, federated credentials and JWT roles are made of) and a summary of its permissions.
"""

from __future__ import annotations

from pathlib import Path

from bootstrap import azure_ci, oidc, pulumi_cloud, vault_ci
from bootstrap.model import (
    BOOTSTRAP_DIR,
    DEPLOY_BRANCH,
    DEPLOY_WORKFLOW,
    NAMESPACE,
    PERMISSIONS_BOUNDARY_NAME,
    PREVIEW_WORKFLOW,
    Bootstrap,
    deploy_role_name,
    load_bootstrap,
    pinned_account,
    preview_role_name,
)

from .offline import load_stack_file, run_program
from .plan import Plan, Section

PROGRAM = BOOTSTRAP_DIR / "__main__.py"
PROJECT = "makini-infra-bootstrap"


def _deploy_job(env: str) -> str:
    return f"{DEPLOY_WORKFLOW} on a push to {DEPLOY_BRANCH}, environment {env}"


PR_JOB = f"{PREVIEW_WORKFLOW} of a pull request (never main, never an environment)"


def identities_section(boot: Bootstrap) -> Section:
    rows: list[tuple[str, ...]] = []
    data: list[dict[str, object]] = []

    def add(stack: str, cloud: str, identity: str, job: str, may: str, claims: dict[str, str]) -> None:
        rows.append((stack, cloud, identity, job, may))
        data.append({"stack": stack, "cloud": cloud, "identity": identity, "job": job, "may": may, "claims": claims})

    for s in boot.served:
        need = oidc.deploy_requirement(boot.repository, boot.repository_id, s.github_environment, oidc.AWS_AUDIENCE)
        if "aws" in s.backends:
            add(
                s.name,
                "aws",
                deploy_role_name(s.name),
                _deploy_job(s.github_environment),
                f"manage environment {s.environment} (makini-{s.environment}-*, makini/{s.environment}/*); create "
                f"only {len(s.program_role_names())} named roles, each with {PERMISSIONS_BOUNDARY_NAME}",
                need.equals,
            )
            if s.previewable_from_pull_requests:
                pr = oidc.preview_requirement(boot.repository, boot.repository_id, oidc.AWS_AUDIENCE)
                add(
                    s.name,
                    "aws",
                    preview_role_name(s.name),
                    PR_JOB,
                    f"read metadata of environment {s.environment}; secret values and decryption denied",
                    {**pr.equals, **pr.like},
                )
        if "azure" in s.backends:
            cred = azure_ci.deploy_credential(boot.repository, boot.repository_id, s)
            add(
                s.name,
                "azure",
                azure_ci.deploy_identity_name(s),
                _deploy_job(s.github_environment),
                "Contributor; assign only the data-plane roles the program uses",
                {"iss": cred.issuer, "sub": cred.subject, "aud": ", ".join(cred.audiences)},
            )
        if "vault" in s.backends and boot.settings.vault is not None:
            role = vault_ci.deploy_role(boot.repository, boot.repository_id, s, boot.settings.vault.audience)
            add(
                s.name,
                "vault",
                f"{boot.settings.vault.jwt_mount_path}/role/{role.name}",
                _deploy_job(s.github_environment),
                f"mount {vault_ci.mount(s)}, policies and auth roles makini-{s.environment}-*",
                {"sub": role.bound_subject or "", **{k: ",".join(v) for k, v in role.bound_claims.items()}},
            )
    notes = [
        f"Repository {boot.repository} (id {boot.repository_id}); OIDC subject template: "
        f"{', '.join(oidc.SUBJECT_CLAIM_KEYS)}"
        + (" (managed here)" if boot.settings.github.manage else " (set it once: see docs/operations.md)"),
        "Production stacks have no preview identity; pull requests review them through this offline plan.",
    ]
    if boot.settings.pulumi_cloud is not None:
        for tp in pulumi_cloud.team_policies(boot, boot.settings.pulumi_cloud.organization):
            perms = ", ".join(f"{s} ({'admin' if p == pulumi_cloud.ADMIN else 'read'})" for s, p in tp.stacks.items())
            notes.append(f"Pulumi Cloud team {tp.team}: {perms}")
    return Section(
        key="ci_identities",
        title="CI identities",
        headers=("stack", "cloud", "identity", "assumable only by", "may"),
        rows=tuple(rows),
        data=data,
        notes=tuple(notes),
    )


def build_bootstrap_plan(stack: str, config_file: Path | None = None) -> Plan:
    path = config_file or BOOTSTRAP_DIR / f"Pulumi.{stack}.yaml"
    source = load_stack_file(stack, path, project=PROJECT)
    boot = load_bootstrap(stack, source.config, aws_account_id=pinned_account(source.config))
    run = run_program(stack, source.config, source.secret_keys, program=PROGRAM, project=PROJECT)
    backends = tuple(sorted({b for s in boot.served for b in s.backends}))
    environments = ", ".join(s.environment for s in boot.served)
    return Plan(
        stack=stack,
        environment=environments,
        production=any(s.production for s in boot.served),
        backends=backends,
        run=run,
        sections=[identities_section(boot)],
        program="bootstrap",
    )


__all__ = ["NAMESPACE", "build_bootstrap_plan", "identities_section"]
