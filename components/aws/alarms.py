"""An environment's alarm channel on AWS: an SNS topic encrypted with its own key, an optional e-mail
subscription, and the policies that let CloudWatch alarms and the environment's EventBridge rules publish.

One channel serves every alarm of a backend's part: the webhook receiver's (``makini-<env>-webhook-alarms``),
and the token rotation's, which publish to the receiver's channel when the stack has a receiver (alarms go to
one place) and to their own (``makini-<env>-rotation-alarms``) when it has none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from .webhook_policies import alarm_key_policy, alarm_topic_policy


@dataclass(frozen=True)
class AlarmChannel:
    key: aws.kms.Key
    topic: aws.sns.Topic
    policy: aws.sns.TopicPolicy

    @property
    def topic_arn(self) -> pulumi.Output[str]:
        arn: pulumi.Output[str] = self.topic.arn
        return arn


def alarm_channel(
    name: str,
    *,
    environment: str,
    topic_name: str,
    purpose: str,
    email: str | None,
    tags: Mapping[str, str],
    keep: pulumi.ResourceOptions,
    child: pulumi.ResourceOptions,
) -> AlarmChannel:
    """``{name}-alarm-key``, ``{name}-alarms`` (the topic), ``{name}-alarms-policy`` and, with ``email``,
    ``{name}-alarms-email``: children of ``child``'s parent (``keep``: protected in production)."""
    invoke = pulumi.InvokeOutputOptions(parent=child.parent)
    partition = aws.get_partition_output(opts=invoke).partition
    account = aws.get_caller_identity_output(opts=invoke).account_id
    region = aws.get_region_output(opts=invoke).region
    key = aws.kms.Key(
        f"{name}-alarm-key",
        description=f"makini-infra: encrypts the {purpose} alarm notifications of {environment}",
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=pulumi.Output.all(partition, account, region).apply(
            lambda v: json.dumps(alarm_key_policy(v[0], v[1], v[2], environment), sort_keys=True)
        ),
        tags=dict(tags),
        opts=keep,
    )
    topic = aws.sns.Topic(f"{name}-alarms", name=topic_name, kms_master_key_id=key.arn, tags=dict(tags), opts=keep)
    policy = aws.sns.TopicPolicy(
        f"{name}-alarms-policy",
        arn=topic.arn,
        policy=pulumi.Output.all(partition, account, region, topic.arn).apply(
            lambda v: json.dumps(alarm_topic_policy(v[0], v[1], v[2], environment, v[3]), sort_keys=True)
        ),
        opts=child,
    )
    if email:
        aws.sns.TopicSubscription(f"{name}-alarms-email", topic=topic.arn, protocol="email", endpoint=email, opts=child)
    return AlarmChannel(key=key, topic=topic, policy=policy)


def lambda_errors_alarm(
    name: str,
    *,
    alarm_name: str,
    description: str,
    function_name: pulumi.Input[str],
    topic_arn: pulumi.Input[str],
    tags: Mapping[str, str],
    child: pulumi.ResourceOptions,
) -> aws.cloudwatch.MetricAlarm:
    """``{name}-errors``: any error of the function in five minutes notifies ``topic_arn`` (and again when it
    clears); no data is no alarm (a function that does not run has not failed)."""
    return aws.cloudwatch.MetricAlarm(
        f"{name}-errors",
        name=alarm_name,
        alarm_description=description,
        namespace="AWS/Lambda",
        metric_name="Errors",
        dimensions={"FunctionName": function_name},
        statistic="Sum",
        period=300,
        evaluation_periods=1,
        threshold=0,
        comparison_operator="GreaterThanThreshold",
        treat_missing_data="notBreaching",
        alarm_actions=[topic_arn],
        ok_actions=[topic_arn],
        tags=dict(tags),
        opts=child,
    )
