"""Pure builders for the AWS policy documents of a secret store (plain dicts, no Pulumi).

Kept apart from the components so they can be linted (parliament), evaluated (moto) and property-tested
without the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.naming import aws_secret_name

#: Data-plane reads of a secret value.
READ_ACTIONS = ("secretsmanager:GetSecretValue",)
#: Everything that can put a new value in place or start a rotation: a new version, a move of the
#: staging labels, UpdateSecret (which also takes a SecretString), and starting or cancelling a rotation.
WRITE_ACTIONS = (
    "secretsmanager:CancelRotateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RotateSecret",
    "secretsmanager:UpdateSecret",
    "secretsmanager:UpdateSecretVersionStage",
)
KEY_ADMIN_ACTIONS = (
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
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
)


def _unique(values: Sequence[str]) -> list[str]:
    return sorted(set(values))


def _deny_unless_principal(sid: str, actions: Sequence[str], secret_arn: str, allowed: Sequence[str]) -> dict[str, Any]:
    statement = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": list(actions),
        "Resource": secret_arn,
    }
    allowed = _unique(allowed)
    if allowed:
        # aws:PrincipalArn is the role ARN for assumed-role sessions, so this names roles, not sessions.
        statement["Condition"] = {"StringNotEquals": {"aws:PrincipalArn": allowed}}
    return statement


def lambda_trust_policy(sid: str) -> dict[str, Any]:
    """Trust policy of a function's role: only the Lambda service may assume it."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def caller_principal_arn(caller_arn: str) -> str | None:
    """The ``aws:PrincipalArn`` of the identity running the deployment, from ``GetCallerIdentity``.

    ``arn:aws:sts::123456789012:assumed-role/deploy/session`` -> ``arn:aws:iam::123456789012:role/deploy``;
    users and the root are their own principal. A role with a path cannot be derived (STS drops the
    path): such a deployer must be listed in ``makini:aws.deployerArns``. None when not derivable.
    """
    parts = caller_arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    partition, service, account, resource = parts[1], parts[2], parts[4], parts[5]
    if service == "sts" and resource.startswith("assumed-role/"):
        role = resource.split("/")[1]
        return f"arn:{partition}:iam::{account}:role/{role}"
    if service == "iam" and (resource.startswith("user/") or resource == "root"):
        return caller_arn
    return None


def secret_resource_policy(
    secret_arn: str,
    reader_arns: Sequence[str],
    writer_arns: Sequence[str],
    operator_arns: Sequence[str] = (),
    deployer_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """Resource policy of one secret.

    - every request without TLS is denied;
    - reading the value is denied to every principal but this secret's readers and writers (the
      rotation function reads what it rotates), whatever their identity policies say, same account
      included;
    - writing a value (PutSecretValue, UpdateSecret with a value, moving labels, starting a rotation)
      is denied to every principal but its writers, the operators who fill values out of band
      (operators never read) and the deployers that run ``pulumi up`` (initial values, rotation
      schedules, descriptions).
    Management actions (describe, tag, policy) stay with IAM, so an administrator cannot be locked out.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "secretsmanager:*",
                "Resource": secret_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
            _deny_unless_principal(
                "DenyReadOutsideEnvironment", READ_ACTIONS, secret_arn, [*reader_arns, *writer_arns]
            ),
            _deny_unless_principal(
                "DenyWriteOutsideWriters", WRITE_ACTIONS, secret_arn, [*writer_arns, *operator_arns, *deployer_arns]
            ),
        ],
    }


def kms_key_policy(
    partition: str,
    account_id: str,
    region: str,
    admin_arns: Sequence[str],
    user_arns: Sequence[str],
) -> dict[str, Any]:
    """Key policy of an environment's customer-managed key.

    The account root keeps control (the AWS-recommended statement that lets IAM policies grant use of
    the key, and prevents an unmanageable key); named administrators manage but cannot use it; the
    readers and writers of the environment's secrets may use it only through Secrets Manager in this
    region and account.
    """
    statements: list[dict[str, Any]] = [
        {
            "Sid": "AccountRootControl",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    admins = _unique(admin_arns)
    if admins:
        statements.append(
            {
                "Sid": "KeyAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": admins},
                "Action": list(KEY_ADMIN_ACTIONS),
                "Resource": "*",
            }
        )
    users = _unique(user_arns)
    if users:
        statements.append(
            {
                "Sid": "UseThroughSecretsManagerOnly",
                "Effect": "Allow",
                "Principal": {"AWS": users},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                        "kms:CallerAccount": account_id,
                    }
                },
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


# --------------------------------------------------------------------------------------------------
# Identity policies (attached to the roles of consumers and of the stack's own writers)

#: What a consumer may do with each of its secrets: read the value and its metadata, nothing else.
CONSUMER_ACTIONS = ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue")


#: Secrets Manager appends "-" and six random characters to a secret's name in its ARN
#: (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html#iam-resources).
#: Patterns match that suffix with "-*" rather than "-??????": the same set of secrets here (every name under
#: ``connections/`` ends in ``/token`` or ``/m2m-key``, and no connection key or class name holds a "/", so
#: ".../token-*" can only match a token's ARN), and moto's IAM engine, which the access proof uses,
#: understands "*" but not "?".
ARN_SUFFIX_PATTERN = "-*"


def secret_arn_prefix(partition: str, region: str, account_id: str, environment: str) -> str:
    """``arn:<partition>:secretsmanager:<region>:<account>:secret:makini/<env>/``: every secret of the environment."""
    return f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:{aws_secret_name(environment, '')}"


def class_token_pattern(prefix: str, access_class: str) -> str:
    """The ARN pattern of every token filed under an access class: ``<prefix>connections/<class>/*/token-*``.

    Only tokens live under a class's prefix (see stacks/catalog.py), and ``*`` never reaches another
    environment or class: the pattern starts with the environment's and the class's full prefix.
    """
    return f"{prefix}connections/{access_class}/*/token{ARN_SUFFIX_PATTERN}"


def token_pattern(prefix: str) -> str:
    """Every connection token of the environment (explicit-list and class tokens, never an M2M key)."""
    return f"{prefix}connections/*/token{ARN_SUFFIX_PATTERN}"


def _kms_through_secrets_manager(
    sid: str, actions: Sequence[str], kms_key_arn: str, region: str, prefix: str
) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": list(actions),
        "Resource": kms_key_arn,
        "Condition": {
            # Only when Secrets Manager calls KMS on the principal's behalf, in this region ...
            "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
            # ... for a secret of this environment (Secrets Manager puts the secret ARN in the context).
            # Which secrets: the Secrets Manager statement and each secret's resource policy decide; this
            # only keeps the key from serving another environment's secrets.
            "StringLike": {"kms:EncryptionContext:SecretARN": f"{prefix}*"},
        },
    }


