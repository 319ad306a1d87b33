"""Who may do what to the webhook queue and its dead-letter queue, decided by the evaluator in ``tests/iam``.

The README says consumers can trust a queued message as verified: only the receiver puts messages in the
queue. That holds only if nobody else can send to it, nobody can plant a message in the dead-letter queue
and redrive it into the queue, and only the declared consumers take messages out. Every SQS action that
takes a queue is decided here for every identity of each example stack (the receiver and the consumers
with the policies the plan attaches, the receiver's permissions boundary, the queue's resource policy, the
environment key's policy for the KMS call SQS makes) and for principals whose own policies are outside the
stack (the account's administrators, the operators, the deployer, break-glass), with ``*`` on ``*``.

Not modelled: SQS's own move of a message that failed ``maxReceiveCount`` times into the dead-letter
queue. It is not a request of any principal, so no statement of a queue policy applies to it (the
redrive policy and the dead-letter queue's redrive-allow policy, both in the plan, govern it).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import pytest
import yaml

from infra.offline import PROJECT_ROOT
from infra.plan import build_plan
from tests.iam.aws_policy import Outcome, Policy, Request, evaluate
from tests.program.access_model import AwsIdentity, aws_environment

STACKS = ("dev", "staging", "prod")
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
#: Every SQS action that takes a queue (Service Authorization Reference, Amazon SQS).
QUEUE_ACTIONS = (
    "sqs:AddPermission",
    "sqs:CancelMessageMoveTask",
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:DeleteQueue",
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListDeadLetterSourceQueues",
    "sqs:ListMessageMoveTasks",
    "sqs:ListQueueTags",
    "sqs:PurgeQueue",
    "sqs:ReceiveMessage",
    "sqs:RemovePermission",
    "sqs:SendMessage",
    "sqs:SetQueueAttributes",
    "sqs:StartMessageMoveTask",
    "sqs:TagQueue",
    "sqs:UntagQueue",
)
READS = {
    "sqs:GetQueueAttributes",
    "sqs:GetQueueUrl",
    "sqs:ListDeadLetterSourceQueues",
    "sqs:ListMessageMoveTasks",
    "sqs:ListQueueTags",
}
CONSUME = {"sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:ReceiveMessage"}
ADMINISTER = {"sqs:AddPermission", "sqs:RemovePermission", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue"}


@cache
def plan(stack: str) -> dict[str, Any]:
    return json.loads(json.dumps(build_plan(stack).to_json()))


@cache
def config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]  # type: ignore[no-any-return]


@cache
def queues(stack: str) -> dict[str, tuple[str, Policy]]:
    """ "queue"/"dlq" -> (ARN, resource policy), from the plan."""
    env = plan(stack)["environment"]
    account = str(config(stack)["aws:allowedAccountIds"][0])
    out = {}
    for r in plan(stack)["resources"]:
        if r["type"] == "aws:sqs/queuePolicy:QueuePolicy":
            name = r["inputs"]["queueUrl"].rsplit("/", 1)[-1]
            kind = "dlq" if name == f"makini-{env}-webhooks-dlq" else "queue"
            assert name in (f"makini-{env}-webhooks", f"makini-{env}-webhooks-dlq")
            arn = f"arn:aws:sqs:eu-west-1:{account}:{name}"
            out[kind] = (arn, Policy.parse(json.loads(r["inputs"]["policy"]), f"policy of {name}"))
    assert set(out) == {"queue", "dlq"}
    return out


def decide(stack: str, identity: AwsIdentity, action: str, kind: str) -> bool:
    """The SQS call, and for a send or a receive the KMS call SQS makes with the caller's permissions."""
    arn, policy = queues(stack)[kind]
    env = aws_environment(plan(stack), config(stack))
    decision = evaluate(
        Request(identity.arn, action, arn, principal_tags=identity.tags),
        identity_policies=identity.policies,
        resource_policy=policy,
        boundary=identity.boundary,
    )
    kms = {"sqs:SendMessage": "kms:GenerateDataKey", "sqs:ReceiveMessage": "kms:Decrypt"}.get(action)
    if decision.allowed and kms:
        key = evaluate(
            Request(
                identity.arn,
                kms,
                env.key_arn,
                context={"kms:ViaService": f"sqs.{env.region}.amazonaws.com", "kms:CallerAccount": env.account},
                resource_tags=env.key_tags,
                principal_tags=identity.tags,
            ),
            identity_policies=identity.policies,
            boundary=identity.boundary,
            key_policy=env.key_policy,
        )
        return key.allowed
    return decision.allowed


