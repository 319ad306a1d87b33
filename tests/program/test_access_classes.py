"""Access classes on every backend, under mocks: grants per class, never per token.

A generated stack (tests.support.scale_config: 10 consumers, four classes, a few explicit-list
connections) on AWS, Azure and Vault. The expected grants are written from SCALE_CLASSES (the raw
declaration), not from the catalog.
"""

from __future__ import annotations

import json
from fnmatch import fnmatchcase

import hcl2
import pytest

from stacks.naming import rotator_role_definition_guid
from tests.support import SCALE_CLASSES, SCALE_CONSUMERS, SCALE_EXPLICIT, run, scale_config, tokens

N = 16
USER_ROLE = "4633458b-17de-408a-b874-0445c86b69e6"


@pytest.fixture(scope="module")
def r():
    return run(scale_config(N))


def classes_of(consumer: str) -> set[str]:
    return {k for k, readers in SCALE_CLASSES.items() if consumer in readers}


def class_of(i: int) -> str | None:
    return None if i < SCALE_EXPLICIT else list(SCALE_CLASSES)[i % len(SCALE_CLASSES)]


def test_aws_consumers_read_their_classes_by_one_pattern_each(r):
    docs = {x.plain_inputs["name"]: json.loads(x.plain_inputs["policy"]) for x in r.of_type("aws:iam/policy:Policy")}
    arns = tokens(r.outputs["awsSecretArns"])
    for consumer in SCALE_CONSUMERS:
        doc = docs[f"makini-dev-{consumer}-read"]
        read = next((s for s in doc["Statement"] if s["Sid"] == "ReadOwnSecrets"), None)
        resources = read["Resource"] if read else []
        patterns = [x for x in resources if "*" in x]
        assert patterns == [
            f"arn:aws:secretsmanager:eu-west-1:111111111111:secret:makini/dev/connections/{k}/*/token-*"
            for k in sorted(classes_of(consumer))
        ]
        # every token it may read matches its resources, and no other token does
        readable = {key for key, arn in arns.items() if any(fnmatchcase(arn, p) for p in patterns) or arn in resources}
        expected = {
            f"customer-{i:05d}"
            for i in range(N)
            if (class_of(i) in classes_of(consumer))
            or (class_of(i) is None and consumer in (["reporting", "sync"] if i % 2 else ["reporting"]))
        }
        assert readable == expected, consumer


