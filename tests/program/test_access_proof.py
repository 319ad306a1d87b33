"""Proof, by evaluators that are not our code, that the generated AWS access is least privilege.

What is proven, and by whom:

* The program runs under mocks for the real ``Pulumi.dev.yaml`` and ``Pulumi.prod.yaml``; the
  consumer identity policies are taken from the recorded ``aws:iam/policy:Policy`` inputs, exactly
  as the program would send them to AWS.
* moto (with IAM enforcement on) then holds the secrets of BOTH environments under the names the
  program uses (``makini/<env>/...``), and one IAM user per consumer per environment with that
  environment's policy document attached (ARNs mapped from the mocks' ARNs to the ones moto made,
  by secret name). Each user calls GetSecretValue and DescribeSecret on every secret of both
  environments, and PutSecretValue on its own. The expected outcome comes from the stack files read
  here as plain YAML (connection ``consumers`` lists and ``oauthClient`` flags), not from the
  catalog or any other module of ours.

What moto enforces, and what it does not (moto 5, ``moto/iam/access_control.py``):

* Enforced: the identity policies attached to the caller (Allow/Deny, actions with wildcards, and
  the Resource element), signature and access-key checks.
* Not by default for Secrets Manager: moto passes ``Resource="*"`` for services without a
  ``_determine_resource`` hook (SQS has one). We add the same hook for Secrets Manager in this test
  (it resolves ``SecretId`` to the secret's ARN through moto's own backend, as SQS does for queues),
  so moto's evaluator matches the Resource element. Without it every call would be denied.
* Not enforced: resource-based policies (the secrets' deny-everyone-else policies), Condition keys
  other than StringEquals on trust policies, and KMS (moto does not call KMS on GetSecretValue, so
  the ``kms:Decrypt`` statement with ``kms:ViaService`` / encryption-context conditions is not
  exercised). Those documents are linted with parliament below and their shape is unit-tested, and
  ``test_effective_access.py`` evaluates them together with the identity policies (an evaluator written
  from AWS's documentation, ``tests/iam``); a real account remains the only check of AWS itself.
"""

from __future__ import annotations

import json
import re
import warnings
from typing import Any

import boto3
import pytest
import yaml
from botocore.exceptions import ClientError
from moto import mock_aws, settings
from moto.secretsmanager.models import secretsmanager_backends
from moto.secretsmanager.responses import SecretsManagerResponse

from components.aws.rotation_policies import rotation_policy
from infra.offline import PROJECT_ROOT, ProgramRun, load_stack_file, run_program

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # parliament imports the deprecated pkg_resources
    from parliament import analyze_policy_string

ENVS = ("dev", "prod")
REGION = "eu-west-1"


def _stack_yaml(env: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / f"Pulumi.{env}.yaml").read_text())["config"]


def expected_readable(env: str) -> dict[str, set[str]]:
    """Consumer -> secret names it must be able to read, straight from the stack file (independent oracle)."""
    cfg = _stack_yaml(env)
    out: dict[str, set[str]] = {name: set() for name in cfg["makini:consumers"]}
    for conn in cfg.get("makini:connections", []):
        for consumer in conn.get("consumers", []):
            out[consumer].add(f"makini/{env}/connections/{conn['key']}/token")
    for name, consumer in cfg["makini:consumers"].items():
        if consumer.get("oauthClient"):
            out[name].add(f"makini/{env}/oauth/client")
    return out


@pytest.fixture(scope="module")
def runs() -> dict[str, ProgramRun]:
    out = {}
    for env in ENVS:
        source = load_stack_file(env)
        out[env] = run_program(env, source.config, source.secret_keys)
    return out


def _docs(run: ProgramRun, typ: str) -> dict[str, dict]:
    return {r.name: json.loads(r.plain_inputs["policy"]) for r in run.of_type(typ)}


def consumer_policies(run: ProgramRun) -> dict[str, dict]:
    """Consumer -> its identity policy document, keyed by the IAM policy name the program chose."""
    out = {}
    for r in run.of_type("aws:iam/policy:Policy"):
        m = re.fullmatch(rf"makini-{run.stack}-(.+)-read", r.plain_inputs["name"])
        if m:
            out[m.group(1)] = json.loads(r.plain_inputs["policy"])
    return out