def allowed(stack: str, identity: AwsIdentity, kind: str) -> set[str]:
    return {a for a in QUEUE_ACTIONS if decide(stack, identity, a, kind)}


def admin(arn: str) -> AwsIdentity:
    return AwsIdentity(arn.rsplit("/", 1)[-1], arn, (Policy.parse(ADMIN, "AdministratorAccess"),))


def queue_consumers(stack: str) -> set[str]:
    return {n for n, c in config(stack)["makini:consumers"].items() if c.get("webhookQueue")}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("kind", ["queue", "dlq"])
def test_the_matrix_identities_do_exactly_their_queue_jobs(stack, kind):
    """The receiver sends to the queue (never the dead-letter queue) and receives nothing; declared
    consumers receive, extend and delete on both queues and read their attributes; everyone else nothing."""
    env = aws_environment(plan(stack), config(stack))
    # staging declares no queue consumer: then nobody may receive (the deny names no exception).
    assert bool(queue_consumers(stack)) == (stack != "staging")
    for name, identity in {**env.identities, **env.other_roles}.items():
        got = allowed(stack, identity, kind)
        if name == "webhook-receiver":
            expected = {"sqs:SendMessage"} if kind == "queue" else set()
        elif name in queue_consumers(stack):
            expected = CONSUME | {"sqs:GetQueueAttributes"}
        else:
            expected = set()
        assert got == expected, (name, kind, got)


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("kind", ["queue", "dlq"])
def test_principals_outside_the_stack_cannot_send_receive_redrive_or_purge(stack, kind):
    """With every IAM permission: an administrator of the account and the operators only read metadata;
    the deployer also administers (and deletes, outside production); break-glass also purges and deletes.
    Nobody sends (but the receiver, above), nobody receives (but the consumers), nobody starts a redrive."""
    env = aws_environment(plan(stack), config(stack))
    account = env.account
    production = stack == "prod"
    cases = {
        f"arn:aws:iam::{account}:role/account-admin": READS,
        **dict.fromkeys(env.operators, READS),
        **dict.fromkeys(env.drift, READS),
        **dict.fromkeys(env.deployers, READS | ADMINISTER | (set() if production else {"sqs:DeleteQueue"})),
        **dict.fromkeys(env.break_glass, READS | ADMINISTER | {"sqs:PurgeQueue", "sqs:DeleteQueue"}),
    }
    assert production == bool(env.break_glass) and (not production or env.operators)
    for arn, expected in cases.items():
        assert allowed(stack, admin(arn), kind) == expected, (arn, kind)


@pytest.mark.parametrize("stack", STACKS)
def test_no_message_can_be_planted_and_laundered_through_the_dead_letter_queue(stack):
    """The laundering path: send a message to the dead-letter queue, then redrive it into the queue. Every
    step is refused to every principal, the receiver included, and so is sending to the queue directly."""
    env = aws_environment(plan(stack), config(stack))
    everyone = [
        *env.identities.values(),
        *env.other_roles.values(),
        *(admin(a) for a in (*env.operators, *env.deployers, *env.break_glass, *env.drift)),
        admin(f"arn:aws:iam::{env.account}:role/account-admin"),
    ]
    for identity in everyone:
        assert not decide(stack, identity, "sqs:SendMessage", "dlq"), identity.name
        assert not decide(stack, identity, "sqs:StartMessageMoveTask", "dlq"), identity.name
        if identity.name != "makini-" + plan(stack)["environment"] + "-webhook-receiver":
            assert not decide(stack, identity, "sqs:SendMessage", "queue"), identity.name


