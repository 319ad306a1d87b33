"""No privilege escalation from any role the bootstrap creates.

For every CI role of the example bootstrap stacks (deploy and preview), every privilege-escalation method
cloudsplaining knows (``cloudsplaining.shared.constants.PRIVILEGE_ESCALATION_METHODS``: Rhino Security
Labs' list of IAM escalation methods and its later additions) is attempted with the policy evaluator in
``tests/iam`` (explicit denies, conditions such as ``iam:PermissionsBoundary``, ``iam:PolicyARN`` and
``iam:PassedToService``, wildcards, policy variables), against every *dangerous* target: the CI roles
themselves, an administrator role, a role outside makini-infra, a role that merely has a makini-like name
but no boundary, another environment's roles and functions, users and groups, the boundary policy, the
OIDC provider, and every compute service a role could be passed to. A method is a path only if every one
of its actions is allowed on some dangerous target; the test asserts there is none and lists each
attempt. makini-infra's own additional attempts (remove or replace a boundary, create a role without it,
assume a bounded role, rewrite the trust of a CI role, make a secret public, force-delete it, take over
another owner's KMS key, let anyone invoke a function) are listed the same way.

Targets are *not* dangerous when the result is bounded by ``makini-infra-boundary`` (the program's roles:
tests/program/test_permissions_boundary.py proves the ceiling) or is the deployer's documented inherent
reach (its own environment: :data:`INHERENT`, asserted allowed so the README stays true).

cloudsplaining itself analyses each document too: in its default mode (unconstrained statements) it must
find no escalation, data-exfiltration or permissions-management finding; in its strict mode (statements
scoped to ARNs flagged too) every method it flags must be among the attempts above.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pytest
from cloudsplaining.scan.policy_document import PolicyDocument
from cloudsplaining.shared.constants import PRIVILEGE_ESCALATION_METHODS

from bootstrap import aws_policies
from bootstrap.model import DeliveryStack, boundary_arn, deploy_role_name, drift_role_name, preview_role_name
from tests.bootstrap.conftest import EXAMPLES, example
from tests.iam.aws_policy import Policy, Request, evaluate

REGION = "eu-west-1"
COMPUTE_SERVICES = (
    "lambda.amazonaws.com",
    "ec2.amazonaws.com",
    "ecs-tasks.amazonaws.com",
    "glue.amazonaws.com",
    "cloudformation.amazonaws.com",
    "datapipeline.amazonaws.com",
    "sagemaker.amazonaws.com",
    "codebuild.amazonaws.com",
    "apprunner.amazonaws.com",
    "scheduler.amazonaws.com",
    "states.amazonaws.com",
    "events.amazonaws.com",
    "bedrock-agentcore.amazonaws.com",
    "ssm.amazonaws.com",
)
ADMINISTRATOR_ACCESS = "arn:aws:iam::aws:policy/AdministratorAccess"


@dataclass(frozen=True)
class Attempt:
    action: str
    resource: str
    context: dict[str, Any] = field(default_factory=dict)
    resource_tags: dict[str, str] = field(default_factory=dict)
    why: str = ""


def _stacks() -> list[DeliveryStack]:
    return [s for name in EXAMPLES for s in example(name).served if s.aws_account_id]


def dangerous_targets(stack: DeliveryStack) -> dict[str, list[Attempt]]:
    """Per IAM action (lower case), the requests that would gain something outside the deployer's reach."""
    a = stack.aws_account_id
    e = stack.environment
    other = "prod" if e != "prod" else "dev"
    roles = [
        f"arn:aws:iam::{a}:role/{deploy_role_name(stack.name)}",
        f"arn:aws:iam::{a}:role/{preview_role_name(stack.name)}",
        f"arn:aws:iam::{a}:role/{drift_role_name(stack.name)}",
        f"arn:aws:iam::{a}:role/makini-infra-{other}-deploy",
        f"arn:aws:iam::{a}:role/Admin",
        f"arn:aws:iam::{a}:role/OrganizationAccountAccessRole",
        f"arn:aws:iam::{a}:role/payroll-service",
        f"arn:aws:iam::{a}:role/makini-secrets-operator",  # a makini-like name, no boundary (Pulumi.prod.yaml)
        f"arn:aws:iam::{a}:role/makini-{e}-admin",  # an unbounded role inside the environment's name space
        f"arn:aws:iam::{a}:role/makini-{other}-rotation",  # another environment's runtime role
    ]
    no_boundary: list[dict[str, Any]] = [{}, {"iam:PermissionsBoundary": ADMINISTRATOR_ACCESS}]
    policies = [
        f"arn:aws:iam::{a}:policy/makini-infra-boundary",
        f"arn:aws:iam::{a}:policy/AdminPolicy",
        f"arn:aws:iam::{a}:policy/makini-{other}-work-orders-read",
    ]
    users = [f"arn:aws:iam::{a}:user/alice", f"arn:aws:iam::{a}:user/makini-{e}-bot"]
    groups = [f"arn:aws:iam::{a}:group/Admins"]
    functions = [
        f"arn:aws:lambda:{REGION}:{a}:function:payroll-admin",
        f"arn:aws:lambda:{REGION}:{a}:function:makini-{other}-rotation",
    ]
    anything = ["*", f"arn:aws:ec2:{REGION}:{a}:instance/i-0123456789abcdef0"]

    def each(action: str, resources: list[str], contexts: list[dict[str, Any]] | None = None) -> list[Attempt]:
        return [Attempt(action, r, dict(c)) for r in resources for c in (contexts or [{}])]

    t: dict[str, list[Attempt]] = {
        "iam:createaccesskey": each("iam:CreateAccessKey", users),
        "iam:createloginprofile": each("iam:CreateLoginProfile", users),
        "iam:updateloginprofile": each("iam:UpdateLoginProfile", users),
        "iam:addusertogroup": each("iam:AddUserToGroup", groups),
        "iam:attachuserpolicy": each("iam:AttachUserPolicy", users, [{"iam:PolicyARN": ADMINISTRATOR_ACCESS}]),
        "iam:attachgrouppolicy": each("iam:AttachGroupPolicy", groups, [{"iam:PolicyARN": ADMINISTRATOR_ACCESS}]),
        "iam:putuserpolicy": each("iam:PutUserPolicy", users),
        "iam:putgrouppolicy": each("iam:PutGroupPolicy", groups),
        "iam:createpolicyversion": each("iam:CreatePolicyVersion", policies),
        "iam:setdefaultpolicyversion": each("iam:SetDefaultPolicyVersion", policies),
        "iam:attachrolepolicy": each(
            "iam:AttachRolePolicy",
            roles,
            [{**c, "iam:PolicyARN": ADMINISTRATOR_ACCESS} for c in no_boundary],
        ),
        "iam:putrolepolicy": each("iam:PutRolePolicy", roles, no_boundary),
        "iam:updateassumerolepolicy": each("iam:UpdateAssumeRolePolicy", roles),
        "iam:passrole": [
            Attempt("iam:PassRole", r, {"iam:PassedToService": s}) for r in roles for s in COMPUTE_SERVICES
        ],
        "lambda:updatefunctioncode": each("lambda:UpdateFunctionCode", functions),
        "lambda:updatefunctionconfiguration": each("lambda:UpdateFunctionConfiguration", functions),
        "lambda:invokefunction": each("lambda:InvokeFunction", functions),
        "lambda:addpermission": each("lambda:AddPermission", functions, [{"lambda:Principal": "*"}]),
        "sts:assumerole": each("sts:AssumeRole", roles),
    }
    # Actions on their own resources (creating compute, changing what runs it): dangerous anywhere.
    for method_actions in PRIVILEGE_ESCALATION_METHODS.values():
        for action in method_actions:
            if action not in t:
                t[action] = [Attempt(action, r) for r in anything]
    return t


