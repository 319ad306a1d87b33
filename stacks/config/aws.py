"""AWS settings (Secrets Manager + KMS). Account and region come from the AWS provider configuration."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from typing import Annotated

from pydantic import AfterValidator, Field

from ..errors import Problem
from .base import IamPrincipalArn, Model

#: The permissions boundary bootstrap/ creates in every account (bootstrap.model.PERMISSIONS_BOUNDARY_NAME).
PERMISSIONS_BOUNDARY_NAME = "makini-infra-boundary"
_POLICY_ARN = re.compile(r"arn:aws(?:-us-gov|-cn)?:iam::\d{12}:policy/[\w+=,.@/-]{1,512}")


def _policy_arn(value: str) -> str:
    if not _POLICY_ARN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an IAM managed policy ARN such as arn:aws:iam::123456789012:policy/{PERMISSIONS_BOUNDARY_NAME}"
        )
    return value


IamPolicyArn = Annotated[str, AfterValidator(_policy_arn)]


class AwsSettings(Model):
    """Settings for the AWS secret store of this environment."""

    recovery_window_days: int | None = Field(
        default=None,
        ge=7,
        le=30,
        description="Days a deleted secret stays recoverable (7-30). Default: 30 in production, 7 elsewhere.",
    )
    kms_deletion_window_days: int = Field(
        default=30, ge=7, le=30, description="Days a scheduled KMS key deletion waits (7-30)."
    )
    key_admin_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals that administer the environment's KMS key (no decrypt); the account root always can.",
    )
    deployer_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals that run `pulumi up` for this environment (e.g. the CI deploy role from "
        "bootstrap/): they may write secret values and configure rotation. The identity running the "
        "deployment is added automatically when it is a user or a role without a path; list roles with a "
        "path here.",
    )
    permissions_boundary_arn: IamPolicyArn | None = Field(
        default=None,
        description="Permissions boundary of every IAM role the stack creates. Default: "
        f"arn:aws:iam::<account>:policy/{PERMISSIONS_BOUNDARY_NAME}, which bootstrap/ creates; the CI deploy "
        "role may create roles only with that boundary, so set this only when you deploy without bootstrap/.",
    )
    operator_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals allowed to write secret values out of band (never to read them).",
    )
    break_glass_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="The only principals that may delete a secret without its recovery window (or with a shorter "
        "one), replicate it to other regions, delete it at all in production, purge the webhook queues or change "
        "their policies beside the deployers. Name a role kept for emergencies, assumed by few, never the deploy "
        "role, an operator or a consumer; none: nobody may (each secret's resource policy denies it).",
    )
    drift_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="The daily drift check's identity (.github/workflows/drift.yml: pulumi preview --refresh and "
        "python -m infra.doctor), e.g. the bootstrap's arn:aws:iam::<account>:role/makini-infra-<stack>-drift: "
        "it reads the OAuth client and the connection tokens (the doctor checks them against Makini) and the "
        "initial version of each secret whose value the deployment wrote (the refresh reads it back); nothing "
        "else, and never writes.",
    )
    cross_account_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals outside aws:allowedAccountIds that keyAdminArns, deployerArns, operatorArns, "
        "breakGlassArns or driftArns name on purpose (e.g. a security account's admin role). Any other ARN outside the stack's accounts "
        "is refused; consumers' roles are always in the stack's account (their read policy is attached there).",
    )


# --------------------------------------------------------------------------------------------------
# Rules about ARNs and accounts (stacks.checks runs them with the stack's aws:allowedAccountIds)

_ARN_ACCOUNT = re.compile(r"arn:aws[\w-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):")


def arn_account(arn: str) -> str | None:
    match = _ARN_ACCOUNT.match(arn)
    return match.group(1) if match else None


def account_problems(
    arns: Iterable[tuple[str, str]], accounts: Collection[str], aws: AwsSettings | None, attached: Collection[str] = ()
) -> list[Problem]:
    """ARNs (key path, ARN) outside the stack's pinned accounts, unless listed in crossAccountArns (never for
    the ``attached`` paths: roles the stack attaches policies to must be in its own account)."""
    if not accounts:
        return []
    allowed = set(aws.cross_account_arns) if aws else set()
    problems = []
    used: set[str] = set()
    for path, arn in arns:
        account = arn_account(arn)
        if account is None or account in accounts:
            continue
        if arn in allowed and path not in attached:
            used.add(arn)
            continue
        where = f"outside this stack's account{'s' if len(accounts) > 1 else ''} ({', '.join(sorted(accounts))}, aws:allowedAccountIds)"
        if path in attached:
            problems.append(
                Problem(
                    path,
                    f"{arn} is in account {account}, {where}: the stack attaches the consumer's read policy to this "
                    "role, which it can only do in the account it deploys to (the attachment would name a role "
                    "that is not there, while the secrets' resource policies name the other account)",
                    "use the consumer's role in the stack's account (or let the stack create it with createRole)",
                )
            )
        else:
            problems.append(
                Problem(
                    path,
                    f"{arn} is in account {account}, {where}; a typo in an account id grants nothing where it should "
                    "and something where it should not",
                    f"fix the account id, or if the other account is meant: pulumi config set --path "
                    f"'makini:aws.crossAccountArns[{len(allowed)}]' {arn}",
                )
            )
    for i, arn in enumerate(aws.cross_account_arns if aws else ()):
        account = arn_account(arn)
        if account in accounts:
            problems.append(
                Problem(
                    f"makini:aws.crossAccountArns[{i}]",
                    f"{arn} is in the stack's own account {account}; only principals in other accounts are listed here",
                    f"pulumi config rm --path 'makini:aws.crossAccountArns[{i}]'",
                )
            )
        elif arn not in used:
            problems.append(
                Problem(
                    f"makini:aws.crossAccountArns[{i}]",
                    f"{arn} is listed as cross-account, but no key names it (keyAdminArns, deployerArns, operatorArns, "
                    "breakGlassArns, driftArns)",
                    f"pulumi config rm --path 'makini:aws.crossAccountArns[{i}]'",
                )
            )
    return problems


def break_glass_problems(aws: AwsSettings | None, consumer_roles: Collection[str]) -> list[Problem]:
    """A break-glass principal is nobody's everyday identity: not a deployer, operator, drift check, key
    administrator or consumer role, nor a CI role the bootstrap creates (``makini-infra-*``), since any of
    those would carry the power to destroy production secrets into routine use."""
    if aws is None:
        return []
    roles = {
        "deployerArns": aws.deployer_arns,
        "operatorArns": aws.operator_arns,
        "driftArns": aws.drift_arns,
        "keyAdminArns": aws.key_admin_arns,
        "consumers' aws.roleArn": tuple(consumer_roles),
    }
    problems = []
    for i, arn in enumerate(aws.break_glass_arns):
        path = f"makini:aws.breakGlassArns[{i}]"
        also = [key for key, arns in roles.items() if arn.lower() in {a.lower() for a in arns}]
        if also:
            problems.append(
                Problem(
                    path,
                    f"{arn} is also in {', '.join(also)}; the break-glass identity must be one nobody uses every day, "
                    "or routine use would carry the power to force-delete secrets",
                    f"name a separate emergency role, or pulumi config rm --path '{path}'",
                )
            )
        elif arn.rsplit("/", 1)[-1].startswith("makini-infra-"):
            problems.append(
                Problem(
                    path,
                    f"{arn} is named like a CI identity of the bootstrap (makini-infra-*), which workflows assume "
                    "automatically; break-glass must be a role people assume deliberately",
                    f"name a separate emergency role, or pulumi config rm --path '{path}'",
                )
            )
    if len({a.lower() for a in aws.break_glass_arns}) != len(aws.break_glass_arns):
        problems.append(Problem("makini:aws.breakGlassArns", "lists an ARN twice", "list each principal once"))
    return problems
