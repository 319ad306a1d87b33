"""Pure builders of the CI identities' AWS documents: trust policies, permission policies, the boundary.

Per stack (``S``, environment ``E``, account ``A``):

* ``makini-infra-S-deploy`` trusts exactly one job: ``main.yml`` on a push to ``main`` of the repository
  (by id), in the GitHub environment ``S`` (:func:`deploy_trust_policy`). Its policy
  (:func:`deploy_policy`) manages the resources of environment ``E`` only (names ``makini-E-*``,
  ``makini/E/*``, KMS keys tagged ``environment: E``), creates only the IAM roles the program creates, each
  with the permissions boundary required, passes only those roles and only to the service that runs
  them, and explicitly denies touching the CI identities, the boundary and the OIDC provider, assuming any
  role, removing a boundary, public secret policies, force-deleting secrets and bypassing the KMS key
  policy lockout check.
* ``makini-infra-S-preview`` (non-production stacks only) trusts the repository's pull-request jobs of
  ``pr.yml`` and reads metadata of environment ``E``; secret values and decryption are denied.
* ``makini-infra-boundary`` (one per account) is the ceiling of every role the program creates: the
  data-plane actions of makini-infra's runtime roles on the resources of the role's *own* environment
  (``${aws:PrincipalTag/environment}``), nothing else (no IAM, no STS, no Lambda but invoking the environment's
  own functions).

Condition keys used, from the Service Authorization Reference / IAM User Guide:
``iam:PermissionsBoundary`` (CreateRole, PutRolePermissionsBoundary, Put/DeleteRolePolicy,
Attach/DetachRolePolicy), ``iam:PolicyARN`` (Attach/DetachRolePolicy), ``iam:PassedToService`` (PassRole),
``lambda:Principal`` (AddPermission), ``secretsmanager:BlockPublicPolicy``,
``secretsmanager:ForceDeleteWithoutRecovery``, ``kms:BypassPolicyLockoutSafetyCheck``, ``aws:RequestTag``
and ``aws:ResourceTag``; the GitHub claim keys ``token.actions.githubusercontent.com:{sub,aud,
repository_id,ref,environment,job_workflow_ref}`` (AWS STS validates these GitHub claims in
AssumeRoleWithWebIdentity since January 2026: AWS What's New "AWS STS supports validation of identity
provider claims", and the IAM User Guide, reference_policies_iam-condition-keys.html#condition-keys-wif).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.limits import PolicyTooLarge, refuse_oversized_role, split_policy
from stacks.naming import keeper_function_name, receiver_role_name, reminder_role_name, rotation_role_name

from .model import (
    CI_ROLE_PREFIX,
    PERMISSIONS_BOUNDARY_NAME,
    DeliveryStack,
    boundary_arn,
    deploy_role_name,
)
from .oidc import AWS_AUDIENCE, HOST, deploy_requirement, drift_requirement, preview_requirement

Document = dict[str, Any]

#: Services the program's roles are passed to: the Lambda functions' roles, the reminder scheduler's.
LAMBDA_SERVICE = "lambda.amazonaws.com"
SCHEDULER_SERVICE = "scheduler.amazonaws.com"
#: Principals the program lets invoke its functions (lambda:AddPermission): the webhook API, Secrets Manager
#: (rotation), EventBridge (the keeper's sweep schedule); and the stack's onboarding role (the keeper), by ARN.
INVOKING_SERVICES = ("apigateway.amazonaws.com", "events.amazonaws.com", "secretsmanager.amazonaws.com")
#: Never allowed to a preview role: reading a secret's value or decrypting.
PREVIEW_DENIED_ACTIONS = (
    "secretsmanager:GetSecretValue",
    "secretsmanager:BatchGetSecretValue",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:ReEncryptFrom",
)


def _arn(partition: str, service: str, region: str, account: str, resource: str) -> str:
    return f"arn:{partition}:{service}:{region}:{account}:{resource}"


def _http_api_resources(partition: str, region: str) -> list[str]:
    """API Gateway v2 ids are random: no name-scoped ARN exists for HTTP APIs and domain names."""
    base = f"arn:{partition}:apigateway:{region}::"
    return [f"{base}/apis", f"{base}/apis/*", f"{base}/domainnames", f"{base}/domainnames/*", f"{base}/tags/*"]


#: Reads that have no resource type in IAM: only Resource "*" matches them.
_READS_WITHOUT_RESOURCE_TYPE: Document = {
    "Sid": "ReadsWithoutResourceType",
    "Effect": "Allow",
    "Action": ["logs:DescribeLogGroups", "sns:GetSubscriptionAttributes", "sts:GetCallerIdentity"],
    "Resource": "*",
}


# --------------------------------------------------------------------------------------------------
# Trust


def _web_identity(
    sid: str,
    provider_arn: str,
    equals: dict[str, str],
    like: dict[str, str],
    any_of: dict[str, tuple[str, ...]] | None = None,
) -> Document:
    condition: dict[str, dict[str, str | list[str]]] = {
        "StringEquals": {
            **{f"{HOST}:{k}": v for k, v in equals.items()},
            **{f"{HOST}:{k}": sorted(v) for k, v in (any_of or {}).items()},
        }
    }
    if like:
        condition["StringLike"] = {f"{HOST}:{k}": v for k, v in like.items()}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": condition,
            }
        ],
    }


def deploy_trust_policy(provider_arn: str, repository: str, repository_id: str, stack: DeliveryStack) -> Document:
    """Only ``main.yml`` on a push to ``main`` of this repository, in the stack's environment."""
    need = deploy_requirement(repository, repository_id, stack.github_environment, AWS_AUDIENCE)
    # event_name is not an AWS condition key: it is bound through the subject (custom template).
    equals = {k: v for k, v in need.equals.items() if k != "event_name"}
    return _web_identity("MainBranchDeployOfThisStack", provider_arn, equals, {})