def makini_attempts(stack: DeliveryStack) -> dict[str, list[Attempt]]:
    """Escalations specific to this design, each with the control that closes it."""
    a, e = stack.aws_account_id, stack.environment
    assert a is not None
    other = "prod" if e != "prod" else "dev"
    bounded = [f"arn:aws:iam::{a}:role/{n}" for n in stack.program_role_names()]
    boundary = boundary_arn(a)
    secret = f"arn:aws:secretsmanager:{REGION}:{a}:secret:makini/{e}/oauth/client-AbC123"
    key = f"arn:aws:kms:{REGION}:{a}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    return {
        "remove the boundary of a program role": [
            Attempt("iam:DeleteRolePermissionsBoundary", r, {"iam:PermissionsBoundary": boundary}) for r in bounded
        ],
        "replace the boundary of a program role": [
            Attempt("iam:PutRolePermissionsBoundary", r, {"iam:PermissionsBoundary": ADMINISTRATOR_ACCESS})
            for r in bounded
        ],
        "create a program role without the boundary": [
            *(Attempt("iam:CreateRole", r) for r in bounded),
            *(Attempt("iam:CreateRole", r, {"iam:PermissionsBoundary": ADMINISTRATOR_ACCESS}) for r in bounded),
        ],
        "create any other role": [
            Attempt("iam:CreateRole", f"arn:aws:iam::{a}:role/makini-{e}-new", {"iam:PermissionsBoundary": boundary}),
            Attempt("iam:CreateRole", f"arn:aws:iam::{a}:role/anything", {"iam:PermissionsBoundary": boundary}),
        ],
        "assume a bounded program role after rewriting its trust": [Attempt("sts:AssumeRole", r) for r in bounded],
        "change the boundary policy": [
            Attempt(x, f"arn:aws:iam::{a}:policy/makini-infra-boundary")
            for x in ("iam:CreatePolicyVersion", "iam:SetDefaultPolicyVersion", "iam:DeletePolicy")
        ],
        "change the OIDC provider": [
            Attempt(x, f"arn:aws:iam::{a}:oidc-provider/token.actions.githubusercontent.com")
            for x in (
                "iam:UpdateOpenIDConnectProviderThumbprint",
                "iam:AddClientIDToOpenIDConnectProvider",
                "iam:DeleteOpenIDConnectProvider",
            )
        ],
        "change the trust or policies of a CI role": [
            Attempt(x, f"arn:aws:iam::{a}:role/{n}")
            for n in (deploy_role_name(stack.name), preview_role_name(stack.name), drift_role_name(stack.name))
            for x in ("iam:UpdateAssumeRolePolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy", "iam:DeleteRole")
        ],
        "attach AdministratorAccess to a program role": [
            Attempt(
                "iam:AttachRolePolicy", r, {"iam:PermissionsBoundary": boundary, "iam:PolicyARN": ADMINISTRATOR_ACCESS}
            )
            for r in bounded
        ],
        "make a secret's resource policy public": [
            Attempt("secretsmanager:PutResourcePolicy", secret, {"secretsmanager:BlockPublicPolicy": False}),
            Attempt("secretsmanager:PutResourcePolicy", secret),
        ],
        "delete a secret without its recovery window": [
            Attempt("secretsmanager:DeleteSecret", secret, {"secretsmanager:ForceDeleteWithoutRecovery": True})
        ],
        "bypass the KMS key policy lockout check": [
            Attempt(
                "kms:PutKeyPolicy",
                key,
                {"kms:BypassPolicyLockoutSafetyCheck": True},
                {"environment": e, "managed-by": "makini-infra"},
            )
        ],
        "take over another owner's KMS key by tagging it": [
            Attempt("kms:TagResource", key, {}, {"environment": "payroll", "managed-by": "payroll"}),
            Attempt("kms:TagResource", key, {}, {"environment": other, "managed-by": "makini-infra"}),
        ],
        "reach another environment's secrets and keys": [
            Attempt(
                "secretsmanager:PutResourcePolicy",
                secret.replace(f"makini/{e}/", f"makini/{other}/"),
                {"secretsmanager:BlockPublicPolicy": True},
            ),
            Attempt("kms:PutKeyPolicy", key, {}, {"environment": other, "managed-by": "makini-infra"}),
        ],
        "let anyone invoke a function of the environment": [
            Attempt(
                "lambda:AddPermission",
                f"arn:aws:lambda:{REGION}:{a}:function:makini-{e}-rotation",
                {"lambda:Principal": "*"},
            ),
            Attempt("lambda:CreateFunctionUrlConfig", f"arn:aws:lambda:{REGION}:{a}:function:makini-{e}-rotation"),
        ],
    }


