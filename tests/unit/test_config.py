"""The stack configuration model: every validation rule, and bad input gets one clear error."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from stacks.config import ConfigError
from stacks.load import load_stack_config
from tests.support import base_config, flatten, load


def problems(cfg, secret_keys=(), stack=None):
    with pytest.raises(ConfigError) as info:
        load(cfg, secret_keys, stack)
    return info.value


def paths(err: ConfigError) -> list[str]:
    return [p.path for p in err.problems]


def test_base_config_is_valid_with_documented_defaults():
    cfg = load(base_config("dev"))
    assert cfg.environment == "dev"
    assert cfg.production is False
    assert cfg.recovery_window_days == 7
    assert cfg.credits.tier1 == 1 and cfg.credits.tier2 == 2 and cfg.credits.tier3 == 4
    assert cfg.credits.on_prem_multiplier == 2
    assert cfg.backends == ("aws",)


def test_prod_is_production_with_30_day_recovery():
    cfg = load(base_config("prod"))
    assert cfg.production is True
    assert cfg.recovery_window_days == 30


def test_model_is_immutable():
    cfg = load(base_config())
    with pytest.raises(ValidationError, match="frozen"):
        cfg.environment = "prod"


def test_environment_defaults_to_stack_name():
    c = base_config("dev")
    del c["makini:environment"]
    assert load(c, stack="qa").environment == "qa"


def test_message_names_stack_key_path_allowed_values_and_fix():
    c = base_config()
    c["makini:connections"][1]["tier"] = 5
    err = problems(c)
    text = str(err)
    assert "stack 'dev'" in text
    assert "makini:connections[1].tier" in text
    assert "1, 2 or 3" in text and "(got 5)" in text
    assert "Nothing was created or changed" in text


@pytest.mark.parametrize(
    ("key", "typo", "suggestion"),
    [
        ("makini:connections", "makini:conections", "connections"),
        ("makini:credits", "makini:credit", "credits"),
    ],
)
def test_unknown_top_level_key_suggests_nearest(key, typo, suggestion):
    c = base_config()
    c[typo] = c.pop(key)
    err = problems(c)
    p = next(p for p in err.problems if p.path == typo)
    assert f"did you mean '{suggestion}'" in p.message
    # the missing-key error for the intended key is folded into the typo's message
    assert key not in paths(err)


def test_unknown_nested_key_suggests_nearest_and_lists_valid_keys():
    c = base_config()
    c["makini:tags"] = {"owner": "x", "costCentre": "cc"}
    c["makini:connections"][0]["deploymnet"] = c["makini:connections"][0].pop("deployment")
    err = problems(c)
    by_path = {p.path: p for p in err.problems}
    assert "did you mean 'costCenter'" in by_path["makini:tags.costCentre"].message
    assert "did you mean 'deployment'" in by_path["makini:connections[0].deploymnet"].message
    assert "makini:tags.costCenter" not in by_path


@pytest.mark.parametrize(
    ("mutate", "path", "fragment"),
    [
        (lambda c: c["makini:connections"][0].update(tier="three"), "makini:connections[0].tier", "1, 2 or 3"),
        (
            lambda c: c["makini:connections"][0].update(deployment="onprem"),
            "makini:connections[0].deployment",
            "'cloud' or 'on_prem'",
        ),
        (lambda c: c["makini:credits"].update(pool="lots"), "makini:credits.pool", "must be a whole number"),
        (lambda c: c["makini:credits"].update(pool=-1), "makini:credits.pool", "greater than or equal to 0"),
        (lambda c: c["makini:credits"].update(tier3=0), "makini:credits.tier3", "greater than or equal to 1"),
        (lambda c: c.update({"makini:backends": ["aws", "gcp"]}), "makini:backends[1]", "'aws', 'azure' or 'vault'"),
        (lambda c: c.update({"makini:connections": {"key": "x"}}), "makini:connections", "list"),
        (
            lambda c: c["makini:consumers"]["orders"].update(aws="arn"),
            "makini:consumers.orders.aws",
            "a mapping of key: value (got 'arn')",
        ),
    ],
)
def test_wrong_types_name_the_key_path(mutate, path, fragment):
    c = base_config()
    mutate(c)
    err = problems(c)
    p = next((p for p in err.problems if p.path == path), None)
    assert p is not None, paths(err)
    assert fragment in p.message


def test_structured_value_given_as_plain_string_is_refused():
    raw = flatten(base_config())
    raw["makini:connections"] = "acme-sap"
    with pytest.raises(ConfigError) as info:
        load_stack_config("dev", raw)
    assert "makini:connections" in paths(info.value)
    assert "must be a list" in str(info.value)


@pytest.mark.parametrize(
    ("remove", "path"),
    [
        (lambda c: c.pop("makini:credits"), "makini:credits"),
        (lambda c: c.pop("makini:oauth"), "makini:oauth"),
        (lambda c: c.pop("makini:backends"), "makini:backends"),
        (lambda c: c["makini:tags"].pop("owner"), "makini:tags.owner"),
        (lambda c: c["makini:connections"][1].pop("system"), "makini:connections[1].system"),
    ],
)
def test_missing_required_keys(remove, path):
    c = base_config()
    remove(c)
    err = problems(c)
    p = next(p for p in err.problems if p.path == path)
    assert "required key is missing" in p.message
    assert f"pulumi config set --path '{path}'" in p.fix


def test_duplicate_connection_keys_name_both_entries():
    c = base_config()
    c["makini:connections"][1]["key"] = "acme-sap"
    err = problems(c)
    p = next(p for p in err.problems if p.path == "makini:connections[1].key")
    assert "duplicate connection key 'acme-sap'" in p.message and "makini:connections[0].key" in p.message


def test_connection_naming_an_unknown_consumer_suggests_the_nearest():
    c = base_config()
    c["makini:connections"][0]["consumers"] = ["order"]
    err = problems(c)
    p = next(p for p in err.problems if p.path == "makini:connections[0].consumers[0]")
    assert "unknown consumer 'order'" in p.message and "did you mean 'orders'" in p.message
    assert "makini:consumers" in p.fix


def test_consumer_that_no_connection_lists_is_refused():
    c = base_config()
    c["makini:consumers"]["billing"] = {"aws": {"roleArn": "arn:aws:iam::111111111111:role/billing"}}
    err = problems(c)
    assert "makini:consumers.billing" in paths(err)


def test_consumer_reading_only_the_oauth_client_is_fine():
    c = base_config()
    c["makini:consumers"]["onboarding"] = {
        "oauthClient": True,
        "aws": {"roleArn": "arn:aws:iam::111111111111:role/onboarding"},
    }
    assert load(c).consumers["onboarding"].oauth_client


def test_consumer_without_identity_for_a_used_backend():
    c = base_config()
    del c["makini:consumers"]["assets"]["aws"]
    err = problems(c)
    p = next(p for p in err.problems if p.path == 'makini:consumers["assets"].aws')
    assert "no AWS identity" in p.message and "roleArn" in p.fix


@pytest.mark.parametrize("backends", [[], ["aws", "aws"]])
def test_backends_must_be_a_non_empty_set(backends):
    c = base_config()
    c["makini:backends"] = backends
    err = problems(c)
    assert "makini:backends" in paths(err)


def test_backend_listed_without_its_settings_and_settings_without_backend():
    c = base_config()
    c["makini:backends"] = ["aws", "azure"]
    c["makini:vault"] = {"maxVersions": 5}
    err = problems(c)
    assert {"makini:azure", "makini:vault"} <= set(paths(err))


@pytest.mark.parametrize("env", ["Dev", "d", "dev_1", "production-eu-west", "-dev", "dev-", "dev--1", "1dev", "dév"])
def test_invalid_environment_names(env):
    c = base_config()
    c["makini:environment"] = env
    err = problems(c, stack="dev")
    p = next(p for p in err.problems if p.path == "makini:environment")
    assert "2-12 characters" in p.message


@pytest.mark.parametrize("key", ["acme/sap", "", "-acme", "a" * 65, "acme sap", "acmé"])
def test_connection_keys_that_break_cloud_naming(key):
    c = base_config()
    c["makini:connections"][0]["key"] = key
    err = problems(c)
    assert "makini:connections[0].key" in paths(err)


@pytest.mark.parametrize("name", ["Orders", "o", "orders_api", "x" * 33, "orders-"])
def test_consumer_names_that_break_cloud_naming(name):
    c = base_config()
    c["makini:consumers"][name] = c["makini:consumers"].pop("orders")
    c["makini:connections"][0]["consumers"] = [name]
    c["makini:connections"][1]["consumers"] = [name, "assets"]
    err = problems(c)
    assert any(name in p.path or name in p.message for p in err.problems)


@pytest.mark.parametrize(
    "arn", ["arn:aws:iam::*:role/x", "arn:aws:iam::111111111111:role/*", "role/orders", "arn:aws:iam::1111:role/x"]
)
def test_malformed_or_wildcard_role_arns_are_refused(arn):
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = arn
    err = problems(c)
    assert "makini:consumers.orders.aws.roleArn" in paths(err)


CANARY = "CANARY-s3cr3t-9f1e2d"


@pytest.mark.parametrize(
    ("key", "value", "command"),
    [
        ("makini:oauthClientSecret", CANARY, "pulumi config set --secret makini:oauthClientSecret <client-secret>"),
        ("makini:webhookSecret", CANARY, "pulumi config set --secret makini:webhookSecret <webhook-secret>"),
        (
            "makini:connectionTokens",
            {"acme-sap": CANARY},
            "pulumi config set --secret --path 'makini:connectionTokens.acme-sap' <token>",
        ),
    ],
)
def test_plain_text_secret_is_refused_with_the_exact_fix_and_never_echoed(key, value, command):
    c = base_config()
    c[key] = value
    err = problems(c)
    p = next(p for p in err.problems if p.path == key)
    assert "must be a Pulumi secret" in p.message
    assert command in p.fix
    assert CANARY not in str(err)


def test_same_secrets_accepted_when_marked_secret():
    c = base_config()
    c["makini:oauthClientSecret"] = CANARY
    c["makini:connectionTokens"] = {"acme-sap": CANARY}
    cfg = load(c, secret_keys=["makini:oauthClientSecret", "makini:connectionTokens"])
    assert cfg.oauth_client_secret.get_secret_value() == CANARY
    assert CANARY not in repr(cfg) and CANARY not in str(cfg)


@pytest.mark.parametrize(
    ("place", "target"),
    [
        (lambda c: c["makini:oauth"].update(clientSecret=CANARY), "makini:oauth.clientSecret"),
        (lambda c: c["makini:connections"][0].update(token=CANARY), "makini:connections[0].token"),
    ],
)
def test_secret_inside_plain_structured_config_is_refused(place, target):
    c = base_config()
    place(c)
    err = problems(c)
    p = next(p for p in err.problems if p.path == target)
    assert "secret" in p.message and "pulumi config set --secret" in p.fix
    assert CANARY not in str(err)


def test_token_for_unknown_connection():
    c = base_config()
    c["makini:connectionTokens"] = {"acme-sapp": CANARY}
    err = problems(c, secret_keys=["makini:connectionTokens"])
    p = next(p for p in err.problems if p.path == "makini:connectionTokens.acme-sapp")
    assert "did you mean 'acme-sap'" in p.message
    assert CANARY not in str(err)


def test_production_cannot_be_switched_off_for_prod():
    c = base_config("prod")
    c["makini:production"] = False
    err = problems(c)
    assert "makini:production" in paths(err)


def test_credit_budget_exceeded_names_the_biggest_consumers():
    c = base_config()
    c["makini:connections"][0]["deployment"] = "on_prem"  # 4 * 2 = 8
    c["makini:connections"].append(
        {"key": "umbrella", "system": "Oracle EBS", "tier": 2, "deployment": "cloud", "consumers": ["assets"]}
    )
    c["makini:credits"]["pool"] = 9  # needs 8 + 1 + 2 = 11
    err = problems(c)
    p = next(p for p in err.problems if p.path == "makini:credits.pool")
    assert "need 11 credits but the pool has 9 (2 over)" in p.message
    assert p.message.index("acme-sap (8)") < p.message.index("umbrella (2)") < p.message.index("globex-mx (1)")


def test_all_problems_are_reported_together():
    c = base_config()
    c["makini:connections"][0]["tier"] = 9
    c["makini:environment"] = "Bad_Env"
    c["makini:oauthClientSecret"] = CANARY
    err = problems(c)
    assert {"makini:connections[0].tier", "makini:environment", "makini:oauthClientSecret"} <= set(paths(err))


def test_every_stack_file_is_valid():
    from infra.offline import PROJECT_ROOT, load_stack_file

    stacks = sorted(p.name.split(".")[1] for p in PROJECT_ROOT.glob("Pulumi.*.yaml"))
    assert {"dev", "staging", "prod"} <= set(stacks)
    for stack in stacks:
        src = load_stack_file(stack)
        cfg = load_stack_config(stack, src.config, src.secret_keys)
        assert cfg.environment == stack


# Property-based: whatever the input, the loader answers with a model or a ConfigError, never anything else.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 50) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
top_keys = st.sampled_from(
    [
        "environment",
        "tags",
        "backends",
        "oauth",
        "connections",
        "consumers",
        "credits",
        "aws",
        "azure",
        "vault",
        "webhooks",
        "rotation",
        "production",
        "connectionTokens",
        "oauthClientSecret",
        "bogus",
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(overrides=st.dictionaries(top_keys, json_values, max_size=4))
def test_any_input_gives_a_model_or_one_config_error(overrides):
    raw = flatten(base_config())
    for k, v in overrides.items():
        raw[f"makini:{k}"] = v if isinstance(v, str) else json.dumps(v)
    try:
        load_stack_config("dev", raw, secret_keys=["makini:connectionTokens", "makini:oauthClientSecret"])
    except ConfigError as err:
        assert err.problems, "a ConfigError always names at least one problem"
        for p in err.problems:
            assert p.path.startswith("makini:") and p.message


@settings(max_examples=100, deadline=None)
@given(env=st.from_regex(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,11}", fullmatch=True))
def test_every_valid_environment_name_is_accepted(env):
    c = base_config(env)
    assert load(c, stack=env).environment == env
