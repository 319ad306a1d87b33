"""One environment's AWS token rotation: the rotation Lambda (functions/rotation), its own role, one
permission for Secrets Manager to invoke it for any token secret of the environment (a source-ARN
pattern), a Secrets Manager rotation schedule per rotated connection-token secret, alarms when a rotation
fails, and reminders for the secrets Makini issues by hand (an SNS topic and one-time EventBridge Scheduler
schedules).

Alarms (to the receiver's alarm topic when the stack has a receiver, else to the rotation's own,
``makini-<env>-rotation-alarms``, see components/aws/alarms.py): ``makini-<env>-rotation-errors``, the
function's ``Errors`` over 5 minutes (any step that raised), and the EventBridge rule
``makini-<env>-rotation-failed``, Secrets Manager's own ``RotationFailed`` / ``RotationAbandoned`` events
(CloudTrail service events, ``detail.additionalEventData.SecretId``) for this environment's secrets, which
also catch a rotation that never reached the function (an invoke permission or schedule problem).

The rotation role is created first and apart (:func:`rotation_role`), because the token secrets'
resource policies (writers) and the OAuth client secret's (readers), built by the secret store, must
name it before this component exists. :class:`TokenRotation` then attaches the role's only policy
(see ``rotation_policies``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.naming import reminder_role_name, rotation_function_name, rotation_log_group_name, rotation_role_name

from .alarms import alarm_channel, lambda_errors_alarm
from .lambda_package import BINDINGS_FILE, ROTATION_LAMBDA
from .policies import lambda_trust_policy, secret_arn_prefix, token_pattern
from .rotation_policies import reminder_publish_policy, rotation_policy, scheduler_trust_policy

#: The client's budget: 20 s of waiting plus 5 s per request (functions/rotation/README.md).
TIMEOUT_SECONDS = 60


def rotation_role(
    name: str,
    environment: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions | None = None,
    permissions_boundary: pulumi.Input[str] | None = None,
) -> aws.iam.Role:
    """The rotation function's own identity (``makini-<env>-rotation``): Lambda trust, no permissions yet."""
    return aws.iam.Role(
        name,
        name=rotation_role_name(environment),
        description=f"makini-infra: rotates the Makini connection tokens of {environment}",
        assume_role_policy=json.dumps(lambda_trust_policy("LambdaAssumesRotationRole"), sort_keys=True),
        max_session_duration=3600,
        permissions_boundary=permissions_boundary,
        tags={**tags, "makini:purpose": "rotation"},
        opts=opts,
    )


def at_expression(moment: datetime) -> str:
    """EventBridge Scheduler one-time expression, e.g. ``at(2026-05-17T09:00:00)``."""
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


@dataclass(frozen=True)
class Reminder:
    """A reminder for a hand-issued secret: when (UTC), or None with the reason in ``note``."""

    path: str
    slug: str
    at: datetime | None
    subject: str
    message: str
    note: str = ""


@dataclass(frozen=True)
class TokenRotationArgs:
    environment: str
    production: bool
    #: The role from :func:`rotation_role` (created before the store); None when no token is rotated.
    #: With a role, the function and its invoke permission exist even before any token is scheduled.
    role: aws.iam.Role | None
    #: Catalog path -> ARN of each connection-token secret rotated on a schedule (may be empty).
    token_secret_arns: Mapping[str, pulumi.Input[str]]
    oauth_client_secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    period_days: int
    rotation_window: str | None = None
    rotate_immediately: bool = False
    log_retention_days: int = 30
    reminders: Sequence[Reminder] = ()
    notify_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The deployment's rotation bindings (stacks.rotation.bindings_document): shipped in the package as
    #: rotation/bindings.json, the only source the function takes a secret's connection from.
    bindings_document: str = ""
    #: Test hook: replace the Lambda package.
    code: pulumi.Archive | None = None
    #: Permissions boundary of the reminder role (bootstrap/'s makini-infra-boundary).
    permissions_boundary: pulumi.Input[str] | None = None
    #: Where rotation alarms go: the receiver's alarm topic (it must let this environment's EventBridge rules
    #: publish: components/aws/alarms.py); None: the rotation's own topic, subscribed by ``alarm_email``.
    alarm_topic_arn: pulumi.Input[str] | None = None
    alarm_email: str | None = None


