"""Pure rendering of a consumer's Vault policy (HCL), no Pulumi.

A consumer gets ``read`` on the exact KV v2 data path of each secret it may read, e.g.
``makini-dev/data/connections/acme-sap/token``, and nothing else:

* exact paths, not ``connections/<key>/*``: each connection holds one secret (``token``), so a glob
  would grant nothing today and silently grant any secret added under the connection later;
* no ``metadata/`` paths: reading the current value (``GET <mount>/data/<path>``, what ``vault kv get``
  and hvac's ``read_secret_version`` call) needs only the data path. Listing versions or custom
  metadata is not a consumer's job; the store and rotation own the metadata.
Connection keys are letters, digits, ``.``, ``_`` and ``-`` only, so no path holds a glob (``*``, ``+``)
or a quote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SAFE_PATH = re.compile(r"[A-Za-z0-9._/-]+")


def data_path(mount: str, path: str) -> str:
    return f"{mount.strip('/')}/data/{path.strip('/')}"


def consumer_policy_paths(mount: str, paths: Iterable[str]) -> list[str]:
    """The exact API paths a consumer's policy grants ``read`` on, sorted."""
    out = sorted({data_path(mount, p) for p in paths})
    for p in out:
        if not _SAFE_PATH.fullmatch(p) or "//" in p:
            raise ValueError(f"unsafe Vault policy path {p!r}: only letters, digits, '.', '_', '-' and '/'")
    return out


def consumer_policy_hcl(environment: str, consumer: str, mount: str, paths: Iterable[str]) -> str:
    """The HCL policy of one consumer: read on each of its secrets' data paths."""
    granted = consumer_policy_paths(mount, paths)
    if not granted:
        raise ValueError(f"consumer {consumer} reads nothing in {environment}: it gets no policy")
    lines = [f"# makini-infra: {consumer} reads its Makini secrets of {environment} (read only, exact paths)."]
    for p in granted:
        lines += ["", f'path "{p}" {{', '  capabilities = ["read"]', "}"]
    return "\n".join(lines) + "\n"
