"""The Vault ACL evaluator against Vault's documented examples and answers observed on a real server.

Sources: https://developer.hashicorp.com/vault/docs/concepts/policies ("Policy syntax": ``*`` and ``+``;
"Priority matching"; "Capabilities": ``deny``), hashicorp/vault#23874 (LIST without a trailing slash), and
a run of OpenBao 2.7.2 (``bao server -dev``) with the policies below, recorded where noted.
"""

from __future__ import annotations

import pytest

from tests.iam.vault_acl import Acl, VaultPolicyError


def acl(*rules: tuple[str, list[str]]) -> Acl:
    return Acl.of("\n".join(f'path "{p}" {{\n  capabilities = {list(c)!r}\n}}'.replace("'", '"') for p, c in rules))


def test_exact_and_glob_paths():
    """Policy syntax: a path without * matches itself; "secret/*" matches everything under secret/."""
    a = acl(("secret/foo", ["read"]), ("kv/*", ["read"]))
    assert a.allows("secret/foo", "read") and not a.allows("secret/foo/bar", "read")
    assert not a.allows("secret/foobar", "read")
    assert a.allows("kv/a", "read") and a.allows("kv/a/b/c", "read") and not a.allows("kv", "read")


def test_a_glob_is_a_prefix_not_a_segment():
    """ "secret/fo*" matches secret/foo and secret/fo/bar: * is a prefix match, not a segment."""
    a = acl(("secret/fo*", ["read"]))
    assert a.allows("secret/foo", "read") and a.allows("secret/fo/bar", "read") and not a.allows("secret/f", "read")


def test_plus_matches_exactly_one_segment():
    """Policy syntax: "secret/+/teamb" matches secret/foo/teamb, not secret/foo/bar/teamb; "secret/+/+/teamb"
    matches the latter."""
    a = acl(("secret/+/teamb", ["read"]))
    assert a.allows("secret/foo/teamb", "read") and a.allows("secret/bar/teamb", "read")
    assert not a.allows("secret/foo/bar/teamb", "read") and not a.allows("secret/teamb", "read")
    assert acl(("secret/+/+/teamb", ["read"])).allows("secret/foo/bar/teamb", "read")
    b = acl(("secret/+/teamb/*", ["read"]))
    assert b.allows("secret/foo/teamb/x/y", "read") and not b.allows("secret/foo/teamc/x", "read")


def test_priority_an_exact_rule_beats_a_glob():
    """Priority matching: P1 "secret/*" is lower than P2 "secret/foo" (the glob occurs earlier)."""
    a = acl(("secret/*", ["create"]), ("secret/foo", ["read"]))
    assert a.capabilities("secret/foo") == {"read"}
    assert a.capabilities("secret/bar") == {"create"}


def test_priority_rules_in_order():
    # 1. the first wildcard occurs later wins: "secret/a/+" over "secret/+/b" for secret/a/b
    assert acl(("secret/+/b", ["read"]), ("secret/a/+", ["update"])).capabilities("secret/a/b") == {"update"}
    # 2. not ending in * wins: "secret/a" over "secret/a*" for secret/a
    assert acl(("secret/a*", ["read"]), ("secret/a", ["update"])).capabilities("secret/a") == {"update"}
    # 3. fewer + segments wins: "secret/a/+/c" over "secret/a/+/+" for secret/a/b/c
    assert acl(("secret/a/+/+", ["read"]), ("secret/a/+/c", ["update"])).capabilities("secret/a/b/c") == {"update"}
    # 4. longer wins: "secret/ab*" over "secret/a*" for secret/abc (the first glob occurs later too: the rule
    #    order is applied in turn, and both rules agree here), and "secret/+/bc*" over "secret/+/b*"
    assert acl(("secret/a*", ["read"]), ("secret/ab*", ["update"])).capabilities("secret/abc") == {"update"}
    assert acl(("secret/+/b*", ["read"]), ("secret/+/bc*", ["update"])).capabilities("secret/x/bcd") == {"update"}
    # 5. lexicographically larger wins when all else is equal: "secret/+/b" and "secret/a/+" differ at rule 1,
    #    so take two rules identical in shape: "x/+/c*" and "x/+/d*" never match the same path; rule 5 only
    #    orders rules, which the sort key shows.
    from tests.iam.vault_acl import Rule

    assert Rule("x/+/c*", frozenset()).priority() < Rule("x/+/d*", frozenset()).priority()


