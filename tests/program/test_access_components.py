"""Access components under mocks: created roles, Azure role assignments, Vault policies and auth roles."""

from __future__ import annotations

import json
import uuid

import hcl2

from infra.offline import run_program
from stacks.access import matrix_dict
from tests.support import VAULT_ROTATOR, azure_section, base_config, load, run

GUIDS = {"orders": "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b", "assets": "1b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"}
USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6"
EXPECTED = {  # from tests.support.base_config's connections, written out by hand
    ("orders", "connections/acme-sap/token"),
    ("orders", "connections/globex-mx/token"),
    ("assets", "connections/globex-mx/token"),
}


def three_backends():
    c = base_config()
    c["makini:backends"] = ["aws", "azure", "vault"]
    c["makini:azure"] = azure_section()
    c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    c["makini:consumers"]["orders"]["azure"] = {"principalId": GUIDS["orders"]}
    c["makini:consumers"]["assets"]["azure"] = {"principalId": GUIDS["assets"], "principalType": "Group"}
    c["makini:consumers"]["orders"]["vault"] = {
        "auth": {"kubernetes": {"serviceAccountNames": ["orders"], "namespaces": ["apps"]}},
        "tokenTtl": 300,
    }
    c["makini:consumers"]["assets"]["vault"] = {
        "auth": {"approle": {"secretIdTtl": 600, "secretIdBoundCidrs": ["10.1.0.0/16"]}}
    }
    return c


def test_azure_assignments_are_per_secret_and_read_only():
    r = run(three_backends())
    secrets = {x.plain_inputs["secretName"]: x for x in r.of_type("azure-native:keyvault:Secret")}
    # The consumers' grants (the Function Apps' own identities are granted by their components: see
    # tests/program/test_azure_integration.py)
    assignments = [
        a
        for a in r.of_type("azure-native:authorization:RoleAssignment")
        if (a.parent or "").endswith("::makini-dev-azure-access")
    ]
    assert assignments
    got = set()
    for a in assignments:
        i = a.plain_inputs
        consumer = next(n for n, g in GUIDS.items() if g == i["principalId"])
        assert i["roleDefinitionId"] == (
            f"/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/{USER_ROLE}"
        )
        assert "/secrets/" in i["scope"], "scoped to a secret, never the vault"
        assert i["principalType"] == ("Group" if consumer == "assets" else "ServicePrincipal")
        uuid.UUID(i["roleAssignmentName"])
        path = i["description"].split(" reads ")[1].split(" of ")[0]
        assert i["scope"].rsplit("/", 1)[1] in secrets
        got.add((consumer, path))
    assert got == EXPECTED
    assert len({a.plain_inputs["roleAssignmentName"] for a in assignments}) == len(assignments)


def test_vault_policies_and_roles_bind_each_consumer_to_exactly_its_policy():
    r = run(three_backends())
    rotator = "makini-dev-rotator"  # the token rotator's own policy and role (tests/program/test_rotation_vault.py)
    policies = {
        x.plain_inputs["name"]: x.plain_inputs["policy"]
        for x in r.of_type("vault:index/policy:Policy")
        if x.plain_inputs["name"] != rotator
    }
    assert set(policies) == {"makini-dev-orders-read", "makini-dev-assets-read"}
    for consumer in ("orders", "assets"):
        doc = hcl2.loads(policies[f"makini-dev-{consumer}-read"])
        paths = {k.strip('"') for block in doc["path"] for k in block}
        own_token = {"auth/token/lookup-self", "auth/token/renew-self", "auth/token/revoke-self"}
        assert paths == {f"makini-dev/data/{p}" for c, p in EXPECTED if c == consumer} | own_token
    k8s = [
        x
        for x in r.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
        if x.plain_inputs["roleName"] != rotator
    ]
    approle = r.of_type("vault:appRole/authBackendRole:AuthBackendRole")
    assert len(k8s) == 1 and len(approle) == 1 and not r.of_type("vault:jwt/authBackendRole:AuthBackendRole")
    k, a = k8s[0].plain_inputs, approle[0].plain_inputs
    assert k["tokenPolicies"] == ["makini-dev-orders-read"] and k["tokenNoDefaultPolicy"] is True
    assert k["boundServiceAccountNames"] == ["orders"] and k["boundServiceAccountNamespaces"] == ["apps"]
    assert (k["tokenTtl"], k["tokenMaxTtl"], k["backend"]) == (300, 3600, "kubernetes")
    assert a["tokenPolicies"] == ["makini-dev-assets-read"] and a["secretIdBoundCidrs"] == ["10.1.0.0/16"]
    assert (a["secretIdTtl"], a["tokenTtl"], a["backend"]) == (600, 900, "approle")