#: What the deploy role can do by design, within its own environment (README, "What the deployer can do").
def inherent(stack: DeliveryStack) -> dict[str, Attempt]:
    a, e = stack.aws_account_id, stack.environment
    boundary = boundary_arn(a or "")
    out = {
        "update the rotation function's code (runs as the bounded rotation role)": Attempt(
            "lambda:UpdateFunctionCode", f"arn:aws:lambda:{REGION}:{a}:function:makini-{e}-rotation"
        ),
        "write a secret's resource policy (public policies blocked)": Attempt(
            "secretsmanager:PutResourcePolicy",
            f"arn:aws:secretsmanager:{REGION}:{a}:secret:makini/{e}/oauth/client-AbC123",
            {"secretsmanager:BlockPublicPolicy": True},
        ),
        "write the environment key's policy": Attempt(
            "kms:PutKeyPolicy",
            f"arn:aws:kms:{REGION}:{a}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            {},
            {"environment": e, "managed-by": "makini-infra"},
        ),
        "rewrite the trust of a role it created (bounded)": Attempt(
            "iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{a}:role/makini-{e}-rotation"
        ),
        "write a program role's inline policy (bounded)": Attempt(
            "iam:PutRolePolicy", f"arn:aws:iam::{a}:role/makini-{e}-rotation", {"iam:PermissionsBoundary": boundary}
        ),
        "pass the rotation role to Lambda": Attempt(
            "iam:PassRole",
            f"arn:aws:iam::{a}:role/makini-{e}-rotation",
            {"iam:PassedToService": "lambda.amazonaws.com"},
        ),
    }
    for ext in stack.external_consumer_roles:
        out[f"attach {ext.consumer}'s read policy to its declared role"] = Attempt(
            "iam:AttachRolePolicy",
            ext.role_arn,
            {"iam:PolicyARN": f"arn:aws:iam::{a}:policy/makini-{e}-{ext.consumer}-read"},
        )
    return out