# --------------------------------------------------------------------------------------------------
# moto with IAM enforcement

_SECRET_ARN = re.compile(r"arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:(.+)-[A-Za-z0-9]{6}")


def _determine_resource(self: SecretsManagerResponse) -> str:
    """The ARN of the secret a Secrets Manager request names (moto's SQS responses do the same for queues)."""
    try:
        secret_id = json.loads(self.body or "{}").get("SecretId")
    except ValueError:
        return "*"
    if not secret_id:
        return "*"
    secret = secretsmanager_backends[self.current_account][self.region].secrets.get(secret_id)
    return secret.arn if secret is not None else "*"


def _map_arns(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_map_arns(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _map_arns(v, mapping) for k, v in value.items()}
    return value


class World:
    """Both environments' secrets in one moto account, and a way to act as any IAM user."""

    def __init__(self, runs: dict[str, ProgramRun]):
        self.iam = boto3.client("iam", region_name=REGION)
        self.sm = boto3.client("secretsmanager", region_name=REGION)
        kms = boto3.client("kms", region_name=REGION)
        self.secret_arn: dict[str, str] = {}
        for env, run in runs.items():
            key = kms.create_key(Description=f"makini {env}")["KeyMetadata"]
            for r in run.of_type("aws:secretsmanager/secret:Secret"):
                name = r.plain_inputs["name"]
                arn = self.sm.create_secret(Name=name, SecretString=f"value of {name}", KmsKeyId=key["KeyId"])["ARN"]
                self.secret_arn[name] = arn
            self.key_arn = key["Arn"]

    def map_document(self, doc: dict) -> dict:
        """Replace the mocks' secret ARNs (``makini/<env>/<path>-<suffix>``) with moto's, by secret name."""
        mapping: dict[str, str] = {}

        def collect(value: Any) -> None:
            if isinstance(value, str):
                m = _SECRET_ARN.fullmatch(value)
                if m:
                    mapping[value] = self.secret_arn[m.group(1)]
            elif isinstance(value, list | tuple):
                for v in value:
                    collect(v)
            elif isinstance(value, dict):
                for v in value.values():
                    collect(v)

        collect(doc)
        return _map_arns(doc, mapping)

    def user_with(self, user: str, doc: dict) -> Any:
        policy = self.iam.create_policy(PolicyName=f"{user}-policy", PolicyDocument=json.dumps(self.map_document(doc)))
        self.iam.create_user(UserName=user)
        self.iam.attach_user_policy(UserName=user, PolicyArn=policy["Policy"]["Arn"])
        key = self.iam.create_access_key(UserName=user)["AccessKey"]
        return boto3.client(
            "secretsmanager",
            region_name=REGION,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )


def _allowed(call) -> bool:
    try:
        call()
    except ClientError as err:
        # moto answers IAM denials with IAM's XML error, which botocore surfaces as code "403".
        if err.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException", "403") and "AccessDenied" in str(
            err
        ):
            return False
        raise
    return True


@pytest.fixture()
def enforced(monkeypatch):
    """moto with IAM enforcement switched on once the world is set up (setup runs as the root user)."""
    monkeypatch.setattr(SecretsManagerResponse, "_determine_resource", _determine_resource, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        holder: dict[str, Any] = {}

        def switch_on() -> None:
            monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)

        holder["on"] = switch_on
        yield holder


def _readable_by(world: World, client) -> set[str]:
    return {name for name in world.secret_arn if _allowed(lambda n=name: client.get_secret_value(SecretId=n))}


