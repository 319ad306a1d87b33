"""Pure builders for the CI identities: OIDC trust policies and least-privilege permission policies.

Deploy role: only GitHub Actions tokens of one repository, for its ``main`` branch or its ``production``
(and ``dev``) environments; never pull requests. Permissions: what makini-infra manages, scoped to the
``makini-*`` / ``makini/*`` names wherever the service supports resource ARNs.

Preview role: only the same repository's ``pull_request`` jobs (exact subject, no wildcard). Permissions:
the Describe/Get/List reads of ``pulumi preview`` on the same names, and an explicit Deny of reading
secret values (secretsmanager:GetSecretValue, kms:Decrypt) that no later Allow can override.
"""

from __future__ import annotations

import re
from typing import Any

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
ENVIRONMENTS = ("dev", "production")
_REPO_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}")


def subjects(repository: str) -> list[str]:
    if not _REPO_RE.fullmatch(repository):
        raise ValueError(f"repository {repository!r} is not owner/name (e.g. acme/makini-infra)")
    return [f"repo:{repository}:ref:refs/heads/main"] + [f"repo:{repository}:environment:{e}" for e in ENVIRONMENTS]


def trust_policy(provider_arn: str, repository: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOfThisRepository",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"},
                    "StringLike": {f"{GITHUB_OIDC_HOST}:sub": subjects(repository)},
                },
            }
        ],
    }


def deploy_policy(account_id: str, region: str = "*") -> dict[str, Any]:
    """What `pulumi up` of makini-infra needs, on makini names only where the service allows it."""
    a, r = account_id, region
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SecretsOfMakini",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:CreateSecret",
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:UpdateSecret",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:TagResource",
                    "secretsmanager:UntagResource",
                    "secretsmanager:PutResourcePolicy",
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:DeleteResourcePolicy",
                    "secretsmanager:RotateSecret",
                    "secretsmanager:CancelRotateSecret",
                    "secretsmanager:RestoreSecret",
                ],
                "Resource": f"arn:aws:secretsmanager:{r}:{a}:secret:makini/*",
            },
            {
                "Sid": "KmsCreate",
                "Effect": "Allow",
                "Action": ["kms:CreateKey", "kms:ListAliases", "kms:ListKeys"],
                "Resource": "*",
            },
            {
                "Sid": "KmsOfMakini",
                "Effect": "Allow",
                "Action": [
                    "kms:DescribeKey",
                    "kms:GetKeyPolicy",
                    "kms:PutKeyPolicy",
                    "kms:EnableKeyRotation",
                    "kms:GetKeyRotationStatus",
                    "kms:TagResource",
                    "kms:UntagResource",
                    "kms:ListResourceTags",
                    "kms:ScheduleKeyDeletion",
                    "kms:UpdateKeyDescription",
                ],
                "Resource": f"arn:aws:kms:{r}:{a}:key/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/managed-by": "makini-infra"}},
            },
            {
                "Sid": "KmsAliasesOfMakini",
                "Effect": "Allow",
                "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
                "Resource": [f"arn:aws:kms:{r}:{a}:alias/makini/*", f"arn:aws:kms:{r}:{a}:key/*"],
            },
            {
                "Sid": "IamOfMakini",
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:DeleteRole",
                    "iam:GetRole",
                    "iam:UpdateRole",
                    "iam:TagRole",
                    "iam:UntagRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:PutRolePolicy",
                    "iam:GetRolePolicy",
                    "iam:DeleteRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy",
                    "iam:PassRole",
                    "iam:CreatePolicy",
                    "iam:DeletePolicy",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:TagPolicy",
                    "iam:UntagPolicy",
                    "iam:ListInstanceProfilesForRole",
                ],
                "Resource": [f"arn:aws:iam::{a}:role/makini-*", f"arn:aws:iam::{a}:policy/makini-*"],
            },
            {
                "Sid": "LambdaOfMakini",
                "Effect": "Allow",
                "Action": [
                    "lambda:*Function*",
                    "lambda:*Permission",
                    "lambda:GetPolicy",
                    "lambda:TagResource",
                    "lambda:UntagResource",
                    "lambda:ListTags",
                    "lambda:ListVersionsByFunction",
                ],
                "Resource": f"arn:aws:lambda:{r}:{a}:function:makini-*",
            },
            {
                "Sid": "QueuesOfMakini",
                "Effect": "Allow",
                "Action": ["sqs:*"],
                "Resource": f"arn:aws:sqs:{r}:{a}:makini-*",
            },
            {
                "Sid": "TablesOfMakini",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:*Table*",
                    "dynamodb:*TimeToLive",
                    "dynamodb:*ContinuousBackups",
                    "dynamodb:TagResource",
                    "dynamodb:UntagResource",
                    "dynamodb:ListTagsOfResource",
                ],
                "Resource": f"arn:aws:dynamodb:{r}:{a}:table/makini-*",
            },
            {
                "Sid": "TopicsOfMakini",
                "Effect": "Allow",
                "Action": ["sns:*"],
                "Resource": f"arn:aws:sns:{r}:{a}:makini-*",
            },
            {
                "Sid": "AlarmsOfMakini",
                "Effect": "Allow",
                "Action": [
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:DeleteAlarms",
                    "cloudwatch:DescribeAlarms",
                    "cloudwatch:TagResource",
                    "cloudwatch:UntagResource",
                    "cloudwatch:ListTagsForResource",
                ],
                "Resource": f"arn:aws:cloudwatch:{r}:{a}:alarm:makini-*",
            },
            {
                "Sid": "LogsOfMakini",
                "Effect": "Allow",
                "Action": [
                    "logs:CreateLogGroup",
                    "logs:DeleteLogGroup",
                    "logs:PutRetentionPolicy",
                    "logs:DeleteRetentionPolicy",
                    "logs:TagResource",
                    "logs:UntagResource",
                    "logs:ListTagsForResource",
                    "logs:TagLogGroup",
                    "logs:ListTagsLogGroup",
                ],
                "Resource": [
                    f"arn:aws:logs:{r}:{a}:log-group:/aws/lambda/makini-*",
                    f"arn:aws:logs:{r}:{a}:log-group:/aws/lambda/makini-*:*",
                ],
            },
            {"Sid": "LogsDescribe", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
            {
                "Sid": "SchedulesOfMakini",
                "Effect": "Allow",
                "Action": [
                    "scheduler:CreateSchedule",
                    "scheduler:UpdateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                    "scheduler:TagResource",
                    "scheduler:UntagResource",
                    "scheduler:ListTagsForResource",
                ],
                "Resource": f"arn:aws:scheduler:{r}:{a}:schedule/*/makini-*",
            },
            # API Gateway v2 ids are random: no name-scoped ARN exists; creation is tag-conditioned.
            {
                "Sid": "HttpApis",
                "Effect": "Allow",
                "Action": [
                    "apigateway:GET",
                    "apigateway:POST",
                    "apigateway:PATCH",
                    "apigateway:DELETE",
                    "apigateway:PUT",
                    "apigateway:TagResource",
                ],
                "Resource": [
                    f"arn:aws:apigateway:{r}::/apis",
                    f"arn:aws:apigateway:{r}::/apis/*",
                    f"arn:aws:apigateway:{r}::/tags/*",
                ],
            },
        ],
    }