def _principal(stack: DeliveryStack, role: str) -> str:
    return f"arn:aws:iam::{stack.aws_account_id}:role/{role}"


_PARSED: dict[str, Policy] = {}


def _parsed(policy: dict[str, Any]) -> Policy:
    """Parse once per distinct document (keyed by its content, never by object identity)."""
    key = json.dumps(policy, sort_keys=True)
    if key not in _PARSED:
        _PARSED[key] = Policy.parse(policy, "identity policy")
    return _PARSED[key]


def _allowed(stack: DeliveryStack, role: str, policy: dict, attempt: Attempt) -> bool:
    request = Request(
        _principal(stack, role),
        attempt.action,
        attempt.resource,
        context=attempt.context,
        resource_tags=attempt.resource_tags,
    )
    kwargs: dict[str, Any] = {}
    if attempt.action.lower().startswith("kms:") and ":key/" in attempt.resource:
        kwargs["key_policy"] = {  # the default key policy: identity policies decide
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{stack.aws_account_id}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    elif attempt.action.lower().startswith("sts:assumerole"):
        # The worst case: the target's trust names the deploy role itself (the deployer rewrote it).
        kwargs["resource_policy"] = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{stack.aws_account_id}:root"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
    return evaluate(request, identity_policies=[_parsed(policy)], **kwargs).allowed


def ci_roles() -> list[tuple[str, DeliveryStack, str, dict]]:
    out = []
    for stack in _stacks():
        out.append((f"{stack.name}-deploy", stack, deploy_role_name(stack.name), aws_policies.deploy_policy(stack)))
        out.append((f"{stack.name}-drift", stack, drift_role_name(stack.name), aws_policies.drift_policy(stack)))
        if stack.previewable_from_pull_requests:
            out.append(
                (f"{stack.name}-preview", stack, preview_role_name(stack.name), aws_policies.preview_policy(stack))
            )
    return out


CI_ROLES = ci_roles()
ROLE_IDS = [r[0] for r in CI_ROLES]
METHODS = sorted(PRIVILEGE_ESCALATION_METHODS)


def escalation_paths(stack: DeliveryStack, role: str, policy: dict) -> dict[str, dict[str, list[Attempt]]]:
    """Method -> action -> the dangerous attempts allowed (a method is a path when every action has one)."""
    targets = dangerous_targets(stack)
    paths: dict[str, dict[str, list[Attempt]]] = {}
    for method, actions in PRIVILEGE_ESCALATION_METHODS.items():
        allowed = {act: [t for t in targets[act] if _allowed(stack, role, policy, t)] for act in actions}
        if all(allowed.values()):
            paths[method] = allowed
    return paths


@cache
def _targets(role_id: str) -> dict[str, list[Attempt]]:
    return dangerous_targets(CI_ROLES[ROLE_IDS.index(role_id)][1])


@cache
def _allowed_dangerous(role_id: str, action: str) -> tuple[Attempt, ...]:
    _, stack, role, policy = CI_ROLES[ROLE_IDS.index(role_id)]
    return tuple(t for t in _targets(role_id)[action] if _allowed(stack, role, policy, t))


@pytest.mark.parametrize(("role_id", "method"), [(r, m) for r in ROLE_IDS for m in METHODS])
def test_no_escalation_method_has_a_path(role_id, method):
    role = CI_ROLES[ROLE_IDS.index(role_id)][2]
    targets = _targets(role_id)
    allowed = {act: _allowed_dangerous(role_id, act) for act in PRIVILEGE_ESCALATION_METHODS[method]}
    attempted = sum(len(targets[a]) for a in PRIVILEGE_ESCALATION_METHODS[method])
    assert attempted > 0
    assert not all(allowed.values()), f"{role}: {method} is a path: {allowed}"


@pytest.mark.parametrize("role_id", ROLE_IDS)
@pytest.mark.parametrize("what", sorted(makini_attempts(_stacks()[0])))
def test_no_makini_specific_escalation(role_id, what):
    _, stack, role, policy = CI_ROLES[ROLE_IDS.index(role_id)]
    attempts = makini_attempts(stack)[what]
    assert attempts
    allowed = [t for t in attempts if _allowed(stack, role, policy, t)]
    assert allowed == [], f"{role}: {what}: {allowed}"


@pytest.mark.parametrize("stack_name", [s.name for s in _stacks()])
def test_the_deployers_inherent_reach_is_what_the_readme_states(stack_name):
    (stack,) = [s for s in _stacks() if s.name == stack_name]
    policy = aws_policies.deploy_policy(stack)
    for what, attempt in inherent(stack).items():
        assert _allowed(stack, deploy_role_name(stack.name), policy, attempt), what


def test_the_escalation_search_can_fail():
    """The previous deploy policy's IAM statement (iam writes and PassRole on role/makini-*, no
    condition) has paths; so does a policy that forgets the boundary condition."""
    stack = _stacks()[0]
    a = stack.aws_account_id
    old = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "iam:CreateRole",
                    "iam:PutRolePolicy",
                    "iam:AttachRolePolicy",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:CreatePolicyVersion",
                    "iam:PassRole",
                ],
                "Resource": [f"arn:aws:iam::{a}:role/makini-*", f"arn:aws:iam::{a}:policy/makini-*"],
            },
            {
                "Effect": "Allow",
                "Action": ["lambda:CreateFunction", "lambda:InvokeFunction", "lambda:UpdateFunctionCode"],
                "Resource": f"arn:aws:lambda:*:{a}:function:makini-*",
            },
        ],
    }
    paths = escalation_paths(stack, "makini-infra-deploy", old)
    assert {"PutRolePolicy", "AttachRolePolicy", "UpdateRolePolicyToAssumeIt"} <= set(paths)


