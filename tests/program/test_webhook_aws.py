"""The AWS webhook endpoint under mocks: every resource and property, least privilege of the receiver
role (parliament, and moto's IAM enforcement on the generated policy), and the Lambda package."""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from components.aws.lambda_package import RECEIVER_LAMBDA
from components.aws.webhook_policies import receiver_policy
from stacks.config.stack_file import dump_stack_yaml
from stacks.config.webhooks import MAKINI_SOURCE_IPS
from tests.pyparse import parse_python
from tests.support import base_config, run

COMPONENT = "makini:aws:WebhookEndpoint"
FUNCTION = "aws:lambda/function:Function"
QUEUE = "aws:sqs/queue:Queue"
TABLE = "aws:dynamodb/table:Table"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
REGION = "eu-west-1"
ACCOUNT = "123456789012"  # the mocks' account


def config(env="dev", **webhooks):
    cfg = base_config(env)
    cfg["makini:webhooks"] = {"enabled": True, **webhooks}
    return cfg


@pytest.fixture(scope="module")
def dev():
    return run(config("dev"))


@pytest.fixture(scope="module")
def prod():
    return run(config("prod", alarms={"email": "oncall@example.com"}))


@pytest.fixture(scope="module")
def custom():
    return run(
        config(
            "staging",
            routePath="/hooks/makini",
            allowAnySource=True,
            signatureMode="raw+js-stringify",
            graceSeconds=3600,
            dedupeTtlSeconds=100000,
            aws={
                "memoryMb": 512,
                "timeoutSeconds": 8,
                "reservedConcurrency": 20,
                "logRetentionDays": 90,
                "throttling": {"burstLimit": 40, "rateLimit": 12.5},
                "customDomain": {
                    "domainName": "webhooks.staging.example.com",
                    "certificateArn": f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abcd-1234",
                },
            },
            alarms={"silenceHours": 6, "errorRatePercent": 2},
        )
    )


def ours(r) -> bool:
    """The endpoint's resources (its children) and the receiver role (created beside the store)."""
    return "makini:aws:WebhookEndpoint" in r.urn or "webhook" in r.name


def one(run_, typ, suffix):
    matches = [r for r in run_.of_type(typ) if r.name.endswith(suffix) and ours(r)]
    assert len(matches) == 1, (typ, suffix, [r.name for r in run_.of_type(typ)])
    return matches[0]


def by_urn(run_):
    return {r.urn: r for r in run_.resources}


# --------------------------------------------------------------------------------------------------
# Structure


def test_every_endpoint_resource_is_a_child_of_the_component(dev):
    component = one(dev, COMPONENT, "makini-dev-aws-webhooks")
    children = {r.type for r in dev.resources if r.parent == component.urn}
    assert children >= {
        "aws:apigatewayv2/api:Api",
        "aws:apigatewayv2/stage:Stage",
        "aws:apigatewayv2/integration:Integration",
        "aws:apigatewayv2/route:Route",
        "aws:lambda/permission:Permission",
        FUNCTION,
        QUEUE,
        TABLE,
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:sns/topic:Topic",
        ALARM,
        "aws:kms/key:Key",
        "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy",
    }
    assert not dev.of_type("aws:apigatewayv2/domainName:DomainName")


def test_disabled_webhooks_build_nothing_and_the_secret_has_no_reader():
    r = run(base_config("dev"))
    assert not r.of_type(COMPONENT) and not [x for x in r.resources if ours(x) and x.custom and "secret" not in x.name]
    assert not [x for x in r.of_type("aws:iam/role:Role") if "webhook" in x.name]
    policy = json.loads(r.named("makini-dev-aws-webhook-secret-policy").plain_inputs["policy"])
    read = next(s for s in policy["Statement"] if s["Sid"] == "DenyReadOutsideEnvironment")
    assert "Condition" not in read  # nobody may read it
    assert "webhooks" not in r.outputs


# --------------------------------------------------------------------------------------------------
# Lambda


