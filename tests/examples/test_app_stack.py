"""examples/app_stack: an application stack wired from a consumer view, under Pulumi mocks.

Its ``pulumi.StackReference`` answers with the outputs the makini-infra program itself exports for
``Pulumi.dev.yaml`` (run under the same mocks), so a renamed output or a changed view shape fails here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.offline import OfflineMocks, load_stack_file, run_program, unwrap_secrets

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "app_stack"
PROJECT = "makini-app-example"


@cache
def infra_outputs(stack: str = "dev") -> dict[str, Any]:
    src = load_stack_file(stack)
    outputs: dict[str, Any] = unwrap_secrets(run_program(stack, src.config, src.secret_keys).outputs)
    return outputs


class StackReferenceMocks(OfflineMocks):
    """The offline mocks, plus a StackReference that answers with a makini-infra stack's outputs."""

    def __init__(self, outputs: dict[str, Any]):
        super().__init__(region="eu-west-1", account_id="111111111111")
        self.outputs = outputs

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if args.typ == "pulumi:pulumi:StackReference":
            return args.name, {"name": args.name, "outputs": self.outputs, "secretOutputNames": []}
        return super().new_resource(args)


def run_example(consumer: str = "asset-sync", queue: bool = True, outputs: dict[str, Any] | None = None):
    config = {
        "aws:region": "eu-west-1",
        f"{PROJECT}:infraStack": "acme/makini-infra/dev",
        f"{PROJECT}:consumer": consumer,
        f"{PROJECT}:consumeWebhookQueue": "true" if queue else "false",
    }
    mocks = StackReferenceMocks(infra_outputs() if outputs is None else outputs)
    return run_program("dev", config, program=EXAMPLE / "__main__.py", project=PROJECT, mocks=mocks)


def test_the_function_runs_as_the_consumer_role_with_exactly_its_secrets():
    view = infra_outputs()["consumer-asset-sync"]
    run = run_example()
    [fn] = run.of_type("aws:lambda/function:Function")
    i = fn.plain_inputs
    assert i["role"] == view["aws"]["roleArn"]
    env = i["environment"]["variables"]
    assert json.loads(env["MAKINI_SECRET_ARNS"]) == view["aws"]["secretArns"]
    assert json.loads(env["MAKINI_CLASS_PREFIXES"]) == {}
    assert env["MAKINI_WEBHOOK_QUEUE_URL"] == view["aws"]["webhookQueue"]["url"]
    [mapping] = run.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")
    assert mapping.plain_inputs["eventSourceArn"] == infra_outputs()["awsWebhookQueueArn"]
    # The stack grants nothing itself: makini-infra attached the consumer's read policy to its role.
    assert not [r for r in run.resources if r.type.startswith("aws:iam/")]


def test_a_class_grant_becomes_a_secret_name_prefix():
    outputs = json.loads(json.dumps(infra_outputs()))
    view = outputs["consumer-work-orders"]["aws"]
    view["classArnPatterns"] = {
        "standard": "arn:aws:secretsmanager:eu-west-1:111111111111:secret:makini/dev/connections/standard/*/token-*"
    }
    run = run_example("work-orders", queue=False, outputs=outputs)
    [fn] = run.of_type("aws:lambda/function:Function")
    prefixes = json.loads(fn.plain_inputs["environment"]["variables"]["MAKINI_CLASS_PREFIXES"])
    assert prefixes == {"standard": "makini/dev/connections/standard/"}
    assert not run.of_type("aws:lambda/eventSourceMapping:EventSourceMapping")


def test_a_consumer_without_the_queue_is_told_how_to_fix_it():
    with pytest.raises(Exception, match="may not consume the webhook queue: set webhookQueue: true"):
        run_example("work-orders", queue=True)


def test_an_unknown_consumer_names_the_missing_output():
    with pytest.raises(Exception, match="consumer-nobody"):
        run_example("nobody", queue=False)
