"""Pure builders for the CI deploy identity: the OIDC trust policy and the least-privilege policy.

Trust: only GitHub Actions tokens of one repository, for its ``main`` branch or its ``production``
(and ``dev``) environments; never pull requests from forks. Permissions: what makini-infra manages,
scoped to the ``makini-*`` / ``makini/*`` names wherever the service supports resource ARNs.
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
        "Statement": [{
            "Sid": "GitHubActionsOfThisRepository",
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": "sts.amazonaws.com"},
                "StringLike": {f"{GITHUB_OIDC_HOST}:sub": subjects(repository)},
            },
        }],
    }


def deploy_policy(account_id: str, region: str = "*") -> dict[str, Any]:
    """What `pulumi up` of makini-infra needs, on makini names only where the service allows it."""
    a, r = account_id, region
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "SecretsOfMakini", "Effect": "Allow",
             "Action": ["secretsmanager:CreateSecret", "secretsmanager:DeleteSecret", "secretsmanager:DescribeSecret",
                        "secretsmanager:UpdateSecret", "secretsmanager:PutSecretValue", "secretsmanager:TagResource",
                        "secretsmanager:UntagResource", "secretsmanager:PutResourcePolicy",
                        "secretsmanager:GetResourcePolicy", "secretsmanager:DeleteResourcePolicy",
                        "secretsmanager:RotateSecret", "secretsmanager:CancelRotateSecret",
                        "secretsmanager:RestoreSecret"],
             "Resource": f"arn:aws:secretsmanager:{r}:{a}:secret:makini/*"},
            {"Sid": "KmsCreate", "Effect": "Allow",
             "Action": ["kms:CreateKey", "kms:ListAliases", "kms:ListKeys"], "Resource": "*"},
            {"Sid": "KmsOfMakini", "Effect": "Allow",
             "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:EnableKeyRotation",
                        "kms:GetKeyRotationStatus", "kms:TagResource", "kms:UntagResource", "kms:ListResourceTags",
                        "kms:ScheduleKeyDeletion", "kms:UpdateKeyDescription"],
             "Resource": f"arn:aws:kms:{r}:{a}:key/*",
             "Condition": {"StringEquals": {"aws:ResourceTag/managed-by": "makini-infra"}}},
            {"Sid": "KmsAliasesOfMakini", "Effect": "Allow",
             "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
             "Resource": [f"arn:aws:kms:{r}:{a}:alias/makini/*", f"arn:aws:kms:{r}:{a}:key/*"]},
            {"Sid": "IamOfMakini", "Effect": "Allow",
             "Action": ["iam:CreateRole", "iam:DeleteRole", "iam:GetRole", "iam:UpdateRole", "iam:TagRole",
                        "iam:UntagRole", "iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:GetRolePolicy",
                        "iam:DeleteRolePolicy", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies",
                        "iam:AttachRolePolicy", "iam:DetachRolePolicy", "iam:PassRole",
                        "iam:CreatePolicy", "iam:DeletePolicy", "iam:GetPolicy", "iam:GetPolicyVersion",
                        "iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions",
                        "iam:TagPolicy", "iam:UntagPolicy", "iam:ListInstanceProfilesForRole"],
             "Resource": [f"arn:aws:iam::{a}:role/makini-*", f"arn:aws:iam::{a}:policy/makini-*"]},
            {"Sid": "LambdaOfMakini", "Effect": "Allow", "Action": ["lambda:*Function*", "lambda:*Permission",
                                                                      "lambda:GetPolicy", "lambda:TagResource",
                                                                      "lambda:UntagResource", "lambda:ListTags",
                                                                      "lambda:ListVersionsByFunction"],
             "Resource": f"arn:aws:lambda:{r}:{a}:function:makini-*"},
            {"Sid": "QueuesOfMakini", "Effect": "Allow", "Action": ["sqs:*"],
             "Resource": f"arn:aws:sqs:{r}:{a}:makini-*"},
            {"Sid": "TablesOfMakini", "Effect": "Allow", "Action": ["dynamodb:*Table*", "dynamodb:*TimeToLive",
                                                                      "dynamodb:*ContinuousBackups",
                                                                      "dynamodb:TagResource", "dynamodb:UntagResource",
                                                                      "dynamodb:ListTagsOfResource"],
             "Resource": f"arn:aws:dynamodb:{r}:{a}:table/makini-*"},
            {"Sid": "TopicsOfMakini", "Effect": "Allow", "Action": ["sns:*"],
             "Resource": f"arn:aws:sns:{r}:{a}:makini-*"},
            {"Sid": "AlarmsOfMakini", "Effect": "Allow",
             "Action": ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms",
                        "cloudwatch:TagResource", "cloudwatch:UntagResource", "cloudwatch:ListTagsForResource"],
             "Resource": f"arn:aws:cloudwatch:{r}:{a}:alarm:makini-*"},
            {"Sid": "LogsOfMakini", "Effect": "Allow",
             "Action": ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy",
                        "logs:DeleteRetentionPolicy", "logs:TagResource", "logs:UntagResource",
                        "logs:ListTagsForResource", "logs:TagLogGroup", "logs:ListTagsLogGroup"],
             "Resource": [f"arn:aws:logs:{r}:{a}:log-group:/aws/lambda/makini-*",
                          f"arn:aws:logs:{r}:{a}:log-group:/aws/lambda/makini-*:*"]},
            {"Sid": "LogsDescribe", "Effect": "Allow", "Action": ["logs:DescribeLogGroups"], "Resource": "*"},
            {"Sid": "SchedulesOfMakini", "Effect": "Allow",
             "Action": ["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                        "scheduler:GetSchedule", "scheduler:TagResource", "scheduler:UntagResource",
                        "scheduler:ListTagsForResource"],
             "Resource": f"arn:aws:scheduler:{r}:{a}:schedule/*/makini-*"},
            # API Gateway v2 ids are random: no name-scoped ARN exists; creation is tag-conditioned.
            {"Sid": "HttpApis", "Effect": "Allow", "Action": ["apigateway:GET", "apigateway:POST", "apigateway:PATCH",
                                                               "apigateway:DELETE", "apigateway:PUT",
                                                               "apigateway:TagResource"],
             "Resource": [f"arn:aws:apigateway:{r}::/apis", f"arn:aws:apigateway:{r}::/apis/*",
                          f"arn:aws:apigateway:{r}::/tags/*"]},
        ],
    }
