"""Configuration that never silently accepts a mistake: one test (or table) per rule, on both paths.

The offline path reads the stack file (``infra.offline.load_stack_file``: YAML as the Pulumi CLI reads
it); the engine path hands ``load_stack_config`` what ``pulumi up`` gives the program: every key of every
namespace, scalars as strings, structured values as JSON (``tests.support.flatten``). Each rule must hold
on both.
"""

from __future__ import annotations

import json
import typing
from datetime import date
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from infra.offline import StackFileError, load_stack_file
from stacks.config import ConfigError, StackConfig
from stacks.config.loader import production_word
from stacks.config.namespaces import PROVIDER_PACKAGES, provider_keys
from stacks.config.stack_file import dump_stack_yaml, parse_stack_yaml, plaintext_leaves, stack_file_leaves
from stacks.config.trust_policy import trust_policy_problems
from stacks.load import load_stack_config
from tests.support import ACCOUNT, base_config, flatten, load

GITHUB = "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"


def engine_errors(config: dict, stack: str = "dev", secret_keys=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_stack_config(stack, flatten(config), secret_keys)
    return info.value


def file_errors(tmp_path: Path, text: str, stack: str = "dev") -> ConfigError:
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_stack_file(stack, path).load()
    return info.value


def as_file(config: dict) -> str:
    return dump_stack_yaml({"config": config})


def problem(err: ConfigError, path: str):
    found = [p for p in err.problems if p.path == path]
    assert found, f"{path} not in {[p.path for p in err.problems]}"
    return found[0]


# --------------------------------------------------------------------------------------------------
# Every key accounted for


@pytest.mark.parametrize(
    ("key", "near"),
    [("makni:aws", "makini:aws"), ("makinii:webhooks", "makini:webhooks"), ("azure:location", "azure-native:location")],
)
def test_a_key_in_an_unknown_namespace_names_the_nearest_valid_key(key, near, tmp_path):
    c = base_config()
    c[key] = {"operatorArns": []} if "makini" in near else "westeurope"
    for err in (engine_errors(c), file_errors(tmp_path, as_file(c))):
        assert f"did you mean {near}?" in problem(err, key).message


@pytest.mark.parametrize(
    ("key", "value", "command"),
    [
        ("makini-infra:webhookSecret", "s3cr3t-CANARY", "pulumi config set --secret makini:webhookSecret <value>"),
        ("makini-infra:rotation", {"connectionTokenDays": 7}, "pulumi config set --path 'makini:rotation.<field>'"),
        ("makini-infra:environment", "qa", "pulumi config set makini:environment <value>"),
    ],
)
def test_a_key_in_the_project_namespace_gets_the_exact_commands(key, value, command):
    c = base_config()
    c[key] = value
    p = problem(engine_errors(c), key)
    assert f"pulumi config rm {key}" in p.fix and command in p.fix
    assert "CANARY" not in str(engine_errors(c))


def test_a_key_without_namespace_in_the_file_lands_in_the_project_namespace(tmp_path):
    text = as_file(base_config()).replace("config:\n", "config:\n  webhookSecret:\n    secure: v1:abc\n", 1)
    p = problem(file_errors(tmp_path, text), "makini-infra:webhookSecret")
    assert "pulumi config set --secret makini:webhookSecret" in p.fix and "rotate" not in p.fix


def test_the_real_program_sees_every_namespace():
    """Under the engine (mocks), the program gets every key: a namespace typo stops it with the message."""
    import pulumi

    from tests.support import run

    c = base_config()
    c["makni:aws"] = {"operatorArns": []}
    with pytest.raises(pulumi.RunError, match=r"makni:aws: unknown namespace 'makni:'.*did you mean makini:aws\?"):
        run(c)


def test_provider_keys_come_from_the_installed_provider_sdks():
    for ns in PROVIDER_PACKAGES:
        assert provider_keys(ns), ns
    assert {"region", "allowedAccountIds"} <= provider_keys("aws")
    assert {"subscriptionId", "location"} <= provider_keys("azure-native")
    c = base_config()
    c["aws:regoin"] = "eu-west-1"
    assert "did you mean aws:region?" in problem(engine_errors(c), "aws:regoin").message


@pytest.mark.parametrize("key", ["aws:secretKey", "azure-native:clientSecret", "vault:token"])
def test_provider_credentials_in_plain_text_are_refused_without_echo(key):
    c = base_config()
    c[key] = "CANARY-credential-value"
    err = engine_errors(c)
    assert "plain text" in problem(err, key).message and "CANARY" not in str(err)
    assert load(base_config() | {key: "x"}, secret_keys=[key])  # as a secret it is the provider's business


@pytest.mark.parametrize(
    ("value", "path", "words"),
    [
        ("444455556666", "aws:allowedAccountIds", "single value"),
        ([444455556666], "aws:allowedAccountIds[0]", "quote it"),
        (["44445555666"], "aws:allowedAccountIds[0]", "12-digit"),
        ([], "aws:allowedAccountIds", "empty"),
    ],
)
def test_allowed_account_ids_is_a_list_of_12_digit_strings(value, path, words):
    c = base_config()
    c["aws:allowedAccountIds"] = value
    p = problem(engine_errors(c), path)
    assert words in p.message or words in p.fix


# --------------------------------------------------------------------------------------------------
# YAML as people write it


def test_a_key_written_twice_is_refused_naming_both_lines(tmp_path):
    text = as_file(base_config()).replace("    tier: 3\n", "    tier: 3\n    tier: 1\n", 1)
    lines = text.splitlines()
    first = lines.index("    tier: 3") + 1
    p = problem(file_errors(tmp_path, text), "makini:connections[0].tier")
    assert f"lines {first} and {first + 1}" in p.message


def test_a_section_written_twice_is_refused(tmp_path):
    text = as_file(base_config()) + "  makini:credits:\n    pool: 99\n"
    assert "written twice" in problem(file_errors(tmp_path, text), "makini:credits").message


def test_yaml_reads_as_the_pulumi_cli_does():
    doc, problems = parse_stack_yaml(
        "a: yes\nb: on\nc: True\nd: 2026-11-02\ne: 0900001\nf: 010\ng: 0x1F\nh: 1_000\ni: 2.0\nj: ~\n"
    )
    assert problems == []
    assert doc == {
        "a": "yes",
        "b": "on",
        "c": True,
        "d": "2026-11-02",
        "e": 900001.0,
        "f": 8,
        "g": 31,
        "h": 1000,
        "i": 2.0,
        "j": None,
    }


def test_the_dumper_quotes_what_the_reader_would_misread():
    doc = {"makiniId": "0900001", "v": "2.0", "b": "true", "d": "2026-01-01", "s": "yes"}
    assert parse_stack_yaml(dump_stack_yaml(doc))[0] == doc


@pytest.mark.parametrize("written", ["2026-10-01", '"2026-10-01"', "'2026-10-01'"])
def test_dates_are_the_same_quoted_or_not_on_both_paths(written, tmp_path):
    c = base_config()
    c["makini:rotation"] = {"webhookSecretRotatedOn": "2026-10-01"}
    text = as_file(c).replace("webhookSecretRotatedOn: '2026-10-01'", f"webhookSecretRotatedOn: {written}")
    text = text.replace('webhookSecretRotatedOn: "2026-10-01"', f"webhookSecretRotatedOn: {written}")
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text, encoding="utf-8")
    offline = load_stack_file("dev", path).load()
    engine = load(c)
    assert offline.rotation.webhook_secret_rotated_on == engine.rotation.webhook_secret_rotated_on == date(2026, 10, 1)