def test_lambda_runtime_architecture_sizes_and_environment(dev):
    fn = one(dev, FUNCTION, "-function").plain_inputs
    role = one(dev, "aws:iam/role:Role", "webhook-receiver-role")
    assert fn["name"] == "makini-dev-webhook-receiver"
    assert fn["runtime"] == "python3.13" and fn["architectures"] == ["arm64"]
    assert fn["handler"] == "webhook_receiver.aws_lambda.handler"
    assert fn["memorySize"] == 256 and fn["timeout"] == 6 and fn["timeout"] < 10
    assert fn["reservedConcurrentExecutions"] == -1
    assert fn["role"] == f"arn:aws:iam::{ACCOUNT}:role/makini-dev-webhook-receiver"
    assert role.plain_inputs["name"] == "makini-dev-webhook-receiver"
    trust = json.loads(role.plain_inputs["assumeRolePolicy"])
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "lambda.amazonaws.com"}]
    secret_arn = dev.named("makini-dev-aws-webhook-secret").urn  # exists
    assert secret_arn
    env = fn["environment"]["variables"]
    assert env == {
        "WEBHOOK_SECRET_ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:makini/dev/webhook/secret-"
        + env["WEBHOOK_SECRET_ARN"].rsplit("-", 1)[1],
        "QUEUE_URL": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/makini-dev-webhooks",
        "DEDUPE_TABLE": "makini-dev-webhook-dedupe",
        "DEDUPE_TTL_SECONDS": "172800",
        "GRACE_SECONDS": "86400",
        "ALLOWED_SOURCE_IPS": ",".join(MAKINI_SOURCE_IPS),
        "SIGNATURE_MODE": "raw",
        "LOG_LEVEL": "INFO",
    }
    assert dev.outputs["awsSecretArns"]["webhook/secret"] == env["WEBHOOK_SECRET_ARN"]
    logs = one(dev, "aws:cloudwatch/logGroup:LogGroup", "-function-logs").plain_inputs
    assert logs["name"] == "/aws/lambda/makini-dev-webhook-receiver" and logs["retentionInDays"] == 30
    assert fn["loggingConfig"]["logGroup"] == logs["name"]


def test_configured_lambda_settings_reach_the_function(custom):
    fn = one(custom, FUNCTION, "-function").plain_inputs
    assert (fn["memorySize"], fn["timeout"], fn["reservedConcurrentExecutions"]) == (512, 8, 20)
    env = fn["environment"]["variables"]
    assert env["ALLOWED_SOURCE_IPS"] == ""  # allowAnySource: the receiver accepts any address
    assert env["SIGNATURE_MODE"] == "raw+js-stringify"
    assert (env["GRACE_SECONDS"], env["DEDUPE_TTL_SECONDS"]) == ("3600", "100000")


RECEIVER_MODULES = (
    "__init__.py",
    "aws_lambda.py",
    "errors.py",
    "js_stringify.py",
    "logs.py",
    "payload.py",
    "request.py",
    "responses.py",
    "settings.py",
    "signature.py",
)
SHARED_FILES = ("functions/__init__.py", "functions/shared/__init__.py", "functions/shared/jsonlog.py")
FUNCTIONS_DIR = RECEIVER_LAMBDA.source.parent


def test_the_archive_holds_the_handler_modules_and_nothing_else(dev):
    code = one(dev, FUNCTION, "-function").inputs["code"]
    assets = code.assets
    assert set(assets) == {f"webhook_receiver/{m}" for m in RECEIVER_MODULES} | set(SHARED_FILES)
    for name, asset in assets.items():
        path = Path(asset.path)
        # Laid out as in the source tree: webhook_receiver/ is functions/webhook_receiver/.
        assert path == FUNCTIONS_DIR / name.removeprefix("functions/") and path.is_file()


