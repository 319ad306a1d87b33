"""Pure builders for the IAM documents of an environment's token rotation (plain dicts, no Pulumi).

The grants follow the rotation function's code and README (functions/rotation/): it reads, stages and
promotes versions of the environment's connection-token secrets, reads the OAuth client secret, uses the
environment key only through Secrets Manager, and writes its own log group. The reminder scheduler may
only publish to the reminder topic.

The token grant is one name pattern (``makini/<env>/connections/*/token-*``), so the document does
not grow with the number of connections; which tokens the function may actually read and write is
decided exactly by each secret's resource policy, which names the rotation role as a writer of exactly
the tokens it rotates (see components/aws/policies.py, ``secret_resource_policy``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.naming import rotation_log_group_name

from .policies import secret_arn_prefix, token_pattern

#: What the function does with each token secret it rotates (AWS's documented rotation permissions).
TOKEN_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecretVersionStage",
)
OAUTH_ACTIONS = ("secretsmanager:GetSecretValue",)
KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def scheduler_trust_policy(account_id: str) -> dict[str, Any]:
    """Only EventBridge Scheduler, for schedules of this account, may assume the reminder role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SchedulerAssumesReminderRole",
                "Effect": "Allow",
                "Principal": {"Service": "scheduler.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def _exact(arns: Sequence[str], what: str) -> list[str]:
    if any("*" in a or "?" in a for a in arns):
        raise ValueError(f"{what} ARNs must be exact (no wildcards)")
    return sorted(set(arns))


def rotation_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    environment: str,
    oauth_client_secret_arn: str,
    kms_key_arn: str,
) -> dict[str, Any]:
    """The rotation role's only policy: the environment's tokens by name pattern (the resource policies
    decide which of them), the OAuth client exactly, the key through Secrets Manager, its own logs."""
    tokens = token_pattern(secret_arn_prefix(partition, region, account_id, environment))
    (oauth,) = _exact([oauth_client_secret_arn], "OAuth client secret")
    (key,) = _exact([kms_key_arn], "KMS key")
    log_group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{rotation_log_group_name(environment)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "RotateConnectionTokens", "Effect": "Allow", "Action": list(TOKEN_ACTIONS), "Resource": tokens},
            {"Sid": "ReadOAuthClient", "Effect": "Allow", "Action": list(OAUTH_ACTIONS), "Resource": oauth},
            {
                "Sid": "UseKeyThroughSecretsManager",
                "Effect": "Allow",
                "Action": list(KEY_ACTIONS),
                "Resource": key,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
            {"Sid": "WriteOwnLogs", "Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": f"{log_group}:*"},
        ],
    }


def reminder_publish_policy(*, region: str, topic_arn: str, kms_key_arn: str) -> dict[str, Any]:
    """The scheduler role: publish to the reminder topic, and the key use SNS needs to encrypt it."""
    (topic,) = _exact([topic_arn], "topic")
    (key,) = _exact([kms_key_arn], "KMS key")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PublishReminder", "Effect": "Allow", "Action": "sns:Publish", "Resource": topic},
            {
                "Sid": "EncryptThroughSns",
                "Effect": "Allow",
                "Action": list(KEY_ACTIONS),
                "Resource": key,
                "Condition": {"StringEquals": {"kms:ViaService": f"sns.{region}.amazonaws.com"}},
            },
        ],
    }
