"""Pure builders for the AWS policy documents of a secret store (plain dicts, no Pulumi).

Kept apart from the components so they can be linted (parliament), evaluated (moto) and property-tested
without the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stacks.naming import (
    RUNTIME_MANAGED_BY,
    RUNTIME_TAG_CLASS,
    RUNTIME_TAG_CONNECTION_ID,
    RUNTIME_TAG_ENVIRONMENT,
    RUNTIME_TAG_KIND,
    RUNTIME_TAG_MANAGED_BY,
    aws_secret_name,
)

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
#: What changes who may do what to a secret (its policy, its tags, which may decide access) or brings a
#: deleted one back: the deployers' (Pulumi writes policies and tags) and the break-glass principals' only.
ADMINISTRATION_ACTIONS = (
    "secretsmanager:DeleteResourcePolicy",
    "secretsmanager:PutResourcePolicy",
    "secretsmanager:RestoreSecret",
    "secretsmanager:TagResource",
    "secretsmanager:UntagResource",
)
#: Copies of the secret in other regions: a replica carries the value (and a copy of this policy) under
#: another region's key and ARN. Nobody needs one here: break-glass only.
REPLICATION_ACTIONS = (
    "secretsmanager:RemoveRegionsFromReplication",
    "secretsmanager:ReplicateSecretToRegions",
    "secretsmanager:StopReplicationToReplica",
)
DELETE_ACTION = "secretsmanager:DeleteSecret"
#: What the keeper of run-time secrets does to one (components/aws/keeper.py): configure its rotation and put
#: its class's resource policy; a run-time token's policy spares it for these two actions only.
KEEPER_WRITE_ACTION = "secretsmanager:RotateSecret"
KEEPER_ADMINISTRATION_ACTION = "secretsmanager:PutResourcePolicy"
#: Reads of metadata only (no value): left to IAM. Every other action that takes a secret is denied above
#: to all but the principals named for it (tests/program/test_effective_access.py checks the list is whole).
METADATA_ACTIONS = (
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "secretsmanager:ListSecretVersionIds",
    "secretsmanager:ValidateResourcePolicy",
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


#: In a resource-based policy "*" is the resource the policy is attached to. A secret's policy is copied to
#: each replica of it (Secrets Manager replicates "tags and resource policies"), and a replica's ARN differs
#: from the primary's in its region: a statement naming the primary's ARN would match nothing on the replica,
#: so every statement names "*", which is the primary and each replica alike.
THIS_SECRET = "*"


def _deny(
    sid: str, actions: Sequence[str], allowed: Sequence[str], condition: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Deny ``actions`` on this secret to every principal but ``allowed`` (none: to everyone), when
    ``condition`` (if any) holds too."""
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": list(actions),
        "Resource": THIS_SECRET,
    }
    conditions = dict(condition or {})
    allowed = _unique(allowed)
    if allowed:
        # aws:PrincipalArn is the role ARN for assumed-role sessions, so this names roles, not sessions.
        conditions["StringNotEquals"] = {**conditions.get("StringNotEquals", {}), "aws:PrincipalArn": allowed}
    if conditions:
        statement["Condition"] = conditions
    return statement


