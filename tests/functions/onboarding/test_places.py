"""The onboarding client's copies of the stack's names and tags agree with the stack's (stacks.naming)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from functions.onboarding import places
from stacks import naming
from stacks.catalog import runtime_token_path

ids = st.from_regex(naming.RUNTIME_CONNECTION_ID, fullmatch=True)
classes = st.from_regex(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}", fullmatch=True)


def test_the_rules_and_tags_are_the_stacks():
    from pydantic import TypeAdapter, ValidationError

    from stacks.config.classes import ClassName

    assert places.CONNECTION_ID.pattern == naming.RUNTIME_CONNECTION_ID.pattern
    config = TypeAdapter(ClassName)
    for name in ("ab", "linked", "eu-linked", "a" * 24, "a", "A1", "1ab", "ab-", "a--b", "a" * 25, "a_b"):
        try:
            config.validate_python(name)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == bool(places.CLASS_NAME.fullmatch(name)), name
    assert places.CONNECTION_ID_RULE == naming.RUNTIME_CONNECTION_ID_RULE
    assert places.tags("prod", "linked", "1") == naming.runtime_tags("prod", "linked", "1")
    assert places.MANAGED_BY == naming.RUNTIME_MANAGED_BY


@given(ids, classes)
def test_every_backend_name_is_the_stacks_and_gives_the_connection_back(connection_id, access_class):
    path = runtime_token_path(access_class, connection_id)
    assert places.catalog_path(access_class, connection_id) == path
    assert places.aws_secret_name("prod", access_class, connection_id) == naming.aws_secret_name("prod", path)
    assert places.key_vault_secret_name(access_class, connection_id) == naming.key_vault_secret_name(path)
    assert places.connection_of(access_class, path) == connection_id


def test_a_path_outside_the_class_names_no_connection():
    assert places.connection_of("linked", "connections/linked/a/b/token") is None
    assert places.connection_of("linked", "connections/linked2/a/token") is None
    assert places.connection_of("linked", "connections/linked/A/token") is None