def drift_trust_policy(provider_arn: str, repository: str, repository_id: str) -> Document:
    """Only ``drift.yml`` on ``main`` of this repository, run by its schedule or by hand, in no environment."""
    need = drift_requirement(repository, repository_id, AWS_AUDIENCE)
    # event_name is not an AWS condition key: it is bound through the subject (one subject per event).
    any_of = {k: v for k, v in need.any_of.items() if k != "event_name"}
    return _web_identity("DailyDriftCheckOnMain", provider_arn, need.equals, {}, any_of)


def preview_trust_policy(provider_arn: str, repository: str, repository_id: str) -> Document:
    """Only the repository's pull-request jobs of ``pr.yml`` (no environment, never main, never a push)."""
    need = preview_requirement(repository, repository_id, AWS_AUDIENCE)
    return _web_identity("PullRequestPreviews", provider_arn, need.equals, need.like)


# --------------------------------------------------------------------------------------------------
# The boundary


def boundary_policy(account_id: str, partition: str = "aws") -> Document:
    """The ceiling of every role the program creates (see the module docstring)."""
    a, p = account_id, partition
    env = "${aws:PrincipalTag/environment}"
    same_env_key = {"StringEquals": {"aws:ResourceTag/environment": env, "aws:ResourceTag/managed-by": "makini-infra"}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SecretsOfOwnEnvironment",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                "Resource": _arn(p, "secretsmanager", "*", a, f"secret:makini/{env}/*"),
            },
            {
                # The keeper of run-time secrets (components/aws/keeper.py): look up and put the class's policy on
                # a run-time token and configure its rotation; its own policy names the run-time classes exactly.
                "Sid": "GovernRuntimeSecretsOfOwnEnvironment",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:GetResourcePolicy",
                    "secretsmanager:PutResourcePolicy",
                    "secretsmanager:RotateSecret",
                ],
                "Resource": _arn(p, "secretsmanager", "*", a, f"secret:makini/{env}/connections/*"),
            },
            {
                # ListSecrets has no resource type (Service Authorization Reference): only "*" matches it.
                "Sid": "ListSecrets",
                "Effect": "Allow",
                "Action": "secretsmanager:ListSecrets",
                "Resource": "*",
            },
            {
                # RotateSecret's caller must be allowed to invoke the rotation function; the onboarding identity
                # (when the program creates its role) invokes the keeper. Never another environment's function.
                "Sid": "InvokeFunctionsOfOwnEnvironment",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": _arn(p, "lambda", "*", a, f"function:makini-{env}-*"),
            },
            {
                "Sid": "KeysOfOwnEnvironmentThroughServices",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": _arn(p, "kms", "*", a, "key/*"),
                "Condition": {
                    **same_env_key,
                    "StringLike": {
                        "kms:ViaService": [
                            "secretsmanager.*.amazonaws.com",
                            "sqs.*.amazonaws.com",
                            "sns.*.amazonaws.com",
                        ]
                    },
                },
            },
            {
                "Sid": "QueuesOfOwnEnvironment",
                "Effect": "Allow",
                "Action": [
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                ],
                "Resource": _arn(p, "sqs", "*", a, f"makini-{env}-*"),
            },
            {
                "Sid": "TablesOfOwnEnvironment",
                "Effect": "Allow",
                "Action": ["dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                "Resource": _arn(p, "dynamodb", "*", a, f"table/makini-{env}-*"),
            },
            {
                "Sid": "TopicsOfOwnEnvironment",
                "Effect": "Allow",
                "Action": ["sns:Publish"],
                "Resource": _arn(p, "sns", "*", a, f"makini-{env}-*"),
            },
            {
                "Sid": "OwnLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": [
                    _arn(p, "logs", "*", a, f"log-group:/aws/lambda/makini-{env}-*"),
                    _arn(p, "logs", "*", a, f"log-group:/aws/lambda/makini-{env}-*:*"),
                ],
            },
        ],
    }


# --------------------------------------------------------------------------------------------------
# Deploy


def ci_role_arns(account_id: str, partition: str = "aws") -> list[str]:
    return [f"arn:{partition}:iam::{account_id}:role/{CI_ROLE_PREFIX}*"]


def ci_policy_arns(account_id: str, partition: str = "aws") -> list[str]:
    """The CI roles' own managed policies (:func:`deploy_policies`): no CI role may change them."""
    return [f"arn:{partition}:iam::{account_id}:policy/{CI_ROLE_PREFIX}*"]


def oidc_provider_arn(account_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{HOST}"


def _roles(partition: str, account: str, names: Sequence[str]) -> list[str]:
    return [f"arn:{partition}:iam::{account}:role/{n}" for n in sorted(names)]


def deploy_policy(stack: DeliveryStack, partition: str = "aws") -> Document:
    """What ``pulumi up`` of ``stack`` needs, on its environment's resources only (module docstring)."""
    if stack.aws_account_id is None:
        raise ValueError(f"stack {stack.name} pins no AWS account")
    a, p, e = stack.aws_account_id, partition, stack.environment
    r = stack.aws_region or "*"
    boundary = boundary_arn(a, p)
    program_roles = _roles(p, a, stack.program_role_names())
    onboarding = stack.onboarding_role_arn(p)
    invoking_roles = [onboarding] if onboarding is not None else []
    policy_arns = [f"arn:{p}:iam::{a}:policy/{n}" for n in stack.consumer_policy_names()]
    created_policy = {
        f"arn:{p}:iam::{a}:role/makini-{e}-{c}": [f"arn:{p}:iam::{a}:policy/{n}" for n in stack.policy_names_of(c)]
        for c in stack.created_consumer_roles
    }
    tagged_env = {"StringEquals": {"aws:ResourceTag/environment": e, "aws:ResourceTag/managed-by": "makini-infra"}}
    statements: list[Document] = [
        # ---- explicit denies: no later Allow (or attached policy) can open these -----------------------
        {
            "Sid": "DenyChangingTheCiIdentitiesBoundaryAndOidcProvider",
            "Effect": "Deny",
            "Action": "iam:*",
            "Resource": [
                *ci_role_arns(a, p),
                *ci_policy_arns(a, p),
                f"arn:{p}:iam::{a}:policy/{PERMISSIONS_BOUNDARY_NAME}",
                oidc_provider_arn(a, p),
            ],
        },
        {
            "Sid": "DenyRemovingOrReplacingBoundaries",
            "Effect": "Deny",
            "Action": [
                "iam:DeleteRolePermissionsBoundary",
                "iam:DeleteUserPermissionsBoundary",
                "iam:PutUserPermissionsBoundary",
            ],
            "Resource": "*",
        },
        {
            "Sid": "DenyBoundaryOtherThanMakinis",
            "Effect": "Deny",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": "*",
            "Condition": {"StringNotEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {
            "Sid": "DenyAssumingRoles",
            "Effect": "Deny",
            "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"],
            "Resource": "*",
        },
        {
            "Sid": "DenyPublicOrCrossAccountSecretPolicies",
            "Effect": "Deny",
            "Action": "secretsmanager:PutResourcePolicy",
            "Resource": "*",
            "Condition": {"BoolIfExists": {"secretsmanager:BlockPublicPolicy": "false"}},
        },
        {
            "Sid": "DenyDeletingSecretsWithoutRecovery",
            "Effect": "Deny",
            "Action": "secretsmanager:DeleteSecret",
            "Resource": "*",
            "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
        },
        {
            "Sid": "DenyBypassingKeyPolicyLockoutCheck",
            "Effect": "Deny",
            "Action": ["kms:CreateKey", "kms:PutKeyPolicy"],
            "Resource": "*",
            "Condition": {"Bool": {"kms:BypassPolicyLockoutSafetyCheck": "true"}},
        },
    ]
    if stack.production:
        statements.append(
            {
                "Sid": "DenyDeletingProductionStores",
                "Effect": "Deny",
                "Action": [
                    "secretsmanager:DeleteSecret",
                    "secretsmanager:DeleteResourcePolicy",
                    "kms:ScheduleKeyDeletion",
                    "kms:DisableKey",
                ],
                "Resource": "*",
            }
        )
    statements += [
        # ---- secrets and keys of this environment -----------------------------------------------------
        {
            "Sid": "SecretsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:CancelRotateSecret",
                "secretsmanager:CreateSecret",
                "secretsmanager:DeleteResourcePolicy",
                "secretsmanager:DeleteSecret",
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy",
                "secretsmanager:PutResourcePolicy",
                "secretsmanager:PutSecretValue",
                "secretsmanager:RestoreSecret",
                "secretsmanager:RotateSecret",
                "secretsmanager:TagResource",
                "secretsmanager:UntagResource",
                "secretsmanager:UpdateSecret",
                "secretsmanager:ValidateResourcePolicy",
            ],
            "Resource": _arn(p, "secretsmanager", r, a, f"secret:makini/{e}/*"),
        },
        {
            # pulumi-aws reads a SecretVersion back (GetSecretValue by VersionId) after writing it and on every
            # refresh. Only reads of one given version: each secret's resource policy lets the deployers read
            # exactly the initial version they wrote from the stack's config, never a rotated one.
            "Sid": "ReadBackTheInitialVersionsItWrites",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": _arn(p, "secretsmanager", r, a, f"secret:makini/{e}/*"),
            "Condition": {"Null": {"secretsmanager:VersionId": "false"}},
        },
        {
            # Writing an initial value (PutSecretValue) needs GenerateDataKey on the environment key, reading it
            # back Decrypt: Secrets Manager calls KMS with the caller's permissions, for this environment's secrets.
            "Sid": "UseTheEnvironmentKeyThroughSecretsManager",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": _arn(p, "kms", r, a, "key/*"),
            "Condition": {
                **tagged_env,
                "StringLike": {
                    "kms:ViaService": f"secretsmanager.{r}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": _arn(p, "secretsmanager", r, a, f"secret:makini/{e}/*"),
                },
            },
        },
        {
            "Sid": "DenyTaggingKeysOfOtherOwners",
            "Effect": "Deny",
            "Action": ["kms:TagResource", "kms:UntagResource"],
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:ResourceTag/environment": e},
                "Null": {"aws:ResourceTag/environment": "false"},
            },
        },
        {
            "Sid": "DenyTaggingKeysManagedByOthers",
            "Effect": "Deny",
            "Action": ["kms:TagResource", "kms:UntagResource"],
            "Resource": "*",
            "Condition": {
                "StringNotEquals": {"aws:ResourceTag/managed-by": "makini-infra"},
                "Null": {"aws:ResourceTag/managed-by": "false"},
            },
        },
        {
            "Sid": "CreateKeysTaggedForThisEnvironment",
            "Effect": "Allow",
            "Action": ["kms:CreateKey", "kms:TagResource"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:RequestTag/environment": e, "aws:RequestTag/managed-by": "makini-infra"}
            },
        },
        {
            "Sid": "ListKeysAndAliases",
            "Effect": "Allow",
            "Action": ["kms:ListAliases", "kms:ListKeys"],
            "Resource": "*",
        },
        {
            "Sid": "KeysOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "kms:CreateAlias",
                "kms:DeleteAlias",
                "kms:DescribeKey",
                "kms:DisableKey",
                "kms:EnableKeyRotation",
                "kms:GetKeyPolicy",
                "kms:GetKeyRotationStatus",
                "kms:ListResourceTags",
                "kms:PutKeyPolicy",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:UpdateAlias",
                "kms:UpdateKeyDescription",
            ],
            "Resource": _arn(p, "kms", r, a, "key/*"),
            "Condition": tagged_env,
        },
        {
            "Sid": "AliasesOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            "Resource": [_arn(p, "kms", r, a, f"alias/makini/{e}"), _arn(p, "kms", r, a, f"alias/makini/{e}/*")],
        },
        # ---- IAM: exactly the roles and policies the program creates ---------------------------------
        {
            "Sid": "CreateProgramRolesOnlyWithTheBoundary",
            "Effect": "Allow",
            "Action": ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            "Resource": program_roles,
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {
            "Sid": "InlinePoliciesOnlyOnBoundedProgramRoles",
            "Effect": "Allow",
            "Action": ["iam:DeleteRolePolicy", "iam:PutRolePolicy"],
            "Resource": program_roles,
            "Condition": {"StringEquals": {"iam:PermissionsBoundary": boundary}},
        },
        {
            "Sid": "ManageProgramRoles",
            "Effect": "Allow",
            "Action": [
                "iam:DeleteRole",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListRolePolicies",
                "iam:ListRoleTags",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:UpdateRole",
                "iam:UpdateRoleDescription",
            ],
            "Resource": program_roles,
        },
        {
            "Sid": "PassFunctionRolesToLambdaOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": _roles(p, a, [rotation_role_name(e), receiver_role_name(e), keeper_function_name(e)]),
            "Condition": {"StringEquals": {"iam:PassedToService": LAMBDA_SERVICE}},
        },
        {
            "Sid": "PassReminderRoleToSchedulerOnly",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": _roles(p, a, [reminder_role_name(e)]),
            "Condition": {"StringEquals": {"iam:PassedToService": SCHEDULER_SERVICE}},
        },
    ]
    if policy_arns:
        statements.append(
            {
                "Sid": "ConsumerReadPolicies",
                "Effect": "Allow",
                "Action": [
                    "iam:CreatePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:DeletePolicy",
                    "iam:DeletePolicyVersion",
                    "iam:GetPolicy",
                    "iam:GetPolicyVersion",
                    "iam:ListPolicyTags",
                    "iam:ListPolicyVersions",
                    "iam:TagPolicy",
                    "iam:UntagPolicy",
                ],
                "Resource": policy_arns,
            }
        )
    for index, (role, policy) in enumerate(sorted(created_policy.items())):
        statements.append(
            {
                "Sid": f"AttachReadPolicyToCreatedRole{index}",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": role,
                "Condition": {
                    "StringEquals": {"iam:PermissionsBoundary": boundary},
                    "ArnEquals": {"iam:PolicyARN": policy},
                },
            }
        )
    for index, ext in enumerate(stack.external_consumer_roles):
        statements.append(
            {
                "Sid": f"AttachReadPolicyToConsumerRole{index}",
                "Effect": "Allow",
                "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                "Resource": ext.role_arn,
                "Condition": {
                    "ArnEquals": {
                        "iam:PolicyARN": [f"arn:{p}:iam::{a}:policy/{n}" for n in stack.policy_names_of(ext.consumer)]
                    }
                },
            }
        )
    if stack.external_consumer_roles:
        statements.append(
            {
                "Sid": "ReadConsumerRoleAttachments",
                "Effect": "Allow",
                "Action": ["iam:ListAttachedRolePolicies"],
                "Resource": sorted(x.role_arn for x in stack.external_consumer_roles),
            }
        )
    statements += [
        # ---- the environment's runtime resources -----------------------------------------------------
        {
            "Sid": "FunctionsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "lambda:CreateFunction",
                "lambda:DeleteFunction",
                "lambda:DeleteFunctionConcurrency",
                "lambda:GetFunction",
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetFunctionRecursionConfig",
                "lambda:GetPolicy",
                "lambda:GetRuntimeManagementConfig",
                "lambda:ListTags",
                "lambda:ListVersionsByFunction",
                "lambda:PutFunctionConcurrency",
                "lambda:RemovePermission",
                "lambda:TagResource",
                "lambda:UntagResource",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
            ],
            "Resource": _arn(p, "lambda", r, a, f"function:makini-{e}-*"),
        },
        {
            "Sid": "InvokePermissionsForTheServicesOnly",
            "Effect": "Allow",
            "Action": "lambda:AddPermission",
            "Resource": _arn(p, "lambda", r, a, f"function:makini-{e}-*"),
            "Condition": {"StringEquals": {"lambda:Principal": [*INVOKING_SERVICES, *invoking_roles]}},
        },
        {
            "Sid": "QueuesOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "sqs:CreateQueue",
                "sqs:DeleteQueue",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ListQueueTags",
                "sqs:SetQueueAttributes",
                "sqs:TagQueue",
                "sqs:UntagQueue",
            ],
            "Resource": _arn(p, "sqs", r, a, f"makini-{e}-*"),
        },
        {
            "Sid": "TablesOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "dynamodb:CreateTable",
                "dynamodb:DeleteTable",
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
                "dynamodb:TagResource",
                "dynamodb:UntagResource",
                "dynamodb:UpdateContinuousBackups",
                "dynamodb:UpdateTable",
                "dynamodb:UpdateTimeToLive",
            ],
            "Resource": _arn(p, "dynamodb", r, a, f"table/makini-{e}-*"),
        },
        {
            "Sid": "TopicsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "sns:CreateTopic",
                "sns:DeleteTopic",
                "sns:GetTopicAttributes",
                "sns:ListTagsForResource",
                "sns:SetTopicAttributes",
                "sns:Subscribe",
                "sns:TagResource",
                "sns:Unsubscribe",
                "sns:UntagResource",
            ],
            "Resource": _arn(p, "sns", r, a, f"makini-{e}-*"),
        },
        {
            "Sid": "AlarmsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "cloudwatch:DeleteAlarms",
                "cloudwatch:DescribeAlarms",
                "cloudwatch:ListTagsForResource",
                "cloudwatch:PutMetricAlarm",
                "cloudwatch:TagResource",
                "cloudwatch:UntagResource",
            ],
            "Resource": _arn(p, "cloudwatch", r, a, f"alarm:makini-{e}-*"),
        },
        {
            # The rotation-failure rule (components/aws/rotation.py), targeting the environment's alarm topic.
            "Sid": "EventRulesOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "events:DeleteRule",
                "events:DescribeRule",
                "events:ListTagsForResource",
                "events:ListTargetsByRule",
                "events:PutRule",
                "events:PutTargets",
                "events:RemoveTargets",
                "events:TagResource",
                "events:UntagResource",
            ],
            "Resource": _arn(p, "events", r, a, f"rule/makini-{e}-*"),
        },
        {
            "Sid": "LogGroupsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:DeleteLogGroup",
                "logs:DeleteRetentionPolicy",
                "logs:ListTagsForResource",
                "logs:ListTagsLogGroup",
                "logs:PutRetentionPolicy",
                "logs:TagLogGroup",
                "logs:TagResource",
                "logs:UntagResource",
            ],
            "Resource": [
                _arn(p, "logs", r, a, f"log-group:/aws/lambda/makini-{e}-*"),
                _arn(p, "logs", r, a, f"log-group:/aws/apigateway/makini-{e}-*"),
            ],
        },
        {
            "Sid": "SchedulesOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "scheduler:CreateSchedule",
                "scheduler:DeleteSchedule",
                "scheduler:GetSchedule",
                "scheduler:UpdateSchedule",
            ],
            "Resource": _arn(p, "scheduler", r, a, f"schedule/*/makini-{e}-*"),
        },
        # API Gateway v2 ids are random: no name-scoped ARN exists.
        {
            "Sid": "HttpApis",
            "Effect": "Allow",
            "Action": [
                "apigateway:DELETE",
                "apigateway:GET",
                "apigateway:PATCH",
                "apigateway:POST",
                "apigateway:PUT",
                "apigateway:TagResource",
            ],
            "Resource": _http_api_resources(p, r),
        },
        _READS_WITHOUT_RESOURCE_TYPE,
    ]
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------------------------------
# Preview


