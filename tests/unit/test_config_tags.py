"""makini:tags.extra: refused where a cloud would refuse it, counted against each backend's tag limits."""

from __future__ import annotations

import pytest

from stacks.config import ConfigError
from stacks.config.tags import AWS_TAGS_MAX, KEY_VAULT_SECRET_TAGS_MAX, OWN_TAGS
from tests.support import azure_section, base_config, load, run, scale_config

GUID = "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"


def with_extra(extra: dict, backends=("aws",)):
    c = base_config()
    c["makini:backends"] = list(backends)
    if "azure" in backends:
        c["makini:azure"] = azure_section()
        for i, consumer in enumerate(c["makini:consumers"].values()):
            consumer["azure"] = {"principalId": GUID.replace("0b", f"{i}c", 1)}
    c["makini:tags"]["extra"] = extra
    return c


def problems(c) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(c)
    return {p.path: p.message for p in info.value.problems}


@pytest.mark.parametrize("key", ["aws:team", "AWS:cost"])
def test_the_aws_prefix_is_refused_on_aws(key):
    assert "reserved by AWS" in problems(with_extra({key: "x"}))[f'makini:tags.extra["{key}"]']


def test_the_aws_prefix_is_allowed_where_aws_is_not_used():
    """The rules follow the backends in use: an Azure-only stack may use an aws-looking key."""
    c = with_extra({"aws-team": "x"}, backends=("azure",))
    c["makini:webhooks"] = {"enabled": False}
    load(c)


@pytest.mark.parametrize("key", ["azure-team", "Microsoft.cost", "windowsOwner"])
def test_azure_reserved_prefixes_are_refused_on_azure(key):
    assert "Azure reserves" in problems(with_extra({key: "x"}, ("azure",)))[f'makini:tags.extra["{key}"]']


def test_azure_forbidden_characters_and_case_duplicates():
    got = problems(with_extra({"team/a": "x", "Team": "x", "team": "y"}, ("aws", "azure")))
    assert "cannot contain /" in got['makini:tags.extra["team/a"]']
    assert "same tag on Azure" in got['makini:tags.extra["team"]']


def test_the_stacks_own_tags_cannot_be_repeated():
    got = problems(with_extra({"Owner": "x", "makini:kind": "y", "managed-by": "z"}))
    assert set(got) == {f'makini:tags.extra["{k}"]' for k in ("Owner", "makini:kind", "managed-by")}


def test_key_length_and_characters():
    long = "k" * 129
    got = problems(with_extra({long: "x", "bad#key": "y"}))
    assert "129 characters" in got[f'makini:tags.extra["{long}"]']
    assert "letters, digits, spaces" in got['makini:tags.extra["bad#key"]']


def test_counts_leave_room_for_the_stacks_own_tags():
    aws_room = AWS_TAGS_MAX - OWN_TAGS["aws"]
    load(with_extra({f"t{i}": "v" for i in range(aws_room)}))
    msg = problems(with_extra({f"t{i}": "v" for i in range(aws_room + 1)}))["makini:tags.extra"]
    assert f"at most {aws_room} extra tags" in msg
    azure_room = KEY_VAULT_SECRET_TAGS_MAX - OWN_TAGS["azure"]
    load(with_extra({f"t{i}": "v" for i in range(azure_room)}, ("aws", "azure")))
    msg = problems(with_extra({f"t{i}": "v" for i in range(azure_room + 1)}, ("aws", "azure")))["makini:tags.extra"]
    assert "Key Vault secrets take at most 15 tags" in msg


def test_own_tag_counts_are_what_the_program_puts_on_its_most_tagged_resources():
    """OWN_TAGS is measured, not assumed: a stack with classes, makini ids and no extra tags."""
    r = run(scale_config(6, ("aws", "azure")))
    aws = max(len(x.plain_inputs.get("tags") or {}) for x in r.resources if x.type.startswith("aws:") and x.custom)
    kv = max(len(x.plain_inputs.get("tags") or {}) for x in r.of_type("azure-native:keyvault:Secret"))
    assert (aws, kv) == (OWN_TAGS["aws"], OWN_TAGS["azure"])
    azure = max(
        len(x.plain_inputs.get("tags") or {})
        for x in r.resources
        if x.type.startswith("azure-native:") and x.type != "azure-native:keyvault:Secret" and x.custom
    )
    assert azure + (AWS_TAGS_MAX - OWN_TAGS["aws"]) <= 50  # the AWS bound on extra keeps other Azure resources in too