@pytest.mark.parametrize(
    ("section", "key", "value", "words", "fix"),
    [
        ("makini:credits", "pool", True, "a boolean", "pool: 30"),
        ("makini:credits", "pool", 10.0, "a decimal number", "pool: 10"),
        ("makini:credits", "pool", "30", "a string", "remove the quotes: pool: 30"),
        ("makini:credits", "pool", "10**20", "a string", "pool: 30"),
        ("makini:webhooks", "enabled", "yes", "true or false", "enabled: true or enabled: false"),
        ("makini:webhooks", "enabled", 1, "true or false", "enabled: true"),
        ("makini:oauth", "clientId", 12345, "must be a string", 'clientId: "12345"'),
        ("makini:rotation", "webhookSecretRotatedOn", 20261001, "YYYY-MM-DD", "2026-10-01"),
    ],
)
def test_strict_types_with_the_yaml_fix_on_both_paths(section, key, value, words, fix, tmp_path):
    c = base_config()
    c.setdefault(section, {})[key] = value
    for err in (engine_errors(c), file_errors(tmp_path, as_file(c))):
        p = problem(err, f"{section}.{key}")
        assert words in p.message and fix in p.fix


def test_a_literal_tier_refuses_booleans_and_decimals():
    for value, words in ((True, "must be 1, 2 or 3"), (2.0, "must be a whole number"), ("2", "remove the quotes")):
        c = base_config()
        c["makini:connections"][0]["tier"] = value
        p = problem(engine_errors(c), "makini:connections[0].tier")
        assert words in p.message + p.fix


