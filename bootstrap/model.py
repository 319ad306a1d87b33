"""The bootstrap's configuration and the delivery model it derives from the project's stack files.

The bootstrap (``bootstrap/``, project ``makini-infra-bootstrap``) is run by an administrator, once per
cloud account (and Vault server, Azure subscription), and creates the CI identities of the makini-infra
stacks that live there. What it creates is derived from two inputs, both read here and nowhere else:

* its own stack file ``bootstrap/Pulumi.<name>.yaml`` (namespace ``makini-infra-bootstrap:``): the
  repository (``owner/name`` and its numeric id), which makini-infra stacks it serves, and the optional
  Azure, Vault, GitHub and Pulumi Cloud sections;
* the served stacks' own files ``Pulumi.<stack>.yaml`` (the same files ``pulumi up`` reads): whether a
  stack is production (the config model decides, ``makini:production`` included), which backends it uses,
  the AWS account it pins (``aws:allowedAccountIds``), its region, its Vault address, and the consumer
  roles the program creates or attaches policies to.

Nothing here widens trust by configuration: there is no branch pattern, no second repository, no
wildcard, and no way to create a role without the permissions boundary. A configuration that asks for
one is refused before anything is declared, naming the key and the fix (:class:`BootstrapConfigError`).

Names (fixed, so the workflows can derive them from the stack files alone):

* AWS: ``makini-infra-<stack>-deploy``, ``makini-infra-<stack>-drift`` (the daily drift check, read-only)
  and, for non-production stacks, ``makini-infra-<stack>-preview``; the permissions boundary
  ``makini-infra-boundary``; the GitHub OIDC provider.
* GitHub: one environment per stack, named like the stack; deploys run only in ``main.yml`` on ``main``.
* Vault: JWT auth roles ``makini-infra-<stack>-deploy`` / ``-drift`` / ``-preview`` on the ``jwt-github`` mount.
* Pulumi Cloud: teams ``makini-infra-<stack>-deploy``, ``makini-infra-preview`` and ``makini-infra-drift``.
* Azure: a user-assigned identity ``makini-infra-<stack>-deploy`` per stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from stacks.errors import ConfigError, Problem
from stacks.load import load_stack_config
from stacks.naming import (
    consumer_read_policy_name,
    consumer_role_name,
    keeper_function_name,
    onboarding_policy_name,
    receiver_role_name,
    reminder_role_name,
    rotation_role_name,
)

from .oidc import DEPLOY_BRANCH, DEPLOY_WORKFLOW, PREVIEW_WORKFLOW, VAULT_AUDIENCE

BOOTSTRAP_DIR = Path(__file__).resolve().parent
NAMESPACE = "makini-infra-bootstrap"

__all__ = ["DEPLOY_BRANCH", "DEPLOY_WORKFLOW", "PREVIEW_WORKFLOW"]
#: The permissions boundary every role the program or the deployer creates must carry.
PERMISSIONS_BOUNDARY_NAME = "makini-infra-boundary"
CI_ROLE_PREFIX = "makini-infra-"

REPOSITORY_RULE = "owner/name of one GitHub repository, e.g. acme/makini-infra (no wildcard, no pattern)"
_REPOSITORY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}/[A-Za-z0-9._-]{1,100}")
_NUMERIC_ID = re.compile(r"[1-9][0-9]{0,19}")
_STACK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def deploy_role_name(stack: str) -> str:
    return f"{CI_ROLE_PREFIX}{stack}-deploy"


def preview_role_name(stack: str) -> str:
    return f"{CI_ROLE_PREFIX}{stack}-preview"


def drift_role_name(stack: str) -> str:
    """The daily drift check's AWS role and Vault JWT role for ``stack`` (``.github/workflows/drift.yml``)."""
    return f"{CI_ROLE_PREFIX}{stack}-drift"


def github_environment(stack: str) -> str:
    """The GitHub environment a stack's deploy job runs in: named like the stack."""
    return stack