def test_every_consumer_reads_exactly_its_own_environments_listed_secrets(runs, enforced):
    world = World(runs)
    clients = {}
    for env, run in runs.items():
        policies = consumer_policies(run)
        assert set(policies) == set(expected_readable(env)), "one read policy per consumer"
        for consumer, doc in policies.items():
            clients[(env, consumer)] = world.user_with(f"{env}-{consumer}", doc)
    enforced["on"]()

    assert {n for n in world.secret_arn if n.startswith("makini/dev/")} and {
        n for n in world.secret_arn if n.startswith("makini/prod/")
    }
    for (env, consumer), client in clients.items():
        expected = expected_readable(env)[consumer]
        assert expected, f"{env}/{consumer} should read something"
        assert _readable_by(world, client) == expected, f"{env}/{consumer}"
        described = {n for n in world.secret_arn if _allowed(lambda n=n, c=client: c.describe_secret(SecretId=n))}
        assert described == expected, f"{env}/{consumer} DescribeSecret"
        # The other environment's same-named secrets are named explicitly, by name and by ARN.
        other = "prod" if env == "dev" else "dev"
        for name in expected:
            twin = name.replace(f"makini/{env}/", f"makini/{other}/", 1)
            if twin in world.secret_arn:
                assert not _allowed(lambda t=twin, c=client: c.get_secret_value(SecretId=world.secret_arn[t])), twin
        # Read-only: no writes, no listing, even on its own secrets.
        own = sorted(expected)[0]
        assert not _allowed(lambda c=client, o=own: c.put_secret_value(SecretId=o, SecretString="x"))
        assert not _allowed(lambda c=client: c.list_secrets())


def test_the_harness_catches_a_policy_that_grants_too_much(runs, enforced):
    """The same check fails for a widened policy (Resource: every secret of dev): it can fail."""
    world = World(runs)
    doc = consumer_policies(runs["dev"])["work-orders"]
    widened = json.loads(json.dumps(doc))
    widened["Statement"][0]["Resource"] = "arn:aws:secretsmanager:*:*:secret:makini/dev/*"
    client = world.user_with("dev-work-orders-widened", widened)
    enforced["on"]()
    readable = _readable_by(world, client)
    assert readable != expected_readable("dev")["work-orders"]
    assert "makini/dev/webhook/secret" in readable and not any(n.startswith("makini/prod/") for n in readable)


def test_rotation_policy_reaches_every_token_of_its_environment_and_nothing_else(runs, enforced):
    """The rotation identity's policy, from the builder the rotation component attaches: read and stage new
    versions of the environment's connection tokens (one name pattern), read the OAuth client, nothing else.
    Which tokens it may actually write is decided by each token's resource policy (it is named a writer of
    exactly the rotated ones: tests/program/test_rotation_aws.py), which moto does not evaluate."""
    world = World(runs)
    doc = rotation_policy(
        partition="aws",
        region=REGION,
        account_id="123456789012",
        environment="dev",
        oauth_client_secret_arn=world.secret_arn["makini/dev/oauth/client"],
        kms_key_arn=world.key_arn,
    )
    client = world.user_with("dev-rotation", doc)
    enforced["on"]()
    tokens = sorted(n for n in world.secret_arn if n.startswith("makini/dev/connections/") and n.endswith("/token"))
    assert tokens
    for name in tokens:
        assert _allowed(lambda n=name: client.get_secret_value(SecretId=n))
        assert _allowed(
            lambda n=name: client.put_secret_value(SecretId=n, SecretString="new", VersionStages=["AWSPENDING"])
        )
        assert not _allowed(lambda n=name: client.delete_secret(SecretId=n))
        assert not _allowed(lambda n=name: client.put_resource_policy(SecretId=n, ResourcePolicy="{}"))
    oauth = "makini/dev/oauth/client"
    # it reads the OAuth client (to get a system token), and never writes it
    assert _allowed(lambda: client.get_secret_value(SecretId=oauth))
    assert not _allowed(lambda: client.put_secret_value(SecretId=oauth, SecretString="x"))
    for name in set(world.secret_arn) - set(tokens) - {oauth}:
        assert not _allowed(lambda n=name: client.get_secret_value(SecretId=n)), name
        assert not _allowed(lambda n=name: client.put_secret_value(SecretId=n, SecretString="x")), name


# --------------------------------------------------------------------------------------------------
# Structure moto does not check: consumer policies decrypt only through Secrets Manager, for their secrets


