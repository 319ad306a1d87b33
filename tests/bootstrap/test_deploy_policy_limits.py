"""The deploy role's permissions fit IAM's documented limits at any number of consumers, or the bootstrap
refuses them with the role, the size and the limit; the split changes no decision.

Limits (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html): inline policies
10,240 characters aggregate per role; a managed policy 6,144; 10 managed policies per role (the default
quota, raisable to 20). Sizes are counted whitespace excluded, independently of stacks.limits here."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from bootstrap import aws_policies
from bootstrap.model import ExternalConsumerRole
from infra.plan import main as plan_main
from stacks.limits import PolicyTooLarge, split_policy
from tests.bootstrap.conftest import EXAMPLES, example

INLINE_AGGREGATE, MANAGED_SIZE, MANAGED_PER_ROLE = 10_240, 6_144, 10


def chars(doc) -> int:
    return len(re.sub(r"\s+", "", json.dumps(doc)))


def with_consumers(name: str, n: int):
    """The example stack with n external consumer roles (each adds an attach statement to the deploy policy)."""
    (stack,) = example(name).served
    extra = tuple(
        ExternalConsumerRole(
            consumer=f"svc-{i:03d}", role_arn=f"arn:aws:iam::{stack.aws_account_id}:role/team/svc-{i:03d}"
        )
        for i in range(n)
    )
    return dataclasses.replace(stack, external_consumer_roles=stack.external_consumer_roles + extra)


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_example_deploy_policies_would_not_fit_inline_and_fit_as_managed_policies(name):
    (stack,) = example(name).served
    whole = aws_policies.deploy_policy(stack)
    assert chars(whole) > INLINE_AGGREGATE  # why it is not one inline policy any more
    docs = aws_policies.deploy_policies(stack)
    assert 1 < len(docs) <= MANAGED_PER_ROLE
    assert all(chars(d) <= MANAGED_SIZE for d in docs)
    assert [s for d in docs for s in d["Statement"]] == whole["Statement"]


@pytest.mark.parametrize("consumers", [25, 100])
def test_a_stack_with_many_consumers_still_fits(consumers):
    stack = with_consumers("prod", consumers)
    docs = aws_policies.deploy_policies(stack)
    assert chars(aws_policies.deploy_policy(stack)) > 2 * INLINE_AGGREGATE
    assert len(docs) <= MANAGED_PER_ROLE and all(chars(d) <= MANAGED_SIZE for d in docs)


def test_a_stack_beyond_ten_managed_policies_is_refused_naming_role_size_and_limit():
    stack = with_consumers("prod", 400)
    with pytest.raises(PolicyTooLarge) as err:
        aws_policies.deploy_policies(stack)
    message = str(err.value)
    assert "role makini-infra-prod-deploy" in message and "over the limit of 10" in message
    assert "reference_iam-quotas" in message


def test_split_refuses_a_single_statement_over_the_size():
    big = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": ["arn:aws:s3:::b/" + "x" * 7000]}],
    }
    with pytest.raises(PolicyTooLarge, match="over 6,144"):
        split_policy(big)


def test_the_bootstrap_plan_refuses_an_exceeded_limit_instead_of_warning(monkeypatch, capsys):
    real = aws_policies.deploy_policy

    def oversized(stack, partition="aws"):
        doc = real(stack, partition)
        pad = [
            {"Sid": f"Pad{i}", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/" + "x" * 5000}
            for i in range(12)
        ]
        return {**doc, "Statement": doc["Statement"] + pad}

    monkeypatch.setattr(aws_policies, "deploy_policy", oversized)
    code = plan_main(["prod", "--program", "bootstrap"])
    captured = capsys.readouterr()
    assert code != 0
    assert (
        "makini-infra-prod-deploy" in captured.err + captured.out
        and "over the limit of 10" in captured.err + captured.out
    )


def _grants(docs):
    out = set()
    for d in docs:
        for st in d["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            cond = json.dumps(st.get("Condition"), sort_keys=True)
            out |= {(st["Effect"], a, r, cond) for a in actions for r in resources}
    return out


def test_splitting_a_statement_by_resources_grants_and_denies_exactly_the_same():
    stack = with_consumers("prod", 100)
    whole = aws_policies.deploy_policy(stack)
    docs = aws_policies.deploy_policies(stack)
    assert any(chars({"Version": "2012-10-17", "Statement": [s]}) > MANAGED_SIZE for s in whole["Statement"])
    assert _grants(docs) == _grants([whole])
    for d in docs:
        sids = [s["Sid"] for s in d["Statement"]]
        assert len(sids) == len(set(sids))


@pytest.mark.parametrize("name", EXAMPLES)
def test_no_ci_role_may_change_the_deploy_roles_own_managed_policies(name):
    (stack,) = example(name).served
    deny = next(s for s in aws_policies.deploy_policy(stack)["Statement"] if s["Sid"].startswith("DenyChangingTheCi"))
    assert deny["Effect"] == "Deny" and deny["Action"] == "iam:*"
    own = f"arn:aws:iam::{stack.aws_account_id}:policy/{aws_policies.deploy_policy_name(name, 1)}"
    assert any(re.fullmatch(r.replace("*", ".*"), own) for r in deny["Resource"])