#: What a consumer of the webhook queue needs: receive, delete after processing, extend its lease.
QUEUE_CONSUMER_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)


def consumer_read_policy(
    secret_arns: Sequence[str],
    kms_key_arn: str,
    region: str,
    queue_arn: str | None = None,
    *,
    prefix: str,
    classes: Sequence[str] = (),
) -> dict[str, Any]:
    """Identity policy of one consumer: read exactly its secrets, decrypt only through Secrets Manager.

    No wildcard action, no ``Resource: "*"``: each secret outside a class is listed by its ARN (with its
    random suffix); the tokens of each access class it reads by the class's pattern
    (:func:`class_token_pattern`), so the document does not grow with the number of connections.
    ``kms:Decrypt`` is limited to the environment key, to calls Secrets Manager makes in this region,
    and to this environment's secrets. A consumer of the webhook queue also receives and deletes
    messages of exactly that queue, decrypting them only through SQS.

    ``prefix`` is :func:`secret_arn_prefix` of the environment: every ARN and pattern must start with it.
    """
    exact = _unique(secret_arns)
    if any("*" in a or "?" in a for a in [*exact, kms_key_arn]):
        raise ValueError("secret and key ARNs must be exact (no wildcards)")
    if not prefix.endswith("/") or "*" in prefix or any(not a.startswith(prefix) for a in exact):
        raise ValueError(f"every secret ARN must be in the environment's prefix {prefix!r}")
    resources = exact + [class_token_pattern(prefix, c) for c in sorted(set(classes))]
    statements: list[dict[str, Any]] = []
    if resources:
        statements = [
            {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": list(CONSUMER_ACTIONS), "Resource": resources},
            _kms_through_secrets_manager("DecryptThroughSecretsManager", ("kms:Decrypt",), kms_key_arn, region, prefix),
        ]
    doc: dict[str, Any] = {"Version": "2012-10-17", "Statement": statements}
    if queue_arn is not None:
        doc["Statement"] += [
            {
                "Sid": "ConsumeWebhookQueue",
                "Effect": "Allow",
                "Action": list(QUEUE_CONSUMER_ACTIONS),
                "Resource": queue_arn,
            },
            {
                "Sid": "DecryptWebhookQueueThroughSqs",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
            },
        ]
    return doc


def role_name_from_arn(arn: str) -> str:
    """``arn:aws:iam::123456789012:role/team/orders-api`` -> ``orders-api`` (IAM APIs take the name, not the path)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        raise ValueError(f"not an IAM role ARN: {arn!r}")
    return parts[5].rsplit("/", 1)[-1]