def deploy_policy_name(stack_name: str, index: int) -> str:
    """``makini-infra-<stack>-deploy-<n>``: the n-th (1-based) managed policy of the deploy role."""
    return f"{deploy_role_name(stack_name)}-{index}"


def deploy_policies(stack: DeliveryStack, partition: str = "aws") -> list[Document]:
    """:func:`deploy_policy` as customer managed policies attached to the deploy role: its statements in
    order, each document at most 6,144 characters (IAM's managed policy size, whitespace excluded), at most
    10 of them (IAM's default quota of managed policies per role). One inline policy could not hold it: the
    aggregate inline size per role is 10,240 characters, and the document grows with every consumer role it
    may attach a read policy to. Raises :class:`stacks.limits.PolicyTooLarge` naming the role, the size and
    the limit when even that does not fit."""
    role = deploy_role_name(stack.name)
    try:
        docs = split_policy(deploy_policy(stack, partition))
    except PolicyTooLarge as err:
        raise PolicyTooLarge(f"role {role}: {err}") from None
    refuse_oversized_role(role, docs)
    return docs


def _environment_reads(stack: DeliveryStack, partition: str) -> list[Document]:
    """The Describe/Get/List reads ``pulumi preview`` (and a refresh) makes on ``stack``'s environment."""
    if stack.aws_account_id is None:
        raise ValueError(f"stack {stack.name} pins no AWS account")
    a, p, e = stack.aws_account_id, partition, stack.environment
    r = stack.aws_region or "*"
    return [
        {
            "Sid": "SecretsMetadataOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "secretsmanager:DescribeSecret",
                "secretsmanager:GetResourcePolicy",
                "secretsmanager:ListSecretVersionIds",
            ],
            "Resource": _arn(p, "secretsmanager", r, a, f"secret:makini/{e}/*"),
        },
        {
            "Sid": "KmsKeysOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"],
            "Resource": _arn(p, "kms", r, a, "key/*"),
            "Condition": {
                "StringEquals": {"aws:ResourceTag/environment": e, "aws:ResourceTag/managed-by": "makini-infra"}
            },
        },
        {"Sid": "KmsAliases", "Effect": "Allow", "Action": ["kms:ListAliases"], "Resource": "*"},
        {
            "Sid": "IamOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "iam:GetPolicy",
                "iam:GetPolicyVersion",
                "iam:GetRole",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
                "iam:ListInstanceProfilesForRole",
                "iam:ListPolicyTags",
                "iam:ListPolicyVersions",
                "iam:ListRolePolicies",
                "iam:ListRoleTags",
            ],
            "Resource": [f"arn:{p}:iam::{a}:role/makini-{e}-*", f"arn:{p}:iam::{a}:policy/makini-{e}-*"],
        },
        {
            "Sid": "FunctionsOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "lambda:GetFunction",
                "lambda:GetFunctionCodeSigningConfig",
                "lambda:GetFunctionConcurrency",
                "lambda:GetFunctionConfiguration",
                "lambda:GetPolicy",
                "lambda:ListTags",
                "lambda:ListVersionsByFunction",
            ],
            "Resource": _arn(p, "lambda", r, a, f"function:makini-{e}-*"),
        },
        {
            "Sid": "QueuesOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["sqs:GetQueueAttributes", "sqs:ListQueueTags"],
            "Resource": _arn(p, "sqs", r, a, f"makini-{e}-*"),
        },
        {
            "Sid": "TablesOfThisEnvironment",
            "Effect": "Allow",
            "Action": [
                "dynamodb:DescribeContinuousBackups",
                "dynamodb:DescribeTable",
                "dynamodb:DescribeTimeToLive",
                "dynamodb:ListTagsOfResource",
            ],
            "Resource": _arn(p, "dynamodb", r, a, f"table/makini-{e}-*"),
        },
        {
            "Sid": "TopicsOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["sns:GetTopicAttributes", "sns:ListTagsForResource"],
            "Resource": _arn(p, "sns", r, a, f"makini-{e}-*"),
        },
        {
            "Sid": "AlarmsOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"],
            "Resource": _arn(p, "cloudwatch", r, a, f"alarm:makini-{e}-*"),
        },
        {
            "Sid": "LogGroupsOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["logs:ListTagsForResource"],
            "Resource": [
                _arn(p, "logs", r, a, f"log-group:/aws/lambda/makini-{e}-*"),
                _arn(p, "logs", r, a, f"log-group:/aws/apigateway/makini-{e}-*"),
            ],
        },
        {
            "Sid": "SchedulesOfThisEnvironment",
            "Effect": "Allow",
            "Action": ["scheduler:GetSchedule"],
            "Resource": _arn(p, "scheduler", r, a, f"schedule/*/makini-{e}-*"),
        },
        # API Gateway v2 ids are random: no name-scoped ARN exists. GET is the only read verb.
        {
            "Sid": "HttpApisRead",
            "Effect": "Allow",
            "Action": ["apigateway:GET"],
            "Resource": _http_api_resources(p, r),
        },
        _READS_WITHOUT_RESOURCE_TYPE,
    ]