@pytest.mark.parametrize("env", ENVS)
def test_consumer_policies_have_no_wildcards_and_bind_kms_to_their_secrets(runs, env):
    run = runs[env]
    for consumer, doc in consumer_policies(run).items():
        for st in doc["Statement"]:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
            assert st["Effect"] == "Allow"
            assert not any("*" in a for a in actions), (consumer, actions)
            assert not any("*" in r for r in resources), (consumer, resources)
        by_sid = {st["Sid"]: st for st in doc["Statement"]}
        queue_sids = {"ConsumeWebhookQueue", "DecryptWebhookQueueThroughSqs"}
        consumes_queue = bool(_stack_yaml(env)["makini:consumers"][consumer].get("webhookQueue"))
        assert set(by_sid) == {"ReadOwnSecrets", "DecryptThroughSecretsManager"} | (
            queue_sids if consumes_queue else set()
        )
        read, decrypt = by_sid["ReadOwnSecrets"], by_sid["DecryptThroughSecretsManager"]
        assert set(read["Action"]) == {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"}
        assert {_SECRET_ARN.fullmatch(a).group(1) for a in read["Resource"]} == expected_readable(env)[consumer]
        assert decrypt["Action"] == ["kms:Decrypt"] and decrypt["Resource"].startswith("arn:aws:kms:")
        assert decrypt["Condition"]["StringEquals"] == {"kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com"}
        # The key serves this environment's secrets only; which of them is decided above and by their policies.
        account = read["Resource"][0].split(":")[4]
        assert decrypt["Condition"]["StringLike"] == {
            "kms:EncryptionContext:SecretARN": f"arn:aws:secretsmanager:{REGION}:{account}:secret:makini/{env}/*"
        }


# --------------------------------------------------------------------------------------------------
# parliament: every generated IAM document

#: The only findings accepted, each with its reason. Nothing else is ignored.
ACCEPTED_FINDINGS = {
    # A KMS key policy's Resource must be "*": it means "this key" (the key ARN does not exist yet when
    # the policy is written at key creation). parliament reads the document as an identity policy.
    ("aws:kms/key:Key", "RESOURCE_STAR"),
    # The AWS default key-policy statement (account root, kms:*) and the key administrators' statement
    # include grant and key-policy management: required so the key can never become unmanageable.
    ("aws:kms/key:Key", "PERMISSIONS_MANAGEMENT_ACTIONS"),
}
#: A role's trust policy (assumeRolePolicy) has no Resource element by definition (the role is the
#: resource); parliament reads it as an identity policy and calls it malformed for exactly that.
TRUST_POLICY_FINDING = ("MALFORMED", "Statement contains neither Resource nor NotResource")


@pytest.mark.parametrize("env", ENVS)
def test_parliament_finds_nothing_in_any_generated_document(runs, env):
    documents = []
    for r in runs[env].resources:
        for prop in ("policy", "assumeRolePolicy"):
            value = r.plain_inputs.get(prop)
            if isinstance(value, str) and value.lstrip().startswith("{"):
                documents.append((r.type, r.name, value, prop))
    types = {t for t, _, _, _ in documents}
    assert {"aws:iam/policy:Policy", "aws:secretsmanager/secretPolicy:SecretPolicy", "aws:kms/key:Key"} <= types
    unexpected = []
    for typ, name, text, prop in documents:
        for finding in analyze_policy_string(text, include_community_auditors=True).findings:
            if prop == "assumeRolePolicy" and (finding.issue, finding.detail) == TRUST_POLICY_FINDING:
                assert all("Resource" not in s and "Principal" in s for s in json.loads(text)["Statement"]), name
                continue
            if (typ, finding.issue) in ACCEPTED_FINDINGS:
                # Accepted only where every statement names a principal (a key policy, not an identity policy).
                assert all("Principal" in s for s in json.loads(text)["Statement"]), name
                continue
            unexpected.append((name, finding.issue, finding.detail))
    assert unexpected == []


def test_parliament_would_flag_a_wildcard_consumer_policy():
    """The lint can fail: a read policy with Resource "*" and a wildcard action is flagged."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "secretsmanager:Get*", "Resource": "*"}],
    }
    assert {f.issue for f in analyze_policy_string(json.dumps(bad), include_community_auditors=True).findings}
