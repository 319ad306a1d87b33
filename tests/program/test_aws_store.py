"""The whole program under mocks, per stack file and per config: the AWS store and its security properties."""

from __future__ import annotations

import json

import pulumi
import pytest

from infra.offline import OfflineMocks, RecordingMonitor, is_secret_marker, load_stack_file, run_program
from tests.support import base_config, run, tokens

SECRET = "aws:secretsmanager/secret:Secret"
POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
VERSION = "aws:secretsmanager/secretVersion:SecretVersion"
KEY = "aws:kms/key:Key"
ALIAS = "aws:kms/alias:Alias"
STACKS = ("dev", "staging", "prod")
#: Each stack file pins its account (aws:allowedAccountIds); the plan's ARNs are in that account.
ACCOUNTS = {"dev": "111111111111", "staging": "222222222222", "prod": "333333333333"}
CANARY = "CANARY-7d1c0ffee-do-not-print"


def stack_run(stack):
    src = load_stack_file(stack)
    return run_program(stack, src.config, src.secret_keys)


@pytest.fixture(scope="module", params=STACKS)
def stack(request):
    return request.param, stack_run(request.param)


def store_key(run, env):
    """The environment's secrets key (other keys, e.g. the alarm topic's, belong to other components)."""
    return run.named(f"makini-{env}-aws-key")


def policies_by_secret(run):
    return {p.plain_inputs["secretArn"]: json.loads(p.plain_inputs["policy"]) for p in run.of_type(POLICY)}


def test_every_secret_is_encrypted_with_the_environment_key(stack):
    name, run = stack
    key = store_key(run, name)
    key_arn = run.outputs["awsKmsKeyArn"]
    assert key_arn.startswith("arn:aws:kms:")
    secrets = run.of_type(SECRET)
    assert secrets
    for s in secrets:
        assert s.plain_inputs["kmsKeyId"] == key_arn
        assert s.plain_inputs["name"].startswith(f"makini/{name}/")
    assert key.plain_inputs["enableKeyRotation"] is True
    [alias] = run.of_type(ALIAS)
    assert alias.plain_inputs["name"] == f"alias/makini/{name}"


def test_catalog_secrets_exist_for_every_connection(stack):
    name, run = stack
    src = load_stack_file(name)
    conns = json.loads(src.config["makini:connections"])
    keys = [c["key"] for c in conns]
    names = {s.plain_inputs["name"] for s in run.of_type(SECRET)}
    # a token filed under an access class lives under the class's prefix
    expected = {f"makini/{name}/oauth/client", f"makini/{name}/webhook/secret"} | {
        f"makini/{name}/connections/{c['class']}/{c['key']}/token"
        if "class" in c
        else f"makini/{name}/connections/{c['key']}/token"
        for c in conns
    }
    assert names == expected
    assert set(tokens(run.outputs["awsSecretArns"])) == set(keys)


