"""An application stack that uses makini-infra: one Lambda, wired from its consumer view.

    pulumi config set makini-app-example:infraStack <org>/makini-infra/<stack>
    pulumi config set makini-app-example:consumer <consumer name>
    pulumi up

It reads the output ``consumer-<name>`` of the makini-infra stack (docs/outputs.md, "Consumer views") and
runs the function as the consumer's role, with the locations of exactly the secrets that role may read; with
``consumeWebhookQueue`` it also consumes the environment's webhook queue. The role's read policy is attached
by makini-infra itself, so this stack grants nothing: it cannot widen access. The role must trust
``lambda.amazonaws.com`` (makini-infra's ``createRole.trustPolicy`` for the consumer, or your own role).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # wiring.py, whatever the cwd

import pulumi  # noqa: E402
import pulumi_aws as aws  # noqa: E402
from wiring import lambda_settings  # noqa: E402

HERE = Path(__file__).resolve().parent

config = pulumi.Config()
consumer = config.require("consumer")
consume_queue = config.get_bool("consumeWebhookQueue") or False
infra = pulumi.StackReference(config.require("infraStack"))
view = infra.require_output(f"consumer-{consumer}")
settings = view.apply(lambda v: lambda_settings(v, consume_queue))  # refuses a view that does not fit, once

function = aws.lambda_.Function(
    f"{consumer}-service",
    role=settings.apply(lambda s: s["role"]),
    runtime="python3.13",
    architectures=["arm64"],
    handler="handler.handler",
    timeout=30,
    code=pulumi.AssetArchive({".": pulumi.FileArchive(str(HERE / "service"))}),
    environment=aws.lambda_.FunctionEnvironmentArgs(
        variables=settings.apply(lambda s: s["environment"]),
    ),
)
if consume_queue:
    aws.lambda_.EventSourceMapping(
        f"{consumer}-webhooks",
        event_source_arn=settings.apply(lambda s: s["queueArn"]),
        function_name=function.arn,
        batch_size=10,
        function_response_types=["ReportBatchItemFailures"],
    )

pulumi.export("functionArn", function.arn)
