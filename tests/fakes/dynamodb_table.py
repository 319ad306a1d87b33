"""A DynamoDB table double whose conditional writes are atomic, for testing the webhook dedupe claim.

Why not moto: moto's in-process ``PutItem`` evaluates a ``ConditionExpression`` and stores the item
without holding a lock across the two, so concurrent conditional puts can both succeed; a test of our
claim logic on it measured moto (``test_concurrent_identical_deliveries_queue_once`` failed under load).
DynamoDB documents the opposite: a conditional write is atomic per item ("the condition is evaluated
and the write performed as one operation"). Here every write evaluates its condition and applies
under one lock (stronger than per item, which changes nothing for one key), so the tests measure the
receiver's protocol, not an emulator's race.

Supported, exactly as the receiver calls them (anything else raises NotImplementedError, never guesses):
``put_item``, ``get_item``, ``update_item`` (``SET a = :v, ...``), ``delete_item``, ``scan``, each on
``TableName`` with key attribute ``id``; ``ConditionExpression`` with ``attribute_exists``,
``attribute_not_exists``, comparisons (= <> < <= > >=) on S or N values, ``AND``/``OR``/``NOT`` and
parentheses, ``ExpressionAttributeNames``/``Values``; a failed condition raises botocore's
``ClientError`` ``ConditionalCheckFailedException`` (with the old ``Item`` when
``ReturnValuesOnConditionCheckFailure="ALL_OLD"``, as DynamoDB returns it).

A real DynamoDB-compatible engine was looked for: dynalite (npm) installs here and its conditional puts
are atomic, but it would put an npm step in front of the README's test command; see the README's
"How this is tested".

``hooks``: ``before_write(operation, key)`` is called outside the lock just before each write, so a
test can hold one delivery at an exact step while another runs.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import ClientError

_TOKEN = re.compile(r"\s*(\(|\)|<>|<=|>=|=|<|>|,|[#:]?[A-Za-z_][A-Za-z0-9_]*)")


class SerialisingDynamoDB:
    def __init__(self, *tables: str, key: str = "id") -> None:
        self.key = key
        self.tables: dict[str, dict[str, dict]] = {t: {} for t in tables}
        self.lock = threading.Lock()
        self.before_write: Callable[[str, str], None] | None = None
        self.calls: list[tuple[str, str]] = []

    # -- operations ------------------------------------------------------------------------------

    def put_item(self, *, TableName: str, Item: Mapping, **kw: Any) -> dict:  # noqa: N803 (boto3 names)
        key = Item[self.key]["S"]
        self._hook("PutItem", key)
        with self.lock:
            self.calls.append(("PutItem", key))
            old = self.tables[TableName].get(key)
            self._check(kw, old)
            self.tables[TableName][key] = copy.deepcopy(dict(Item))
        return {}

    def get_item(self, *, TableName: str, Key: Mapping, ConsistentRead: bool = False) -> dict:  # noqa: N803
        with self.lock:
            item = self.tables[TableName].get(Key[self.key]["S"])
            return {"Item": copy.deepcopy(item)} if item is not None else {}

    def update_item(self, *, TableName: str, Key: Mapping, UpdateExpression: str, **kw: Any) -> dict:  # noqa: N803
        key = Key[self.key]["S"]
        self._hook("UpdateItem", key)
        with self.lock:
            self.calls.append(("UpdateItem", key))
            old = self.tables[TableName].get(key)
            self._check(kw, old)
            item = copy.deepcopy(old) if old is not None else {self.key: {"S": key}}
            names, values = kw.get("ExpressionAttributeNames", {}), kw.get("ExpressionAttributeValues", {})
            if not UpdateExpression.startswith("SET "):
                raise NotImplementedError(f"only SET updates: {UpdateExpression!r}")
            for assignment in UpdateExpression[4:].split(","):
                name, _, value = (part.strip() for part in assignment.partition("="))
                item[names.get(name, name)] = copy.deepcopy(values[value])
            self.tables[TableName][key] = item
        return {}

    def delete_item(self, *, TableName: str, Key: Mapping, **kw: Any) -> dict:  # noqa: N803
        key = Key[self.key]["S"]
        self._hook("DeleteItem", key)
        with self.lock:
            self.calls.append(("DeleteItem", key))
            self._check(kw, self.tables[TableName].get(key))
            self.tables[TableName].pop(key, None)
        return {}

    def scan(self, *, TableName: str, **kw: Any) -> dict:  # noqa: N803
        with self.lock:
            return {"Items": [copy.deepcopy(i) for i in self.tables[TableName].values()]}

    # -- conditions ------------------------------------------------------------------------------

    def _hook(self, operation: str, key: str) -> None:
        if self.before_write is not None:
            self.before_write(operation, key)

    def _check(self, kw: Mapping[str, Any], old: dict | None) -> None:
        expression = kw.get("ConditionExpression")
        if expression is None:
            return
        names, values = kw.get("ExpressionAttributeNames", {}), kw.get("ExpressionAttributeValues", {})
        if not _Condition(expression, names, values).holds(old or {}):
            response: dict[str, Any] = {
                "Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}
            }
            if kw.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                response["Item"] = copy.deepcopy(old)
            raise ClientError(response, "ConditionalCheck")


class _Condition:
    """A recursive-descent reader of DynamoDB condition expressions (the subset listed above)."""

    def __init__(self, text: str, names: Mapping[str, str], values: Mapping[str, Mapping[str, str]]) -> None:
        self.tokens = [m.group(1) for m in _TOKEN.finditer(text)]
        if "".join(self.tokens).replace(" ", "") != re.sub(r"\s+", "", text):
            raise NotImplementedError(f"condition not understood: {text!r}")
        self.names, self.values = names, values
        self.pos = 0

    def holds(self, item: Mapping[str, Mapping[str, str]]) -> bool:
        self.item = item
        self.pos = 0
        result = self._or()
        if self.pos != len(self.tokens):
            raise NotImplementedError(f"trailing tokens in condition: {self.tokens[self.pos :]}")
        return result

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self, expected: str | None = None) -> str:
        token = self.tokens[self.pos]
        if expected is not None and token.upper() != expected:
            raise NotImplementedError(f"expected {expected}, got {token}")
        self.pos += 1
        return token

    def _or(self) -> bool:
        result = self._and()
        while (self._peek() or "").upper() == "OR":
            self._take()
            right = self._and()
            result = result or right
        return result

    def _and(self) -> bool:
        result = self._not()
        while (self._peek() or "").upper() == "AND":
            self._take()
            right = self._not()
            result = result and right
        return result

    def _not(self) -> bool:
        if (self._peek() or "").upper() == "NOT":
            self._take()
            return not self._not()
        return self._primary()

    def _primary(self) -> bool:
        token = self._take()
        if token == "(":
            result = self._or()
            self._take(")")
            return result
        if token in ("attribute_exists", "attribute_not_exists"):
            self._take("(")
            name = self._name(self._take())
            self._take(")")
            return (name in self.item) == (token == "attribute_exists")
        left = self._operand(token)
        op = self._take()
        right = self._operand(self._take())
        if left is None or right is None:
            return False  # a comparison with a missing attribute is false in DynamoDB
        return {
            "=": left == right,
            "<>": left != right,
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
        }[op]

    def _name(self, token: str) -> str:
        return self.names[token] if token.startswith("#") else token

    def _operand(self, token: str) -> Any:
        attr = self.values[token] if token.startswith(":") else self.item.get(self._name(token))
        if attr is None:
            return None
        if "N" in attr:
            return float(attr["N"])
        if "S" in attr:
            return attr["S"]
        raise NotImplementedError(f"only S and N attributes: {attr}")
