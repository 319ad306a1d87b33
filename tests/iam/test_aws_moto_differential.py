"""Differential test: our evaluator against moto's IAM enforcement on the cases moto models.

moto (``moto/iam/access_control.py``) decides an authenticated request with
``IAMRequestBase.check_action_permitted``: any identity-policy statement that denies the action on the
resource denies; otherwise one that allows it allows. We drive that very method (with a stand-in access
key that returns the generated documents) and compare verdicts with :func:`tests.iam.aws_policy.evaluate`
on hypothesis-generated, condition-free identity policies.

The domain is where moto models AWS: ``Action``/``NotAction`` and ``Resource`` with ``*`` wildcards,
``Allow``/``Deny``, one to three policies, in one account (moto has no cross-account evaluation). Outside it moto differs from AWS's documentation, and those
differences are pinned by :func:`test_where_moto_differs_from_the_documentation` (so we learn when moto
changes): moto compares actions case-sensitively and reads ``?`` (and other regex characters) as a
regular expression, and it treats a ``Deny`` with ``NotResource`` as an allow. The generated strings
therefore use one letter case and no ``?``, ``.`` or other regex metacharacters.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from moto.core.exceptions import AccessDeniedError
from moto.iam.access_control import IAMPolicy, IAMRequest, PermissionResult

from tests.iam.aws_policy import Request, evaluate

PRINCIPAL = "arn:aws:iam::111111111111:role/differential"

SERVICES = ("s3", "sqs", "secretsmanager", "dynamodb")
NAMES = ("getobject", "putobject", "getsecretvalue", "sendmessage", "getitem", "listbuckets")
REGIONS = ("us-east-1", "eu-west-1", "")
ACCOUNTS = ("111111111111", "222222222222", "")
PATHS = ("a", "b", "ab", "a/b", "b/a/c", "secret-x", "makini/dev/token", "makini/prod/token")

actions = st.builds(lambda s, n: f"{s}:{n}", st.sampled_from(SERVICES), st.sampled_from(NAMES))
resources = st.builds(
    lambda s, r, a, p: f"arn:aws:{s}:{r}:{a}:{p}",
    st.sampled_from(SERVICES),
    st.sampled_from(REGIONS),
    st.sampled_from(ACCOUNTS),
    st.sampled_from(PATHS),
)


@st.composite
def wildcarded(draw: st.DrawFn, base: st.SearchStrategy[str]) -> str:
    """A concrete string with zero to two slices replaced by ``*`` (or ``*`` alone)."""
    if draw(st.integers(0, 9)) == 0:
        return "*"
    text = draw(base)
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, len(text)))
        text = text[:i] + "*" + text[j:]
    return text


def one_or_list(values: list[str]) -> Any:
    return values[0] if len(values) == 1 else values


@st.composite
def action_patterns(draw: st.DrawFn) -> str:
    """``*`` or ``service:pattern``: IAM refuses an action without its service prefix."""
    if draw(st.integers(0, 9)) == 0:
        return "*"
    return f"{draw(st.sampled_from(SERVICES))}:{draw(wildcarded(st.sampled_from(NAMES)))}"


statements = st.builds(
    lambda effect, negate, acts, res, sid: {
        **({"Sid": sid} if sid else {}),
        "Effect": effect,
        ("NotAction" if negate else "Action"): one_or_list(acts),
        "Resource": one_or_list(res),
    },
    st.sampled_from(["Allow", "Deny"]),
    st.booleans(),
    st.lists(action_patterns(), min_size=1, max_size=3),
    st.lists(wildcarded(resources), min_size=1, max_size=3),
    st.sampled_from(["", "S1", "S2"]),
)
documents = st.builds(
    lambda stmts, as_dict: {
        "Version": "2012-10-17",
        "Statement": stmts[0] if as_dict and len(stmts) == 1 else stmts,
    },
    st.lists(statements, min_size=1, max_size=4),
    st.booleans(),
)


class _AccessKey:
    """What ``check_action_permitted`` needs from moto's access key: the caller's policies and ARN."""

    arn = PRINCIPAL

    def __init__(self, docs: list[dict[str, Any]]):
        self._docs = docs

    def collect_policies(self) -> list[str]:
        return [json.dumps(d) for d in self._docs]


def moto_allows(docs: list[dict[str, Any]], action: str, resource: str) -> bool:
    request = object.__new__(IAMRequest)
    request._action = action
    request._access_key = _AccessKey(docs)  # type: ignore[assignment]
    try:
        request.check_action_permitted(resource)
    except AccessDeniedError:
        return False
    return True


@settings(max_examples=250, deadline=None)
@given(st.lists(documents, min_size=1, max_size=3), actions, resources)
def test_verdicts_match_moto(docs, action, resource):
    # moto models one account: every resource is the caller's (its ARN's account field only matters to
    # the Resource patterns).
    ours = evaluate(Request(PRINCIPAL, action, resource, resource_account="111111111111"), identity_policies=docs)
    assert ours.allowed == moto_allows(docs, action, resource), (ours, json.dumps(docs))


def test_the_harness_sees_moto_deny_and_allow():
    """The moto side can answer both ways (so agreement is not two constant functions)."""
    allow = {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}
    deny = {"Version": "2012-10-17", "Statement": {"Effect": "Deny", "Action": "s3:getobject", "Resource": "*"}}
    assert moto_allows([allow], "s3:getobject", "arn:aws:s3:::b/k")
    assert not moto_allows([allow, deny], "s3:getobject", "arn:aws:s3:::b/k")
    assert not moto_allows([allow], "sqs:sendmessage", "arn:aws:sqs:us-east-1:111111111111:q")


def test_where_moto_differs_from_the_documentation():
    """The cases excluded from the differential domain, each a documented AWS behaviour moto does not
    model (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html:
    actions are case-insensitive; ``_resource.html``: ``?`` matches one character; ``_notresource.html``:
    a Deny with NotResource denies everything not listed). If moto starts to agree, widen the domain."""

    def moto(statement: dict[str, Any], action: str, resource: str) -> PermissionResult:
        return IAMPolicy(json.dumps({"Version": "2012-10-17", "Statement": [statement]})).is_action_permitted(
            action, resource
        )

    upper = {"Effect": "Allow", "Action": "S3:GetObject", "Resource": "*"}
    assert moto(upper, "s3:GetObject", "arn:aws:s3:::b/k") is PermissionResult.NEUTRAL
    assert evaluate(Request(PRINCIPAL, "s3:GetObject", "arn:aws:s3:::b/k"), identity_policies=[{"Statement": upper}])

    question = {"Effect": "Allow", "Action": "s3:GetObjec?", "Resource": "*"}
    assert moto(question, "s3:GetObjec", "arn:aws:s3:::b/k") is PermissionResult.PERMITTED  # regex "c?"
    assert not evaluate(
        Request(PRINCIPAL, "s3:GetObjec", "arn:aws:s3:::b/k"), identity_policies=[{"Statement": question}]
    )

    deny_not_resource = {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::safe/*"}
    assert moto(deny_not_resource, "s3:GetObject", "arn:aws:s3:::other/k") is PermissionResult.PERMITTED
    allow = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
    decision = evaluate(
        Request(PRINCIPAL, "s3:GetObject", "arn:aws:s3:::other/k", resource_account="111111111111"),
        identity_policies=[{"Statement": [deny_not_resource, allow]}],
    )
    assert not decision.allowed
