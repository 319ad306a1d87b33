"""A Vault ACL evaluator written from Vault's policy documentation, for access proofs at scale.

The policies are parsed by an independent HCL parser (python-hcl2); this module decides which rule
applies to a request path and which capabilities it grants, following
https://developer.hashicorp.com/vault/docs/concepts/policies ("Policy syntax", "Capabilities",
"Priority matching"):

1. A rule path matches a request path exactly; a path ending in ``*`` is a prefix ("glob") match; a ``+``
   segment matches exactly one path segment (any characters but ``/``).
2. When several rules match, the highest-priority one decides alone. Rule P1 has lower priority than P2
   when, in this order: the first wildcard (``+``) or glob (``*``) occurs earlier in P1; P1 ends in ``*``
   and P2 does not; P1 has more ``+`` segments; P1 is shorter; P1 is smaller lexicographically.
3. The policies attached to a token are merged: rules for the same path pool their capabilities (``deny``
   wins over every other capability).
4. ``deny`` grants nothing; ``read`` is a GET, ``create``/``update`` a write of a new / existing key,
   ``list`` a LIST (whose request path ends in ``/``; Vault also accepts a rule without the slash for a
   LIST, hashicorp/vault#23874).

Not modelled: ``sudo``-only paths, templated policies (``{{identity...}}``), parameter constraints
(``allowed_parameters``, ...), ``min_wrapping_ttl``, control groups, namespaces. A rule using one is a
:class:`VaultPolicyError`, never silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import hcl2

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"})
_ALLOWED_KEYS = {"capabilities"}


class VaultPolicyError(ValueError):
    """A policy this evaluator cannot read faithfully."""


@dataclass(frozen=True)
class Rule:
    path: str
    capabilities: frozenset[str]

    @cached_property
    def glob(self) -> bool:
        return self.path.endswith("*")

    @cached_property
    def segments(self) -> tuple[str, ...]:
        return tuple((self.path[:-1] if self.glob else self.path).split("/"))

    def matches(self, request: str) -> bool:
        body = self.path[:-1] if self.glob else self.path
        if "+" not in body:
            return request.startswith(body) if self.glob else request == body
        parts = request.split("/")
        rule = self.segments
        if self.glob:
            if len(parts) < len(rule):
                return False
            *head, last = rule
            if not all(r == "+" or r == p for r, p in zip(head, parts, strict=False)):
                return False
            tail = "/".join(parts[len(head) :])
            if last == "+":  # "+*": one whole segment and anything after it
                return bool(tail)
            return tail.startswith(last)
        return len(parts) == len(rule) and all(r == "+" or (r == p) for r, p in zip(rule, parts, strict=True))

    def priority(self) -> tuple[int, int, int, int, str]:
        """A sort key: higher sorts later (wins), per the documented order."""
        first = min((i for i, c in enumerate(self.path) if c in "+*"), default=len(self.path) + 1)
        plus = sum(1 for s in self.segments if s == "+")
        return (first, 0 if self.glob else 1, -plus, len(self.path), self.path)


def parse(text: str) -> list[Rule]:
    """The path rules of one HCL policy."""
    document = hcl2.loads(text)
    extra = {k for k in document if not k.startswith("__")} - {"path"}
    if extra:
        raise VaultPolicyError(f"unsupported top-level blocks: {sorted(extra)}")
    rules = []
    for block in document.get("path", []):
        for raw_path, body in block.items():
            path = raw_path.strip('"')
            unknown = {k for k in body if not k.startswith("__")} - _ALLOWED_KEYS
            if unknown:
                raise VaultPolicyError(f"path {path!r}: unsupported keys {sorted(unknown)}")
            if "{{" in path:
                raise VaultPolicyError(f"path {path!r}: templated policies are not modelled")
            if "*" in path[:-1]:
                raise VaultPolicyError(f"path {path!r}: '*' is only allowed at the end")
            caps = frozenset(c.strip('"') for c in body["capabilities"])
            if not caps <= CAPABILITIES:
                raise VaultPolicyError(f"path {path!r}: unknown capabilities {sorted(caps - CAPABILITIES)}")
            rules.append(Rule(path, caps))
    return rules


class Acl:
    """The merged rules of the policies attached to one token."""

    def __init__(self, rules: Iterable[Rule]):
        merged: dict[str, set[str]] = {}
        for rule in rules:
            merged.setdefault(rule.path, set()).update(rule.capabilities)
        self.rules = sorted((Rule(p, frozenset(c)) for p, c in merged.items()), key=Rule.priority, reverse=True)
        self._exact = {r.path: r for r in self.rules if "+" not in r.path and not r.glob}

    @classmethod
    def of(cls, *policies: str) -> Acl:
        return cls(rule for text in policies for rule in parse(text))

    def rule_for(self, request: str) -> Rule | None:
        """The rule that decides for ``request`` (an exact rule has the highest priority of all)."""
        exact = self._exact.get(request)
        if exact is not None:
            return exact
        return next((r for r in self.rules if r.matches(request)), None)

    def capabilities(self, request: str) -> frozenset[str]:
        rule = self.rule_for(request)
        if rule is None or "deny" in rule.capabilities:
            return frozenset()
        return rule.capabilities

    def allows(self, request: str, capability: str) -> bool:
        if capability == "list" and not request.endswith("/"):
            request += "/"
        caps = self.capabilities(request)
        if capability == "list" and "list" not in caps:
            caps = self.capabilities(request.rstrip("/"))  # hashicorp/vault#23874
        return capability in caps
