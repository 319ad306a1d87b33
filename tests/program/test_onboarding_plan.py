"""The onboarding identity's grants as the program deploys them (issue 19), under mocks.

The documents are the pure builders' (tests/iam/test_onboarding_aws.py proves what they allow); here: the
program attaches them to exactly the onboarding identity, and a run-time token created in the governed place is
readable by exactly its class's consumers (their deployed read policies), never by the onboarding identity.
"""

from __future__ import annotations

import json

import pytest

from tests.iam.aws_policy import Policy, Request, evaluate
from tests.support import run, runtime_config

MOCK_ACCOUNT = "123456789012"
RUNTIME_ARN = (
    f"arn:aws:secretsmanager:eu-west-1:{MOCK_ACCOUNT}:secret:makini/dev/connections/linked/29000207611898/token-AbCdEf"
)


@pytest.fixture(scope="module")
def aws_run():
    return run(runtime_config())


def policies(r) -> dict[str, dict]:
    return {x.plain_inputs["name"]: json.loads(x.plain_inputs["policy"]) for x in r.of_type("aws:iam/policy:Policy")}


def test_aws_the_onboarding_identity_gets_one_store_policy_attached_to_its_role(aws_run):
    docs = policies(aws_run)
    assert [n for n in docs if n.endswith("-onboard")] == ["makini-dev-onboarding-onboard"]
    doc = docs["makini-dev-onboarding-onboard"]
    creates = [s for s in doc["Statement"] if s["Sid"].startswith("CreateRuntimeTokens")]
    assert [s["Resource"] for s in creates] == [
        f"arn:aws:secretsmanager:eu-west-1:{MOCK_ACCOUNT}:secret:makini/dev/connections/"
        "${aws:RequestTag/makini:class}/${aws:RequestTag/makini:connection-id}/token*"
    ]
    assert creates[0]["Condition"]["StringEquals"]["aws:RequestTag/makini:class"] == ["linked"]
    attachments = [a.plain_inputs for a in aws_run.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")]
    onboard = [a for a in attachments if str(a.get("policyArn", "")).endswith("-onboard")]
    assert [a["role"] for a in onboard] == ["onboarding-dev"]


def test_aws_a_run_time_token_is_read_by_exactly_its_class_consumers(aws_run):
    docs = policies(aws_run)

    def reads(consumer: str) -> bool:
        mine = [Policy.parse(d, n) for n, d in docs.items() if n.startswith(f"makini-dev-{consumer}-")]
        # the roles' own account (the mocks' account owns the secret): the identity side decides
        role = f"arn:aws:iam::{MOCK_ACCOUNT}:role/{consumer}-dev"
        return evaluate(Request(role, "secretsmanager:GetSecretValue", RUNTIME_ARN), identity_policies=mine).allowed

    assert {c: reads(c) for c in ("orders", "assets", "onboarding")} == {
        "orders": True,
        "assets": True,
        "onboarding": False,
    }


# --------------------------------------------------------------------------------------------------
# Azure: the staging plan (Pulumi.staging.yaml: run-time class ``linked``), decided by the RBAC evaluator with
# the custom role as the plan defines it


@pytest.fixture(scope="module")
def azure_staging():
    import yaml

    from infra.offline import MOCK_SUBSCRIPTION_ID, PROJECT_ROOT
    from infra.plan import build_plan
    from tests.program.access_model import azure_environment

    plan = json.loads(json.dumps(build_plan("staging").to_json()))
    config = yaml.safe_load((PROJECT_ROOT / "Pulumi.staging.yaml").read_text())["config"]
    return plan, azure_environment(plan, config, MOCK_SUBSCRIPTION_ID)


def test_azure_the_onboarding_role_is_narrower_than_every_built_in_role(azure_staging):
    from infra.offline import MOCK_SUBSCRIPTION_ID
    from stacks.naming import onboarding_role_definition, onboarding_role_guid
    from tests.iam.azure_rbac import SECRET_DATA_ACTIONS, builtin_roles

    plan, _ = azure_staging
    # the stack assigns the custom role by its fixed GUID and never defines it (bootstrap/ does)
    assert not [r for r in plan["resources"] if r["type"] == "azure-native:authorization:RoleDefinition"]
    onboard = [r["inputs"] for r in plan["resources"] if r["name"].endswith("-onboarding-onboard-linked")]
    assert [i["roleDefinitionId"].rsplit("/", 1)[-1] for i in onboard] == [
        onboarding_role_guid(MOCK_SUBSCRIPTION_ID, "staging")
    ]
    role = onboarding_role_definition(MOCK_SUBSCRIPTION_ID, "staging", "/subscriptions/x")
    (perm,) = role["permissions"]
    assert perm["actions"] == [] and perm["notDataActions"] == []
    assert sorted(perm["dataActions"]) == [
        "Microsoft.KeyVault/vaults/secrets/delete",
        "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
        "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    ]
    officer = builtin_roles().by_name("Key Vault Secrets Officer")
    # the built-in candidate is wider: it reads values and purges
    assert officer.allows(SECRET_DATA_ACTIONS["get"][0], True) and officer.allows(SECRET_DATA_ACTIONS["purge"][0], True)


def test_azure_the_onboarding_identity_sets_run_time_tokens_of_its_class_vault_only(azure_staging):
    from tests.iam.azure_rbac import SECRET_DATA_ACTIONS, SECRET_SET

    _, env = azure_staging
    linked = next(v for n, v in env.vault_ids.items() if n.startswith("kvc-staging-linked-"))
    standard = next(v for n, v in env.vault_ids.items() if n.startswith("kvc-staging-standar-"))
    runtime_secret = f"{linked}/secrets/connections-linked-29000207611898-token"

    def may(identity: str, action: str, resource: str) -> bool:
        return env.decide_on(identity, action, resource).allowed

    assert may("onboarding", SECRET_SET, runtime_secret)
    assert may("onboarding", "Microsoft.KeyVault/vaults/secrets/readMetadata/action", runtime_secret)
    assert may("onboarding", SECRET_DATA_ACTIONS["delete"][0], runtime_secret)  # soft delete: a disconnect
    for permission in ("get", "purge", "backup", "restore", "recover"):
        for action in SECRET_DATA_ACTIONS[permission]:
            assert not may("onboarding", action, runtime_secret), permission
    assert not may("onboarding", "Microsoft.KeyVault/vaults/secrets/update/action", runtime_secret)  # no re-tagging
    # nowhere else: another class's vault, the environment's vault, another environment's class vault
    for other in (
        f"{standard}/secrets/connections-standard-hooli-fiix-token",
        f"{env.vault_id}/secrets/connections-29000207611898-token",
        linked.replace("staging", "prod") + "/secrets/connections-linked-29000207611898-token",
    ):
        assert not may("onboarding", SECRET_SET, other), other
        assert not may("onboarding", SECRET_DATA_ACTIONS["delete"][0], other), other
    # the class's consumers read what it stores; nobody else does
    readers = {
        i: may(i, SECRET_DATA_ACTIONS["get"][0], runtime_secret) for i in ("work-orders", "asset-sync", "onboarding")
    }
    assert readers == {"work-orders": True, "asset-sync": True, "onboarding": False}
