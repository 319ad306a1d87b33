"""The dedupe claim protocol on a table whose conditional writes are atomic (DynamoDB's guarantee).

The receiver runs against moto's Secrets Manager and SQS as elsewhere, but its DynamoDB client is
tests/fakes/dynamodb_table.py: conditions are evaluated and writes applied as one step, so these tests
measure the receiver's claim / done / release protocol (functions/webhook_receiver/README.md, "Dedupe
protocol"), never a race inside an emulator. Interleavings are forced at exact steps with the double's
``before_write`` hook and a patched queue send, not left to the scheduler.
"""

from __future__ import annotations

import threading

import pytest

from tests.fakes.dynamodb_table import SerialisingDynamoDB

from .conftest import payload, signed_event


def body_of(resp: dict) -> dict:
    import json

    return json.loads(resp["body"])


CTX = None


@pytest.fixture
def table(aws) -> SerialisingDynamoDB:
    return SerialisingDynamoDB(aws.table)


def status(resp: dict) -> tuple[int, str]:
    return resp["statusCode"], body_of(resp)["status"]


@pytest.mark.parametrize("round_", range(10))
def test_concurrent_identical_deliveries_queue_once(aws, table, round_):
    """Eight deliveries of one webhook at once (Makini's retries racing the original): exactly one is
    queued; the others are told it is a duplicate, or to retry (409) while it is being queued."""
    r = aws.receiver(ddb=table)
    ev = signed_event(payload(ids=[7, 7, round_]))
    n = 8
    barrier = threading.Barrier(n)
    results: list[dict] = []
    lock = threading.Lock()

    def deliver():
        barrier.wait()
        resp = r.handle(ev, CTX)
        with lock:
            results.append(resp)

    threads = [threading.Thread(target=deliver) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = [status(x) for x in results]
    assert len(results) == n
    assert statuses.count((200, "accepted")) == 1, statuses
    assert all(s in {(200, "accepted"), (200, "duplicate"), (409, "retry")} for s in statuses), statuses
    assert len(aws.messages()) == 1
    assert status(r.handle(ev, CTX)) == (200, "duplicate")  # the ones told to retry get this when they do
    assert len(aws.messages()) == 0


class Held:
    """A delivery on its own thread, held between its claim and its queue send until ``release()``."""

    def __init__(self, receiver, event, monkeypatch) -> None:
        self.at_send, self._go = threading.Event(), threading.Event()
        self.result: list[dict] = []
        real_send = receiver._send

        def held_send(text, message):
            self.at_send.set()
            assert self._go.wait(10)
            real_send(text, message)

        monkeypatch.setattr(receiver, "_send", held_send)
        self._thread = threading.Thread(target=lambda: self.result.append(receiver.handle(event, CTX)))
        self._thread.start()
        assert self.at_send.wait(10)  # it holds its claim now

    def release(self) -> dict:
        self._go.set()
        self._thread.join(10)
        return self.result[0]


def test_a_delivery_arriving_while_the_first_is_queueing_gets_409_then_duplicate(aws, table, monkeypatch):
    ev = signed_event(payload(ids=[1]))
    first = Held(aws.receiver(ddb=table), ev, monkeypatch)
    second = aws.receiver(ddb=table)
    assert status(second.handle(ev, CTX)) == (409, "retry")
    assert status(first.release()) == (200, "accepted")
    assert status(second.handle(ev, CTX)) == (200, "duplicate")
    assert len(aws.messages()) == 1


def test_a_failed_send_releases_the_claim_so_the_retry_is_queued(aws, table, monkeypatch):
    r = aws.receiver(ddb=table)
    ev = signed_event(payload(ids=[2]))

    def broken(text, message):
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessage")

    monkeypatch.setattr(r, "_send", broken)
    assert status(r.handle(ev, CTX)) == (503, "retry")
    assert aws.items() == [] and table.scan(TableName=aws.table)["Items"] == []  # no claim left behind
    assert status(aws.receiver(ddb=table).handle(ev, CTX)) == (200, "accepted")
    assert len(aws.messages()) == 1


def test_an_abandoned_claim_is_taken_over_after_the_lease_and_the_late_owner_cannot_mark_it(aws, table, monkeypatch):
    """A delivery that hangs past the 60 s lease loses its claim: a retry takes it over and queues; the
    late one still queues its copy (the consumer is idempotent on dedupe_id), but its ``done`` write is
    refused because the claim is no longer its own, so the record stays the taker's."""
    ev = signed_event(payload(ids=[3]))
    late = Held(aws.receiver(ddb=table), ev, monkeypatch)
    aws.clock.advance(61)
    taker = aws.receiver(ddb=table)
    assert status(taker.handle(ev, CTX)) == (200, "accepted")
    [record] = table.scan(TableName=aws.table)["Items"]
    taker_claim = record["claim"]["S"]
    assert status(late.release()) == (200, "accepted")
    [record] = table.scan(TableName=aws.table)["Items"]
    assert record["status"]["S"] == "done" and record["claim"]["S"] == taker_claim
    messages = aws.messages()
    assert len(messages) == 2 and len({m["MessageAttributes"]["dedupe_id"]["StringValue"] for m in messages}) == 1


def test_the_double_refuses_what_dynamodb_refuses(aws, table):
    """The double itself: a second conditional put on one key fails, with the old item when asked."""
    from botocore.exceptions import ClientError

    item = {"id": {"S": "k"}, "expires_at": {"N": "100"}}
    cond = {
        "ConditionExpression": "attribute_not_exists(#id) OR #exp < :now",
        "ExpressionAttributeNames": {"#id": "id", "#exp": "expires_at"},
        "ExpressionAttributeValues": {":now": {"N": "50"}},
    }
    table.put_item(TableName=aws.table, Item=item, **cond)
    with pytest.raises(ClientError) as refused:
        table.put_item(TableName=aws.table, Item=item, ReturnValuesOnConditionCheckFailure="ALL_OLD", **cond)
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    assert refused.value.response["Item"] == item
    cond["ExpressionAttributeValues"] = {":now": {"N": "101"}}  # expired: counts as absent
    table.put_item(TableName=aws.table, Item={**item, "expires_at": {"N": "200"}}, **cond)
    with pytest.raises(NotImplementedError):
        table.put_item(TableName=aws.table, Item=item, ConditionExpression="begins_with(id, :p)")