def test_top_level_scalars_arrive_as_strings_from_the_engine():
    c = base_config("acme-prod")
    assert load(c | {"makini:production": "true"}, stack="acme-prod").production is True
    assert load(c | {"makini:production": "False"}, stack="acme-prod").production is False
    assert (
        "true or false"
        in problem(engine_errors(c | {"makini:production": "yes"}, "acme-prod"), "makini:production").message
    )


def _numeric_fields(model: type[BaseModel], seen: set[type] | None = None):
    seen = seen if seen is not None else set()
    if model in seen:
        return
    seen.add(model)
    for name, field in model.model_fields.items():
        ann = field.annotation
        stack_ = [ann]
        while stack_:
            a = stack_.pop()
            if typing.get_origin(a) is typing.Literal:
                continue
            if isinstance(a, type) and issubclass(a, BaseModel):
                yield from _numeric_fields(a, seen)
            elif a in (int, float):
                yield model, name, field
            else:
                stack_ += [x for x in typing.get_args(a) if x is not type(None)]


def test_every_number_in_the_model_has_an_upper_bound():
    """Absurd magnitudes are refused: generic over the model, so a new numeric key needs its bound."""
    unbounded = []
    for model, name, field in _numeric_fields(StackConfig):
        metadata = [
            *field.metadata,
            *(typing.get_args(field.annotation)[1:] if typing.get_origin(field.annotation) is typing.Annotated else []),
        ]
        if not any(getattr(m, "le", None) is not None or getattr(m, "lt", None) is not None for m in metadata):
            unbounded.append(f"{model.__name__}.{name}")
    assert unbounded == []


# --------------------------------------------------------------------------------------------------
# Secrets


def test_a_plaintext_token_beside_secure_ones_is_refused_without_echo(tmp_path):
    c = base_config()
    text = as_file(c) + (
        "  makini:connectionTokens:\n    acme-sap:\n      secure: v1:abc\n    globex-mx: mk_live_CANARY_plain\n"
    )
    err = file_errors(tmp_path, text)
    p = problem(err, 'makini:connectionTokens["globex-mx"]')
    assert "plain text beside encrypted values" in p.message and "--secret" in p.fix
    assert "CANARY" not in str(err)


def test_the_real_program_finds_plaintext_leaves_in_its_own_stack_file(tmp_path):
    text = "config:\n  aws:region: eu-west-1\n  makini:connectionTokens:\n    a:\n      secure: v1:x\n    b: plain\n"
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text(text, encoding="utf-8")
    raw = {"aws:region": "eu-west-1", "makini:connectionTokens": json.dumps({"a": "x", "b": "plain"})}
    assert stack_file_leaves(path, raw, "makini-infra") == {"makini:connectionTokens.b"}
    # Another source of configuration (other keys): the file is not read as its source.
    assert stack_file_leaves(path, {**raw, "makini:environment": "dev"}, "makini-infra") == set()
    assert plaintext_leaves("makini:x", {"a": "plain"}) == []