def test_a_created_role_gets_the_trust_policy_and_the_read_policy():
    c = base_config()
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Principal": {
                    "Federated": "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
                },
                "Condition": {
                    "StringEquals": {
                        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                        "token.actions.githubusercontent.com:sub": "repo:acme/orders:environment:dev",
                    }
                },
            }
        ],
    }
    c["makini:consumers"]["orders"]["aws"] = {"createRole": {"trustPolicy": trust}}
    r = run(c)
    role = r.named("makini-dev-aws-roles-orders").plain_inputs
    assert role["name"] == "makini-dev-orders" and json.loads(role["assumeRolePolicy"]) == trust
    attach = r.named("makini-dev-aws-access-orders-attach").plain_inputs
    assert attach["role"] == "makini-dev-orders"
    assert attach["policyArn"].endswith(":policy/makini-dev-orders-read")
    # The store's secret policy names the created role among the token's readers.
    policy = json.loads(r.named("makini-dev-aws-connections-acme-sap-token-policy").plain_inputs["policy"])
    deny_read = next(s for s in policy["Statement"] if s["Sid"] == "DenyReadOutsideEnvironment")
    readers = deny_read["Condition"]["StringNotEquals"]["aws:PrincipalArn"]
    assert "arn:aws:iam::123456789012:role/makini-dev-orders" in readers
    assert not any("assets" in a for a in readers)


def test_the_access_matrix_is_a_stack_output():
    c = base_config()
    r = run(c)
    assert r.outputs["accessMatrix"] == matrix_dict(load(c))


PROGRAM = """
import sys
sys.path.insert(0, {root!r})
from components.azure.access import AzureConsumerGrant, KeyVaultAccess, KeyVaultAccessArgs
KeyVaultAccess("kva", KeyVaultAccessArgs(
    environment="dev",
    secret_ids={{"connections/a/token": "/sub/x/secrets/a", "connections/b/token": "/sub/x/secrets/b",
                "oauth/client": "/sub/x/secrets/o"}},
    consumers=[AzureConsumerGrant("orders", "{guid}", "ServicePrincipal", ["connections/a/token"])],
    rotation_principal_id="99999999-9999-4999-8999-999999999999",
    rotated_paths=["connections/a/token", "connections/b/token"],
))
"""


def test_only_the_rotation_identity_gets_the_rotator_role_and_only_on_what_it_rotates(tmp_path):
    from infra.offline import MOCK_SUBSCRIPTION_ID, PROJECT_ROOT
    from stacks.naming import rotator_role_definition_guid

    program = tmp_path / "program.py"
    program.write_text(PROGRAM.format(root=str(PROJECT_ROOT), guid=GUIDS["orders"]))
    r = run_program("dev", {}, program=program)
    by_role: dict[str, set[tuple[str, str]]] = {}
    for a in r.of_type("azure-native:authorization:RoleAssignment"):
        i = a.plain_inputs
        by_role.setdefault(i["roleDefinitionId"].rsplit("/", 1)[1], set()).add((i["principalId"], i["scope"]))
    assert by_role == {
        USER_ROLE: {(GUIDS["orders"], "/sub/x/secrets/a")},
        rotator_role_definition_guid(MOCK_SUBSCRIPTION_ID): {
            ("99999999-9999-4999-8999-999999999999", "/sub/x/secrets/a"),
            ("99999999-9999-4999-8999-999999999999", "/sub/x/secrets/b"),
        },
    }