def test_deny_wins_and_grants_nothing():
    """Capabilities: deny takes precedence over any other capability, merged policies included."""
    a = Acl.of(
        'path "secret/*" {\n  capabilities = ["read"]\n}\n',
        'path "secret/super-secret" {\n  capabilities = ["deny"]\n}\n',
        'path "secret/super-secret" {\n  capabilities = ["read"]\n}\n',
    )
    assert a.allows("secret/other", "read") and not a.allows("secret/super-secret", "read")


def test_policies_on_one_token_merge_their_rules():
    a = Acl.of('path "a/x" {\n  capabilities = ["read"]\n}\n', 'path "a/x" {\n  capabilities = ["update"]\n}\n')
    assert a.capabilities("a/x") == {"read", "update"}


def test_list_accepts_a_rule_with_or_without_the_trailing_slash():
    """LIST requests end in '/'; a rule without it also allows the LIST (hashicorp/vault#23874)."""
    assert acl(("m/metadata/connections/", ["list"])).allows("m/metadata/connections", "list")
    assert acl(("m/metadata/connections", ["list"])).allows("m/metadata/connections/", "list")
    assert not acl(("m/metadata/connections/", ["list"])).allows("m/metadata/connections/x/", "list")


# Observed on OpenBao 2.7.2 (bao server -dev, KV v2 at makini-dev) with exactly these policies.
CONSUMER = 'path "makini-dev/data/connections/std/+/token" {\n  capabilities = ["read"]\n}\n'
ROTATOR = "".join(
    f'path "{p}" {{\n  capabilities = {c}\n}}\n'
    for p, c in [
        ("makini-dev/metadata/connections/", '["list"]'),
        ("makini-dev/metadata/connections/std/", '["list"]'),
        ("makini-dev/metadata/connections/std/+/", '["list"]'),
        ("makini-dev/metadata/connections/std/+/token", '["read", "update"]'),
        ("makini-dev/data/connections/std/+/token", '["create", "update"]'),
    ]
)


@pytest.mark.parametrize(
    ("path", "readable"),
    [
        ("connections/std/acme/token", True),
        ("connections/std/beta/token", True),
        ("connections/gold/zeta/token", False),
        ("connections/solo/token", False),
        ("connections/std2/x/token", False),
        ("connections/acme/m2m-key", False),
    ],
)
def test_a_class_consumer_on_openbao(path, readable):
    assert Acl.of(CONSUMER).allows(f"makini-dev/data/{path}", "read") is readable


def test_the_class_rotator_on_openbao():
    a = Acl.of(ROTATOR)
    assert a.allows("makini-dev/metadata/connections/", "list")
    assert a.allows("makini-dev/metadata/connections/std/", "list")
    assert a.allows("makini-dev/metadata/connections/std/acme/", "list")
    assert not a.allows("makini-dev/metadata/connections/gold/", "list")
    assert not a.allows("makini-dev/metadata/connections/std2/", "list")
    assert a.allows("makini-dev/metadata/connections/std/acme/token", "read")
    assert not a.allows("makini-dev/data/connections/std/acme/token", "read")
    assert a.allows("makini-dev/data/connections/std/acme/token", "update")
    assert not a.allows("makini-dev/data/connections/std2/x/token", "update")
    assert not a.allows("makini-dev/data/connections/std/a/b/token", "update")


def test_what_it_cannot_read_is_an_error():
    with pytest.raises(VaultPolicyError):
        Acl.of('path "a/*/b" {\n  capabilities = ["read"]\n}\n')
    with pytest.raises(VaultPolicyError):
        Acl.of('path "a/b" {\n  capabilities = ["read"]\n  allowed_parameters = {}\n}\n')
    with pytest.raises(VaultPolicyError):
        Acl.of('path "a/{{identity.entity.id}}" {\n  capabilities = ["read"]\n}\n')
