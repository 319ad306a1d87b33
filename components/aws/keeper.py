"""The keeper of an environment's run-time secrets on AWS: run-time tokens governed like declared ones, no deploy.

The onboarding identity creates a run-time token (``makini/<env>/connections/<run-time class>/<id>/token``) at run
time; ``CreateSecret`` takes no resource policy, and the onboarding identity may not put one (it could attach any
policy). The keeper, a Lambda of its own (functions/keeper, ``makini-<env>-keeper``), gives each such secret:

- its class's resource policy: the document a declared token of the class gets from the store (the class's
  readers and the rotation identity read; everyone else denied), rendered here at deploy time by the store's own
  builder into the function's package (``keeper/settings.json``), with ``BlockPublicPolicy``;
- rotation with the environment's rotation function and period (``RotateSecret``, ``RotateImmediately=false``),
  when the environment rotates tokens (the one invoke permission of the rotation function already covers every
  token of the environment by pattern).

It runs on the onboarding client's invoke right after a create (a ``lambda.Permission`` for the onboarding role;
payload: the secret's name or ARN, nothing else is taken from it) and on an EventBridge schedule that sweeps every
run-time class (bounded per run: functions/keeper/aws_lambda.py). Its role (``makini-<env>-keeper``, with the
permissions boundary) may only look up, put the policy of and configure rotation of the run-time classes' tokens of
its environment, rotate only with the environment's function, list secrets, and write its logs
(components/aws/keeper_policies.py). Its errors alarm (``makini-<env>-keeper-errors``) goes where the rotation
alarms go (the receiver's or the rotation's topic), else to its own ``makini-<env>-keeper-alarms``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.naming import keeper_function_name, keeper_log_group_name

from .alarms import alarm_channel, lambda_errors_alarm
from .keeper_policies import KEEPER_SETTINGS_FILE, keeper_policy, keeper_settings, runtime_class_resource_policy
from .lambda_package import KEEPER_LAMBDA
from .policies import lambda_trust_policy, secret_arn_prefix

#: A run's budget (functions/keeper/aws_lambda.py stops 30 s before it).
TIMEOUT_SECONDS = 300
SWEEP_MINUTES = 30


@dataclass(frozen=True)
class RuntimeClassAccess:
    """One run-time class: who reads and writes its tokens (the class's consumers; the rotation identity)."""

    name: str
    reader_arns: Sequence[pulumi.Input[str]]
    writer_arns: Sequence[pulumi.Input[str]] = ()


@dataclass(frozen=True)
class SecretKeeperArgs:
    environment: str
    production: bool
    classes: Sequence[RuntimeClassAccess]
    #: The onboarding identity's role: it creates the tokens, schedules their deletion, and invokes the keeper.
    onboarding_role_arn: pulumi.Input[str]
    #: The store's deployers (the configured ones and whoever runs pulumi up), as its secrets' policies name them.
    deployer_arns: pulumi.Input[Sequence[str]]
    operator_arns: Sequence[str] = ()
    break_glass_arns: Sequence[str] = ()
    drift_arns: Sequence[str] = ()
    recovery_window_days: int | None = None
    #: The environment's rotation function; None: the environment does not rotate tokens (policies only).
    rotation_function_arn: pulumi.Input[str] | None = None
    period_days: int | None = None
    rotation_window: str | None = None
    sweep_minutes: int = SWEEP_MINUTES
    log_retention_days: int = 30
    permissions_boundary: pulumi.Input[str] | None = None
    #: Where its errors alarm goes (the rotation alarms' topic); None: its own topic, subscribed by ``alarm_email``.
    alarm_topic_arn: pulumi.Input[str] | None = None
    alarm_email: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Test hook: replace the Lambda package.
    code: pulumi.Archive | None = None


def _settings(args: SecretKeeperArgs, values: list[Any]) -> str:
    """The package's settings.json from [partition, region, account, keeper role ARN, onboarding role ARN,
    deployers, rotation function ARN or None, [[readers], [writers]] per class]."""
    partition, region, account, keeper_arn, onboarding, deployers, rotation_arn, per_class = values
    prefix = secret_arn_prefix(partition, region, account, args.environment)
    policies = {
        c.name: runtime_class_resource_policy(
            prefix,
            c.name,
            reader_arns=list(readers),
            writer_arns=list(writers),
            creator_arns=[onboarding],
            keeper_arn=keeper_arn,
            operator_arns=list(args.operator_arns),
            deployer_arns=list(deployers),
            break_glass_arns=list(args.break_glass_arns),
            drift_arns=list(args.drift_arns),
            production=args.production,
            recovery_window_days=args.recovery_window_days,
        )
        for c, (readers, writers) in zip(args.classes, per_class, strict=True)
    }
    doc = keeper_settings(
        environment=args.environment,
        policies=policies,
        rotation_function_arn=rotation_arn,
        period_days=args.period_days,
        rotation_window=args.rotation_window,
    )
    doc["sweepIntervalSeconds"] = args.sweep_minutes * 60
    return json.dumps(doc, indent=1, sort_keys=True)


class SecretKeeper(pulumi.ComponentResource):
    """The keeper Lambda, its role, its schedule, its invoke permissions and its errors alarm."""

    def __init__(self, name: str, args: SecretKeeperArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:SecretKeeper", name, None, opts)
        if not args.classes:
            raise ValueError("a keeper needs at least one run-time class")
        env, tags = args.environment, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        # The run-time tokens' policies name the role: keep it (and the audit trail) in production.
        keep = pulumi.ResourceOptions(parent=self, protect=args.production, retain_on_delete=args.production)
        invoke = pulumi.InvokeOutputOptions(parent=self)
        account = aws.get_caller_identity_output(opts=invoke).account_id
        region = aws.get_region_output(opts=invoke).region
        partition = aws.get_partition_output(opts=invoke).partition
        classes = [c.name for c in args.classes]

        self.role = aws.iam.Role(
            f"{name}-role",
            name=keeper_function_name(env),
            description=f"makini-infra: gives the run-time Makini tokens of {env} their class's policy and rotation",
            assume_role_policy=json.dumps(lambda_trust_policy("LambdaAssumesKeeperRole"), sort_keys=True),
            max_session_duration=3600,
            permissions_boundary=args.permissions_boundary,
            tags={**tags, "makini:purpose": "keeper"},
            opts=keep,
        )
        rotation_arn: pulumi.Input[str | None] = args.rotation_function_arn
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name=keeper_function_name(env),
            role=self.role.id,
            policy=pulumi.Output.all(partition, region, account, rotation_arn).apply(
                lambda v: json.dumps(
                    keeper_policy(
                        partition=v[0],
                        region=v[1],
                        account_id=v[2],
                        environment=env,
                        classes=classes,
                        rotation_function_arn=v[3],
                    ),
                    sort_keys=True,
                )
            ),
            opts=child,
        )
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=keeper_log_group_name(env),
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=keep,
        )
        per_class = pulumi.Output.all(
            *(
                pulumi.Output.all(pulumi.Output.all(*c.reader_arns), pulumi.Output.all(*c.writer_arns))
                for c in args.classes
            )
        )
        settings = pulumi.Output.all(
            partition,
            region,
            account,
            self.role.arn,
            args.onboarding_role_arn,
            args.deployer_arns,
            rotation_arn,
            per_class,
        ).apply(lambda v: _settings(args, v))
        #: The package's settings.json (the class documents and the rotation), for tests and reviewers.
        self.settings: pulumi.Output[str] = settings
        code: pulumi.Input[pulumi.Archive] = (
            args.code
            if args.code is not None
            else settings.apply(lambda text: KEEPER_LAMBDA.archive({KEEPER_SETTINGS_FILE: text}))
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=keeper_function_name(env),
            description=f"makini-infra: gives the run-time Makini tokens of {env} their class's policy and rotation",
            role=self.role.arn,
            runtime=KEEPER_LAMBDA.runtime,
            architectures=["arm64"],
            handler=KEEPER_LAMBDA.handler,
            code=code,
            memory_size=256,
            timeout=TIMEOUT_SECONDS,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=self.log_group.name),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, self.log_group]),
        )
        # The sweep: every run-time class, every ``sweep_minutes`` (a run takes at most its timeout, so runs
        # never overlap).
        self.schedule = aws.cloudwatch.EventRule(
            f"{name}-sweep",
            name=f"makini-{env}-keeper-sweep",
            description=f"Sweeps the run-time Makini tokens of {env}: each gets its class's policy and rotation",
            schedule_expression=f"rate({args.sweep_minutes} minutes)",
            tags=tags,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-sweep-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.schedule.arn,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-sweep-target", rule=self.schedule.name, target_id="keeper", arn=self.function.arn, opts=child
        )
        # The onboarding client invokes the keeper right after it creates a secret (same account: this grant is
        # enough; a boundary on the onboarding role must allow it, bootstrap/'s does).
        self.onboarding_permission = aws.lambda_.Permission(
            f"{name}-onboarding-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal=args.onboarding_role_arn,
            opts=child,
        )

        if args.alarm_topic_arn is not None:
            topic_arn = pulumi.Output.from_input(args.alarm_topic_arn)
        else:
            topic_arn = alarm_channel(
                name,
                environment=env,
                topic_name=f"makini-{env}-keeper-alarms",
                purpose="run-time secrets' keeper",
                email=args.alarm_email,
                tags=tags,
                keep=keep,
                child=child,
            ).topic_arn
        self.alarm_topic_arn = topic_arn
        self.errors_alarm = lambda_errors_alarm(
            name,
            alarm_name=f"makini-{env}-keeper-errors",
            description=(
                f"The keeper of {env}'s run-time tokens could not give a secret its class's policy or rotation "
                f"(makini-{env}-keeper raised): read its log group {keeper_log_group_name(env)} "
                "(docs/operations.md, 'Rotation alarms')."
            ),
            function_name=self.function.name,
            topic_arn=topic_arn,
            tags=tags,
            child=child,
        )
        self.function_name: pulumi.Output[str] = self.function.name
        self.alarm_names = [f"makini-{env}-keeper-errors"]
        self.register_outputs(
            {"functionName": self.function_name, "functionArn": self.function.arn, "alarmTopicArn": topic_arn}
        )