@pytest.mark.parametrize("role_id", ROLE_IDS)
def test_cloudsplaining_finds_nothing_unconstrained(role_id):
    _, _, _, policy = CI_ROLES[ROLE_IDS.index(role_id)]
    doc = PolicyDocument(policy)
    assert doc.allows_privilege_escalation == []
    assert doc.permissions_management_without_constraints == []
    assert doc.allows_data_exfiltration_actions == []
    assert doc.credentials_exposure == []
    assert doc.service_wildcard == []


@pytest.mark.parametrize("role_id", ROLE_IDS)
def test_every_method_cloudsplaining_flags_in_strict_mode_is_attempted_and_has_no_path(role_id):
    _, stack, role, policy = CI_ROLES[ROLE_IDS.index(role_id)]
    strict = PolicyDocument(policy, flag_resource_arn_statements=True, flag_conditional_statements=True)
    flagged = {f["type"] for f in strict.allows_privilege_escalation}
    assert flagged <= set(PRIVILEGE_ESCALATION_METHODS)
    for method in flagged:
        assert not all(_allowed_dangerous(role_id, a) for a in PRIVILEGE_ESCALATION_METHODS[method]), method
    if role.endswith("-preview"):
        assert flagged == set() and strict.write_actions_without_constraints == []
    if role.endswith("-drift"):
        # Decrypt is what reading a value through Secrets Manager takes (kms:ViaService bound); nothing writes.
        assert flagged == set() and strict.write_actions_without_constraints == ["kms:Decrypt"]


def test_preview_roles_never_read_a_secret_value_even_next_to_a_broad_policy():
    broad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": "*"}],
    }
    for _, stack, role, policy in CI_ROLES:
        if not role.endswith("-preview"):
            continue
        both = {"Version": "2012-10-17", "Statement": broad["Statement"] + policy["Statement"]}
        secret = f"arn:aws:secretsmanager:{REGION}:{stack.aws_account_id}:secret:makini/{stack.environment}/x-AbC123"
        assert _allowed(stack, role, broad, Attempt("secretsmanager:GetSecretValue", secret))
        assert not _allowed(stack, role, both, Attempt("secretsmanager:GetSecretValue", secret))
        key = f"arn:aws:kms:{REGION}:{stack.aws_account_id}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        assert not _allowed(stack, role, both, Attempt("kms:Decrypt", key))
