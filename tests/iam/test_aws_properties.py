"""Properties of the AWS evaluator that follow from the documented logic, on generated policies.

From https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic_policy-eval-denyallow.html:
"An explicit deny in any policy overrides any allows" and access needs an explicit allow that a boundary
can only narrow. So, whatever the policies: adding a Deny never widens access, adding an Allow (identity
or resource policy) never narrows it, adding a permissions boundary never widens it, and a condition on
an Allow only narrows it (on a Deny only widens access). Statement order and the split of statements
over several identity policies do not matter. The generated policies use conditions, principals of
every kind, ``NotAction``/``NotResource``, same- and cross-account callers and KMS key policies.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.iam.aws_policy import Outcome, Request, evaluate

ACCOUNT, OTHER = "111111111111", "222222222222"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/session"
USER = f"arn:aws:iam::{ACCOUNT}:user/ops"
FOREIGN = f"arn:aws:iam::{OTHER}:role/app"
KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/1111aaaa-0000-4000-8000-000000000001"
SECRETS = [
    f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:makini/{env}/{n}-AbCdEf"
    for env in ("dev", "prod")
    for n in ("a", "b")
]
ACTIONS = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret"]

action_patterns = st.sampled_from(
    [
        "*",
        "secretsmanager:*",
        "secretsmanager:Get*",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "kms:*",
        "kms:Decrypt",
    ]
)
resource_patterns = st.sampled_from(
    [
        "*",
        *SECRETS,
        f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:makini/dev/*",
        "arn:aws:secretsmanager:*:*:secret:makini/prod/?-*",
        KEY,
    ]
)
conditions = st.sampled_from(
    [
        {},
        {"StringEquals": {"aws:ResourceTag/env": "prod"}},
        {"StringNotEquals": {"aws:PrincipalTag/team": ["a", "b"]}},
        {"StringLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/*"}},
        {"ArnNotLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/*"}},
        {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}},
        {"ForAnyValue:StringLike": {"aws:TagKeys": "env*"}},
        {"Null": {"aws:ResourceTag/env": "false"}},
        {"Bool": {"aws:SecureTransport": "false"}},
        {"StringEqualsIfExists": {"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"}},
        {"StringEquals": {"aws:ResourceTag/env": "${aws:PrincipalTag/env}"}},
    ]
)
principals = st.sampled_from(
    [
        "*",
        {"AWS": "*"},
        {"AWS": ROLE},
        {"AWS": SESSION},
        {"AWS": USER},
        {"AWS": ACCOUNT},
        {"AWS": f"arn:aws:iam::{OTHER}:root"},
        {"AWS": FOREIGN},
    ]
)


@st.composite
def statement(draw: st.DrawFn, resource_based: bool, effect: str | None = None) -> dict[str, Any]:
    # Weighted towards Allow and unconditioned statements, so that a fair share of requests is allowed.
    out: dict[str, Any] = {"Effect": effect or draw(st.sampled_from(["Allow", "Allow", "Allow", "Deny"]))}
    out["NotAction" if draw(st.integers(0, 5)) == 0 else "Action"] = draw(
        st.lists(action_patterns, min_size=1, max_size=2)
    )
    out["NotResource" if draw(st.integers(0, 5)) == 0 else "Resource"] = draw(
        st.lists(resource_patterns, min_size=1, max_size=2)
    )
    condition = draw(conditions) if draw(st.booleans()) else {}
    if condition:
        out["Condition"] = condition
    if resource_based:
        out["Principal"] = draw(principals)
    return out


def policy(statements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": statements}


@st.composite
def scenario(draw: st.DrawFn) -> dict[str, Any]:
    kms = draw(st.booleans())
    principal = draw(st.sampled_from([ROLE, SESSION, USER, FOREIGN]))
    request = Request(
        principal,
        draw(st.sampled_from(["kms:Decrypt", "kms:GenerateDataKey"])) if kms else draw(st.sampled_from(ACTIONS)),
        KEY if kms else draw(st.sampled_from(SECRETS)),
        context={"kms:ViaService": "secretsmanager.eu-west-1.amazonaws.com"} if draw(st.booleans()) else {},
        resource_tags=draw(st.sampled_from([{}, {"env": "prod"}, {"env": "dev"}])),
        principal_tags=draw(st.sampled_from([{}, {"team": "a"}, {"env": "prod"}, {"team": "c", "env": "dev"}])),
        request_tags=draw(st.sampled_from([{}, {"env": "x"}, {"env": "x", "other": "y"}])),
        secure_transport=draw(st.booleans()),
    )
    identity = [
        policy(draw(st.lists(statement(False), min_size=1, max_size=3))) for _ in range(draw(st.integers(0, 2)))
    ]
    resource = policy(draw(st.lists(statement(True), min_size=1, max_size=3))) if draw(st.booleans()) or kms else None
    boundary = policy(draw(st.lists(statement(False), max_size=2))) if draw(st.booleans()) else None
    if draw(st.booleans()):  # often a plain grant of exactly this request, so that access is at stake
        grant = {"Effect": "Allow", "Action": request.action, "Resource": request.resource}
        identity = [policy([grant]), *identity]
        if resource is not None and draw(st.booleans()):
            resource = policy([*resource["Statement"], {**grant, "Principal": {"AWS": ACCOUNT}}])
    return {"request": request, "identity": identity, "resource": resource, "boundary": boundary, "kms": kms}


def decide(s: dict[str, Any]) -> Any:
    resource = {"key_policy": s["resource"]} if s["kms"] else {"resource_policy": s["resource"]}
    return evaluate(s["request"], identity_policies=s["identity"], boundary=s["boundary"], **resource)


def with_statement(s: dict[str, Any], where: str, st_: dict[str, Any]) -> dict[str, Any]:
    s = copy.deepcopy(s)
    if where == "identity":
        s["identity"] = [*s["identity"], policy([st_])]
    elif where == "resource":
        s["resource"] = policy([*(s["resource"] or policy([]))["Statement"], st_])
    else:
        s["boundary"] = policy([*(s["boundary"] or policy([]))["Statement"], st_])
    return s


SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(scenario(), st.data())
def test_adding_a_deny_never_widens_access(s, data):
    where = data.draw(st.sampled_from(["identity", "resource", "boundary"]))
    deny = data.draw(statement(where == "resource", effect="Deny"))
    before, after = decide(s), decide(with_statement(s, where, deny))
    assert before.allowed or not after.allowed, (before, after)


@SETTINGS
@given(scenario(), st.data())
def test_adding_an_allow_never_narrows_access(s, data):
    where = data.draw(st.sampled_from(["identity", "resource"]))
    allow = data.draw(statement(where == "resource", effect="Allow"))
    before, after = decide(s), decide(with_statement(s, where, allow))
    assert after.allowed or not before.allowed, (before, after)


@SETTINGS
@given(scenario(), st.lists(statement(False), max_size=3))
def test_a_boundary_never_widens_access(s, boundary_statements):
    unbounded = dict(s, boundary=None)
    bounded = dict(s, boundary=policy(boundary_statements))
    assert decide(unbounded).allowed or not decide(bounded).allowed


@SETTINGS
@given(scenario(), conditions)
def test_a_condition_narrows_an_allow_and_widens_around_a_deny(s, condition):
    if not condition:
        return
    for where in ("identity", "resource", "boundary"):
        docs = s[where] if where == "identity" else ([s[where]] if s[where] else [])
        for doc in docs:
            for i, stmt in enumerate(doc["Statement"]):
                merged = _and_conditions(stmt.get("Condition", {}), condition)
                if merged is None:
                    continue  # the same operator and key already constrained: IAM JSON cannot AND a second one
                changed = copy.deepcopy(s)
                target = changed[where][docs.index(doc)] if where == "identity" else changed[where]
                target["Statement"][i] = {**stmt, "Condition": merged}
                before, after = decide(s), decide(changed)
                if stmt["Effect"] == "Allow":
                    assert before.allowed or not after.allowed, (where, i, before, after)
                else:
                    assert after.allowed or not before.allowed, (where, i, before, after)


def _and_conditions(existing: dict, added: dict) -> dict | None:
    """``existing`` AND ``added`` as one Condition block, or None when both constrain the same key under
    the same operator (a dict merge would replace the existing test, not add one: widening, not narrowing)."""
    merged = {op: dict(keys) for op, keys in existing.items()}
    for op, keys in added.items():
        block = merged.setdefault(op, {})
        if set(block) & set(keys):
            return None
        block.update(keys)
    return merged


@SETTINGS
@given(scenario(), st.randoms(use_true_random=False))
def test_order_and_grouping_of_identity_statements_do_not_matter(s, rnd):
    statements = [stmt for doc in s["identity"] for stmt in doc["Statement"]]
    shuffled = statements[:]
    rnd.shuffle(shuffled)
    regrouped = dict(s, identity=[policy([stmt]) for stmt in shuffled])
    merged = dict(s, identity=[policy(shuffled)] if shuffled else [])
    expected = decide(s).outcome
    assert decide(regrouped).outcome is expected
    assert decide(merged).outcome is expected


@SETTINGS
@given(scenario())
def test_a_decision_names_what_decided(s):
    d = decide(s)
    if d.outcome is Outcome.EXPLICIT_DENY:
        assert d.statements and all(ref.effect == "Deny" for ref in d.statements)
    elif d.outcome is Outcome.ALLOW:
        assert d.statements and all(ref.effect == "Allow" for ref in d.statements)
    else:
        assert not d.statements and d.reason.startswith("implicit deny of ")