def boundary_arn(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:policy/{PERMISSIONS_BOUNDARY_NAME}"


# --------------------------------------------------------------------------------------------------
# Errors


class BootstrapConfigError(ConfigError):
    """The bootstrap's configuration (or a served stack file) would build the wrong identities: the
    program's error, worded for the bootstrap's own stack file."""

    def render(self) -> str:
        lines = super().render().splitlines()
        lines[0] = lines[0].replace("makini-infra:", "makini-infra-bootstrap:", 1)
        lines[-1] = (
            f"Nothing was created or changed. Edit bootstrap/Pulumi.{self.stack}.yaml (or the stack files named "
            "above), then run the preview again."
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The bootstrap's own configuration


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=False)


class AzureSection(_Model):
    """Where the deploy identities of the served Azure stacks live."""

    resource_group_name: str = Field(
        description="Resource group (existing) that holds the CI identities.", pattern=r"[\w().-]{1,90}"
    )
    location: str = Field(description="Azure region of the identities, e.g. westeurope.", pattern=r"[a-z0-9]{2,40}")
    scope: str = Field(
        description="Scope of the deploy identities' role assignments: the subscription (or resource group) "
        "resource id the served stacks deploy into.",
        pattern=r"/subscriptions/[0-9a-fA-F-]{36}(/resourceGroups/[\w().-]{1,90})?",
    )


class VaultSection(_Model):
    """The JWT auth method that lets GitHub's OIDC tokens log in to Vault."""

    jwt_mount_path: str = Field(default="jwt-github", pattern=r"[a-z0-9][a-z0-9-]{0,62}")

    @property
    def audience(self) -> str:
        """The audience the workflows request for Vault (fixed, so the workflows need no setting)."""
        return VAULT_AUDIENCE


class GitHubSection(_Model):
    """What the bootstrap manages in GitHub itself (needs a GitHub token with admin on the repository)."""

    manage: bool = Field(
        default=False,
        description="Manage the repository's OIDC subject template and one environment per stack (deployments "
        "from main only; production with required reviewers). Exactly one bootstrap stack should do it.",
    )
    production_reviewers: tuple[int, ...] = Field(
        default=(), description="GitHub team ids whose approval a production deploy needs."
    )


class PulumiCloudSection(_Model):
    """What the bootstrap manages in Pulumi Cloud (needs an organization admin token)."""

    organization: str = Field(pattern=r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
    policy_pack_version: str = Field(
        default="latest",
        description="Version of the published makini-baseline pack the server-side policy group enforces.",
        pattern=r"latest|[0-9A-Za-z.+-]{1,40}",
    )


class BootstrapSettings(_Model):
    repository: str = Field(description=REPOSITORY_RULE)
    repository_id: str = Field(
        description="The repository's numeric id (GitHub REST: GET /repos/{owner}/{name} -> id); tokens of a "
        "renamed or re-created repository of the same name do not carry it."
    )
    stacks: tuple[str, ...] = Field(
        min_length=1, description="The makini-infra stacks (Pulumi.<stack>.yaml) whose CI identities this creates."
    )
    azure: AzureSection | None = None
    vault: VaultSection | None = None
    github: GitHubSection = GitHubSection()
    pulumi_cloud: PulumiCloudSection | None = None


# --------------------------------------------------------------------------------------------------
# The served stacks, as their own files describe them


@dataclass(frozen=True)
class ExternalConsumerRole:
    """A consumer role the stack does not create (``roleArn``) but attaches its read policy to."""

    consumer: str
    role_arn: str


@dataclass(frozen=True)
class DeliveryStack:
    """One makini-infra stack, as the CI sees it: everything derived from ``Pulumi.<stack>.yaml``."""

    name: str
    environment: str
    production: bool
    backends: tuple[str, ...]
    aws_account_id: str | None = None
    aws_region: str | None = None
    vault_address: str | None = None
    #: Consumers whose role the program creates (``aws.createRole``).
    created_consumer_roles: tuple[str, ...] = ()
    #: Consumers with an existing role in the stack's account, which receive an attached read policy.
    external_consumer_roles: tuple[ExternalConsumerRole, ...] = ()
    #: ``makini:aws.permissionsBoundaryArn`` when the stack sets it (None: the bootstrap's boundary).
    permissions_boundary_arn: str | None = None
    github_environment: str = ""
    #: The consumer marked ``onboarding: true`` (issue 19): on AWS it also gets ``makini-<env>-<c>-onboard``; on
    #: Azure bootstrap defines its custom role, which the deploy identity may then assign.
    onboarding_consumer: str | None = None

    @property
    def previewable_from_pull_requests(self) -> bool:
        """Pull requests preview non-production stacks that have no Azure backend.

        Production is never previewed from a pull request (its plan is reviewed offline). Azure stacks are
        not either: Azure federated credentials match the token's subject exactly, and a subject that
        names the branch (as the deploy credentials must) differs for every pull request.
        """
        return not self.production and "azure" not in self.backends

    def deploy_role_arn(self, partition: str = "aws") -> str | None:
        if self.aws_account_id is None:
            return None
        return f"arn:{partition}:iam::{self.aws_account_id}:role/{deploy_role_name(self.name)}"

    def drift_role_arn(self, partition: str = "aws") -> str | None:
        if self.aws_account_id is None:
            return None
        return f"arn:{partition}:iam::{self.aws_account_id}:role/{drift_role_name(self.name)}"

    def preview_role_arn(self, partition: str = "aws") -> str | None:
        if self.aws_account_id is None or not self.previewable_from_pull_requests:
            return None
        return f"arn:{partition}:iam::{self.aws_account_id}:role/{preview_role_name(self.name)}"

    def program_role_names(self) -> tuple[str, ...]:
        """Every IAM role the program may create for this stack (all carry the boundary)."""
        env = self.environment
        names = {rotation_role_name(env), reminder_role_name(env), receiver_role_name(env), keeper_function_name(env)}
        names.update(consumer_role_name(env, c) for c in self.created_consumer_roles)
        return tuple(sorted(names))

    def onboarding_role_arn(self, partition: str = "aws") -> str | None:
        """The onboarding identity's AWS role (created or configured), which may invoke the keeper; None without one."""
        consumer = self.onboarding_consumer
        if consumer is None or self.aws_account_id is None:
            return None
        for external in self.external_consumer_roles:
            if external.consumer == consumer:
                return external.role_arn
        if consumer in self.created_consumer_roles:
            return f"arn:{partition}:iam::{self.aws_account_id}:role/{consumer_role_name(self.environment, consumer)}"
        return None

    def consumer_policy_names(self) -> tuple[str, ...]:
        """The customer-managed read policies the program creates (one per AWS consumer)."""
        consumers = {*self.created_consumer_roles, *(r.consumer for r in self.external_consumer_roles)}
        names = {consumer_read_policy_name(self.environment, c) for c in consumers}
        if self.onboarding_consumer in consumers:
            names.add(onboarding_policy_name(self.environment, self.onboarding_consumer))
        return tuple(sorted(names))

    def policy_names_of(self, consumer: str) -> tuple[str, ...]:
        """The policies the program attaches to one consumer's role: its read policy, and the onboarding one."""
        names = [consumer_read_policy_name(self.environment, consumer)]
        if consumer == self.onboarding_consumer:
            names.append(onboarding_policy_name(self.environment, consumer))
        return tuple(names)


@dataclass(frozen=True)
class StackFile:
    """A makini-infra stack file as the Pulumi CLI hands it to the program (read by infra.ci)."""

    name: str
    config: Mapping[str, str]
    secret_keys: frozenset[str] = frozenset()
    #: Why the file could not be read (None: it was).
    error: str | None = None


def _first_account(config: Mapping[str, str]) -> str | None:
    raw = config.get("aws:allowedAccountIds")
    if raw is None:
        return None
    try:
        ids = json.loads(raw)
    except (TypeError, ValueError):
        ids = [raw]
    return str(ids[0]) if isinstance(ids, list) and len(ids) == 1 else None


def pinned_account(config: Mapping[str, str]) -> str | None:
    """The one AWS account ``aws:allowedAccountIds`` pins (None: none, or more than one)."""
    return _first_account(config)


def load_delivery_stack(file: StackFile) -> DeliveryStack:
    """A stack file read through the program's own config model (raises its :class:`ConfigError`)."""
    if file.error is not None:
        raise ConfigError(file.name, [Problem(f"Pulumi.{file.name}.yaml", file.error)])
    cfg = load_stack_config(file.name, file.config, file.secret_keys)
    created: list[str] = []
    external: list[ExternalConsumerRole] = []
    account = _first_account(file.config)
    for consumer, c in sorted(cfg.consumers.items()):
        if c.aws is None:
            continue
        if c.aws.create_role is not None:
            created.append(consumer)
        elif c.aws.role_arn is not None and c.aws.role_arn.split(":")[4] == account:
            external.append(ExternalConsumerRole(consumer, c.aws.role_arn))
    boundary = cfg.aws.permissions_boundary_arn if cfg.aws is not None else None
    return DeliveryStack(
        name=file.name,
        environment=cfg.environment,
        production=cfg.production,
        backends=tuple(cfg.backends),
        aws_account_id=account if "aws" in cfg.backends else None,
        aws_region=file.config.get("aws:region"),
        vault_address=file.config.get("vault:address"),
        created_consumer_roles=tuple(created),
        external_consumer_roles=tuple(external),
        permissions_boundary_arn=boundary,
        github_environment=github_environment(file.name),
        onboarding_consumer=next((n for n, c in sorted(cfg.consumers.items()) if c.onboarding), None),
    )


def deploy_order(stacks: list[DeliveryStack]) -> list[DeliveryStack]:
    """Non-production stacks by name, then production stacks by name (so dev -> staging -> prod)."""
    return sorted(stacks, key=lambda s: (s.production, s.name))


# --------------------------------------------------------------------------------------------------
# The whole bootstrap configuration, validated


@dataclass(frozen=True)
class Bootstrap:
    """A validated bootstrap stack: its settings and the stacks it serves (from their files)."""

    name: str
    settings: BootstrapSettings
    served: tuple[DeliveryStack, ...]
    #: Every stack of the repository (the GitHub and Pulumi Cloud sections cover all of them).
    all_stacks: tuple[DeliveryStack, ...]
    aws_account_id: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def repository(self) -> str:
        return self.settings.repository

    @property
    def repository_id(self) -> str:
        return self.settings.repository_id

    def served_with(self, backend: str) -> tuple[DeliveryStack, ...]:
        return tuple(s for s in self.served if backend in s.backends)


def _key(loc: tuple[Any, ...]) -> str:
    out = f"{NAMESPACE}:{loc[0]}" if loc else f"{NAMESPACE}:"
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _decode(raw: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for key, value in raw.items():
        if not key.startswith(f"{NAMESPACE}:"):
            continue
        name = key.split(":", 1)[1]
        try:
            data[name] = json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value
        except ValueError:
            data[name] = value
    return data


def _widening_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Settings that would widen who may assume the CI identities: refused with the key and the fix."""
    problems: list[Problem] = []
    repo = data.get("repository")
    if isinstance(repo, str) and not _REPOSITORY.fullmatch(repo):
        fix = "pulumi config set makini-infra-bootstrap:repository <owner>/<name>"
        if any(c in repo for c in "*?[]{}"):
            message = f"{repo!r} is a pattern; trust names exactly one repository ({REPOSITORY_RULE})"
        else:
            message = f"{repo!r} is not {REPOSITORY_RULE}"
        problems.append(Problem(f"{NAMESPACE}:repository", message, fix))
    repo_id = data.get("repositoryId")
    if repo_id is not None and not (isinstance(repo_id, str | int) and _NUMERIC_ID.fullmatch(str(repo_id))):
        problems.append(
            Problem(
                f"{NAMESPACE}:repositoryId",
                f"{repo_id!r} is not a repository id (digits only, e.g. 123456789)",
                "gh api repos/<owner>/<name> --jq .id, then pulumi config set makini-infra-bootstrap:repositoryId <id>",
            )
        )
    for key, what in (
        ("branch", "the deploy branch"),
        ("branches", "deploy branches"),
        ("deployBranch", "the deploy branch"),
        ("refs", "refs"),
        ("subjects", "OIDC subjects"),
        ("environments", "GitHub environments"),
        ("workflows", "workflow files"),
    ):
        if key in data:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{key}",
                    f"{what} cannot be configured: deploys run only from {DEPLOY_BRANCH}, in {DEPLOY_WORKFLOW}, in "
                    "the GitHub environment named like the stack; a pattern or a second value would let other "
                    "branches or workflows assume the deploy identities",
                    f"pulumi config rm makini-infra-bootstrap:{key}",
                )
            )
    for key in ("permissionsBoundary", "permissionsBoundaryArn", "permissionsBoundaryName", "noPermissionsBoundary"):
        if key in data or (isinstance(data.get("aws"), Mapping) and key in data["aws"]):
            where = key if key in data else f"aws.{key}"
            problems.append(
                Problem(
                    f"{NAMESPACE}:{where}",
                    f"the permissions boundary cannot be changed or switched off: every role the program or the "
                    f"deployer creates carries {PERMISSIONS_BOUNDARY_NAME}, which the deploy role may not modify "
                    "(a role without it is an escalation path)",
                    f"pulumi config rm --path makini-infra-bootstrap:{where}",
                )
            )
    return problems


def load_bootstrap(
    name: str, raw_config: Mapping[str, str], files: list[StackFile], *, aws_account_id: str | None = None
) -> Bootstrap:
    """Validate a bootstrap stack's configuration and the project's stack files (``files``, read by
    infra.ci.read_stack_files); raise one error listing every problem (never a half-built stack)."""
    data = _decode(raw_config)
    problems = _widening_problems(data)
    settings: BootstrapSettings | None = None
    known = {f.alias or n for n, f in BootstrapSettings.model_fields.items()}
    if not problems:
        unknown = [k for k in data if k not in known]
        for key in unknown:
            problems.append(
                Problem(
                    f"{NAMESPACE}:{key}",
                    f"unknown key; the bootstrap reads {', '.join(sorted(known))}",
                    f"pulumi config rm makini-infra-bootstrap:{key}",
                )
            )
        try:
            settings = BootstrapSettings.model_validate({k: v for k, v in data.items() if k in known})
        except ValidationError as err:
            for e in err.errors():
                problems.append(Problem(_key(tuple(e["loc"])), e["msg"], _fix_for(tuple(e["loc"]))))
    if settings is None:
        raise BootstrapConfigError(name, problems)

    by_file = {f.name: f for f in files}
    served: list[DeliveryStack] = []
    everything: list[DeliveryStack] = []
    for stack in sorted(by_file):
        try:
            everything.append(load_delivery_stack(by_file[stack]))
        except ConfigError as err:
            problems.append(
                Problem(
                    f"Pulumi.{stack}.yaml",
                    f"the stack file is invalid, so its CI identities cannot be derived: {err}".splitlines()[0],
                    f"uv run python -m infra.plan {stack}  (shows every problem of the stack file)",
                )
            )
    by_name = {s.name: s for s in everything}
    for index, stack in enumerate(settings.stacks):
        if not _STACK.fullmatch(stack):
            problems.append(Problem(f"{NAMESPACE}:stacks[{index}]", f"{stack!r} is not a stack name", ""))
            continue
        if stack not in by_name:
            if stack in by_file:
                continue  # already reported as invalid
            problems.append(
                Problem(
                    f"{NAMESPACE}:stacks[{index}]",
                    f"there is no Pulumi.{stack}.yaml; known stacks: {', '.join(sorted(by_file)) or 'none'}",
                    "list stacks that have a stack file",
                )
            )
            continue
        served.append(by_name[stack])
    accounts = {s.aws_account_id for s in served if "aws" in s.backends}
    for index, s in enumerate(served):
        path = f"{NAMESPACE}:stacks[{index}]"
        if "aws" in s.backends and s.aws_account_id is None:
            problems.append(
                Problem(
                    path,
                    f"stack '{s.name}' uses AWS but Pulumi.{s.name}.yaml pins no single account "
                    "(aws:allowedAccountIds): its deploy role could not be named from the stack file",
                    f"pulumi config set --path 'aws:allowedAccountIds[0]' <account-id> --stack {s.name}",
                )
            )
        if aws_account_id is not None and s.aws_account_id not in (None, aws_account_id):
            problems.append(
                Problem(
                    path,
                    f"stack '{s.name}' deploys into account {s.aws_account_id}, but this bootstrap stack runs in "
                    f"{aws_account_id}",
                    "run the bootstrap for that stack in its own account (a bootstrap stack per account)",
                )
            )
        if s.permissions_boundary_arn is not None and s.aws_account_id is not None:
            expected = boundary_arn(s.aws_account_id)
            if s.permissions_boundary_arn != expected:
                problems.append(
                    Problem(
                        f"Pulumi.{s.name}.yaml: makini:aws.permissionsBoundaryArn",
                        f"is {s.permissions_boundary_arn}, but the deploy role may only create roles that carry "
                        f"{expected} (the bootstrap's boundary)",
                        f"pulumi config rm --path makini:aws.permissionsBoundaryArn --stack {s.name}",
                    )
                )
        if "vault" in s.backends and settings.vault is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:vault",
                    f"stack '{s.name}' uses Vault: the bootstrap needs the vault section for its JWT login roles",
                    "pulumi config set --path makini-infra-bootstrap:vault.jwtMountPath jwt-github",
                )
            )
        if "azure" in s.backends and settings.azure is None:
            problems.append(
                Problem(
                    f"{NAMESPACE}:azure",
                    f"stack '{s.name}' uses Azure: the bootstrap needs the azure section for its deploy identity",
                    "pulumi config set --path makini-infra-bootstrap:azure.resourceGroupName <rg> (and location, scope)",
                )
            )
    if len({a for a in accounts if a is not None}) > 1:
        problems.append(
            Problem(
                f"{NAMESPACE}:stacks",
                f"the served stacks pin different AWS accounts ({', '.join(sorted(a for a in accounts if a))}); "
                "a bootstrap stack creates identities in one account",
                "one bootstrap stack per account: list only the stacks of this account",
            )
        )
    if len(set(settings.stacks)) != len(settings.stacks):
        problems.append(Problem(f"{NAMESPACE}:stacks", "a stack is listed twice", "list each stack once"))
    if problems:
        raise BootstrapConfigError(name, problems)
    account = aws_account_id or next((a for a in accounts if a), None)
    return Bootstrap(
        name, settings, tuple(served), tuple(sorted(everything, key=lambda s: (s.production, s.name))), account
    )


def _fix_for(loc: tuple[Any, ...]) -> str:
    if not loc:
        return ""
    if loc[0] == "repository":
        return "pulumi config set makini-infra-bootstrap:repository <owner>/<name>"
    if loc[0] == "repositoryId":
        return "pulumi config set makini-infra-bootstrap:repositoryId <id>  (gh api repos/<owner>/<name> --jq .id)"
    if loc[0] == "stacks":
        return "pulumi config set --path 'makini-infra-bootstrap:stacks[0]' <stack>"
    return f"pulumi config set --path {_key(loc)} <value>"