def rotation_failed_pattern(partition: str, region: str, account_id: str, environment: str) -> dict[str, Any]:
    """EventBridge pattern for Secrets Manager's rotation failures on this environment's secrets (CloudTrail
    service events: detail-type "AWS Service Event via CloudTrail", the secret's ARN in
    ``detail.additionalEventData.SecretId``)."""
    return {
        "source": ["aws.secretsmanager"],
        "detail-type": ["AWS Service Event via CloudTrail"],
        "detail": {
            "eventSource": ["secretsmanager.amazonaws.com"],
            "eventName": ["RotationFailed", "RotationAbandoned"],
            "additionalEventData": {
                "SecretId": [
                    {"prefix": f"arn:{partition}:secretsmanager:{region}:{account_id}:secret:makini/{environment}/"}
                ]
            },
        },
    }


class TokenRotation(pulumi.ComponentResource):
    """Rotation Lambda + schedules for the tokens, reminders for the hand-issued secrets."""

    def __init__(self, name: str, args: TokenRotationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:TokenRotation", name, None, opts)
        env, tags = args.environment, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        # Audit trail and subscriptions outlive a rename or a destroy in production.
        keep = pulumi.ResourceOptions(parent=self, protect=args.production, retain_on_delete=args.production)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        self.function: aws.lambda_.Function | None = None
        self.permission: aws.lambda_.Permission | None = None
        self.rotations: dict[str, aws.secretsmanager.SecretRotation] = {}
        paths = sorted(args.token_secret_arns)
        if args.role is not None:
            role = args.role
            policy_doc = pulumi.Output.all(
                partition.partition,
                region.region,
                identity.account_id,
                args.oauth_client_secret_arn,
                args.kms_key_arn,
            ).apply(
                lambda v: json.dumps(
                    rotation_policy(
                        partition=v[0],
                        region=v[1],
                        account_id=v[2],
                        environment=env,
                        oauth_client_secret_arn=v[3],
                        kms_key_arn=v[4],
                    ),
                    sort_keys=True,
                )
            )
            self.role_policy = aws.iam.RolePolicy(
                f"{name}-policy", name=rotation_role_name(env), role=role.id, policy=policy_doc, opts=child
            )
            self.log_group = aws.cloudwatch.LogGroup(
                f"{name}-logs",
                name=rotation_log_group_name(env),
                retention_in_days=args.log_retention_days,
                tags=tags,
                opts=keep,
            )
            self.function = aws.lambda_.Function(
                f"{name}-function",
                name=rotation_function_name(env),
                description=f"makini-infra: rotates the Makini connection tokens of {env} (Secrets Manager rotation)",
                role=role.arn,
                runtime=ROTATION_LAMBDA.runtime,
                architectures=["arm64"],
                handler=ROTATION_LAMBDA.handler,
                code=args.code
                if args.code is not None
                else ROTATION_LAMBDA.archive({BINDINGS_FILE: args.bindings_document}),
                memory_size=256,
                timeout=TIMEOUT_SECONDS,
                environment=aws.lambda_.FunctionEnvironmentArgs(
                    variables={"OAUTH_CLIENT_SECRET_ARN": args.oauth_client_secret_arn}
                ),
                logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, self.log_group]),
            )
            # One statement in the function's resource policy for every token of the environment, present
            # and future (Lambda compares SourceArn with a pattern), instead of one per secret: the
            # 20 KB policy limit would otherwise be reached at a few dozen secrets.
            self.permission = aws.lambda_.Permission(
                f"{name}-invoke",
                action="lambda:InvokeFunction",
                function=self.function.name,
                principal="secretsmanager.amazonaws.com",
                source_arn=pulumi.Output.all(partition.partition, region.region, identity.account_id).apply(
                    lambda v: token_pattern(secret_arn_prefix(v[0], v[1], v[2], env))
                ),
                source_account=identity.account_id,
                opts=child,
            )
            rules = aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=args.period_days, duration=args.rotation_window
            )
            after = pulumi.ResourceOptions(parent=self, depends_on=[self.permission], protect=args.production)
            for path in paths:
                self.rotations[path] = aws.secretsmanager.SecretRotation(
                    f"{name}-{path.replace('/', '-')}-schedule",
                    secret_id=args.token_secret_arns[path],
                    rotation_lambda_arn=self.function.arn,
                    rotation_rules=rules,
                    rotate_immediately=args.rotate_immediately,
                    opts=after,
                )

        # Alarms: a failed step (the function raised) and Secrets Manager's own failure events ----------
        self.alarm_topic_arn: pulumi.Output[str] | None = None
        self.alarm_names: list[str] = []
        if self.function is not None:
            if args.alarm_topic_arn is not None:
                topic_arn = pulumi.Output.from_input(args.alarm_topic_arn)
            else:
                channel = alarm_channel(
                    name,
                    environment=env,
                    topic_name=f"makini-{env}-rotation-alarms",
                    purpose="token rotation",
                    email=args.alarm_email,
                    tags=tags,
                    keep=keep,
                    child=child,
                )
                topic_arn = channel.topic_arn
            self.alarm_topic_arn = topic_arn
            self.errors_alarm = lambda_errors_alarm(
                name,
                alarm_name=f"makini-{env}-rotation-errors",
                description=(
                    f"A token rotation step of {env} failed (makini-{env}-rotation raised): read its log group "
                    f"{rotation_log_group_name(env)} (docs/operations.md, 'Rotation alarms')."
                ),
                function_name=self.function.name,
                topic_arn=topic_arn,
                tags=tags,
                child=child,
            )
            self.failed_rule = aws.cloudwatch.EventRule(
                f"{name}-failed",
                name=f"makini-{env}-rotation-failed",
                description=f"Secrets Manager reports a failed or abandoned rotation of a secret of {env}",
                event_pattern=pulumi.Output.all(partition.partition, region.region, identity.account_id).apply(
                    lambda v: json.dumps(rotation_failed_pattern(v[0], v[1], v[2], env), sort_keys=True)
                ),
                tags=tags,
                opts=child,
            )
            aws.cloudwatch.EventTarget(
                f"{name}-failed-notify", rule=self.failed_rule.name, target_id="alarm-topic", arn=topic_arn, opts=child
            )
            self.alarm_names = [f"makini-{env}-rotation-errors", f"makini-{env}-rotation-failed"]

        # Reminders for the hand-issued secrets -------------------------------------------------------
        self.topic = aws.sns.Topic(
            f"{name}-reminders",
            name=f"makini-{env}-rotation-reminders",
            kms_master_key_id=args.kms_key_arn,
            tags=tags,
            opts=keep,
        )
        if args.notify_email:
            aws.sns.TopicSubscription(
                f"{name}-reminders-email",
                topic=self.topic.arn,
                protocol="email",
                endpoint=args.notify_email,
                opts=child,
            )
        self.schedules: dict[str, aws.scheduler.Schedule] = {}
        self.notes: list[str] = [r.note for r in args.reminders if r.at is None and r.note]
        dated = [(r, r.at) for r in args.reminders if r.at is not None]
        if dated:
            self.reminder_role = aws.iam.Role(
                f"{name}-reminder-role",
                name=reminder_role_name(env),
                description=f"makini-infra: lets EventBridge Scheduler publish the rotation reminders of {env}",
                assume_role_policy=identity.account_id.apply(
                    lambda a: json.dumps(scheduler_trust_policy(a), sort_keys=True)
                ),
                permissions_boundary=args.permissions_boundary,
                tags={**tags, "makini:purpose": "rotation-reminders"},
                opts=child,
            )
            publish = aws.iam.RolePolicy(
                f"{name}-reminder-policy",
                name=reminder_role_name(env),
                role=self.reminder_role.id,
                policy=pulumi.Output.all(region.region, self.topic.arn, args.kms_key_arn).apply(
                    lambda v: json.dumps(
                        reminder_publish_policy(region=v[0], topic_arn=v[1], kms_key_arn=v[2]), sort_keys=True
                    )
                ),
                opts=child,
            )
            for r, at in dated:
                self.schedules[r.path] = aws.scheduler.Schedule(
                    f"{name}-{r.slug}-reminder",
                    name=f"makini-{env}-{r.slug}-reminder",
                    description=r.subject[:512],
                    schedule_expression=at_expression(at),
                    schedule_expression_timezone="UTC",
                    flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                    target=aws.scheduler.ScheduleTargetArgs(
                        arn=self.topic.arn,
                        role_arn=self.reminder_role.arn,
                        input=r.message,
                    ),
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[publish]),
                )

        self.function_arn = self.function.arn if self.function is not None else None
        self.topic_arn = self.topic.arn
        self.register_outputs(
            {
                "functionArn": self.function_arn,
                "alarmTopicArn": self.alarm_topic_arn,
                "reminderTopicArn": self.topic.arn,
                "rotatedSecrets": paths,
            }
        )
