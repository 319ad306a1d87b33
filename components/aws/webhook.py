"""One environment's AWS webhook endpoint: HTTP API -> receiver Lambda -> SQS (+ DLQ), a DynamoDB
dedupe table, logs and alarms.

The receiver's IAM role is created first and apart (:func:`receiver_role`), because the webhook
secret's resource policy, built by the secret store, must name it as a reader before the endpoint
exists. :class:`WebhookEndpoint` then attaches the role's only policy (see ``webhook_policies``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.naming import receiver_function_name, receiver_log_group_name, receiver_role_name

from .alarms import alarm_channel, lambda_errors_alarm
from .lambda_package import RECEIVER_LAMBDA
from .policies import lambda_trust_policy
from .webhook_policies import queue_policy, receiver_policy

#: SQS's largest message; the receiver refuses (413) anything larger.
MAX_MESSAGE_BYTES = 1_048_576
RETENTION_SECONDS = 1_209_600  # 14 days, SQS's maximum
MAX_RECEIVE_COUNT = 5
#: HTTP API integration timeout: the gateway answers 503 before Makini's 10 s budget runs out.
INTEGRATION_TIMEOUT_MS = 9_000


def _queue_policy_json(values: list[Any], *, dead_letter: bool, break_glass: Sequence[str], production: bool) -> str:
    """The queue policy (``values``: the queue's ARN, the receiver's, the consumers', the deployers') as the
    queue takes it."""
    queue_arn, receiver_arn, consumers, deployers = values
    doc = queue_policy(
        queue_arn,
        dead_letter=dead_letter,
        receiver_arn=receiver_arn,
        consumer_arns=consumers,
        deployer_arns=deployers,
        break_glass_arns=break_glass,
        production=production,
    )
    return json.dumps(doc, sort_keys=True)


def receiver_environment(
    *,
    secret_arn: str,
    queue_url: str,
    table_name: str,
    dedupe_ttl_seconds: int,
    grace_seconds: int,
    allowed_source_ips: Sequence[str],
    signature_mode: str,
) -> dict[str, str]:
    """The receiver's environment variables (its documented contract); no secret among them."""
    return {
        "WEBHOOK_SECRET_ARN": secret_arn,
        "QUEUE_URL": queue_url,
        "DEDUPE_TABLE": table_name,
        "DEDUPE_TTL_SECONDS": str(dedupe_ttl_seconds),
        "GRACE_SECONDS": str(grace_seconds),
        "ALLOWED_SOURCE_IPS": ",".join(allowed_source_ips),
        "SIGNATURE_MODE": signature_mode,
        "LOG_LEVEL": "INFO",
    }


def receiver_role(
    name: str,
    environment: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions | None = None,
    permissions_boundary: pulumi.Input[str] | None = None,
) -> aws.iam.Role:
    """The receiver's own identity (``makini-<env>-webhook-receiver``), with a Lambda trust policy and no
    permissions yet: :class:`WebhookEndpoint` attaches its one policy."""
    return aws.iam.Role(
        name,
        name=receiver_role_name(environment),
        description=f"makini-infra: the Makini webhook receiver of {environment}",
        assume_role_policy=json.dumps(lambda_trust_policy("LambdaAssumesReceiverRole"), sort_keys=True),
        max_session_duration=3600,
        permissions_boundary=permissions_boundary,
        tags={**tags, "makini:purpose": "webhook-receiver"},
        opts=opts,
    )


@dataclass(frozen=True)
class WebhookEndpointArgs:
    environment: str
    production: bool
    #: The receiver's role, from :func:`receiver_role` (created before the secret store).
    role: aws.iam.Role
    #: This environment's webhook secret and the key that encrypts it (and the queues).
    secret_arn: pulumi.Input[str]
    kms_key_arn: pulumi.Input[str]
    route_path: str = "/makini/webhooks"
    throttle_burst: int = 100
    throttle_rate: float = 50.0
    log_retention_days: int = 30
    memory_mb: int = 256
    timeout_seconds: int = 6
    reserved_concurrency: int | None = None
    #: (domain name, ACM certificate ARN) or None.
    custom_domain: tuple[str, str] | None = None
    #: CIDRs the receiver accepts; empty means any source.
    allowed_source_ips: Sequence[str] = ()
    signature_mode: str = "raw"
    grace_seconds: int = 86_400
    dedupe_ttl_seconds: int = 172_800
    #: Alarm when no webhook arrived for this many hours; None = no such alarm.
    silence_hours: int | None = None
    error_rate_percent: float = 5.0
    alarm_email: str | None = None
    #: Roles of the declared queue consumers: the only ones that receive from the queue and its dead-letter queue.
    consumer_arns: Sequence[pulumi.Input[str]] = ()
    #: Principals that run ``pulumi up`` (the store's deployers): they write the queues' policies and attributes.
    deployer_arns: pulumi.Input[Sequence[str]] = ()
    #: The only principals that may purge a queue (and, in production, delete one).
    break_glass_arns: Sequence[str] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The Lambda package; default: :data:`RECEIVER_LAMBDA`'s archive.
    code: pulumi.Archive | None = None