# --- Pull-request previews ------------------------------------------------------------------------------

PREVIEW_ROLE_NAME = "makini-infra-preview"
#: Never allowed to the preview role, whatever else is attached to it later: reading a secret's value.
#: BatchGetSecretValue is listed too because it is the other API that returns secret values.
PREVIEW_DENIED_ACTIONS = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue", "kms:Decrypt")


def pull_request_subject(repository: str) -> str:
    """The ``sub`` claim GitHub puts in the OIDC token of a ``pull_request`` job of ``repository``
    (default subject format, job without an ``environment``)."""
    if not _REPO_RE.fullmatch(repository):
        raise ValueError(f"repository {repository!r} is not owner/name (e.g. acme/makini-infra)")
    return f"repo:{repository}:pull_request"


def preview_trust_policy(provider_arn: str, repository: str) -> dict[str, Any]:
    """Trust of the preview role: GitHub Actions tokens of ``repository``'s pull-request jobs only.

    Exact matches (StringEquals), no wildcard: not main, not an environment, not another repository.
    GitHub issues no OIDC token to ``pull_request`` runs from forks, so only branches of the repository
    itself (people with write access) reach this role, and the role can only read.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubPullRequestsOfThisRepository",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com",
                        f"{GITHUB_OIDC_HOST}:sub": pull_request_subject(repository),
                    },
                },
            }
        ],
    }


def preview_policy(account_id: str, region: str = "*") -> dict[str, Any]:
    """What `pulumi preview` (and a refresh of the existing resources) of makini-infra reads; nothing else.

    Describe/Get/List only, on makini names wherever the service has resource-level permissions:
    secrets ``makini/*``; IAM roles and policies, Lambda functions, queues, tables, topics, alarms and
    schedules ``makini-*``; log groups ``/aws/lambda/makini-*`` and ``/aws/apigateway/makini-*``;
    KMS keys (random ids) by the ``managed-by: makini-infra`` tag. ``Resource: "*"`` only where the
    action has no resource type (kms:ListAliases, logs:DescribeLogGroups, sns:GetSubscriptionAttributes,
    sts:GetCallerIdentity), and
    API Gateway reads on ``/apis`` and ``/domainnames`` (random ids, no name-scoped ARN exists).

    Secret values are never readable: secretsmanager:GetSecretValue (and BatchGetSecretValue) and
    kms:Decrypt are explicitly denied on everything, so attaching a broader policy later cannot open
    them. Consequence: ``pulumi preview --refresh`` cannot refresh ``aws:secretsmanager:SecretVersion``
    resources (reading one is GetSecretValue); the PR workflow previews without ``--refresh``.
    """
    a, r = account_id, region
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NeverReadSecretValues", "Effect": "Deny", "Action": list(PREVIEW_DENIED_ACTIONS), "Resource": "*"},
            {
                "Sid": "SecretsMetadataOfMakini",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:ListSecretVersionIds",
                ],
                "Resource": f"arn:aws:secretsmanager:{r}:{a}:secret:makini/*",
            },
            # Key ids are random: scoped by the makini-infra tag, as in the deploy policy.
            {
                "Sid": "KmsKeysOfMakini",
                "Effect": "Allow",
                "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
                "Resource": f"arn:aws:kms:{r}:{a}:key/*",
                "Condition": {"StringEquals": {"aws:ResourceTag/managed-by": "makini-infra"}},
            },
            {"Sid": "KmsAliases", "Effect": "Allow", "Action": ["kms:ListAliases"], "Resource": "*"},
            {
                "Sid": "IamOfMakini",
                "Effect": "Allow",
                "Action": [
                    "iam:GetRole",
                    "iam:GetRolePolicy",
                    "iam:ListRolePolicies",
                    "iam:ListAttachedRolePolicies",
                    "iam:ListRoleTags",
                    "iam:ListInstanceProfilesForRole",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyVersions",
                    "iam:ListPolicyTags",
                ],
                "Resource": [f"arn:aws:iam::{a}:role/makini-*", f"arn:aws:iam::{a}:policy/makini-*"],
            },
            {
                "Sid": "LambdaOfMakini",
                "Effect": "Allow",
                "Action": [
                    "lambda:GetFunction",
                    "lambda:GetFunctionConfiguration",
                    "lambda:GetFunctionConcurrency",
                    "lambda:GetFunctionCodeSigningConfig",
                    "lambda:GetPolicy",
                    "lambda:ListVersionsByFunction",
                    "lambda:ListTags",
                ],
                "Resource": f"arn:aws:lambda:{r}:{a}:function:makini-*",
            },
            {
                "Sid": "QueuesOfMakini",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueAttributes", "sqs:ListQueueTags"],
                "Resource": f"arn:aws:sqs:{r}:{a}:makini-*",
            },
            {
                "Sid": "TablesOfMakini",
                "Effect": "Allow",
                "Action": [
                    "dynamodb:DescribeTable",
                    "dynamodb:DescribeTimeToLive",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:ListTagsOfResource",
                ],
                "Resource": f"arn:aws:dynamodb:{r}:{a}:table/makini-*",
            },
            {
                "Sid": "TopicsOfMakini",
                "Effect": "Allow",
                "Action": ["sns:GetTopicAttributes", "sns:ListTagsForResource"],
                "Resource": f"arn:aws:sns:{r}:{a}:makini-*",
            },
            # sns:GetSubscriptionAttributes has no resource type in IAM (a subscription ARN in Resource
            # never matches), so it can only be granted on "*"; it returns the subscription's settings.
            {
                "Sid": "SubscriptionsRead",
                "Effect": "Allow",
                "Action": ["sns:GetSubscriptionAttributes"],
                "Resource": "*",
            },
            {
                "Sid": "AlarmsOfMakini",
                "Effect": "Allow",
                "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
                "Resource": f"arn:aws:cloudwatch:{r}:{a}:alarm:makini-*",
            },
            {
                "Sid": "LogGroupsOfMakini",
                "Effect": "Allow",
                "Action": ["logs:ListTagsForResource"],
                "Resource": [
                    f"arn:aws:logs:{r}:{a}:log-group:/aws/lambda/makini-*",
                    f"arn:aws:logs:{r}:{a}:log-group:/aws/apigateway/makini-*",
                ],
            },
            {"Sid": "LogGroupsDescribe", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
            {
                "Sid": "SchedulesOfMakini",
                "Effect": "Allow",
                "Action": ["scheduler:GetSchedule"],
                "Resource": f"arn:aws:scheduler:{r}:{a}:schedule/*/makini-*",
            },
            # Scheduler tags live on schedule groups only (schedules have none); makini-infra's reminders
            # use the default group, so this matters only if a makini-* group is ever added.
            {
                "Sid": "ScheduleGroupTagsOfMakini",
                "Effect": "Allow",
                "Action": ["scheduler:ListTagsForResource"],
                "Resource": f"arn:aws:scheduler:{r}:{a}:schedule-group/makini-*",
            },
            # API Gateway v2 ids are random: no name-scoped ARN exists. GET is the only read verb.
            {
                "Sid": "HttpApisRead",
                "Effect": "Allow",
                "Action": ["apigateway:GET"],
                "Resource": [
                    f"arn:aws:apigateway:{r}::/apis",
                    f"arn:aws:apigateway:{r}::/apis/*",
                    f"arn:aws:apigateway:{r}::/domainnames",
                    f"arn:aws:apigateway:{r}::/domainnames/*",
                    f"arn:aws:apigateway:{r}::/tags/*",
                ],
            },
            {"Sid": "WhoAmI", "Effect": "Allow", "Action": ["sts:GetCallerIdentity"], "Resource": "*"},
        ],
    }
