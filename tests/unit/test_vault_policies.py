"""Vault consumer policies: parsed by an independent HCL parser (python-hcl2), they grant exactly the declared paths."""

from __future__ import annotations

import hcl2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.vault.policies import consumer_policy_hcl

KEY = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True)


def grants(text: str) -> dict[str, list[str]]:
    doc = hcl2.loads(text)
    out: dict[str, list[str]] = {}
    for block in doc["path"]:
        for path, body in block.items():
            path = path.strip('"')
            assert path not in out, "a path granted twice"
            caps = body["capabilities"]
            out[path] = [c.strip('"') for c in caps]
            assert {k for k in body if not k.startswith("__")} == {"capabilities"}
    return out


@settings(max_examples=100, deadline=None)
@given(
    env=st.sampled_from(["dev", "prod", "stg-2"]),
    keys=st.lists(KEY, min_size=1, max_size=6, unique=True),
    oauth=st.booleans(),
)
def test_policy_grants_read_on_exactly_the_declared_paths(env, keys, oauth):
    paths = [f"connections/{k}/token" for k in keys] + (["oauth/client"] if oauth else [])
    text = consumer_policy_hcl(env, "orders", f"makini-{env}", paths)
    got = grants(text)
    own_token = {
        "auth/token/lookup-self": ["read"],
        "auth/token/renew-self": ["update"],
        "auth/token/revoke-self": ["update"],
    }
    assert got == {f"makini-{env}/data/{p}": ["read"] for p in paths} | own_token
    assert not any("*" in p or "+" in p or "/metadata/" in p for p in got)


def test_a_consumer_reading_nothing_gets_no_policy():
    with pytest.raises(ValueError):
        consumer_policy_hcl("dev", "orders", "makini-dev", [])


def test_the_parser_sees_a_wider_grant():
    """The check can fail: a hand-written glob grant is visible to the parser."""
    wide = 'path "makini-dev/data/connections/*" {\n  capabilities = ["read", "list"]\n}\n'
    assert grants(wide) == {"makini-dev/data/connections/*": ["read", "list"]}