def secret_resource_policy(
    secret_arn: str,
    reader_arns: Sequence[str],
    writer_arns: Sequence[str],
    operator_arns: Sequence[str] = (),
    deployer_arns: Sequence[str] = (),
    *,
    break_glass_arns: Sequence[str] = (),
    drift_arns: Sequence[str] = (),
    drift_reads_current: bool = False,
    initial_version_id: str | None = None,
    production: bool = False,
    recovery_window_days: int | None = None,
    keeper_arns: Sequence[str] = (),
    deleter_arns: Sequence[str] = (),
) -> dict[str, Any]:
    """Resource policy of one secret: every action that reads, writes, administers, deletes or copies it
    is denied to every principal but the ones named for it, whatever their identity policies say (same
    account included):

    - no request without TLS;
    - reading a value: its readers and writers (the rotation function reads what it rotates); the drift
      check (``drift_arns``) when it reads this secret's current value (``drift_reads_current``: the OAuth
      client and the tokens, which ``python -m infra.doctor`` checks); and, when the deployment wrote an
      initial value (``initial_version_id``), the deployers and the drift check may read *that version only*
      (``secretsmanager:VersionId``): pulumi-aws reads a SecretVersion back after creating it and on every
      refresh, and they hold that value anyway (it is in the stack's config);
    - writing a value or starting a rotation: its writers, the operators who fill values out of band
      (operators never read) and the deployers;
    - its policy, tags and a restore: the deployers and the break-glass principals;
    - deletion: the deployers (not in production) and the break-glass principals; deleting without the
      recovery window (``ForceDeleteWithoutRecovery``) or with a shorter window than the environment's:
      the break-glass principals only;
    - replication to other regions: the break-glass principals only;
    - with ``keeper_arns`` (a run-time token's policy, put by the environment's keeper, components/aws/keeper.py):
      the keeper may also put this policy again (``PutResourcePolicy``) and configure rotation
      (``RotateSecret``), nothing else, so it can bring the secret back to its class's document after a change;
    - with ``deleter_arns`` (a run-time token's onboarding identity, which schedules a disconnected customer's
      token for deletion): spared the deletion deny (production included), never the recovery-window ones.

    ``secret_arn`` is checked but not named: every statement applies to the secret the policy is attached
    to (:data:`THIS_SECRET`). Metadata reads (:data:`METADATA_ACTIONS`) stay with IAM.
    """
    if not secret_arn.startswith("arn:") or ":secret:" not in secret_arn:
        raise ValueError(f"not a Secrets Manager secret ARN: {secret_arn!r}")
    every = [
        *reader_arns,
        *writer_arns,
        *operator_arns,
        *deployer_arns,
        *break_glass_arns,
        *drift_arns,
        *keeper_arns,
        *deleter_arns,
    ]
    if any(not isinstance(a, str) or not a.startswith("arn:") or "*" in a or "?" in a for a in every):
        raise ValueError("principals in a secret's resource policy must be exact ARNs (no wildcards, no empty string)")
    current_readers = [*reader_arns, *writer_arns, *(drift_arns if drift_reads_current else ())]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": {"AWS": "*"},
            "Action": "secretsmanager:*",
            "Resource": THIS_SECRET,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    if initial_version_id is None:
        statements.append(_deny("DenyReadOutsideEnvironment", READ_ACTIONS, current_readers))
    else:
        # Deny = not a reader AND (not a deployer or drift check, OR another version): two statements.
        statements += [
            _deny(
                "DenyReadOutsideEnvironment",
                READ_ACTIONS,
                [*current_readers, *deployer_arns, *drift_arns],
            ),
            _deny(
                "DenyReadBeyondTheInitialVersion",
                READ_ACTIONS,
                current_readers,
                {"StringNotEquals": {"secretsmanager:VersionId": initial_version_id}},
            ),
        ]
    writers = [*writer_arns, *operator_arns, *deployer_arns]
    administrators = [*deployer_arns, *break_glass_arns]
    if not keeper_arns:
        statements += [
            _deny("DenyWriteOutsideWriters", WRITE_ACTIONS, writers),
            _deny("DenyAdministrationOutsideDeployers", ADMINISTRATION_ACTIONS, administrators),
        ]
    else:
        # The same two denies, with the keeper spared for exactly the two actions it performs.
        kept_write, kept_admin = (KEEPER_WRITE_ACTION,), (KEEPER_ADMINISTRATION_ACTION,)
        statements += [
            _deny("DenyWriteOutsideWriters", [a for a in WRITE_ACTIONS if a not in kept_write], writers),
            _deny("DenyRotationSetupOutsideWritersAndKeeper", kept_write, [*writers, *keeper_arns]),
            _deny(
                "DenyAdministrationOutsideDeployers",
                [a for a in ADMINISTRATION_ACTIONS if a not in kept_admin],
                administrators,
            ),
            _deny("DenyPolicyOutsideDeployersAndKeeper", kept_admin, [*administrators, *keeper_arns]),
        ]
    statements += [
        _deny(
            "DenyDeletionOutsideDeployers" if not production else "DenyDeletionInProduction",
            [DELETE_ACTION],
            [*break_glass_arns, *deleter_arns] if production else [*deployer_arns, *break_glass_arns, *deleter_arns],
        ),
        _deny(
            "DenyDeletionWithoutRecovery",
            [DELETE_ACTION],
            break_glass_arns,
            {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
        ),
    ]
    if recovery_window_days is not None:
        statements.append(
            _deny(
                "DenyShorterRecoveryWindow",
                [DELETE_ACTION],
                break_glass_arns,
                {"NumericLessThan": {"secretsmanager:RecoveryWindowInDays": str(recovery_window_days)}},
            )
        )
    statements.append(_deny("DenyReplicationOutsideBreakGlass", REPLICATION_ACTIONS, break_glass_arns))
    return {"Version": "2012-10-17", "Statement": statements}


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
    dlq_arn: str | None = None,
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
    messages of exactly that queue and its dead-letter queue (which it drains once fixed: nothing is
    redriven), decrypting them only through SQS.

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
                "Resource": queue_arn if dlq_arn is None else [queue_arn, dlq_arn],
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


# --------------------------------------------------------------------------------------------------
# The onboarding identity: stores run-time connections' tokens (issue 19)

#: What the onboarding identity may do in a run-time class: create a token (with its tags; a new secret's
#: first value comes with ``CreateSecret``), look a token up (metadata, never the value) so a retry is
#: idempotent and a connection is never stored in two classes, and schedule a disconnected customer's token
#: for deletion within the recovery window. Never ``PutSecretValue``: it creates, it never overwrites.
ONBOARDING_CREATE_ACTIONS = ("secretsmanager:CreateSecret", "secretsmanager:TagResource")
ONBOARDING_LOOKUP_ACTIONS = ("secretsmanager:DescribeSecret",)
ONBOARDING_DELETE_ACTIONS = ("secretsmanager:DeleteSecret",)
#: Never, on any token of the environment, whatever another policy of its role says.
ONBOARDING_DENIED_ACTIONS = (
    "secretsmanager:*Replica*",  # ReplicateSecretToRegions, RemoveRegionsFromReplication, StopReplicationToReplica
    "secretsmanager:*ResourcePolicy",  # Get, Put, Delete, Validate
    "secretsmanager:*Rotat*",  # RotateSecret, CancelRotateSecret
    "secretsmanager:GetSecretValue",
    "secretsmanager:PutSecretValue",
    "secretsmanager:RestoreSecret",
    "secretsmanager:UntagResource",
    "secretsmanager:Update*",  # UpdateSecret, UpdateSecretVersionStage
)


def runtime_token_arn_pattern(
    prefix: str, access_class: str, connection_id: str = "*", suffix: str = ARN_SUFFIX_PATTERN
) -> str:
    """``<prefix>connections/<class>/<id>/token-*``: the ARN of a run-time token (``*``: any of the class).

    For ``CreateSecret`` the suffix is ``*``: whether the ARN a create is authorised on carries the random
    suffix is not documented, so the pattern allows both, and the ``secretsmanager:Name`` conditions of
    :func:`onboarding_store_policy` pin the name itself to ``.../<id>/token``."""
    return f"{prefix}connections/{access_class}/{connection_id}/token{suffix}"


def onboarding_store_policy(
    kms_key_arn: str,
    region: str,
    *,
    prefix: str,
    environment: str,
    classes: Sequence[str],
    recovery_window_days: int,
) -> dict[str, Any]:
    """Identity policy of the onboarding identity: create run-time tokens in the governed place (never
    overwrite one), schedule a disconnected customer's for deletion, nothing else.

    ``CreateSecret`` (with ``TagResource``, which a create with tags needs) only

    - at ``makini/<env>/connections/<class>/<id>/token``, where ``<class>`` and ``<id>`` are the values of the
      request's ``makini:class`` and ``makini:connection-id`` tags (policy variables in ``Resource``) and the
      class is one of the run-time classes, so the tags always equal the name that binds the token to its
      connection, a later ``TagResource`` can only re-set the same values, and the document is the same size
      for one run-time class or ten;
    - encrypted with the environment's key (``secretsmanager:KmsKeyArn``; without a key the request names
      none and is refused);
    - with exactly the run-time tags (``aws:TagKeys``), each with its one allowed value (``aws:RequestTag``):
      environment, ``managed-by: makini-onboarding``, kind, class, the connection id (present);

    ``DescribeSecret`` on the class's tokens (whether one exists, its version ids: a retry recognises its own
    ``ClientRequestToken``); ``DeleteSecret`` on them only with a recovery window of at least the stack's
    (``secretsmanager:RecoveryWindowInDays``; without one Secrets Manager waits 30 days, the longest) and never
    ``ForceDeleteWithoutRecovery``; ``kms:GenerateDataKey``/``kms:Decrypt`` only through Secrets
    Manager for the class's tokens (Secrets Manager needs both to encrypt a new value with a customer-managed
    key; without ``GetSecretValue`` they decrypt nothing for the caller). Denied explicitly, on every secret
    under ``connections/`` of the environment: reading a value, ``PutSecretValue`` (it creates, never
    overwrites: an identity that could would put customer B's token at customer A's name or blank every
    token), restoring, policies, untagging, ``UpdateSecret``, rotation and replication; ``DeleteSecret``
    on a secret not tagged ``managed-by: makini-onboarding``, with a shorter window than the stack's, or forced;
    and a create whose name is not exactly ``connections/<class>/<id>/token`` (``secretsmanager:Name``) or
    whose id holds ``*``, ``?`` or ``/``.
    """
    if not 7 <= recovery_window_days <= 30:
        raise ValueError("the recovery window is 7 to 30 days (Secrets Manager's RecoveryWindowInDays)")
    if not prefix.endswith("/") or "*" in prefix or "*" in kms_key_arn:
        raise ValueError("the prefix and the key ARN must be exact")
    classes = sorted(set(classes))
    if not classes:
        raise ValueError("an onboarding identity needs at least one run-time class")
    secret_name_prefix = prefix.split(":secret:", 1)[1]
    id_var = "${aws:RequestTag/" + RUNTIME_TAG_CONNECTION_ID + "}"
    class_var = "${aws:RequestTag/" + RUNTIME_TAG_CLASS + "}"
    tag_keys = sorted(
        [
            RUNTIME_TAG_CLASS,
            RUNTIME_TAG_CONNECTION_ID,
            RUNTIME_TAG_ENVIRONMENT,
            RUNTIME_TAG_KIND,
            RUNTIME_TAG_MANAGED_BY,
        ]
    )
    statements: list[dict[str, Any]] = [
        {
            # One statement for every run-time class: the class and the id in the name are the request's tags
            # (policy variables), and the class tag must be one of the run-time classes, so the document does not
            # grow with the number of classes.
            "Sid": "CreateRuntimeTokens",
            "Effect": "Allow",
            "Action": list(ONBOARDING_CREATE_ACTIONS),
            "Resource": runtime_token_arn_pattern(prefix, class_var, id_var, suffix="*"),
            "Condition": {
                "StringEquals": {
                    f"aws:RequestTag/{RUNTIME_TAG_ENVIRONMENT}": environment,
                    f"aws:RequestTag/{RUNTIME_TAG_MANAGED_BY}": RUNTIME_MANAGED_BY,
                    f"aws:RequestTag/{RUNTIME_TAG_KIND}": "connection-token",
                    f"aws:RequestTag/{RUNTIME_TAG_CLASS}": classes,
                },
                "ForAllValues:StringEquals": {"aws:TagKeys": tag_keys},
                "Null": {f"aws:RequestTag/{RUNTIME_TAG_CONNECTION_ID}": "false"},
            },
        },
        {
            "Sid": "CreateWithEnvironmentKeyOnly",
            "Effect": "Deny",
            "Action": "secretsmanager:CreateSecret",
            "Resource": f"{prefix}connections/*",
            "Condition": {"ArnNotEquals": {"secretsmanager:KmsKeyArn": kms_key_arn}},
        },
    ]
    patterns = [runtime_token_arn_pattern(prefix, c) for c in classes]
    statements += [
        {
            # Whether a token exists and its version ids (a retry recognises its own ClientRequestToken); and a
            # disconnected customer's token scheduled for deletion, which an operator can undo (RestoreSecret)
            # for the window. One statement, so the document grows by the class's pattern only: DescribeSecret
            # has no RecoveryWindowInDays (IfExists); a DeleteSecret without one is Secrets Manager's default,
            # 30 days, the longest; a forced one (no window) is denied below. By name: a declared class is never a
            # run-time class.
            "Sid": "LookUpOrDelete",
            "Effect": "Allow",
            "Action": [*ONBOARDING_LOOKUP_ACTIONS, *ONBOARDING_DELETE_ACTIONS],
            "Resource": patterns,
            "Condition": {
                "NumericGreaterThanEqualsIfExists": {"secretsmanager:RecoveryWindowInDays": str(recovery_window_days)}
            },
        },
        {
            "Sid": "DeleteOnlyOnboarded",
            "Effect": "Deny",
            "Action": list(ONBOARDING_DELETE_ACTIONS),
            "Resource": "*",
            "Condition": {"StringNotEquals": {f"aws:ResourceTag/{RUNTIME_TAG_MANAGED_BY}": RUNTIME_MANAGED_BY}},
        },
        {
            "Sid": "KeepRecoveryWindow",
            "Effect": "Deny",
            "Action": list(ONBOARDING_DELETE_ACTIONS),
            "Resource": f"{prefix}connections/*",
            "Condition": {"NumericLessThan": {"secretsmanager:RecoveryWindowInDays": str(recovery_window_days)}},
        },
        {
            "Sid": "NoForceDelete",
            "Effect": "Deny",
            "Action": list(ONBOARDING_DELETE_ACTIONS),
            "Resource": "*",
            "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}},
        },
        {
            "Sid": "EncryptThroughSecretsManager",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": kms_key_arn,
            "Condition": {
                "StringEquals": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"},
                "StringLike": {"kms:EncryptionContext:SecretARN": [f"{prefix}connections/{c}/*" for c in classes]},
            },
        },
        {
            "Sid": "NeverReadOrManageTokens",
            "Effect": "Deny",
            "Action": list(ONBOARDING_DENIED_ACTIONS),
            "Resource": f"{prefix}connections/*",
        },
        {
            "Sid": "NoDeeperNamesOrWildcardIds",
            "Effect": "Deny",
            "Action": list(ONBOARDING_CREATE_ACTIONS),
            "Resource": f"{prefix}connections/*",
            "Condition": {
                "StringLike": {
                    f"aws:RequestTag/{RUNTIME_TAG_CONNECTION_ID}": ["*${*}*", "*${?}*", "*/*"],
                }
            },
        },
        {
            "Sid": "NoWildcardClasses",
            "Effect": "Deny",
            "Action": list(ONBOARDING_CREATE_ACTIONS),
            "Resource": f"{prefix}connections/*",
            "Condition": {"StringLike": {f"aws:RequestTag/{RUNTIME_TAG_CLASS}": ["*${*}*", "*${?}*", "*/*"]}},
        },
        {
            "Sid": "NoDeeperNames",
            "Effect": "Deny",
            "Action": "secretsmanager:CreateSecret",
            "Resource": f"{prefix}connections/*",
            "Condition": {"StringLike": {"secretsmanager:Name": f"{secret_name_prefix}connections/*/*/*/*"}},
        },
        {
            "Sid": "OnlyTokenNames",
            "Effect": "Deny",
            "Action": "secretsmanager:CreateSecret",
            "Resource": f"{prefix}connections/*",
            "Condition": {"StringNotLike": {"secretsmanager:Name": f"{secret_name_prefix}connections/*/*/token"}},
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def role_name_from_arn(arn: str) -> str:
    """``arn:aws:iam::123456789012:role/team/orders-api`` -> ``orders-api`` (IAM APIs take the name, not the path)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or not parts[5].startswith("role/"):
        raise ValueError(f"not an IAM role ARN: {arn!r}")
    return parts[5].rsplit("/", 1)[-1]
