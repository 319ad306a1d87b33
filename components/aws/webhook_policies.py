"""Pure builders for the IAM documents of an environment's webhook receiver (plain dicts, no Pulumi).

Kept apart from the component so that parliament and moto's IAM enforcement can check exactly what the
component deploys, and so that the grants follow the receiver's code (functions/webhook_receiver/
aws_lambda.py), not the other way round.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.naming import receiver_log_group_name

#: Secrets Manager calls the receiver makes: GetSecretValue (VersionStage AWSCURRENT and AWSPREVIOUS).
SECRET_ACTIONS = ("secretsmanager:GetSecretValue",)
#: DynamoDB calls the receiver makes on its dedupe table (claim, lookup, mark done, release).
TABLE_ACTIONS = ("dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
QUEUE_ACTIONS = ("sqs:SendMessage",)
#: A producer on an SSE-KMS queue needs a data key (GenerateDataKey) and Decrypt for a cached one.
QUEUE_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")


def receiver_policy(
    *,
    partition: str,
    region: str,
    account_id: str,
    environment: str,
    secret_arn: str,
    kms_key_arn: str,
    queue_arn: str,
    table_arn: str,
) -> dict[str, Any]:
    """The receiver role's only policy: its environment's secret, key, queue, table and log group."""
    log_group = f"arn:{partition}:logs:{region}:{account_id}:log-group:{receiver_log_group_name(environment)}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadWebhookSecret",
                "Effect": "Allow",
                "Action": list(SECRET_ACTIONS),
                "Resource": secret_arn,
            },
            {
                "Sid": "DecryptSecretThroughSecretsManager",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}},
            },
            {
                "Sid": "SendToWebhookQueue",
                "Effect": "Allow",
                "Action": list(QUEUE_ACTIONS),
                "Resource": queue_arn,
            },
            {
                "Sid": "EncryptQueueMessagesThroughSqs",
                "Effect": "Allow",
                "Action": list(QUEUE_KEY_ACTIONS),
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
            {
                "Sid": "DedupeTableItems",
                "Effect": "Allow",
                "Action": list(TABLE_ACTIONS),
                "Resource": table_arn,
            },
            {
                "Sid": "WriteOwnLogs",
                "Effect": "Allow",
                "Action": list(LOG_ACTIONS),
                "Resource": f"{log_group}:*",
            },
        ],
    }


def alarm_key_policy(partition: str, account_id: str, region: str, environment: str = "") -> dict[str, Any]:
    """Key policy of an alarm topic's key: the account administers it; CloudWatch (alarms in this account only)
    and EventBridge (this environment's rules only: ``makini-<env>-*``, e.g. the rotation-failure rule) may
    encrypt the notifications they publish. An AWS-managed SNS key would refuse both, and the secrets key is
    for secrets only."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountRootControl",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account_id},
                "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"},
            },
        },
    ]
    if environment:
        statements.append(
            {
                "Sid": "EventBridgeRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": _rule_arns(partition, region, account_id, environment)},
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def _rule_arns(partition: str, region: str, account_id: str, environment: str) -> str:
    return f"arn:{partition}:events:{region}:{account_id}:rule/makini-{environment}-*"


def alarm_topic_policy(
    partition: str, account_id: str, region: str, environment: str, topic_arn: str
) -> dict[str, Any]:
    """Resource policy of an alarm topic: publishing by CloudWatch alarms of this account and by this environment's
    EventBridge rules (which need an explicit grant: EventBridge publishes to SNS as its service principal). The
    account's own principals act through their identity policies (same account: either policy may allow)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "CloudWatchAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:cloudwatch:{region}:{account_id}:alarm:*"},
                },
            },
            {
                "Sid": "EventBridgeRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account_id},
                    "ArnLike": {"aws:SourceArn": _rule_arns(partition, region, account_id, environment)},
                },
            },
        ],
    }


#: What a consumer does with a message: receive it, extend its lease, delete it once processed.
CONSUME_ACTIONS = ("sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage")
#: Moving messages between queues (a dead-letter redrive): source side StartMessageMoveTask and Cancel;
#: the destination authorises it as the caller's SendMessage (SQS Developer Guide, dead-letter queue redrive).
MOVE_ACTIONS = ("sqs:CancelMessageMoveTask", "sqs:StartMessageMoveTask")
#: What changes a queue's policy, attributes (redrive, key, retention), tags or existence.
ADMINISTRATION_ACTIONS = (
    "sqs:AddPermission",
    "sqs:RemovePermission",
    "sqs:SetQueueAttributes",
    "sqs:TagQueue",
    "sqs:UntagQueue",
)
DELETE_ACTION = "sqs:DeleteQueue"
PURGE_ACTION = "sqs:PurgeQueue"


def _deny(sid: str, actions: Sequence[str], queue_arn: str, allowed: Sequence[str]) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": actions[0] if len(actions) == 1 else list(actions),
        "Resource": queue_arn,
    }
    names = sorted(set(allowed))
    if names:
        statement["Condition"] = {"StringNotEquals": {"aws:PrincipalArn": names}}
    return statement


def queue_policy(
    queue_arn: str,
    *,
    dead_letter: bool,
    receiver_arn: str,
    consumer_arns: Sequence[str] = (),
    deployer_arns: Sequence[str] = (),
    break_glass_arns: Sequence[str] = (),
    production: bool = False,
) -> dict[str, Any]:
    """Resource policy of the webhook queue, or (``dead_letter``) of its dead-letter queue.

    Consumers trust a message as verified because nobody but the receiver can put one in either queue,
    whatever their identity policies say (same account included):

    - no request without TLS;
    - SendMessage: the receiver only on the queue; nobody on the dead-letter queue, which fills only by
      SQS's own move of a message the queue failed ``maxReceiveCount`` times (that move is not a request of
      any principal, so no statement applies to it);
    - StartMessageMoveTask/CancelMessageMoveTask: nobody, so nothing is redriven into the queue (a redrive
      sends as its caller, which the queue refuses anyway): consumers drain the dead-letter queue directly;
    - ReceiveMessage, DeleteMessage, ChangeMessageVisibility: the declared queue consumers only;
    - PurgeQueue: break-glass only; policy, attributes and tags: the deployers and break-glass; DeleteQueue:
      the deployers (not in production) and break-glass.
    Metadata reads (GetQueueAttributes, ListQueueTags) stay with IAM: operators watch depths with them.
    """
    if any(
        "*" in a or not a.startswith("arn:") for a in [receiver_arn, *consumer_arns, *deployer_arns, *break_glass_arns]
    ):
        raise ValueError("principals in a queue policy must be exact ARNs (no wildcards, no empty string)")
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        _deny(
            "DenySendToDeadLetterQueue" if dead_letter else "DenySendOutsideReceiver",
            ["sqs:SendMessage"],
            queue_arn,
            [] if dead_letter else [receiver_arn],
        ),
        _deny("DenyMessageMoves", MOVE_ACTIONS, queue_arn, []),
        _deny("DenyConsumeOutsideConsumers", CONSUME_ACTIONS, queue_arn, consumer_arns),
        _deny("DenyPurgeOutsideBreakGlass", [PURGE_ACTION], queue_arn, break_glass_arns),
        _deny(
            "DenyAdministrationOutsideDeployers", ADMINISTRATION_ACTIONS, queue_arn, [*deployer_arns, *break_glass_arns]
        ),
        _deny(
            "DenyDeletionInProduction" if production else "DenyDeletionOutsideDeployers",
            [DELETE_ACTION],
            queue_arn,
            break_glass_arns if production else [*deployer_arns, *break_glass_arns],
        ),
    ]
    return {"Version": "2012-10-17", "Statement": statements}