class WebhookEndpoint(pulumi.ComponentResource):
    """Makini's webhooks for one environment: HTTP API ``POST <route>`` -> receiver Lambda -> SQS."""

    url: pulumi.Output[str]
    queue_url: pulumi.Output[str]
    queue_arn: pulumi.Output[str]
    dlq_url: pulumi.Output[str]
    dlq_arn: pulumi.Output[str]
    alarm_topic_arn: pulumi.Output[str]

    def __init__(self, name: str, args: WebhookEndpointArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:aws:WebhookEndpoint", name, None, opts)
        env, prod = args.environment, args.production
        child = pulumi.ResourceOptions(parent=self)
        keep = pulumi.ResourceOptions(parent=self, protect=prod, retain_on_delete=prod)
        tags = {**args.tags, "makini:purpose": "webhooks"}
        invoke = pulumi.InvokeOutputOptions(parent=self)
        identity = aws.get_caller_identity_output(opts=invoke)
        region = aws.get_region_output(opts=invoke)
        partition = aws.get_partition_output(opts=invoke)

        # Queue, dead-letter queue, dedupe table ------------------------------------------------------
        self.dlq = aws.sqs.Queue(
            f"{name}-dlq",
            name=f"makini-{env}-webhooks-dlq",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=RETENTION_SECONDS,
            max_message_size=MAX_MESSAGE_BYTES,
            tags=tags,
            opts=keep,
        )
        self.queue = aws.sqs.Queue(
            f"{name}-queue",
            name=f"makini-{env}-webhooks",
            kms_master_key_id=args.kms_key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=RETENTION_SECONDS,
            max_message_size=MAX_MESSAGE_BYTES,
            redrive_policy=self.dlq.arn.apply(
                lambda arn: json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": MAX_RECEIVE_COUNT})
            ),
            tags=tags,
            opts=keep,
        )
        aws.sqs.RedriveAllowPolicy(
            f"{name}-dlq-redrive-allow",
            queue_url=self.dlq.url,
            redrive_allow_policy=self.queue.arn.apply(
                lambda arn: json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [arn]})
            ),
            opts=child,
        )
        # Consumers trust both queues as "already verified": only the receiver sends to the queue, nobody to
        # the dead-letter queue (SQS moves failed messages there), nothing is redriven; only the declared
        # consumers receive; only over TLS (see webhook_policies.queue_policy).
        consumers = pulumi.Output.all(*args.consumer_arns)
        deployers = pulumi.Output.from_input(args.deployer_arns)
        for queue, dead_letter, suffix in ((self.queue, False, "queue"), (self.dlq, True, "dlq")):
            aws.sqs.QueuePolicy(
                f"{name}-{suffix}-policy",
                queue_url=queue.url,
                policy=pulumi.Output.all(queue.arn, args.role.arn, consumers, deployers).apply(
                    functools.partial(
                        _queue_policy_json,
                        dead_letter=dead_letter,
                        break_glass=list(args.break_glass_arns),
                        production=prod,
                    )
                ),
                opts=child,
            )
        self.table = aws.dynamodb.Table(
            f"{name}-dedupe",
            name=f"makini-{env}-webhook-dedupe",
            billing_mode="PAY_PER_REQUEST",
            hash_key="id",
            attributes=[aws.dynamodb.TableAttributeArgs(name="id", type="S")],
            ttl=aws.dynamodb.TableTtlArgs(attribute_name="expires_at", enabled=True),
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=prod),
            # Holds SHA-256 ids and states only: encrypted with the AWS-managed DynamoDB key.
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            deletion_protection_enabled=prod,
            tags=tags,
            opts=keep,
        )

        # The receiver's one policy -----------------------------------------------------------------------
        policy_doc = pulumi.Output.all(
            partition.partition,
            region.region,
            identity.account_id,
            args.secret_arn,
            args.kms_key_arn,
            self.queue.arn,
            self.table.arn,
        ).apply(
            lambda v: json.dumps(
                receiver_policy(
                    partition=v[0],
                    region=v[1],
                    account_id=v[2],
                    environment=env,
                    secret_arn=v[3],
                    kms_key_arn=v[4],
                    queue_arn=v[5],
                    table_arn=v[6],
                ),
                sort_keys=True,
            )
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-receiver-policy",
            name=f"makini-{env}-webhook-receiver",
            role=args.role.id,
            policy=policy_doc,
            opts=child,
        )

        # The Lambda -----------------------------------------------------------------------------------
        self.function_log_group = aws.cloudwatch.LogGroup(
            f"{name}-function-logs",
            name=receiver_log_group_name(env),
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=keep,
        )
        allowed = list(args.allowed_source_ips)
        environment = pulumi.Output.all(args.secret_arn, self.queue.url, self.table.name).apply(
            lambda v: receiver_environment(
                secret_arn=v[0],
                queue_url=v[1],
                table_name=v[2],
                dedupe_ttl_seconds=args.dedupe_ttl_seconds,
                grace_seconds=args.grace_seconds,
                allowed_source_ips=allowed,
                signature_mode=args.signature_mode,
            )
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=receiver_function_name(env),
            description=f"makini-infra: verifies, deduplicates and queues Makini's webhooks for {env}",
            role=args.role.arn,
            runtime=RECEIVER_LAMBDA.runtime,
            architectures=["arm64"],
            handler=RECEIVER_LAMBDA.handler,
            code=args.code if args.code is not None else RECEIVER_LAMBDA.archive(),
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            reserved_concurrent_executions=args.reserved_concurrency if args.reserved_concurrency is not None else -1,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.function_log_group.name
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role_policy, self.function_log_group]),
        )

        # The HTTP API ------------------------------------------------------------------------------------
        self.access_log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/makini-{env}-webhooks",
            retention_in_days=args.log_retention_days,
            tags=tags,
            opts=keep,
        )
        self.api = aws.apigatewayv2.Api(
            f"{name}-api",
            name=f"makini-{env}-webhooks",
            description=f"makini-infra: Makini webhooks for {env}",
            protocol_type="HTTP",
            # With a custom domain, only the domain (and its certificate) serves the endpoint.
            disable_execute_api_endpoint=args.custom_domain is not None,
            tags=tags,
            opts=child,
        )
        self.integration = aws.apigatewayv2.Integration(
            f"{name}-integration",
            api_id=self.api.id,
            integration_type="AWS_PROXY",
            integration_method="POST",
            integration_uri=self.function.invoke_arn,
            payload_format_version="2.0",
            timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
            opts=child,
        )
        self.route = aws.apigatewayv2.Route(
            f"{name}-route",
            api_id=self.api.id,
            route_key=f"POST {args.route_path}",
            target=self.integration.id.apply(lambda i: f"integrations/{i}"),
            opts=child,
        )
        self.stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=self.api.id,
            name="$default",
            auto_deploy=True,
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_burst_limit=args.throttle_burst,
                throttling_rate_limit=args.throttle_rate,
                detailed_metrics_enabled=True,
            ),
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=self.access_log_group.arn,
                format=json.dumps(ACCESS_LOG_FORMAT, sort_keys=True),
            ),
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.route]),
        )
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="apigateway.amazonaws.com",
            source_arn=self.api.execution_arn.apply(lambda a: f"{a}/*/POST{args.route_path}"),
            opts=child,
        )
        self.domain: aws.apigatewayv2.DomainName | None = None
        if args.custom_domain is not None:
            domain_name, certificate_arn = args.custom_domain
            self.domain = aws.apigatewayv2.DomainName(
                f"{name}-domain",
                domain_name=domain_name,
                domain_name_configuration=aws.apigatewayv2.DomainNameDomainNameConfigurationArgs(
                    certificate_arn=certificate_arn, endpoint_type="REGIONAL", security_policy="TLS_1_2"
                ),
                tags=tags,
                opts=child,
            )
            aws.apigatewayv2.ApiMapping(
                f"{name}-mapping", api_id=self.api.id, domain_name=self.domain.id, stage=self.stage.id, opts=child
            )
            self.url = pulumi.Output.from_input(f"https://{domain_name}{args.route_path}")
        else:
            self.url = self.api.api_endpoint.apply(lambda e: f"{e}{args.route_path}")

        # Alarms -----------------------------------------------------------------------------------------
        channel = alarm_channel(
            name,
            environment=env,
            topic_name=f"makini-{env}-webhook-alarms",
            purpose="webhook and rotation",
            email=args.alarm_email,
            tags=tags,
            keep=keep,
            child=child,
        )
        self.alarm_key, self.topic = channel.key, channel.topic
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        actions = [self.topic.arn]

        def alarm(suffix: str, description: str, **kw: Any) -> None:
            self.alarms[suffix] = aws.cloudwatch.MetricAlarm(
                f"{name}-{suffix}",
                name=f"makini-{env}-webhooks-{suffix}",
                alarm_description=description,
                alarm_actions=actions,
                ok_actions=actions,
                tags=tags,
                opts=child,
                **kw,
            )

        alarm(
            "5xx-rate",
            f"More than {args.error_rate_percent}% of webhook requests got a 5xx in 5 minutes: Makini retries, "
            "but check the receiver's logs.",
            comparison_operator="GreaterThanThreshold",
            threshold=args.error_rate_percent,
            evaluation_periods=1,
            treat_missing_data="notBreaching",
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="rate",
                    expression="IF(requests > 0, 100 * errors / requests, 0)",
                    label="5xx rate (%)",
                    return_data=True,
                ),
                _api_metric("errors", "5xx", self.api.id),
                _api_metric("requests", "Count", self.api.id),
            ],
        )
        fn_dims = {"FunctionName": self.function.name}
        self.alarms["lambda-errors"] = lambda_errors_alarm(
            f"{name}-lambda",
            alarm_name=f"makini-{env}-webhooks-lambda-errors",
            description="The webhook receiver Lambda failed (an error or a timeout).",
            function_name=self.function.name,
            topic_arn=self.topic.arn,
            tags=tags,
            child=child,
        )
        alarm(
            "lambda-throttles",
            "The webhook receiver Lambda was throttled (reserved concurrency or account limit).",
            namespace="AWS/Lambda",
            metric_name="Throttles",
            dimensions=fn_dims,
            statistic="Sum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
        alarm(
            "dlq-depth",
            "Webhook messages reached the dead-letter queue: a consumer failed them repeatedly.",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": self.dlq.name},
            statistic="Maximum",
            period=300,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            treat_missing_data="notBreaching",
        )
        if args.silence_hours:
            alarm(
                "silence",
                f"No webhook reached the receiver for {args.silence_hours} hours: poll Makini for changes "
                "(its advised fallback) and check the endpoint.",
                namespace="AWS/Lambda",
                metric_name="Invocations",
                dimensions=fn_dims,
                statistic="Sum",
                period=3600,
                evaluation_periods=args.silence_hours,
                datapoints_to_alarm=args.silence_hours,
                threshold=1,
                comparison_operator="LessThanThreshold",
                treat_missing_data="breaching",
            )

        self.queue_url = self.queue.url
        self.queue_arn = self.queue.arn
        self.dlq_url = self.dlq.url
        self.dlq_arn = self.dlq.arn
        self.alarm_topic_arn = self.topic.arn
        self.register_outputs(
            {
                "url": self.url,
                "queueUrl": self.queue_url,
                "queueArn": self.queue_arn,
                "dlqUrl": self.dlq_url,
                "dlqArn": self.dlq_arn,
                "alarmTopicArn": self.alarm_topic_arn,
            }
        )


#: Access log line (JSON): no headers, no body, no signature.
ACCESS_LOG_FORMAT = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "routeKey": "$context.routeKey",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "latency": "$context.responseLatency",
}


def _api_metric(query_id: str, metric: str, api_id: pulumi.Input[str]) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        return_data=False,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace="AWS/ApiGateway",
            metric_name=metric,
            period=300,
            stat="Sum",
            dimensions={"ApiId": api_id, "Stage": "$default"},
        ),
    )
