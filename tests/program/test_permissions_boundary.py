"""Every IAM role the program creates carries the permissions boundary, and the boundary cuts nothing the
role needs: each action its policies allow, on the plan's own resources, is still allowed under the
boundary (the evaluator in tests/iam decides both sides), and nothing outside its environment is.

The boundary document is bootstrap/'s (``bootstrap.aws_policies.boundary_policy``); its ARN is derived from
the stack's account unless ``makini:aws.permissionsBoundaryArn`` names another.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from bootstrap.aws_policies import boundary_policy
from bootstrap.model import boundary_arn
from infra.offline import PROJECT_ROOT
from infra.plan import build_plan
from stacks.config.stack_file import dump_stack_yaml
from tests.iam.aws_policy import Policy, Request, evaluate

STACKS = ("dev", "staging", "prod")


@cache
def plan(stack: str, path: str | None = None) -> dict[str, Any]:
    return json.loads(json.dumps(build_plan(stack, Path(path) if path else None).to_json()))


def _account(stack: str) -> str:
    config = yaml.safe_load((PROJECT_ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return str(config["aws:allowedAccountIds"][0])


def _roles(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["inputs"] for r in doc["resources"] if r["type"] == "aws:iam/role:Role"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_role_carries_the_bootstraps_boundary(stack):
    roles = _roles(plan(stack))
    assert roles, "every example stack creates roles (rotation, receiver, reminders)"
    for role in roles:
        assert role.get("permissionsBoundary") == boundary_arn(_account(stack)), role["name"]


def test_created_consumer_roles_carry_it_too(tmp_path):
    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": "111111111111"}},
            }
        ],
    }
    config["config"]["makini:consumers"]["work-orders"]["aws"] = {"createRole": {"trustPolicy": trust}}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml(config))
    roles = {r["name"]: r for r in _roles(plan("dev", str(path)))}
    assert roles["makini-dev-work-orders"]["permissionsBoundary"] == boundary_arn("111111111111")


def test_an_explicit_boundary_arn_is_used_instead(tmp_path):
    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.dev.yaml").read_text())
    arn = "arn:aws:iam::111111111111:policy/org-wide-boundary"
    config["config"]["makini:aws"] = {"permissionsBoundaryArn": arn}
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(dump_stack_yaml(config))
    assert {r["permissionsBoundary"] for r in _roles(plan("dev", str(path)))} == {arn}


@pytest.mark.parametrize("stack", STACKS)
def test_the_boundary_cuts_nothing_a_role_of_the_stack_is_granted(stack):
    doc = plan(stack)
    account = _account(stack)
    boundary = Policy.parse(boundary_policy(account), "boundary")
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in doc["resources"]:
        by_type.setdefault(r["type"], []).append(r["inputs"])
    keys = by_type["aws:kms/key:Key"]
    env_tags = keys[0]["tags"]
    checked = 0
    for role in _roles(doc):
        tags = role.get("tags", {})
        docs = [
            json.loads(p["policy"])
            for p in by_type.get("aws:iam/rolePolicy:RolePolicy", [])
            if p["role"] == role["name"]
        ]
        for attachment in by_type.get("aws:iam/rolePolicyAttachment:RolePolicyAttachment", []):
            if attachment["role"] == role["name"]:
                name = attachment["policyArn"].rsplit("/", 1)[-1]
                docs += [json.loads(p["policy"]) for p in by_type["aws:iam/policy:Policy"] if p["name"] == name]
        for policy in docs:
            for statement in policy["Statement"]:
                if statement["Effect"] != "Allow":  # what the role is granted (its denies only narrow it)
                    continue
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                resources = (
                    statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
                )
                context = (
                    {k: v for cond in statement.get("Condition", {}).values() for k, v in cond.items()}
                    if statement.get("Condition")
                    else {}
                )
                for action in actions:
                    for resource in resources:
                        is_key = action.startswith("kms:")
                        request = Request(
                            f"arn:aws:iam::{account}:role/{role['name']}",
                            action,
                            resource,
                            principal_tags=tags,
                            resource_tags=env_tags if is_key else {},
                            context=context,
                        )
                        kwargs: dict[str, Any] = {}
                        if is_key:
                            kwargs["key_policy"] = {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Effect": "Allow",
                                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                                        "Action": "kms:*",
                                        "Resource": "*",
                                    }
                                ],
                            }
                        without = evaluate(request, identity_policies=[policy], **kwargs)
                        assert without.allowed, (role["name"], action, resource, str(without))
                        under = evaluate(request, identity_policies=[policy], boundary=boundary, **kwargs)
                        assert under.allowed, (role["name"], action, resource, str(under))
                        checked += 1
    assert checked > 10


@pytest.mark.parametrize("stack", STACKS)
def test_under_the_boundary_a_role_can_do_nothing_outside_its_environment_even_with_administrator_access(stack):
    """The ceiling holds whatever is attached: AdministratorAccess on a bounded role gives it no IAM, no
    Lambda, no STS, and nothing of another environment."""
    account = _account(stack)
    env = plan(stack)["environment"]
    other = "other" if env != "other" else "else"
    admin = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    role = f"arn:aws:iam::{account}:role/makini-{env}-rotation"
    tags = {"environment": env, "managed-by": "makini-infra"}
    region = "eu-west-1"

    def decide(action: str, resource: str) -> bool:
        return evaluate(
            Request(role, action, resource, principal_tags=tags),
            identity_policies=[admin],
            boundary=boundary_policy(account),
        ).allowed

    assert decide(
        "secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{region}:{account}:secret:makini/{env}/x-AbC123"
    )
    for action, resource in [
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{region}:{account}:secret:makini/{other}/x-AbC123"),
        ("secretsmanager:GetSecretValue", f"arn:aws:secretsmanager:{region}:{account}:secret:payroll/db-AbC123"),
        ("secretsmanager:PutResourcePolicy", f"arn:aws:secretsmanager:{region}:{account}:secret:makini/{env}/x-AbC123"),
        ("iam:PutRolePolicy", role),
        ("iam:CreateRole", f"arn:aws:iam::{account}:role/anything"),
        ("iam:PassRole", f"arn:aws:iam::{account}:role/makini-infra-{stack}-deploy"),
        ("lambda:UpdateFunctionCode", f"arn:aws:lambda:{region}:{account}:function:makini-{env}-rotation"),
        ("sts:AssumeRole", f"arn:aws:iam::{account}:role/Admin"),
        ("sqs:SendMessage", f"arn:aws:sqs:{region}:{account}:makini-{other}-webhooks"),
        ("s3:GetObject", "arn:aws:s3:::anything/key"),
    ]:
        assert not decide(action, resource), (action, resource)
    # A role whose environment tag is missing can do nothing at all (the variable matches nothing).
    assert not evaluate(
        Request(
            role,
            "secretsmanager:GetSecretValue",
            f"arn:aws:secretsmanager:{region}:{account}:secret:makini/{env}/x-AbC123",
        ),
        identity_policies=[admin],
        boundary=boundary_policy(account),
    ).allowed