def preview_policy(stack: DeliveryStack, partition: str = "aws") -> Document:
    """The Describe/Get/List reads of ``pulumi preview`` of ``stack``'s environment; never secret values."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "NeverReadSecretValues", "Effect": "Deny", "Action": list(PREVIEW_DENIED_ACTIONS), "Resource": "*"},
            *_environment_reads(stack, partition),
        ],
    }


def drift_policy(stack: DeliveryStack, partition: str = "aws") -> Document:
    """The drift check: ``pulumi preview --refresh`` and ``python -m infra.doctor`` of ``stack``; no write.

    The preview's reads, plus listing secret names (``python -m infra.doctor`` lists the run-time classes'
    tokens), reading secret values of the environment and decrypting them through Secrets Manager. Which
    values: each secret's resource policy decides (the stack's ``makini:aws.driftArns``): the OAuth client and
    the connection tokens (the doctor), and the initial version of each secret the deployment wrote (the
    refresh reads it back); every other secret denies it."""
    if stack.aws_account_id is None:
        raise ValueError(f"stack {stack.name} pins no AWS account")
    a, p, e = stack.aws_account_id, partition, stack.environment
    r = stack.aws_region or "*"
    secrets = _arn(p, "secretsmanager", r, a, f"secret:makini/{e}/*")
    return {
        "Version": "2012-10-17",
        "Statement": [
            *_environment_reads(stack, partition),
            {
                # The doctor lists the run-time classes' token names (issue 19): names and tags, never a value.
                # ListSecrets has no resource-level permissions: "*" is the only resource AWS accepts.
                "Sid": "ListSecretNames",
                "Effect": "Allow",
                "Action": "secretsmanager:ListSecrets",
                "Resource": "*",
            },
            {
                "Sid": "ReadSecretValuesTheSecretsAllow",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secrets,
            },
            {
                "Sid": "DecryptThroughSecretsManager",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": _arn(p, "kms", r, a, "key/*"),
                "Condition": {
                    "StringEquals": {"aws:ResourceTag/environment": e, "aws:ResourceTag/managed-by": "makini-infra"},
                    "StringLike": {
                        "kms:ViaService": f"secretsmanager.{r}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": secrets,
                    },
                },
            },
        ],
    }
