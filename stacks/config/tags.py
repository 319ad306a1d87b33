"""Rules for ``makini:tags.extra``: the clouds' documented tag rules, checked per backend the stack uses.

makini-infra puts ``extra`` on every AWS and Azure resource beside its own tags, so a tag the cloud
refuses would fail the deployment half way, and too many would exceed a resource's tag count:

* AWS (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html): at most 50 tags per
  resource, keys up to 128 characters, values up to 256, letters, digits, spaces and ``_ . : / = + - @``;
  the ``aws:`` prefix (any case) is reserved.
* Azure (https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources): at most 50
  tags per resource and **15 on a Key Vault secret**, names up to 512 characters (128 on storage accounts,
  which the Function Apps use), values up to 256; names cannot contain ``< > % & \\ ? /`` and cannot start
  with ``microsoft``, ``azure`` or ``windows`` (reserved); names are case-insensitive.

The stack's own tags (``environment``, ``owner``, ``cost-center``, ``managed-by`` and ``makini:*``) are
refused as extra keys: ``extra`` would silently override or be overridden by them. The number of tags the
stack puts on a resource itself is :data:`OWN_TAGS` (a unit test checks it against the tags the program
renders), so ``extra`` may hold at most the limit minus those.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping

from ..errors import Problem

AWS_TAGS_MAX, AZURE_TAGS_MAX, KEY_VAULT_SECRET_TAGS_MAX = 50, 50, 15
TAG_KEY_MAX = 128  # AWS keys; Azure names on storage accounts (the strictest Azure resource the stack tags)

#: The tags the stack itself puts on its most-tagged resource of each kind: the four common tags
#: (environment, owner, cost-center, managed-by) plus, on a connection token, makini:kind,
#: makini:connection, makini:connection-id and makini:class, and on Azure the rotation function's
#: makini-connection-id. (tests/unit/test_config_tags.py measures them on a rendered plan.)
OWN_TAGS = {"aws": 8, "azure": 9}
#: Keys the stack sets itself (extra may not repeat them).
RESERVED_OWN = frozenset({"environment", "owner", "cost-center", "managed-by"})
OWN_PREFIXES = ("makini:", "makini-")

_AWS_KEY = re.compile(r"[\w .:/=+\-@]+")
_AZURE_FORBIDDEN = set("<>%&\\?/")
_AZURE_RESERVED = ("microsoft", "azure", "windows")


def _path(key: str) -> str:
    return f'makini:tags.extra["{key}"]'


def tag_problems(extra: Mapping[str, str], backends: Collection[str]) -> list[Problem]:
    """``makini:tags.extra`` against the tag rules of the backends the stack uses."""
    if not extra:
        return []
    aws, azure = "aws" in backends, "azure" in backends
    problems: list[Problem] = []
    remove = "pulumi config rm --path 'makini:tags.extra.{k}'"
    for key in sorted(extra):
        path = _path(key)
        if not key or len(key) > TAG_KEY_MAX:
            problems.append(
                Problem(
                    path,
                    f"tag key is {len(key)} characters; AWS allows 1-128, and so do Azure storage accounts",
                    "use a shorter key",
                )
            )
        folded = key.lower()
        if folded in RESERVED_OWN or folded.startswith(OWN_PREFIXES):
            problems.append(
                Problem(
                    path,
                    f"'{key}' is one of the stack's own tags (environment, owner, cost-center, managed-by, makini:*), "
                    "which it sets itself; an extra tag would clash with it",
                    "set owner and costCenter under makini:tags, or rename the key",
                )
            )
        if aws:
            if folded.startswith("aws:"):
                problems.append(
                    Problem(
                        path,
                        "the aws: prefix is reserved by AWS; AWS refuses tag keys that start with it",
                        remove.format(k=key),
                    )
                )
            if not _AWS_KEY.fullmatch(key):
                problems.append(
                    Problem(
                        path,
                        f"AWS tag keys hold letters, digits, spaces and _ . : / = + - @ only; '{key}' holds others",
                        "rename the key",
                    )
                )
        if azure:
            if folded.startswith(_AZURE_RESERVED):
                problems.append(
                    Problem(
                        path,
                        "Azure reserves tag names starting with microsoft, azure or windows (any case)",
                        remove.format(k=key),
                    )
                )
            bad = sorted(set(key) & _AZURE_FORBIDDEN)
            if bad:
                problems.append(
                    Problem(
                        path,
                        f"Azure tag names cannot contain {' '.join(bad)}",
                        "rename the key (e.g. with '-' or ':')",
                    )
                )
    if azure:
        seen: dict[str, str] = {}
        for key in sorted(extra):
            first = seen.setdefault(key.lower(), key)
            if first != key:
                problems.append(
                    Problem(
                        _path(key),
                        f"'{key}' and '{first}' are the same tag on Azure (tag names ignore case)",
                        remove.format(k=key),
                    )
                )
    budgets: list[tuple[str, int, int]] = []
    if aws:
        budgets.append(("AWS resources", AWS_TAGS_MAX, OWN_TAGS["aws"]))
    if azure:
        budgets.append(("Key Vault secrets", KEY_VAULT_SECRET_TAGS_MAX, OWN_TAGS["azure"]))
    for what, maximum, own in budgets:
        if len(extra) + own > maximum:
            problems.append(
                Problem(
                    "makini:tags.extra",
                    f"{len(extra)} extra tags, but {what} take at most {maximum} tags and the stack puts up to "
                    f"{own} of its own on them: at most {maximum - own} extra tags",
                    "remove tags from makini:tags.extra (or combine several into one value)",
                )
            )
    return problems
