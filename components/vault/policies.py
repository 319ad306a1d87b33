"""Pure rendering of a consumer's Vault policy (HCL), no Pulumi.

A consumer gets ``read`` on the exact KV v2 data path of each secret outside an access class it may read,
e.g. ``makini-dev/data/connections/acme-sap/token``, and on the tokens of each access class it reads,
``makini-dev/data/connections/<class>/+/token`` (``+`` is one path segment: a connection key; verified on
OpenBao 2.7.2: it matches ``connections/<class>/<key>/token`` and nothing deeper, nothing beside it), and
nothing else:

* exact paths, not ``connections/<key>/*``: each connection holds one secret (``token``), so a glob
  would grant nothing today and silently grant any secret added under the connection later;
* no ``metadata/`` paths: reading the current value (``GET <mount>/data/<path>``, what ``vault kv get``
  and hvac's ``read_secret_version`` call) needs only the data path. Listing versions or custom
  metadata is not a consumer's job; the store and rotation own the metadata.
Connection keys are letters, digits, ``.``, ``_`` and ``-`` only, so no path holds a glob (``*``, ``+``)
or a quote.

Every generated policy (consumers' and the rotator's) also lets the token look itself up, renew itself
and revoke itself (:data:`TOKEN_SELF_RULES`). Roles set ``token_no_default_policy``: Vault's ``default``
policy grants far more (cubbyhole, response wrapping, ``sys/tools``, ``sys/capabilities-self``, leases,
identity OIDC), but without these three a token answers 403 to ``lookup-self``/``renew-self``, so
clients that check or renew their token (hvac's ``is_authenticated()``, Vault Agent, most SDKs' lifetime
watchers) fail. Renewal stays capped by the role's ``token_max_ttl``. Proven on OpenBao in
tests/vault/test_tokens_on_openbao.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")


#: What a workload's token may do with itself: look up, renew (within token_max_ttl), revoke.
TOKEN_SELF_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("auth/token/lookup-self", ("read",)),
    ("auth/token/renew-self", ("update",)),
    ("auth/token/revoke-self", ("update",)),
)


def hcl_rule(path: str, capabilities: Iterable[str]) -> str:
    caps = ", ".join(f'"{c}"' for c in capabilities)
    return f'path "{path}" {{\n  capabilities = [{caps}]\n}}\n'


def token_self_hcl() -> str:
    """The HCL of :data:`TOKEN_SELF_RULES`, with a comment saying why."""
    head = "# The token may look itself up, renew itself (within the role's token_max_ttl) and revoke itself.\n"
    return head + "\n".join(hcl_rule(p, caps) for p, caps in TOKEN_SELF_RULES)


def data_path(mount: str, path: str) -> str:
    return f"{mount.strip('/')}/data/{path.strip('/')}"


def consumer_policy_paths(mount: str, paths: Iterable[str]) -> list[str]:
    """The exact API paths a consumer's policy grants ``read`` on, sorted."""
    out = sorted({data_path(mount, p) for p in paths})
    for p in out:
        if not _SAFE_PATH.fullmatch(p) or "//" in p:
            raise ValueError(f"unsafe Vault policy path {p!r}: only letters, digits, '.', '_', '-' and '/'")
    return out


def class_token_glob(mount: str, access_class: str) -> str:
    """The data path pattern of every token of an access class: ``<mount>/data/connections/<class>/+/token``."""
    path = data_path(mount, f"connections/{access_class}/+/token")
    if not _SAFE_PATH.fullmatch(path.replace("+", "x")) or "//" in path:
        raise ValueError(f"unsafe access class name {access_class!r}")
    return path


def consumer_policy_hcl(
    environment: str, consumer: str, mount: str, paths: Iterable[str], classes: Iterable[str] = ()
) -> str:
    """The HCL policy of one consumer: read on each of its secrets' data paths and its classes' tokens."""
    granted = consumer_policy_paths(mount, paths) + [class_token_glob(mount, c) for c in sorted(set(classes))]
    if not granted:
        raise ValueError(f"consumer {consumer} reads nothing in {environment}: it gets no policy")
    lines = [
        f"# makini-infra: {consumer} reads its Makini secrets of {environment} (read only, exact paths"
        + (", and one segment per access class)." if classes else ").")
    ]
    for p in granted:
        lines += ["", f'path "{p}" {{', '  capabilities = ["read"]', "}"]
    return "\n".join(lines) + "\n\n" + token_self_hcl()


def onboarding_policy_hcl(environment: str, consumer: str, mount: str, classes: Iterable[str]) -> str:
    """The onboarding identity's HCL policy: create (never overwrite) and soft-delete the tokens of each run-time
    class, nothing else (issue 19).

    ``<mount>/data/connections/<class>/+/token``: ``create`` only. KV v2 asks for ``create`` when the key does not
    exist yet and ``update`` when it does (whatever check-and-set says), so the onboarding identity writes a new
    customer's token and can never overwrite one: it cannot put customer B's token at customer A's path nor blank
    every customer's token. A customer who reconnected is the rotation's (a fresh token for the connection the
    name gives) or an operator's replace. ``delete`` on the same path: ``DELETE`` of the data path soft-deletes
    the latest version (a disconnected customer; an operator undeletes it), never ``destroy`` and never the
    metadata (both are other paths). ``read`` on the token's ``metadata/`` path: whether it exists, its versions
    and their deletion times (never a value), so a retry and a second disconnect are no-ops and a connection is
    never stored in two classes. No ``read`` on ``data/`` (a KV v2 write answers with the version's metadata,
    never the value), no ``list``, and no write on ``metadata/``: custom metadata and the version settings
    (``delete_version_after`` would let it expire every token) stay the deployer's. The path names the
    connection (the ``+`` segment), so nothing the onboarding identity writes can re-point a token.
    """
    classes = sorted(set(classes))
    globs = [class_token_glob(mount, c) for c in classes]
    if not globs:
        raise ValueError(f"onboarding identity {consumer} of {environment} has no run-time class")
    lines = [
        f"# makini-infra: {consumer} stores new customers' tokens of {environment} in its run-time classes "
        "(create, never overwrite; soft-delete a disconnected customer's; never read a value, list or destroy)."
    ]
    for c, p in zip(classes, globs, strict=True):
        meta = p.replace(f"{mount.strip('/')}/data/", f"{mount.strip('/')}/metadata/", 1)
        lines += ["", f'path "{p}" {{', '  capabilities = ["create", "delete"]', "}"]
        lines += [
            f"# whether a {c} token exists, its versions and deletion times: never its value",
            f'path "{meta}" {{',
            '  capabilities = ["read"]',
            "}",
        ]
    return "\n".join(lines) + "\n\n" + token_self_hcl()
