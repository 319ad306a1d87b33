"""Where a run-time connection's token lives on each backend, and the rules its names follow (pure, no I/O).

A run-time token is ``connections/<class>/<makini connection id>/token`` (catalog path): on AWS the secret
``makini/<env>/connections/<class>/<id>/token``, on Vault that path in the KV v2 mount ``makini-<env>``, on Azure
the secret ``connections-<class>-<id>-token`` in the class's own Key Vault. The id is one path segment the name
keeps unchanged on every backend, so each backend's name gives the connection back, and nothing that can be
edited after creation (a tag, a value, metadata) decides which connection a token belongs to.

These are copies of what the stack uses (``stacks.naming``: a runtime function imports nothing of the program);
tests/functions/onboarding/test_places.py checks they agree.
"""

from __future__ import annotations

from functions.shared import names

#: The run-time name rules every function shares (functions/shared/names.py).
CONNECTION_ID = names.CONNECTION_ID
CLASS_NAME = names.CLASS_NAME

CONNECTION_ID_RULE = (
    "1-64 characters: lowercase letters, digits and single dashes, starting and ending with a letter or digit"
)

#: ``stacks.naming.RUNTIME_*``: the tags every run-time token carries (AWS tags, Key Vault tags).
TAG_CONNECTION_ID = "makini:connection-id"
TAG_CLASS = "makini:class"
TAG_KIND = "makini:kind"
TAG_ENVIRONMENT = "environment"
TAG_MANAGED_BY = "managed-by"
MANAGED_BY = "makini-onboarding"
#: Key Vault only: the request id of the store that wrote a version, so a retry recognises its own write (AWS shows
#: it as the version id; its policy allows exactly the tags of :func:`tags`).
TAG_REQUEST_ID = "makini:request-id"
KIND = "connection-token"


def catalog_path(access_class: str, connection_id: str) -> str:
    return f"connections/{access_class}/{connection_id}/token"


def aws_secret_name(environment: str, access_class: str, connection_id: str) -> str:
    return f"makini/{environment}/{catalog_path(access_class, connection_id)}"


def key_vault_secret_name(access_class: str, connection_id: str) -> str:
    """``stacks.naming.key_vault_secret_name`` of the catalog path: every segment is already readable."""
    return f"connections-{access_class}-{connection_id}-token"


def tags(environment: str, access_class: str, connection_id: str) -> dict[str, str]:
    """Exactly the tags the onboarding identity's AWS policy requires, each with its one allowed value."""
    return {
        TAG_ENVIRONMENT: environment,
        TAG_MANAGED_BY: MANAGED_BY,
        TAG_KIND: KIND,
        TAG_CLASS: access_class,
        TAG_CONNECTION_ID: connection_id,
    }


def connection_of(access_class: str, path: str) -> str | None:
    """The connection id a run-time token's catalog path names (None: not a run-time token of the class)."""
    prefix, suffix = f"connections/{access_class}/", "/token"
    if not (path.startswith(prefix) and path.endswith(suffix)):
        return None
    middle = path[len(prefix) : -len(suffix)]
    return middle if CONNECTION_ID.fullmatch(middle) else None