def _imported_files(archive_path: str) -> set[str]:
    """Archive paths a module imports: its package's modules (relative imports) and functions.shared's."""
    package = archive_path.rsplit("/", 1)[0]
    tree = parse_python((FUNCTIONS_DIR / archive_path.removeprefix("functions/")).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            found.update(f"{package}/{n}.py" for n in names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "functions.shared":
            found.update(f"functions/shared/{a.name}.py" for a in node.names)
    return found


def test_the_archive_covers_the_handlers_import_closure():
    # Independent of RECEIVER_LAMBDA: walk the handler's imports from the source.
    closure, todo = {"webhook_receiver/aws_lambda.py"}, ["webhook_receiver/aws_lambda.py"]
    while todo:
        for dep in _imported_files(todo.pop()):
            if dep not in closure:
                closure.add(dep)
                todo.append(dep)
    packaged = set(RECEIVER_LAMBDA.files())
    inits = {"webhook_receiver/__init__.py", "functions/__init__.py", "functions/shared/__init__.py"}
    assert closure | inits == packaged
    assert not any("azure_function" in p or "README" in p for p in packaged)


def test_a_missing_module_fails_packaging_clearly(tmp_path):
    (tmp_path / "webhook_receiver").mkdir()
    (tmp_path / "webhook_receiver" / "__init__.py").write_text("")
    with pytest.raises(FileNotFoundError, match="aws_lambda.py is missing"):
        RECEIVER_LAMBDA.files(tmp_path)


# --------------------------------------------------------------------------------------------------
# HTTP API


def test_http_api_stage_route_integration_and_permission(dev):
    api = one(dev, "aws:apigatewayv2/api:Api", "-api")
    assert api.plain_inputs["protocolType"] == "HTTP"
    assert api.plain_inputs["disableExecuteApiEndpoint"] is False
    stage = one(dev, "aws:apigatewayv2/stage:Stage", "-stage").plain_inputs
    assert stage["name"] == "$default" and stage["autoDeploy"] is True
    assert stage["defaultRouteSettings"]["throttlingBurstLimit"] == 100
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == 50
    access = one(dev, "aws:cloudwatch/logGroup:LogGroup", "-access-logs").plain_inputs
    assert access["retentionInDays"] == 30
    assert stage["accessLogSettings"]["destinationArn"] == (
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{access['name']}"
    )
    fmt = json.loads(stage["accessLogSettings"]["format"])
    assert fmt["requestId"] == "$context.requestId" and fmt["status"] == "$context.status"
    assert not any("header" in v.lower() or "body" in v.lower() for v in fmt.values())

    integration = one(dev, "aws:apigatewayv2/integration:Integration", "-integration").plain_inputs
    assert integration["integrationType"] == "AWS_PROXY" and integration["payloadFormatVersion"] == "2.0"
    assert integration["integrationUri"].endswith("function:makini-dev-webhook-receiver/invocations")
    assert integration["timeoutMilliseconds"] < 10_000
    route = one(dev, "aws:apigatewayv2/route:Route", "-route").plain_inputs
    assert route["routeKey"] == "POST /makini/webhooks"
    assert route["target"] == "integrations/makini-dev-aws-webhooks-integration-id"

    perm = one(dev, "aws:lambda/permission:Permission", "-invoke").plain_inputs
    api_id = api.urn and dev.outputs["awsWebhookUrl"].split("//")[1].split(".")[0]
    assert perm["principal"] == "apigateway.amazonaws.com" and perm["action"] == "lambda:InvokeFunction"
    assert perm["function"] == "makini-dev-webhook-receiver"
    assert perm["sourceArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/*/POST/makini/webhooks"
    assert dev.outputs["awsWebhookUrl"] == (f"https://{api_id}.execute-api.{REGION}.amazonaws.com/makini/webhooks")


def test_custom_domain_route_and_throttling(custom):
    domain = one(custom, "aws:apigatewayv2/domainName:DomainName", "-domain").plain_inputs
    assert domain["domainName"] == "webhooks.staging.example.com"
    conf = domain["domainNameConfiguration"]
    assert conf["certificateArn"].endswith("certificate/abcd-1234")
    assert conf["endpointType"] == "REGIONAL" and conf["securityPolicy"] == "TLS_1_2"
    mapping = one(custom, "aws:apigatewayv2/apiMapping:ApiMapping", "-mapping").plain_inputs
    assert mapping["domainName"] == "webhooks.staging.example.com"
    assert one(custom, "aws:apigatewayv2/api:Api", "-api").plain_inputs["disableExecuteApiEndpoint"] is True
    assert custom.outputs["awsWebhookUrl"] == "https://webhooks.staging.example.com/hooks/makini"
    assert one(custom, "aws:apigatewayv2/route:Route", "-route").plain_inputs["routeKey"] == "POST /hooks/makini"
    stage = one(custom, "aws:apigatewayv2/stage:Stage", "-stage").plain_inputs
    assert stage["defaultRouteSettings"]["throttlingBurstLimit"] == 40
    assert stage["defaultRouteSettings"]["throttlingRateLimit"] == 12.5
    assert one(custom, "aws:cloudwatch/logGroup:LogGroup", "-access-logs").plain_inputs["retentionInDays"] == 90
    assert (
        one(custom, "aws:lambda/permission:Permission", "-invoke")
        .plain_inputs["sourceArn"]
        .endswith("/*/POST/hooks/makini")
    )


# --------------------------------------------------------------------------------------------------
# Queue, DLQ, table


def test_queue_and_dlq_are_encrypted_with_the_environment_key_and_redrive(dev):
    key_arn = dev.outputs["awsKmsKeyArn"]
    queue = one(dev, QUEUE, "-queue").plain_inputs
    dlq = one(dev, QUEUE, "-dlq").plain_inputs
    for q in (queue, dlq):
        assert q["kmsMasterKeyId"] == key_arn
        assert q["messageRetentionSeconds"] == 1_209_600
        assert q["maxMessageSize"] == 1_048_576
    assert (queue["name"], dlq["name"]) == ("makini-dev-webhooks", "makini-dev-webhooks-dlq")
    redrive = json.loads(queue["redrivePolicy"])
    assert redrive == {
        "deadLetterTargetArn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:makini-dev-webhooks-dlq",
        "maxReceiveCount": 5,
    }
    allow = json.loads(
        one(dev, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", "-dlq-redrive-allow").plain_inputs[
            "redriveAllowPolicy"
        ]
    )
    assert allow == {
        "redrivePermission": "byQueue",
        "sourceQueueArns": [f"arn:aws:sqs:{REGION}:{ACCOUNT}:makini-dev-webhooks"],
    }


def test_dedupe_table(dev, prod):
    for r, pitr in ((dev, False), (prod, True)):
        t = one(r, TABLE, "-dedupe").plain_inputs
        assert t["billingMode"] == "PAY_PER_REQUEST" and t["hashKey"] == "id"
        assert t["attributes"] == [{"name": "id", "type": "S"}]
        assert t["ttl"] == {"attributeName": "expires_at", "enabled": True}
        assert t["pointInTimeRecovery"]["enabled"] is pitr
        assert t["serverSideEncryption"]["enabled"] is True
        assert t["deletionProtectionEnabled"] is pitr


def test_production_protects_queue_dlq_and_table_and_dev_does_not(dev, prod):
    for suffix, typ in (("-queue", QUEUE), ("-dlq", QUEUE), ("-dedupe", TABLE)):
        p, d = one(prod, typ, suffix), one(dev, typ, suffix)
        assert p.protect and p.retain_on_delete, suffix
        assert not d.protect and not d.retain_on_delete, suffix
    assert one(prod, "aws:cloudwatch/logGroup:LogGroup", "-function-logs").plain_inputs["retentionInDays"] == 365


# --------------------------------------------------------------------------------------------------
# Alarms


def alarms(r):
    return {x.plain_inputs["name"].rsplit("webhooks-", 1)[1]: x.plain_inputs for x in r.of_type(ALARM) if ours(x)}


def test_alarms_go_to_the_encrypted_topic(dev, prod):
    topic = one(prod, "aws:sns/topic:Topic", "-alarms").plain_inputs
    topic_arn = prod.outputs["awsWebhookAlarmTopicArn"]
    assert topic["name"] == "makini-prod-webhook-alarms"
    alarm_key = one(prod, "aws:kms/key:Key", "-alarm-key").plain_inputs
    assert topic["kmsMasterKeyId"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT}:key/")
    assert topic["kmsMasterKeyId"] != prod.outputs["awsKmsKeyArn"]
    key_policy = json.loads(alarm_key["policy"])
    cw = next(s for s in key_policy["Statement"] if s["Sid"] == "CloudWatchAlarmsPublish")
    assert cw["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert cw["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}
    found = alarms(prod)
    assert set(found) == {"5xx-rate", "lambda-errors", "lambda-throttles", "dlq-depth", "silence"}
    for a in found.values():
        assert a["alarmActions"] == [topic_arn] and a["okActions"] == [topic_arn]
    sub = one(prod, "aws:sns/topicSubscription:TopicSubscription", "-alarms-email").plain_inputs
    assert (sub["protocol"], sub["endpoint"], sub["topic"]) == ("email", "oncall@example.com", topic_arn)
    assert not [x for x in dev.of_type("aws:sns/topicSubscription:TopicSubscription") if ours(x)]


def test_alarm_definitions(prod):
    a = alarms(prod)
    rate = a["5xx-rate"]
    assert rate["threshold"] == 5 and rate["comparisonOperator"] == "GreaterThanThreshold"
    queries = {q["id"]: q for q in rate["metricQueries"]}
    assert queries["rate"]["returnData"] is True and "errors" in queries["rate"]["expression"]
    assert queries["errors"]["metric"]["metricName"] == "5xx"
    assert queries["requests"]["metric"]["metricName"] == "Count"
    assert queries["errors"]["metric"]["namespace"] == "AWS/ApiGateway"
    assert queries["errors"]["metric"]["dimensions"]["Stage"] == "$default"
    for name, metric in (("lambda-errors", "Errors"), ("lambda-throttles", "Throttles")):
        assert a[name]["metricName"] == metric and a[name]["namespace"] == "AWS/Lambda"
        assert a[name]["dimensions"] == {"FunctionName": "makini-prod-webhook-receiver"}
        assert a[name]["threshold"] == 0 and a[name]["comparisonOperator"] == "GreaterThanThreshold"
    dlq = a["dlq-depth"]
    assert dlq["metricName"] == "ApproximateNumberOfMessagesVisible"
    assert dlq["dimensions"] == {"QueueName": "makini-prod-webhooks-dlq"}
    assert dlq["threshold"] == 0 and dlq["comparisonOperator"] == "GreaterThanThreshold"
    silence = a["silence"]
    assert silence["metricName"] == "Invocations" and silence["statistic"] == "Sum"
    assert silence["period"] == 3600 and silence["evaluationPeriods"] == 24 and silence["datapointsToAlarm"] == 24
    assert silence["threshold"] == 1 and silence["comparisonOperator"] == "LessThanThreshold"
    assert silence["treatMissingData"] == "breaching"


def test_silence_alarm_is_off_in_dev_by_default_and_configurable(dev, custom):
    assert "silence" not in alarms(dev)
    c = alarms(custom)
    assert c["silence"]["evaluationPeriods"] == 6
    assert c["5xx-rate"]["threshold"] == 2


# --------------------------------------------------------------------------------------------------
# Least privilege


def receiver_doc(r):
    return json.loads(one(r, "aws:iam/rolePolicy:RolePolicy", "-receiver-policy").plain_inputs["policy"])


def test_the_receiver_policy_is_exactly_the_builders_document(dev):
    webhook_arn = dev.outputs["awsSecretArns"]["webhook/secret"]
    expected = receiver_policy(
        partition="aws",
        region=REGION,
        account_id=ACCOUNT,
        environment="dev",
        secret_arn=webhook_arn,
        kms_key_arn=dev.outputs["awsKmsKeyArn"],
        queue_arn=dev.outputs["awsWebhookQueueArn"],
        table_arn=f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/makini-dev-webhook-dedupe",
    )
    assert receiver_doc(dev) == expected
    rp = one(dev, "aws:iam/rolePolicy:RolePolicy", "-receiver-policy").plain_inputs
    assert rp["role"] == "makini-dev-webhook-receiver"
    # No wildcard action, no wildcard resource, nothing beyond the receiver's calls.
    actions = set()
    for s in expected["Statement"]:
        acts = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        actions.update(acts)
        assert "*" not in s["Resource"] or s["Resource"].endswith(":*") and ":log-group:" in s["Resource"]
    assert actions == {
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "sqs:SendMessage",
        "dynamodb:PutItem",
        "dynamodb:GetItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }
    kms = [s for s in expected["Statement"] if s["Resource"] == dev.outputs["awsKmsKeyArn"]]
    assert {s["Condition"]["StringEquals"]["kms:ViaService"] for s in kms} == {
        f"secretsmanager.{REGION}.amazonaws.com",
        f"sqs.{REGION}.amazonaws.com",
    }


def test_the_receiver_policy_grants_only_what_the_receiver_code_calls():
    source = (RECEIVER_LAMBDA.source / "aws_lambda.py").read_text()
    called = {"get_secret_value", "put_item", "get_item", "update_item", "delete_item", "send_message"}
    for call in called:
        assert f".{call}(" in source, call
    for absent in ("describe_secret", "batch_write_item", "query(", "scan(", "send_message_batch"):
        assert f".{absent}" not in source, absent


def test_parliament_finds_nothing_in_the_receiver_policy(dev):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from parliament import analyze_policy_string
    policy = analyze_policy_string(json.dumps(receiver_doc(dev)))
    assert policy.findings == [], [(f.issue, f.detail) for f in policy.findings]
    # and parliament does catch a sloppy variant (the check can fail)
    sloppy = receiver_doc(dev)
    sloppy["Statement"].append({"Effect": "Allow", "Action": "sqs:SendMessages", "Resource": "*"})
    assert analyze_policy_string(json.dumps(sloppy)).findings


def test_the_webhook_secret_names_the_receiver_as_its_only_reader(dev):
    role_arn = f"arn:aws:iam::{ACCOUNT}:role/makini-dev-webhook-receiver"
    for p in dev.of_type("aws:secretsmanager/secretPolicy:SecretPolicy"):
        doc = json.loads(p.plain_inputs["policy"])
        read = next(s for s in doc["Statement"] if s["Sid"] == "DenyReadOutsideEnvironment")
        readers = read.get("Condition", {}).get("StringNotEquals", {}).get("aws:PrincipalArn", [])
        if p.name == "makini-dev-aws-webhook-secret-policy":
            assert readers == [role_arn]
        else:
            assert role_arn not in readers
    key_policy = json.loads(dev.named("makini-dev-aws-key").plain_inputs["policy"])
    users = next(s for s in key_policy["Statement"] if s["Sid"] == "UseThroughSecretsManagerOnly")
    assert role_arn in users["Principal"]["AWS"]


def _setup_env(env):
    sm = boto3.client("secretsmanager", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    ddb = boto3.client("dynamodb", region_name=REGION)
    secret = sm.create_secret(Name=f"makini/{env}/webhook/secret", SecretString=f"{env}-secret")["ARN"]
    url = sqs.create_queue(QueueName=f"makini-{env}-webhooks")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table = ddb.create_table(
        TableName=f"makini-{env}-webhook-dedupe",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
    )["TableDescription"]["TableArn"]
    return {
        "secret": secret,
        "url": url,
        "queue": qarn,
        "table": table,
        "key": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{env}-key",
    }


def _denied(call):
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response["Error"]
    # moto answers some protocols with the XML error document as the message and the status as the code
    assert error["Code"] in ("AccessDenied", "AccessDeniedException") or (
        error["Code"] == "403" and "<Code>AccessDenied</Code>" in error.get("Message", "")
    ), error


def test_moto_enforces_environment_separation_on_the_generated_policy():
    """The dev receiver's generated policy, attached to a user under moto's IAM enforcement: it sends to
    the dev queue and cannot send to the prod queue nor read either queue. (moto enforces resource ARNs
    for SQS; for the other services it authorises against "*", see the next test.)"""

    @mock_aws
    @set_initial_no_auth_action_count(12)  # the setup calls run unauthenticated, then IAM applies
    def scenario():
        dev, prod = _setup_env("dev"), _setup_env("prod")  # 8 calls
        iam = boto3.client("iam", region_name=REGION)
        doc = receiver_policy(
            partition="aws",
            region=REGION,
            account_id=ACCOUNT,
            environment="dev",
            secret_arn=dev["secret"],
            kms_key_arn=dev["key"],
            queue_arn=dev["queue"],
            table_arn=dev["table"],
        )
        iam.create_user(UserName="dev-receiver")
        iam.put_user_policy(UserName="dev-receiver", PolicyName="receiver", PolicyDocument=json.dumps(doc))
        key = iam.create_access_key(UserName="dev-receiver")["AccessKey"]  # 11 calls
        creds = dict(
            aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"], region_name=REGION
        )
        sqs = boto3.client("sqs", **creds)
        boto3.client("sts", region_name=REGION).get_caller_identity()  # 12th: the last free call

        sqs.send_message(QueueUrl=dev["url"], MessageBody="{}")
        _denied(lambda: sqs.send_message(QueueUrl=prod["url"], MessageBody="{}"))
        _denied(lambda: sqs.receive_message(QueueUrl=dev["url"]))
        _denied(lambda: sqs.purge_queue(QueueUrl=dev["url"]))
        # and moto did enforce: an unrelated call is refused too
        _denied(lambda: boto3.client("secretsmanager", **creds).list_secrets())

    scenario()


def test_moto_policy_engine_on_real_arns_dev_yes_prod_no():
    """moto's IAM policy engine evaluates the generated document against the ARNs moto gives the dev and
    prod secret, table and log group: the dev receiver's calls are allowed on dev only."""
    from moto.iam.access_control import IAMPolicy, PermissionResult

    @mock_aws
    def scenario():
        dev, prod = _setup_env("dev"), _setup_env("prod")
        doc = receiver_policy(
            partition="aws",
            region=REGION,
            account_id=ACCOUNT,
            environment="dev",
            secret_arn=dev["secret"],
            kms_key_arn=dev["key"],
            queue_arn=dev["queue"],
            table_arn=dev["table"],
        )
        policy = IAMPolicy(json.dumps(doc))
        allowed = lambda action, arn: policy.is_action_permitted(action, arn) == PermissionResult.PERMITTED  # noqa: E731
        assert allowed("secretsmanager:GetSecretValue", dev["secret"])
        assert not allowed("secretsmanager:GetSecretValue", prod["secret"])
        assert not allowed("secretsmanager:PutSecretValue", dev["secret"])
        for action in ("dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
            assert allowed(action, dev["table"]), action
            assert not allowed(action, prod["table"]), action
        assert not allowed("dynamodb:Scan", dev["table"])
        assert not allowed("dynamodb:DeleteTable", dev["table"])
        assert allowed("sqs:SendMessage", dev["queue"]) and not allowed("sqs:SendMessage", prod["queue"])
        log = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/makini-{{}}-webhook-receiver:log-stream:s"
        assert allowed("logs:PutLogEvents", log.format("dev"))
        assert not allowed("logs:PutLogEvents", log.format("prod"))

    scenario()


# --------------------------------------------------------------------------------------------------
# Outputs


def test_outputs_name_the_endpoint_queue_dlq_and_topic(prod):
    out = {k.removeprefix("awsWebhook"): v for k, v in prod.outputs.items() if k.startswith("awsWebhook")}
    out = {k[0].lower() + k[1:]: v for k, v in out.items()}
    assert set(out) == {"url", "queueUrl", "queueArn", "dlqUrl", "dlqArn", "alarmTopicArn"}
    assert out["dlqUrl"].endswith("/makini-prod-webhooks-dlq")
    assert out["queueUrl"].endswith("/makini-prod-webhooks") and out["dlqArn"].endswith(":makini-prod-webhooks-dlq")
    assert out["url"].startswith("https://") and out["url"].endswith("/makini/webhooks")


# --------------------------------------------------------------------------------------------------
# Offline plan


def test_offline_plan_lists_endpoint_queue_dlq_and_alarms(tmp_path):

    from infra.plan import build_plan

    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(dump_stack_yaml({"config": config("prod")}))
    plan = build_plan("prod", path)
    section = next(s for s in plan.sections if s.key == "webhooks")
    assert section.title == "Webhook endpoints"
    (row,) = section.rows
    assert row[0] == "aws" and row[1].endswith("/makini/webhooks") and row[2].endswith("/makini-prod-webhooks")
    assert row[3].endswith(":makini-prod-webhooks-dlq")
    assert row[4] == "5xx-rate, dlq-depth, lambda-errors, lambda-throttles, silence"
    assert any("15.204.75.108/32" in n for n in section.notes) and any("24 h" in n for n in section.notes)
    doc = plan.to_json()
    json.dumps(doc)  # the Lambda's code archive renders as JSON (file paths, no content)
    code = next(r["inputs"]["code"] for r in doc["resources"] if r["name"].endswith("-aws-webhooks-function"))
    assert code == {
        "archive": {
            **{f"webhook_receiver/{m}": {"file": f"functions/webhook_receiver/{m}"} for m in RECEIVER_MODULES},
            **{f: {"file": f} for f in SHARED_FILES},
        }
    }
    assert doc["webhooks"]["aws"]["alarms"] == sorted(
        f"makini-prod-webhooks-{a}" for a in ("5xx-rate", "dlq-depth", "lambda-errors", "lambda-throttles", "silence")
    )
    text = plan.to_text()
    assert "Webhook endpoints" in text and "runtime: python3.13" in text


def test_offline_plan_has_no_webhook_section_when_disabled(tmp_path):

    from infra.plan import build_plan

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml({"config": base_config("dev")}))
    assert "webhooks" not in {s.key for s in build_plan("dev", path).sections}