def test_every_secret_has_a_resource_policy_that_denies_all_but_its_readers(stack):
    name, run = stack
    src = load_stack_file(name)
    connections = {c["key"]: c for c in json.loads(src.config["makini:connections"])}
    consumers = json.loads(src.config["makini:consumers"])
    classes = json.loads(src.config.get("makini:accessClasses", "{}"))
    by_arn = policies_by_secret(run)
    arns = run.outputs["awsSecretArns"]
    assert len(by_arn) == len(run.of_type(SECRET))
    for p in run.of_type(POLICY):
        assert p.plain_inputs["blockPublicPolicy"] is True
    for key, arn in tokens(arns).items():
        doc = by_arn[arn]
        sids = {s["Sid"]: s for s in doc["Statement"]}
        tls = sids["DenyInsecureTransport"]
        assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        read = sids["DenyReadOutsideEnvironment"]
        assert (
            read["Effect"] == "Deny" and read["Principal"] == {"AWS": "*"} and read["Resource"] == "*"
        )  # this secret (and its replicas)
        allowed = set(read["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
        # the consumers listed for the connection, plus the environment's own rotation identity (it
        # rotates tokens of connections with a makiniId) and the drift check (the doctor), and nobody else
        conn = connections[key]
        readers = classes[conn["class"]]["consumers"] if "class" in conn else conn["consumers"]
        expected = {consumers[c]["aws"]["roleArn"] for c in readers}
        expected.add(f"arn:aws:iam::{ACCOUNTS[name]}:role/makini-infra-{name}-drift")
        if connections[key].get("makiniId"):
            expected.add(f"arn:aws:iam::{ACCOUNTS[name]}:role/makini-{name}-rotation")
        assert allowed == expected
        write = sids["DenyWriteOutsideWriters"]
        writers = set(write["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
        assert f"arn:aws:iam::{ACCOUNTS[name]}:role/makini-{name}-rotation" in writers
        assert not writers & {consumers[c]["aws"]["roleArn"] for c in consumers}  # consumers never write
    # only the environment's own webhook receiver reads the webhook secret, when it has one
    webhook_read = {s["Sid"]: s for s in by_arn[arns["webhook/secret"]]["Statement"]}["DenyReadOutsideEnvironment"]
    receivers = set(webhook_read.get("Condition", {}).get("StringNotEquals", {}).get("aws:PrincipalArn", []))
    assert receivers <= {f"arn:aws:iam::{ACCOUNTS[name]}:role/makini-{name}-webhook-receiver"}


def test_recovery_windows_per_environment(stack):
    name, run = stack
    expected = {"dev": 7, "staging": 14, "prod": 30}[name]
    assert {s.plain_inputs["recoveryWindowInDays"] for s in run.of_type(SECRET)} == {expected}


def test_prod_is_protected_and_retained_and_dev_is_not():
    prod, dev = stack_run("prod"), stack_run("dev")
    for p, d in ((prod.of_type(SECRET), dev.of_type(SECRET)), ([store_key(prod, "prod")], [store_key(dev, "dev")])):
        assert p and all(r.protect and r.retain_on_delete for r in p)
        assert d and not any(r.protect or r.retain_on_delete for r in d)
    assert all(r.protect for r in prod.of_type(POLICY) + prod.of_type(ALIAS))


def test_key_policy_limits_use_to_root_admins_and_readers_via_secrets_manager():
    run = stack_run("prod")
    doc = json.loads(store_key(run, "prod").plain_inputs["policy"])
    sids = {s["Sid"]: s for s in doc["Statement"]}
    assert sids["AccountRootControl"]["Principal"] == {"AWS": "arn:aws:iam::333333333333:root"}
    assert sids["KeyAdministration"]["Principal"] == {"AWS": ["arn:aws:iam::333333333333:role/platform-admin"]}
    assert "kms:Decrypt" not in sids["KeyAdministration"]["Action"]
    use = sids["UseThroughSecretsManagerOnly"]
    assert use["Condition"]["StringEquals"]["kms:ViaService"] == "secretsmanager.eu-west-1.amazonaws.com"
    assert set(use["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey"}
    assert set(sids) == {"AccountRootControl", "KeyAdministration", "UseThroughSecretsManagerOnly"}


def test_tags_name_environment_owner_and_connection():
    run = stack_run("prod")
    for s in run.of_type(SECRET):
        tags = s.plain_inputs["tags"]
        assert tags["environment"] == "prod" and tags["managed-by"] == "makini-infra"
        assert tags["owner"] == "platform-team" and tags["cost-center"] == "cc-4000"
        assert tags["data-classification"] == "confidential"
        if "/connections/" in s.plain_inputs["name"]:
            assert s.plain_inputs["name"].split("/")[3] == tags["makini:connection"]
            assert tags["makini:connection-id"].startswith("29")


def test_secrets_without_config_values_are_created_empty():
    run = stack_run("dev")
    assert run.of_type(VERSION) == []


def canary_run(env="dev"):
    c = base_config(env)
    c["makini:oauthClientSecret"] = CANARY + "-oauth"
    c["makini:webhookSecret"] = CANARY + "-webhook"
    c["makini:connectionTokens"] = {"acme-sap": CANARY + "-token"}
    return run(c, secret_keys=["makini:oauthClientSecret", "makini:webhookSecret", "makini:connectionTokens"])


def test_config_values_are_stored_as_secrets_written_once():
    r = canary_run()
    versions = {v.name: v for v in r.of_type(VERSION)}
    assert set(versions) == {
        "makini-dev-aws-oauth-client-initial",
        "makini-dev-aws-webhook-secret-initial",
        "makini-dev-aws-connections-acme-sap-token-initial",
    }
    for v in versions.values():
        assert is_secret_marker(v.inputs["secretString"]), v.name
        assert "secretString" in v.ignore_changes  # a later rotation is never reverted
    token = json.loads(versions["makini-dev-aws-connections-acme-sap-token-initial"].plain_inputs["secretString"])
    # Finding 10: the rotators' format from the first value on (issued_at unknown for a token from config).
    assert token == {"token": CANARY + "-token", "connection_id": "0900001", "issued_at": None}
    oauth = json.loads(versions["makini-dev-aws-oauth-client-initial"].plain_inputs["secretString"])
    assert oauth == {"client_id": "mk_dev_client", "client_secret": CANARY + "-oauth"}
    # the policy is written after the value, so the deployer's first PutSecretValue is not denied
    policy = r.named("makini-dev-aws-connections-acme-sap-token-policy")
    assert versions["makini-dev-aws-connections-acme-sap-token-initial"].urn in policy.dependencies


def test_canary_never_appears_outside_secret_markers():
    r = canary_run()
    from infra.offline import redact

    printable = json.dumps([x.to_json() for x in r.resources]) + json.dumps(redact(r.outputs))
    assert CANARY not in printable
    assert "[secret]" in printable
    # and outputs hold no secret at all: only locations and figures
    assert CANARY not in json.dumps(r.outputs)


def test_each_stack_builds_in_its_own_pinned_account():
    for name, account in ACCOUNTS.items():
        r = stack_run(name)
        assert r.outputs["awsKmsKeyArn"].split(":")[4] == account
        assert {s.plain_inputs["name"] for s in r.of_type(SECRET)}  # and every secret ARN is in it:
        assert {a.split(":")[4] for a in tokens(r.outputs["awsSecretArns"]).values()} == {account}


def test_environments_are_separated():
    dev, prod = stack_run("dev"), stack_run("prod")
    dev_text = json.dumps([r.plain_inputs for r in dev.resources], default=str)
    prod_text = json.dumps([r.plain_inputs for r in prod.resources], default=str)
    assert "makini/prod" not in dev_text and "alias/makini/prod" not in dev_text
    assert "makini/dev" not in prod_text
    assert "333333333333" not in dev_text  # prod's account never appears in dev's policies
    assert dev.outputs["awsKmsKeyArn"] != prod.outputs["awsKmsKeyArn"]


def test_outputs_give_locations_and_credits_never_values():
    r = stack_run("dev")
    assert r.outputs["creditsUsed"] == 11 and r.outputs["creditsFree"] == 9
    assert r.outputs["environment"] == "dev" and r.outputs["backends"] == ["aws"]
    for arn in tokens(r.outputs["awsSecretArns"]).values():
        assert arn.startswith("arn:aws:secretsmanager:eu-west-1:111111111111:secret:makini/dev/connections/")


def test_bad_config_registers_no_resource():
    c = base_config()
    c["makini:connections"][0]["tier"] = 7
    mocks = OfflineMocks()
    monitor = RecordingMonitor(mocks)
    from tests.support import flatten

    with pytest.raises(pulumi.RunError) as info:
        run_program("dev", flatten(c), (), mocks=mocks, monitor=monitor)
    assert "makini:connections[0].tier" in str(info.value)
    assert [r.type for r in monitor.records.values()] == ["pulumi:pulumi:Stack"]


def test_writes_and_rotation_starts_are_denied_to_all_but_writers_operators_and_deployers():
    """UpdateSecret also takes a value, and RotateSecret starts a rotation: both count as writes. The
    identity running `pulumi up` (from GetCallerIdentity) and configured deployers stay allowed, so a value
    added to config after the first deployment can still be written."""
    c = base_config("prod")
    c["makini:aws"] = {
        "deployerArns": ["arn:aws:iam::111111111111:role/ci/makini-infra-deploy"],
        "operatorArns": ["arn:aws:iam::111111111111:role/secrets-operator"],
    }
    r = run(c)
    for p in r.of_type(POLICY):
        write = {s["Sid"]: s for s in json.loads(p.plain_inputs["policy"])["Statement"]}["DenyWriteOutsideWriters"]
        assert {
            "secretsmanager:UpdateSecret",
            "secretsmanager:PutSecretValue",
            "secretsmanager:RotateSecret",
            "secretsmanager:CancelRotateSecret",
            "secretsmanager:UpdateSecretVersionStage",
        } == set(write["Action"])
        allowed = set(write["Condition"]["StringNotEquals"]["aws:PrincipalArn"])
        assert {
            "arn:aws:iam::111111111111:role/ci/makini-infra-deploy",  # configured (a role with a path)
            "arn:aws:iam::123456789012:role/makini-deployer",  # derived from the mock caller's session
            "arn:aws:iam::111111111111:role/secrets-operator",
        } <= allowed
        assert not allowed & {
            "arn:aws:iam::111111111111:role/orders-prod",
            "arn:aws:iam::111111111111:role/assets-prod",
        }


@pytest.mark.parametrize(
    ("caller", "principal"),
    [
        ("arn:aws:sts::123456789012:assumed-role/deploy/gh-run-42", "arn:aws:iam::123456789012:role/deploy"),
        ("arn:aws-us-gov:sts::123456789012:assumed-role/deploy/s", "arn:aws-us-gov:iam::123456789012:role/deploy"),
        ("arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/alice"),
        ("arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:root"),
        ("arn:aws:sts::123456789012:federated-user/bob", None),
        ("not-an-arn", None),
    ],
)
def test_caller_principal_arn(caller, principal):
    from components.aws.policies import caller_principal_arn

    assert caller_principal_arn(caller) == principal