def test_aws_class_tokens_resource_policies_name_exactly_the_class_readers(r):
    roles = {n: f"arn:aws:iam::111111111111:role/{n}-dev" for n in SCALE_CONSUMERS}
    by_arn = {v: k for k, v in tokens(r.outputs["awsSecretArns"]).items()}
    rotation = "arn:aws:iam::111111111111:role/makini-dev-rotation"
    seen = 0
    for p in r.of_type("aws:secretsmanager/secretPolicy:SecretPolicy"):
        key = by_arn.get(p.plain_inputs["secretArn"])
        if key is None or int(key.split("-")[1]) < SCALE_EXPLICIT:
            continue
        klass = class_of(int(key.split("-")[1]))
        doc = json.loads(p.plain_inputs["policy"])
        deny_read = next(s for s in doc["Statement"] if s["Sid"] == "DenyReadOutsideEnvironment")
        allowed = set(deny_read["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
        assert allowed == {roles[n] for n in SCALE_CLASSES[klass]} | {rotation}, key
        seen += 1
    assert seen == N - SCALE_EXPLICIT


def test_aws_one_invoke_permission_and_a_schedule_per_rotated_token(r):
    perms = [
        p for p in r.of_type("aws:lambda/permission:Permission") if p.plain_inputs["function"] == "makini-dev-rotation"
    ]
    assert len(perms) == 1
    assert len(r.of_type("aws:secretsmanager/secretRotation:SecretRotation")) == N


def test_aws_resources_per_connection_are_at_most_three(r):
    per_type = {}
    for x in r.resources:
        if x.type.startswith("aws:"):
            per_type[x.type] = per_type.get(x.type, 0) + 1
    grows = {t: n for t, n in per_type.items() if n >= N}
    assert set(grows) == {
        "aws:secretsmanager/secret:Secret",
        "aws:secretsmanager/secretPolicy:SecretPolicy",
        "aws:secretsmanager/secretRotation:SecretRotation",
    }, grows


def test_azure_each_class_has_its_vault_and_consumers_are_granted_the_vault(r):
    vaults = {x.plain_inputs["vaultName"]: x for x in r.of_type("azure-native:keyvault:Vault")}
    class_vaults = {k: {"vaultName": v} for k, v in r.outputs["azureClassVaultNames"].items()}
    assert set(class_vaults) == set(SCALE_CLASSES)
    assert {v["vaultName"] for v in class_vaults.values()} <= set(vaults)
    assert len(vaults) == 1 + len(SCALE_CLASSES)
    for klass, v in class_vaults.items():
        assert v["vaultName"].startswith("kvc-dev-") and len(v["vaultName"]) <= 24
        # the class vault has the environment vault's settings (firewall, RBAC, soft delete)
        env_props = vaults[r.outputs["azureVaultName"]].plain_inputs["properties"]
        props = vaults[v["vaultName"]].plain_inputs["properties"]
        assert props == env_props, klass
    secrets = r.of_type("azure-native:keyvault:Secret")
    in_class = {s.plain_inputs["secretName"]: s.plain_inputs["vaultName"] for s in secrets}
    for i in range(SCALE_EXPLICIT, N):
        klass = class_of(i)
        assert in_class[f"connections-{klass}-customer-{i:05d}-token"] == class_vaults[klass]["vaultName"]
    # consumers: Secrets User on each class vault they read, per secret only for explicit-list tokens
    grants = [
        a.plain_inputs
        for a in r.of_type("azure-native:authorization:RoleAssignment")
        if (a.parent or "").endswith("::makini-dev-azure-access")
    ]
    vault_scoped = {(g["principalId"], g["scope"].rsplit("/", 1)[1]) for g in grants if "/secrets/" not in g["scope"]}
    guid = {n: f"{i + 1:08x}-0000-4000-8000-{i + 1:012x}" for i, n in enumerate(SCALE_CONSUMERS)}
    assert vault_scoped == {
        (guid[n], class_vaults[k]["vaultName"]) for k, readers in SCALE_CLASSES.items() for n in readers
    }
    secret_scoped = [g for g in grants if "/secrets/" in g["scope"]]
    assert all(
        "/secrets/connections-customer-" in g["scope"] or "/secrets/oauth-client" in g["scope"] for g in secret_scoped
    )
    assert all(g["roleDefinitionId"].endswith(USER_ROLE) for g in grants)


def test_azure_rotation_is_granted_each_class_vault_and_binds_its_tokens_there(r):
    class_vaults = {k: {"vaultName": v} for k, v in r.outputs["azureClassVaultNames"].items()}
    rot = [
        a.plain_inputs
        for a in r.of_type("azure-native:authorization:RoleAssignment")
        if (a.parent or "").endswith("::makini-dev-azure-rotation")
        # the custom rotator role (get and set), never Key Vault Secrets Officer
        and a.plain_inputs["roleDefinitionId"].split("/")[-1]
        == rotator_role_definition_guid(a.plain_inputs["scope"].split("/")[2])
    ]
    scopes = {g["scope"].rsplit("/", 1)[1] for g in rot if "/secrets/" not in g["scope"]}
    assert scopes == {v["vaultName"] for v in class_vaults.values()}
    assert r.of_type("azure-native:eventgrid:SystemTopic") == []  # the hourly timer walks the bindings
    [blob] = [b for b in r.of_type("azure-native:storage:Blob") if b.plain_inputs["blobName"].startswith("rotation-")]
    bindings = json.loads(blob.inputs["source"].assets["rotation/bindings.json"].text)["bindings"]
    vault_of = {key.split("/", 1)[0] for key in bindings}
    assert vault_of == {r.outputs["azureVaultName"]} | {v["vaultName"] for v in class_vaults.values()}
    for klass, v in class_vaults.items():
        mine = [k for k in bindings if k.startswith(f"{v['vaultName']}/")]
        assert mine and all(k.split("/", 1)[1].startswith(f"connections-{klass}-") for k in mine)


def test_vault_policies_grant_each_class_by_one_segment(r):
    policies = {
        x.plain_inputs["name"]: hcl2.loads(x.plain_inputs["policy"]) for x in r.of_type("vault:index/policy:Policy")
    }

    def paths(doc) -> dict[str, list[str]]:
        return {
            k.strip('"'): [c.strip('"') for c in v["capabilities"]] for block in doc["path"] for k, v in block.items()
        }

    for consumer in SCALE_CONSUMERS:
        doc = policies.get(f"makini-dev-{consumer}-read")
        if doc is None:
            assert consumer == "queue-worker"  # it only consumes the queue (on AWS/Azure)
            continue
        globs = {p for p in paths(doc) if "+" in p}
        assert globs == {f"makini-dev/data/connections/{k}/+/token" for k in classes_of(consumer)}, consumer
        # on the mount: read only (the rest is the token's own lookup/renew/revoke, see TOKEN_SELF_RULES)
        assert all(caps == ["read"] for p, caps in paths(doc).items() if p.startswith("makini-dev/"))
    rotator = paths(policies["makini-dev-rotator"])
    for k in SCALE_CLASSES:
        assert rotator[f"makini-dev/data/connections/{k}/+/token"] == ["create", "update"]
        assert rotator[f"makini-dev/metadata/connections/{k}/+/token"] == ["read", "update"]
        assert rotator[f"makini-dev/metadata/connections/{k}/+/"] == ["list"]
    on_mount = [p for p in rotator if p.startswith("makini-dev/")]
    assert len(on_mount) == 1 + 4 * len(SCALE_CLASSES) + 1 + 2 * SCALE_EXPLICIT + SCALE_EXPLICIT