# --------------------------------------------------------------------------------------------------
# Identity sanity


def pinned(c: dict) -> dict:
    return c | {"aws:allowedAccountIds": [ACCOUNT]}


def test_a_consumer_role_in_another_account_is_refused():
    c = pinned(base_config())
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::222222222222:role/orders-dev"
    p = problem(engine_errors(c), 'makini:consumers["orders"].aws.roleArn')
    assert "222222222222" in p.message and "attaches" in p.message


def test_a_key_admin_in_another_account_needs_cross_account_arns():
    c = pinned(base_config())
    other = "arn:aws:iam::999988887777:role/security-admin"
    c["makini:aws"] = {"keyAdminArns": [other]}
    assert "crossAccountArns" in problem(engine_errors(c), "makini:aws.keyAdminArns[0]").fix
    c["makini:aws"]["crossAccountArns"] = [other]
    assert load(c).aws.cross_account_arns == (other,)
    c["makini:aws"]["keyAdminArns"] = []
    assert "no key names it" in problem(engine_errors(c), "makini:aws.crossAccountArns[0]").message


def test_without_pinned_accounts_the_account_rule_cannot_apply():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::222222222222:role/orders-dev"
    assert load(c)


def _trust(statement: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", **statement}]}


def _gh(sub: str | None, aud: bool = True) -> dict:
    cond = {}
    if aud:
        cond["token.actions.githubusercontent.com:aud"] = "sts.amazonaws.com"
    if sub is not None:
        cond["token.actions.githubusercontent.com:sub"] = sub
    st = {"Principal": {"Federated": GITHUB}, "Action": "sts:AssumeRoleWithWebIdentity"}
    return _trust(st | ({"Condition": {"StringLike": cond}} if cond else {}))


@pytest.mark.parametrize(
    ("document", "words"),
    [
        (_gh(None), "no token.actions.githubusercontent.com:sub condition"),
        (_gh(None, aud=False), "no token.actions.githubusercontent.com:sub condition"),
        (_gh("repo:*"), "wildcard in the repository"),
        (_gh("repo:acme/*"), "wildcard in the repository"),
        (_gh("*"), "any subject"),
        (_trust({"Principal": {"AWS": "arn:aws:iam::999988887777:root"}, "Action": "sts:AssumeRole"}), "ExternalId"),
        (_trust({"Principal": {"AWS": "999988887777"}, "Action": "sts:AssumeRole"}), "ExternalId"),
        (_trust({"Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "NotAction": "iam:*"}), "NotAction"),
        (
            _trust({"NotPrincipal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}),
            "NotPrincipal",
        ),
        (
            _trust(
                {
                    "Principal": {"Federated": "arn:aws:iam::111111111111:saml-provider/okta"},
                    "Action": "sts:AssumeRoleWithSAML",
                }
            ),
            "saml:aud",
        ),
        (_trust({"Principal": "*", "Action": "sts:AssumeRole"}), "wildcard principal"),
    ],
)
def test_trust_policy_sanity(document, words):
    found = " ".join(trust_policy_problems(document, accounts=[ACCOUNT]))
    assert words in found


@pytest.mark.parametrize(
    "document",
    [
        _gh("repo:acme/orders:environment:production"),
        _gh("repo:acme/orders:ref:refs/heads/*"),
        _trust({"Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/ci"}, "Action": "sts:AssumeRole"}),
        _trust(
            {
                "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": "orders-7f3c"}},
            }
        ),
    ],
)
def test_bounded_trust_policies_pass(document):
    assert trust_policy_problems(document, accounts=[ACCOUNT]) == []


@pytest.mark.parametrize("name", ["rotator", "webhook-receiver", "rotation", "token-rotator"])
def test_a_consumer_cannot_take_the_name_of_the_stacks_own_identities(name):
    c = base_config()
    c["makini:consumers"][name] = c["makini:consumers"].pop("assets")
    c["makini:connections"][1]["consumers"] = ["orders", name]
    assert "taken by the stack's own identities" in problem(engine_errors(c), f'makini:consumers["{name}"]').message


# --------------------------------------------------------------------------------------------------
# Production never implicit by accident


@pytest.mark.parametrize("stack", ["acme-prod", "prod-eu", "live", "eu-prd2", "production-1", "acme_prod"])
def test_a_production_looking_stack_must_state_production(stack):
    c = base_config("ops")
    p = problem(engine_errors(c, stack), "makini:production")
    assert "makini:production true" in p.fix
    assert load(c | {"makini:production": False}, stack=stack).production is False
    assert load(c | {"makini:production": True}, stack=stack).production is True


@pytest.mark.parametrize("name", ["product", "prodigy", "alive", "deliver", "reprd"])
def test_words_that_merely_contain_prod_are_not_production(name):
    assert production_word(name) is None


def test_the_environment_name_counts_too_and_prod_itself_is_always_production():
    assert (
        "environment name 'prod-eu'"
        in problem(engine_errors(base_config("prod-eu"), "eu"), "makini:production").message
    )
    assert load(base_config("prod")).production is True


def test_an_environment_defaulted_from_a_long_stack_name_says_so():
    c = base_config()
    del c["makini:environment"]
    p = problem(engine_errors(c | {"makini:production": True}, "acme-production-eu"), "makini:environment")
    assert "defaults to the stack name 'acme-production-eu'" in p.message and "makini:environment" in p.fix


# --------------------------------------------------------------------------------------------------
# Connections, rotation, Azure packaging


def test_empty_connections_are_named_instead_of_blaming_the_consumers():
    c = base_config()
    c["makini:connections"] = []
    err = engine_errors(c)
    assert [p.path for p in err.problems] == ["makini:connections"]
    assert "assets, orders" in err.problems[0].message


def test_an_empty_consumer_list_on_a_connection_is_refused():
    c = base_config()
    c["makini:connections"][0]["consumers"] = []
    c["makini:connections"][1]["consumers"] = ["orders", "assets"]
    assert "no service could read" in problem(engine_errors(c), "makini:connections[0].consumers").message


def test_a_rotation_date_in_the_future_is_refused():
    c = base_config()
    c["makini:rotation"] = {"oauthClientSecretRotatedOn": "2999-01-01"}
    assert "in the future" in problem(engine_errors(c), "makini:rotation.oauthClientSecretRotatedOn").message


def test_a_missing_function_dependencies_dir_is_a_config_error():
    from tests.support import azure_section

    c = base_config()
    c["makini:backends"] = ["azure"]
    for consumer in c["makini:consumers"].values():
        consumer.pop("aws")
        consumer["azure"] = {"principalId": "0b5e2a1c-6f1d-4c52-9a51-3f7d2b8e4a01"}
    c["makini:consumers"]["assets"]["azure"]["principalId"] = "7c2d9e44-1b0a-4f6e-8d3c-5a9b1e2f6c02"
    c["makini:azure"] = azure_section(functionDependenciesDir="build/never-built")
    assert "does not exist" in problem(engine_errors(c), "makini:azure.functionDependenciesDir").message
    c["makini:azure"]["functionDependenciesDir"] = "../outside"
    assert "inside the project" in problem(engine_errors(c), "makini:azure.functionDependenciesDir").message


def test_an_unreadable_file_is_a_stack_file_error(tmp_path):
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n\tmakini:credits: 1\n", encoding="utf-8")
    with pytest.raises(StackFileError, match="not valid YAML"):
        load_stack_file("dev", path)
    assert yaml  # the corpus's YAML reader is the same module's loader
