"""Pure builders for the keeper of run-time secrets (components/aws/keeper.py): its role's only policy, and the
settings document its package carries (plain dicts, no Pulumi).

The keeper's settings say, per run-time class, the exact resource policy a secret of the class gets (rendered
here, at deploy time, by the store's own builder :func:`components.aws.policies.secret_resource_policy`) and the
environment's rotation (the function and its rules), so the function decides nothing: it checks a secret's
name, then puts what the settings say.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stacks.naming import KEEPER_SETTINGS_FILE, aws_secret_name, keeper_log_group_name

from .policies import (
    KEEPER_ADMINISTRATION_ACTION,
    KEEPER_WRITE_ACTION,
    runtime_token_arn_pattern,
    secret_arn_prefix,
    secret_resource_policy,
)

__all__ = ["KEEPER_SETTINGS_FILE", "keeper_policy", "keeper_settings", "runtime_class_resource_policy"]
#: Metadata the keeper reads of a run-time token: its rotation (DescribeSecret) and its policy; never a value.
KEEPER_LOOKUP_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy")
#: Never, on any secret, whatever another policy of the role says: values, versions, deletion, tags, replication,
#: creation, a policy's removal, a rotation's cancellation.
KEEPER_DENIED_ACTIONS = (
    "secretsmanager:BatchGetSecretValue",
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:CreateSecret",
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:DeleteSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:RestoreSecret",
    "secretsmanager:StopReplicationToReplica",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def keeper_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    environment: str,
    classes: Sequence[str],
    rotation_function_arn: str | None,
) -> dict[str, Any]:
    """The keeper role's only policy: on the run-time classes' tokens of this environment only, read metadata,
    put a resource policy (public policies blocked) and, when the environment rotates tokens, configure rotation
    with exactly the environment's rotation function (``secretsmanager:RotationLambdaARN``; RotateSecret also
    needs ``lambda:InvokeFunction`` on that function, Secrets Manager API reference); list secrets (no resource
    type: ``*``); write its own logs. Denied explicitly: every value, version, deletion, tag and replication
    action on every secret, governing anything outside the run-time classes, rotating with another function (or
    none), and every KMS action (it never decrypts)."""
    classes = sorted(set(classes))
    if not classes:
        raise ValueError("a keeper needs at least one run-time class")
    if rotation_function_arn is not None and ("*" in rotation_function_arn or "?" in rotation_function_arn):
        raise ValueError("the rotation function ARN must be exact")
    prefix = secret_arn_prefix(partition, region, account_id, environment)
    tokens = [runtime_token_arn_pattern(prefix, c) for c in classes]
    log_group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{keeper_log_group_name(environment)}"
    govern = [*KEEPER_LOOKUP_ACTIONS, KEEPER_ADMINISTRATION_ACTION]
    statements: list[dict[str, Any]] = [
        {"Sid": "LookUpRuntimeTokens", "Effect": "Allow", "Action": list(KEEPER_LOOKUP_ACTIONS), "Resource": tokens},
        {
            "Sid": "PutRuntimeTokenPolicies",
            "Effect": "Allow",
            "Action": KEEPER_ADMINISTRATION_ACTION,
            "Resource": tokens,
            "Condition": {"Bool": {"secretsmanager:BlockPublicPolicy": "true"}},
        },
        {"Sid": "ListSecrets", "Effect": "Allow", "Action": "secretsmanager:ListSecrets", "Resource": "*"},
        {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": f"{log_group}:*"},
    ]
    never = list(KEEPER_DENIED_ACTIONS)
    if rotation_function_arn is not None:
        govern.append(KEEPER_WRITE_ACTION)
        statements += [
            {
                "Sid": "EnableRotationWithTheEnvironmentFunction",
                "Effect": "Allow",
                "Action": KEEPER_WRITE_ACTION,
                "Resource": tokens,
                "Condition": {"ArnEquals": {"secretsmanager:RotationLambdaARN": rotation_function_arn}},
            },
            {
                # RotateSecret checks the caller may invoke the rotation function.
                "Sid": "InvokeTheRotationFunctionForRotateSecret",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": rotation_function_arn,
            },
            {
                "Sid": "RotateOnlyWithTheEnvironmentFunction",
                "Effect": "Deny",
                "Action": KEEPER_WRITE_ACTION,
                "Resource": "*",
                "Condition": {"ArnNotEquals": {"secretsmanager:RotationLambdaARN": rotation_function_arn}},
            },
        ]
    else:
        never.append(KEEPER_WRITE_ACTION)
    statements += [
        {"Sid": "NeverReadWriteOrDeleteSecrets", "Effect": "Deny", "Action": sorted(never), "Resource": "*"},
        {"Sid": "GovernOnlyRuntimeTokens", "Effect": "Deny", "Action": sorted(govern), "NotResource": tokens},
        {"Sid": "NeverUseKeys", "Effect": "Deny", "Action": "kms:*", "Resource": "*"},
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def runtime_class_resource_policy(
    prefix: str,
    access_class: str,
    *,
    reader_arns: Sequence[str],
    writer_arns: Sequence[str],
    creator_arns: Sequence[str],
    keeper_arn: str,
    operator_arns: Sequence[str] = (),
    deployer_arns: Sequence[str] = (),
    break_glass_arns: Sequence[str] = (),
    drift_arns: Sequence[str] = (),
    production: bool = False,
    recovery_window_days: int | None = None,
) -> dict[str, Any]:
    """The resource policy of every token of a run-time class: the document a declared token of the class would
    get from the store (readers: the class's consumers; writers: the rotation identity; the operators, deployers,
    break-glass and drift principals of the environment; the drift check reads current tokens), with two
    additions a run-time token needs: its creators (the onboarding identity) may schedule its deletion when the
    customer disconnects (the recovery-window denies still bind them; they never read or write a value), and the
    keeper may put this policy again and configure rotation (nothing else). ``prefix`` is
    :func:`secret_arn_prefix` of the environment."""
    return secret_resource_policy(
        f"{prefix}connections/{access_class}/",
        reader_arns,
        writer_arns,
        operator_arns,
        deployer_arns,
        break_glass_arns=break_glass_arns,
        drift_arns=drift_arns,
        drift_reads_current=True,
        production=production,
        recovery_window_days=recovery_window_days,
        keeper_arns=[keeper_arn],
        deleter_arns=creator_arns,
    )


def keeper_settings(
    *,
    environment: str,
    policies: Mapping[str, Mapping[str, Any]],
    rotation_function_arn: str | None,
    period_days: int | None,
    rotation_window: str | None,
) -> dict[str, Any]:
    """The settings the keeper's package carries: the environment, per run-time class its tokens' resource
    policy, and the rotation every run-time token gets (None: the environment does not rotate tokens)."""
    rotation: dict[str, Any] | None = None
    if rotation_function_arn is not None:
        if period_days is None:
            raise ValueError("a rotation function needs a rotation period")
        rules: dict[str, Any] = {"AutomaticallyAfterDays": period_days}
        if rotation_window is not None:
            rules["Duration"] = rotation_window
        rotation = {"lambdaArn": rotation_function_arn, "rules": rules}
    return {
        "environment": environment,
        "secretNamePrefix": aws_secret_name(environment, "connections/"),
        "classes": {name: {"resourcePolicy": dict(doc)} for name, doc in sorted(policies.items())},
        "rotation": rotation,
    }