def test_the_dead_letter_queue_redrives_only_from_the_queue():
    """SQS moves failed messages only into a dead-letter queue that names the queue as its source."""
    env = plan("prod")["environment"]
    (allow,) = [r for r in plan("prod")["resources"] if r["type"] == "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy"]
    doc = json.loads(allow["inputs"]["redriveAllowPolicy"])
    assert doc == {"redrivePermission": "byQueue", "sourceQueueArns": [queues("prod")["queue"][0]]}
    (queue,) = [
        r
        for r in plan("prod")["resources"]
        if r["type"] == "aws:sqs/queue:Queue" and r["inputs"]["name"] == f"makini-{env}-webhooks"
    ]
    assert json.loads(queue["inputs"]["redrivePolicy"])["deadLetterTargetArn"] == queues("prod")["dlq"][0]


def test_the_proof_can_fail():
    """Yesterday's policies (operators may send to the queue; the dead-letter queue only refuses plain HTTP)
    let an operator plant a message in the dead-letter queue and send to the queue."""
    arn, _ = queues("prod")["dlq"]
    old = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": {"AWS": "*"},
                "Action": "sqs:*",
                "Resource": arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    operator = "arn:aws:iam::333333333333:role/makini-secrets-operator"
    request = Request(operator, "sqs:SendMessage", arn)
    assert evaluate(request, identity_policies=[ADMIN], resource_policy=old).allowed
    now = evaluate(request, identity_policies=[ADMIN], resource_policy=queues("prod")["dlq"][1])
    assert now.outcome is Outcome.EXPLICIT_DENY and "DenySendToDeadLetterQueue" in now.reason


# --------------------------------------------------------------------------------------------------
# Azure Service Bus: the same promise, from the role assignments at queue scope

#: Service Bus data actions (Microsoft's permissions reference, Microsoft.ServiceBus): sending and receiving
#: messages. A queue's dead-letter subqueue (``<queue>/$DeadLetterQueue``) is part of the queue entity, so an
#: assignment at the queue's scope covers it; Service Bus accepts no send to a dead-letter subqueue at all
#: (only a receiver dead-letters a message it holds), and resubmitting one means sending to the queue.
SB_SEND = "Microsoft.ServiceBus/namespaces/messages/send/action"
SB_RECEIVE = "Microsoft.ServiceBus/namespaces/messages/receive/action"


def test_on_service_bus_only_the_receiver_sends_and_only_declared_consumers_receive():
    from infra.offline import MOCK_SUBSCRIPTION_ID
    from tests.iam import azure_rbac
    from tests.program.access_model import azure_environment

    stack = "staging"
    env = azure_environment(plan(stack), config(stack), MOCK_SUBSCRIPTION_ID)
    (queue,) = [r for r in plan(stack)["resources"] if r["type"] == "azure-native:servicebus:Queue"]
    (namespace,) = [r for r in plan(stack)["resources"] if r["type"] == "azure-native:servicebus:Namespace"]
    assert namespace["inputs"]["disableLocalAuth"] is True  # no SAS keys: role assignments decide alone
    scope = (
        f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{queue['inputs']['resourceGroupName']}/providers/"
        f"Microsoft.ServiceBus/namespaces/{namespace['inputs']['namespaceName']}/queues/{queue['inputs']['queueName']}"
    )
    principals = {**env.principals}
    # Every principal any assignment of the plan names (the apps' identities included), not only the matrix.
    for a in env.assignments:
        if a.principal_id not in principals.values():
            principals[f"principal {a.principal_id}"] = a.principal_id
    senders, receivers = set(), set()
    for name, pid in principals.items():
        if azure_rbac.evaluate(
            azure_rbac.AzureRequest(pid, SB_SEND, scope, data=True), assignments=env.assignments, roles=env.roles
        ):
            senders.add(name)
        if azure_rbac.evaluate(
            azure_rbac.AzureRequest(pid, SB_RECEIVE, scope, data=True), assignments=env.assignments, roles=env.roles
        ):
            receivers.add(name)
    assert senders == {"webhook-receiver"}
    assert receivers == queue_consumers(stack)
