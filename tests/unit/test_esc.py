"""python -m infra.esc: a Pulumi ESC definition per consumer, holding names only, exactly its secrets.

Validated against tests/unit/data/esc_environment.schema.json, written from Pulumi ESC's documentation (the
providers' pages are cited in it). The secrets each definition opens are compared with the consumer's view
the program exports (its AWS secrets and access classes), not with infra/esc.py's own catalog walk.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from infra import esc
from infra.offline import load_stack_file, run_program, unwrap_secrets
from tests.support import base_config, load

SCHEMA = json.loads((Path(__file__).parent / "data" / "esc_environment.schema.json").read_text())
STACKS = ("dev", "staging", "prod")
AZURE = {
    "azure_client_id": "11111111-2222-3333-4444-555555555555",
    "azure_tenant_id": "66666666-7777-8888-9999-000000000000",
}
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@cache
def outputs(stack: str) -> dict[str, Any]:
    src = load_stack_file(stack)
    return dict(unwrap_secrets(run_program(stack, src.config, src.secret_keys).outputs))


def definition(stack: str, consumer: str, **kw: Any) -> dict[str, Any]:
    src = load_stack_file(stack)
    doc, _ = esc.environment_definition(
        src.load(),
        consumer,
        region=str(src.config["aws:region"]),
        account_id="111111111111",
        vault_address=src.config.get("vault:address"),
        azure_subscription_id=SUBSCRIPTION,
        **kw,
    )
    return doc


def cases() -> list[tuple[str, str]]:
    return [(s, c) for s in STACKS for c in sorted(load_stack_file(s).load().consumers)]


@pytest.mark.parametrize(("stack", "consumer"), cases())
def test_every_definition_has_escs_documented_shape(stack, consumer):
    doc = definition(stack, consumer, **AZURE)
    jsonschema.validate(doc, SCHEMA)
    # What `esc env init --file` reads: the YAML round-trips to the same document.
    assert yaml.safe_load(esc.render(doc, stack, consumer)) == doc


@pytest.mark.parametrize(("stack", "consumer"), cases())
def test_aws_opens_exactly_what_the_consumer_view_grants(stack, consumer):
    view, out = outputs(stack)[f"consumer-{consumer}"]["aws"], outputs(stack)
    doc = definition(stack, consumer)
    granted = set(view["secretArns"]) | {
        p for p in out["awsSecretArns"] if any(p.startswith(f"connections/{c}/") for c in view["classArnPatterns"])
    }
    names = {arn.split(":secret:")[1].rsplit("-", 1)[0]: path for path, arn in out["awsSecretArns"].items()}
    aws = doc["values"].get("aws")
    opened: set[str] = set()
    if aws:
        opened = {names[g["secretId"]] for g in aws["secrets"]["fn::open::aws-secrets"]["get"].values()}
        assert (
            aws["login"]["fn::open::aws-login"]["oidc"]["roleArn"].split(":role/")[1]
            == view["roleArn"].split(":role/")[1]
        )
    assert opened == granted
    # Every token it opens reaches an environment variable through fn::fromJSON.
    tokens = doc["values"]["makini"].get("tokens", {})
    assert set(tokens) == {p.split("/")[-2] for p in granted if p.endswith("/token")}


def test_azure_and_vault_open_per_vault_and_with_jwt_only():
    doc = definition("staging", "work-orders", **AZURE)
    azure = doc["values"]["azure"]
    vaults = sorted(v["fn::open::azure-secrets"]["vault"] for k, v in azure.items() if k.startswith("secrets"))
    out = outputs("staging")
    assert vaults == sorted({out["azureVaultName"], out["azureClassVaultNames"]["standard"]})
    assert "vault" not in doc["values"], "kubernetes auth: ESC cannot log in as the workload"
    _, notes = esc.environment_definition(
        load_stack_file("staging").load(), "work-orders", region="eu-west-1", account_id="222222222222"
    )
    assert any(n.startswith("azure left out") for n in notes) and any(n.startswith("vault left out") for n in notes)


def test_never_a_value_even_when_the_stack_file_holds_them():
    c = base_config("dev")
    canary = "CANARY-esc-7f3a"
    c["makini:oauthClientSecret"] = canary + "-oauth"
    c["makini:webhookSecret"] = canary + "-webhook"
    c["makini:connectionTokens"] = {"acme-sap": canary + "-token"}
    cfg = load(c, ["makini:oauthClientSecret", "makini:webhookSecret", "makini:connectionTokens"])
    for consumer in cfg.consumers:
        doc, _ = esc.environment_definition(cfg, consumer, region="eu-west-1", account_id="111111111111")
        text = esc.render(doc, "dev", consumer)
        assert canary not in text and "fn::secret" not in text
        jsonschema.validate(doc, SCHEMA)


def test_the_command_writes_one_file_per_consumer_and_refuses_an_unknown_one(tmp_path, capsys):
    assert esc.main(["dev", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"makini-dev-{c}.yaml" for c in sorted(load_stack_file("dev").load().consumers)
    ]
    assert esc.main(["dev", "--out", str(tmp_path), "--consumer", "nobody"]) == 2
    assert "declares no consumer 'nobody'" in capsys.readouterr().err


def test_the_schema_can_fail():
    doc = definition("dev", "asset-sync")
    doc["values"]["aws"]["secrets"]["fn::open::aws-secrets"]["get"]["x"] = {"secretId": "a", "value": "leak"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_vault_opens_exactly_what_each_consumers_jwt_role_may_read():
    """A consumer logging in to Vault with JWT (the one auth ESC supports): its definition logs in as the role the
    program created for it and reads exactly the KV paths that role's policies allow (the Vault ACL evaluator
    written from Vault's documentation, over the policies the program registered), declared and class tokens."""
    from stacks.naming import consumer_role_name
    from tests.iam.vault_acl import Acl
    from tests.support import VAULT_ROTATOR, run

    c = base_config("dev")
    c["makini:backends"] = ["vault"]
    c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    c["makini:consumers"] = {
        name: {"vault": {"auth": {"jwt": {"boundAudiences": ["vault"], "boundSubject": f"repo:acme/{name}:env:dev"}}}}
        for name in ("orders", "assets")
    }
    c["makini:accessClasses"] = {"standard": {"description": "Standard plan customers.", "consumers": ["assets"]}}
    c["makini:connections"].append(
        {
            "key": "hooli-fiix",
            "system": "Fiix",
            "tier": 1,
            "deployment": "cloud",
            "makiniId": "0900003",
            "class": "standard",
        }
    )
    r = run(c)
    policies = {p.plain_inputs["name"]: p.plain_inputs["policy"] for p in r.of_type("vault:index/policy:Policy")}
    roles = {x.plain_inputs["roleName"]: x.plain_inputs for x in r.of_type("vault:jwt/authBackendRole:AuthBackendRole")}
    paths = set(unwrap_secrets(r.outputs)["vaultPaths"].values())
    cfg = load(c)
    for consumer in ("orders", "assets"):
        role = roles[consumer_role_name("dev", consumer)]
        acl = Acl.of(*(policies[name] for name in role["tokenPolicies"]))
        doc, _ = esc.environment_definition(
            cfg, consumer, region="eu-west-1", account_id="111111111111", vault_address="https://vault.dev:8200"
        )
        jsonschema.validate(doc, SCHEMA)
        vault = doc["values"]["vault"]
        login = vault["login"]["fn::open::vault-login"]["jwt"]
        assert (login["role"], login["mount"]) == (consumer_role_name("dev", consumer), role["backend"])
        read = {v["path"] for v in vault["secrets"]["fn::open::vault-secrets"]["read"].values()}
        assert read and read == {p for p in paths if acl.allows(p, "read")}, consumer
    assert any("/connections/standard/hooli-fiix/token" in p for p in read)  # assets reads its class's token
