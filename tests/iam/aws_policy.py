"""An AWS policy evaluator written from the IAM User Guide, for access proofs that do not trust our code.

moto's IAM enforcement evaluates identity policies with wildcards, and nothing else that decides access
to our secrets: not resource policies, not most condition keys, not permissions boundaries, not KMS key
policies. This module evaluates one request against the policies that apply to it and returns a
:class:`Decision` that names the statement(s) that decided, so a failing proof reads like an audit.

Usage (see ``tests/iam/README.md``)::

    decision = evaluate(
        Request(principal="arn:aws:iam::111122223333:role/app", action="secretsmanager:GetSecretValue",
                resource=secret_arn, resource_tags={"env": "prod"}),
        identity_policies=[doc], resource_policy=secret_policy, boundary=None,
    )
    assert decision.allowed, decision.reason

Evaluation rules, and the pages they come from
------------------------------------------------
IAM User Guide pages are under https://docs.aws.amazon.com/IAM/latest/UserGuide/ (abbreviated ``IAM/``).

1. Every policy that applies is searched for a matching ``Deny`` first; one explicit deny anywhere
   (identity policy, permissions boundary, resource policy, key or trust policy) decides
   (``IAM/reference_policies_evaluation-logic_policy-eval-denyallow.html``, "Deny evaluation").
2. Same account, ordinary resources: allowed when an identity policy allows *and* the permissions
   boundary (if any) allows, *or* when the resource policy grants the caller directly. What "directly"
   means depends on the principal the resource policy names (same page, "Resource-based policies", and
   ``IAM/access_policies_boundaries.html``, "Evaluating effective permissions with boundaries"):

   * an IAM user ARN, an assumed-role *session* ARN, ``"*"`` (all principals), an AWS service or a
     federated provider: a grant on its own, not limited by an implicit deny in identity policies or
     boundaries (``IAM/reference_policies_elements_principal.html``, "All principals");
   * an IAM *role* ARN (the role of the calling session): limited by the role's permissions boundary;
   * the account (``"123456789012"`` or ``arn:aws:iam::123456789012:root``): a delegation to the account,
     so the caller's identity policy (and boundary) must allow it
     (``IAM/reference_policies_elements_principal.html``, "AWS account principals").
3. Cross account: both sides must allow: the caller's identity policy (and boundary) in its account,
   and the resource policy in the resource's account naming the caller, its role or its account
   (``IAM/reference_policies_evaluation-logic-cross-account.html``).
4. KMS keys and IAM role trust policies are the documented exceptions: the key policy / trust policy
   must allow, directly or by naming the account so that identity policies count
   (``IAM/reference_policies_evaluation-logic_policy-eval-denyallow.html``, "Resource-based policies";
   https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html, "Allows access to the
   AWS account and enables IAM policies"; ``.../kms/latest/developerguide/policy-evaluation.html``).
   Trust policies are recognised by the action (``sts:AssumeRole``, ``sts:AssumeRoleWithWebIdentity``,
   ``sts:AssumeRoleWithSAML``, ``sts:TagSession``, ``sts:SetSourceIdentity``, ``sts:SetContext``).
5. The AWS account root user is allowed everything in its own account unless explicitly denied; it
   still needs the key policy to name its account for a KMS key (same pages).
6. Elements: ``Action``/``NotAction`` match case-insensitively with ``*`` and ``?``
   (``IAM/reference_policies_elements_action.html``); ``Resource``/``NotResource`` match ARNs
   case-sensitively, wildcards staying within each of the six colon-separated segments, the last
   segment (the resource) included (``IAM/reference_policies_elements_resource.html``). ``Principal``
   and ``NotPrincipal`` (``IAM/reference_policies_elements_notprincipal.html``): a ``Deny`` with
   ``NotPrincipal`` spares the caller only when its session (or user), its role and its account are
   all listed, as the page recommends; an ``Allow`` with ``NotPrincipal`` grants every caller none of
   whose ARNs is listed.
7. Conditions (``IAM/reference_policies_elements_condition.html``,
   ``IAM/reference_policies_elements_condition_operators.html``,
   ``IAM/reference_policies_multi-value-conditions.html``,
   ``IAM/reference_policies_condition_examples-multi-valued-context-keys.html``): operators AND, keys
   under one operator AND, values of one key OR (negated operators: NOR). Condition key names are
   case-insensitive. A missing key makes a condition false, except for negated operators
   (``StringNotEquals``, ``StringNotLike``, ``ArnNotEquals``, ``ArnNotLike``, ``NumericNotEquals``,
   ``DateNotEquals``, ``NotIpAddress``), which are then true, and ``...IfExists`` (true). ``Null``
   tests presence. ``ForAllValues:`` is true when the key is missing or empty and otherwise every
   request value must match (for a negated operator: match none of the policy values);
   ``ForAnyValue:`` is false when the key is missing or empty and otherwise one request value must.
   Supported: ``String{Equals,NotEquals,EqualsIgnoreCase,NotEqualsIgnoreCase,Like,NotLike}``,
   ``Arn{Equals,Like,NotEquals,NotLike}`` (per segment, like ``Resource``), ``Numeric*``, ``Date*``
   (ISO 8601 or epoch), ``Bool``, ``BinaryEquals``, ``IpAddress``/``NotIpAddress``, ``Null``, with
   ``IfExists`` and the two set operators. Anything else is a :class:`PolicyError`, never a silent
   "does not match".
8. Policy variables (``IAM/reference_policies_variables.html``) in ``Resource``/``NotResource`` and in
   string, ARN and Bool condition values, only with ``"Version": "2012-10-17"``: ``${key}`` (any
   single-valued context key, e.g. ``${aws:PrincipalTag/team}``), ``${key, 'default'}``, and
   ``${*}``, ``${?}``, ``${$}``. A variable with no value matches nothing (negated operators: true).
   Substituted values are literal (a ``*`` in a tag value is not a wildcard).

Request context (:class:`Request`): ``aws:PrincipalArn`` (the role ARN for a role session),
``aws:PrincipalAccount``, ``aws:PrincipalType``, ``aws:username`` (users), ``aws:SecureTransport``,
``aws:PrincipalTag/*``, ``aws:ResourceTag/*`` and ``<service>:ResourceTag/*`` (e.g.
``secretsmanager:ResourceTag/*``), ``aws:RequestTag/*`` and ``aws:TagKeys`` are filled in from the
request's fields; any other key (``kms:ViaService``, ``kms:EncryptionContext:*``,
``iam:PermissionsBoundary``, ``iam:PassedToService``, ``token.actions.githubusercontent.com:sub``, ...)
is passed in ``Request.context`` exactly as AWS would put it in the request context.

Not modelled (a proof that depends on one of these must say so): AWS Organizations SCPs and RCPs,
session policies, VPC endpoint policies, KMS grants, S3 ACLs and Object Ownership, whether an action
exists or supports resource-level permissions (pass ``resource="*"`` for actions that do not; only
``Resource: "*"`` statements match it then), context keys AWS adds that the caller did not pass
(``aws:CurrentTime``, ``aws:SourceIp``, ...), the unique-ID rewriting of principals in trust policies,
case-insensitive comparison of IAM user and role names in ``Principal`` (compared exactly), the
``aws:PrincipalOrgID`` family, and policy size and grammar limits beyond the elements parsed here.
Where AWS documents only six-segment ARN patterns, a shorter ``Resource`` or ``Arn*`` pattern is
matched as a whole-string wildcard (the more permissive reading).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from functools import lru_cache
from typing import Literal, TypeAlias

__all__ = [
    "ContextValue",
    "Decision",
    "Outcome",
    "Policy",
    "PolicyError",
    "PolicyLike",
    "Request",
    "StatementRef",
    "evaluate",
]

#: A value in the request context: one string, a list (multivalued keys), or a bool/number/datetime.
ContextValue: TypeAlias = str | bool | int | float | datetime | bytes | Sequence[str]


class PolicyError(ValueError):
    """A document this evaluator refuses: malformed for AWS, or using something it does not model."""


# --------------------------------------------------------------------------------------------------
# Strings with wildcards and policy variables

_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_DEFAULT = re.compile(r"\s*([^,]+?)\s*,\s*'([^']*)'\s*")
_VARIABLES_VERSION = "2012-10-17"

#: One piece of a policy string: ("lit", text) keeps ``*``/``?`` as wildcards; ("chr", c) is a literal
#: character from ``${*}``, ``${?}``, ``${$}``; ("var", key, default) is a policy variable.
_Part: TypeAlias = tuple[str, str, str | None]
#: A resolved piece: (text, literal). Literal text never holds wildcards.
_Chunk: TypeAlias = tuple[str, bool]
_Context: TypeAlias = dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class _Template:
    raw: str
    parts: tuple[_Part, ...]

    @property
    def has_variables(self) -> bool:
        return any(kind == "var" for kind, _, _ in self.parts)

    def resolve(self, ctx: _Context) -> tuple[_Chunk, ...] | None:
        """The string with its variables filled in from the request context; None if one has no value."""
        chunks: list[_Chunk] = []
        for kind, text, default in self.parts:
            if kind == "lit":
                chunks.append((text, False))
            elif kind == "chr":
                chunks.append((text, True))
            else:
                values = ctx.get(text)
                if values is not None and len(values) == 1:
                    chunks.append((values[0], True))
                elif default is not None:
                    chunks.append((default, True))
                else:
                    return None
        return tuple(chunks)


def _template(raw: str, variables: bool) -> _Template:
    if not variables or "${" not in raw:
        return _Template(raw, (("lit", raw, None),))
    parts: list[_Part] = []
    pos = 0
    for m in _VARIABLE.finditer(raw):
        if m.start() > pos:
            parts.append(("lit", raw[pos : m.start()], None))
        body = m.group(1)
        if body in ("*", "?", "$"):
            parts.append(("chr", body, None))
        else:
            dm = _DEFAULT.fullmatch(body)
            name, default = (dm.group(1), dm.group(2)) if dm else (body.strip(), None)
            if not name:
                raise PolicyError(f"empty policy variable in {raw!r}")
            parts.append(("var", name.lower(), default))
        pos = m.end()
    if pos < len(raw):
        parts.append(("lit", raw[pos:], None))
    return _Template(raw, tuple(parts))


def _plain(chunks: Sequence[_Chunk]) -> str:
    return "".join(text for text, _ in chunks)


def _has_wildcard(chunks: Sequence[_Chunk]) -> bool:
    return any(not literal and ("*" in text or "?" in text) for text, literal in chunks)


def _tokens(chunks: Sequence[_Chunk]) -> tuple[tuple[str, str], ...]:
    """Characters as ("lit", c), ("star", "") or ("one", "")."""
    out: list[tuple[str, str]] = []
    for text, literal in chunks:
        for c in text:
            if not literal and c == "*":
                out.append(("star", ""))
            elif not literal and c == "?":
                out.append(("one", ""))
            else:
                out.append(("lit", c))
    return tuple(out)


def _regex_body(tokens: Sequence[tuple[str, str]], star: str, one: str) -> str:
    return "".join(re.escape(c) if kind == "lit" else star if kind == "star" else one for kind, c in tokens)


@lru_cache(maxsize=65536)
def _compile(mode: str, tokens: tuple[tuple[str, str], ...], ignore_case: bool) -> re.Pattern[str]:
    """``glob``: the whole string, wildcards cross everything; ``arn``: six colon-separated segments,
    wildcards within a segment (the sixth, the resource, may hold colons)."""
    flags = re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL
    if mode == "arn":
        segments: list[list[tuple[str, str]]] = [[]]
        for token in tokens:
            if token == ("lit", ":") and len(segments) < 6:
                segments.append([])
            else:
                segments[-1].append(token)
        if len(segments) == 6:
            head = ":".join(_regex_body(s, "[^:]*", "[^:]") for s in segments[:5])
            return re.compile(head + ":" + _regex_body(segments[5], ".*", "."), flags)
    return re.compile(_regex_body(tokens, ".*", "."), flags)


@dataclass(frozen=True)
class _Patterns:
    """Policy strings (an Action list, a Resource list, condition values) compiled for matching.

    ``mode`` is ``exact`` (no wildcards: StringEquals), ``glob`` (Action, StringLike) or ``arn``
    (Resource, ArnLike). Strings without variables are compiled once, here; literal ones go into a set.
    """

    mode: str
    ignore_case: bool
    exact: frozenset[str]
    wild: tuple[re.Pattern[str], ...]
    templated: tuple[_Template, ...]
    raw: tuple[str, ...]

    @classmethod
    def build(cls, values: Iterable[str], mode: str, ignore_case: bool, variables: bool) -> _Patterns:
        exact: set[str] = set()
        wild: list[re.Pattern[str]] = []
        templated: list[_Template] = []
        raw = tuple(values)
        for value in raw:
            t = _template(value, variables)
            if t.has_variables:
                templated.append(t)
                continue
            chunks = t.resolve({})
            assert chunks is not None
            if mode == "exact" or not _has_wildcard(chunks):
                text = _plain(chunks)
                exact.add(text.lower() if ignore_case else text)
            else:
                wild.append(_compile(mode, _tokens(chunks), ignore_case))
        return cls(mode, ignore_case, frozenset(exact), tuple(wild), tuple(templated), raw)

    def matches(self, value: str, ctx: _Context) -> bool:
        key = value.lower() if self.ignore_case else value
        if key in self.exact:
            return True
        if any(p.fullmatch(value) for p in self.wild):
            return True
        for t in self.templated:
            chunks = t.resolve(ctx)
            if chunks is None:
                continue  # a variable with no value matches nothing
            if self.mode == "exact" or not _has_wildcard(chunks):
                text = _plain(chunks)
                if (text.lower() == key) if self.ignore_case else (text == value):
                    return True
            elif _compile(self.mode, _tokens(chunks), self.ignore_case).fullmatch(value):
                return True
        return False


# --------------------------------------------------------------------------------------------------
# Conditions

_STRING_OPERATORS: dict[str, tuple[str, bool, bool]] = {
    # operator: (match mode, ignore case, negated)
    "StringEquals": ("exact", False, False),
    "StringNotEquals": ("exact", False, True),
    "StringEqualsIgnoreCase": ("exact", True, False),
    "StringNotEqualsIgnoreCase": ("exact", True, True),
    "StringLike": ("glob", False, False),
    "StringNotLike": ("glob", False, True),
    "ArnEquals": ("arn", False, False),
    "ArnLike": ("arn", False, False),
    "ArnNotEquals": ("arn", False, True),
    "ArnNotLike": ("arn", False, True),
}
_COMPARISONS: dict[str, tuple[Callable[[float, float], bool], bool]] = {
    # suffix: (comparison request OP policy, negated)
    "Equals": (operator.eq, False),
    "NotEquals": (operator.eq, True),
    "LessThan": (operator.lt, False),
    "LessThanEquals": (operator.le, False),
    "GreaterThan": (operator.gt, False),
    "GreaterThanEquals": (operator.ge, False),
}
_OTHER_OPERATORS = ("Bool", "BinaryEquals", "IpAddress", "NotIpAddress", "Null")


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _date(text: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 date/time or an epoch number (naive times are UTC)."""
    number = _number(text)
    if number is not None:
        return number
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class _Condition:
    operator: str
    base: str
    qualifier: str | None
    if_exists: bool
    negated: bool
    key: str
    values: tuple[str, ...]
    patterns: _Patterns | None = None
    numbers: tuple[float, ...] = ()
    compare: Callable[[float, float], bool] | None = None
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    blobs: tuple[bytes, ...] = ()

    def _one(self, value: str, ctx: _Context) -> bool:
        """Does one request value match any policy value (before negation)?"""
        if self.patterns is not None:
            return self.patterns.matches(value, ctx)
        if self.compare is not None:
            parse = _date if self.base.startswith("Date") else _number
            got = parse(value)
            return got is not None and any(self.compare(got, n) for n in self.numbers)
        if self.networks:
            try:
                address = ipaddress.ip_address(value.split("/")[0])
            except ValueError:
                return False
            return any(address.version == n.version and address in n for n in self.networks)
        if self.blobs:
            blob = _binary(value)
            return blob is not None and blob in self.blobs
        raise AssertionError(self.operator)

    def holds(self, ctx: _Context) -> bool:
        found = ctx.get(self.key)
        present = found is not None and any(v != "" for v in found)
        if self.base == "Null":
            return any((v == "true") == (not present) for v in self.values)
        values = found or ()
        if self.qualifier == "ForAllValues":
            if not present:
                return True
            return all((not self._one(v, ctx)) if self.negated else self._one(v, ctx) for v in values)
        if self.qualifier == "ForAnyValue":
            if not present:
                return self.if_exists
            return any((not self._one(v, ctx)) if self.negated else self._one(v, ctx) for v in values)
        if found is None or not found:
            return self.if_exists or self.negated
        hit = any(self._one(v, ctx) for v in values)
        return not hit if self.negated else hit


def _condition_values(raw: object, where: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for item in items:
        if isinstance(item, bool):
            out.append("true" if item else "false")
        elif isinstance(item, int | float | str):
            out.append(str(item))
        else:
            raise PolicyError(f"{where}: a condition value must be a string, number or boolean, got {item!r}")
    if not out:
        raise PolicyError(f"{where}: a condition needs at least one value")
    return tuple(out)


def _parse_condition(op: str, key: str, raw: object, variables: bool, where: str) -> _Condition:
    qualifier: str | None = None
    name = op
    for q in ("ForAllValues:", "ForAnyValue:"):
        if name.startswith(q):
            qualifier, name = q[:-1], name[len(q) :]
    if_exists = name.endswith("IfExists") and name != "IfExists"
    base = name[: -len("IfExists")] if if_exists else name
    values = _condition_values(raw, f"{where} {op}/{key}")
    common = _Condition(op, base, qualifier, if_exists, False, key.lower(), values)
    if base in _STRING_OPERATORS:
        mode, ignore_case, negated = _STRING_OPERATORS[base]
        patterns = _Patterns.build(values, mode, ignore_case, variables)
        return replace(common, negated=negated, values=values, patterns=patterns)
    for family in ("Numeric", "Date"):
        if base.startswith(family) and base[len(family) :] in _COMPARISONS:
            compare, negated = _COMPARISONS[base[len(family) :]]
            parse = _number if family == "Numeric" else _date
            numbers = tuple(parse(v) for v in values)
            if any(n is None for n in numbers):
                raise PolicyError(f"{where}: {op} needs {family.lower()} values, got {list(values)}")
            return replace(
                common,
                negated=negated,
                values=values,
                numbers=tuple(n for n in numbers if n is not None),
                compare=compare,
            )
    if base == "Bool":
        patterns = _Patterns.build(values, "exact", True, variables)
        return replace(common, negated=False, values=values, patterns=patterns)
    if base in ("IpAddress", "NotIpAddress"):
        networks = tuple(_network(v) for v in values)
        if any(n is None for n in networks):
            raise PolicyError(f"{where}: {op} needs CIDR values, got {list(values)}")
        return replace(
            common,
            negated=base == "NotIpAddress",
            values=values,
            networks=tuple(n for n in networks if n is not None),
        )
    if base == "BinaryEquals":
        blobs = tuple(_binary(v) for v in values)
        if any(b is None for b in blobs):
            raise PolicyError(f"{where}: BinaryEquals needs base64 values, got {list(values)}")
        return replace(common, negated=False, values=values, blobs=tuple(b for b in blobs if b is not None))
    if base == "Null" and not if_exists and qualifier is None:
        lowered = tuple(v.lower() for v in values)
        if any(v not in ("true", "false") for v in lowered):
            raise PolicyError(f"{where}: Null takes true or false, got {list(values)}")
        return replace(common, negated=False, values=lowered)
    raise PolicyError(f"{where}: condition operator {op!r} is not one this evaluator models")


# --------------------------------------------------------------------------------------------------
# Principals

_WEB_IDENTITY_PROVIDERS = frozenset(
    {"cognito-identity.amazonaws.com", "www.amazon.com", "graph.facebook.com", "accounts.google.com"}
)
_ARN = re.compile(r"arn:(?P<partition>[^:]*):(?P<service>[^:]*):(?P<region>[^:]*):(?P<account>[^:]*):(?P<resource>.*)")


def _account_token(account: str) -> str:
    return f"account:{account}"


@dataclass(frozen=True)
class _PrincipalSpec:
    everyone: bool
    aws_everyone: bool
    aws: frozenset[str]
    services: frozenset[str]
    federated: frozenset[str]

    @classmethod
    def parse(cls, raw: object, where: str) -> _PrincipalSpec:
        if raw == "*":
            return cls(True, True, frozenset(), frozenset(), frozenset())
        if not isinstance(raw, dict) or not raw:
            raise PolicyError(f'{where}: Principal must be "*" or a map of AWS/Service/Federated to principals')
        aws: set[str] = set()
        services: set[str] = set()
        federated: set[str] = set()
        aws_everyone = False
        for kind, value in raw.items():
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(v, str) and v for v in items):
                raise PolicyError(f"{where}: Principal {kind} values must be non-empty strings")
            if kind == "AWS":
                for v in items:
                    if v == "*":
                        aws_everyone = True
                    elif "*" in v or "?" in v:
                        raise PolicyError(f"{where}: a principal cannot use a partial wildcard ({v!r})")
                    elif re.fullmatch(r"\d{12}", v):
                        aws.add(_account_token(v))
                    else:
                        m = _ARN.fullmatch(v)
                        if m and m["service"] == "iam" and m["resource"] == "root":
                            aws.add(_account_token(m["account"]))
                        else:
                            aws.add(v)
            elif kind == "Service":
                services.update(v.lower() for v in items)
            elif kind == "Federated":
                federated.update(items)
            elif kind == "CanonicalUser":
                continue  # S3 only; never matches the callers modelled here
            else:
                raise PolicyError(f"{where}: unknown principal type {kind!r}")
        return cls(False, aws_everyone, frozenset(aws), frozenset(services), frozenset(federated))


CallerKind: TypeAlias = Literal["role", "user", "root", "federated-user", "service", "federated"]


@dataclass(frozen=True)
class _Caller:
    kind: CallerKind
    account: str | None
    #: ARNs (or account tokens) naming the caller, most specific first: session/user, role, account.
    chain: tuple[str, ...]
    principal_arn: str | None = None
    role_arn: str | None = None
    name: str | None = None

    @property
    def has_identity_side(self) -> bool:
        return self.kind not in ("service", "federated")


def _caller(principal: str, session_name: str) -> _Caller:
    if principal in _WEB_IDENTITY_PROVIDERS:
        return _Caller("federated", None, (principal,))
    m = _ARN.fullmatch(principal)
    if m is None:
        if re.fullmatch(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?", principal):
            return _Caller("service", None, (principal.lower(),))
        raise ValueError(f"not a principal this evaluator knows: {principal!r}")
    partition, service, account, resource = m["partition"], m["service"], m["account"], m["resource"]
    root = _account_token(account)
    if service == "iam" and resource == "root":
        return _Caller("root", account, (root,), principal_arn=principal)
    if service == "iam" and resource.startswith("role/"):
        name = resource.rsplit("/", 1)[-1]
        session = f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}"
        return _Caller("role", account, (session, principal, root), principal_arn=principal, role_arn=principal)
    if service == "sts" and resource.startswith("assumed-role/"):
        _, name, _session = resource.split("/", 2)
        role = f"arn:{partition}:iam::{account}:role/{name}"
        return _Caller("role", account, (principal, role, root), principal_arn=role, role_arn=role)
    if service == "iam" and resource.startswith("user/"):
        name = resource.rsplit("/", 1)[-1]
        return _Caller("user", account, (principal, root), principal_arn=principal, name=name)
    if service == "sts" and resource.startswith("federated-user/"):
        return _Caller("federated-user", account, (principal, root), principal_arn=principal)
    if service == "iam" and (resource.startswith("oidc-provider/") or resource.startswith("saml-provider/")):
        return _Caller("federated", account, (principal,))
    raise ValueError(f"not a principal this evaluator knows: {principal!r}")


#: How a resource-policy statement names the caller, which decides whether its grant stands alone.
_Grant: TypeAlias = Literal["everyone", "session", "user", "root", "service", "federated", "role", "account"]
_DIRECT: frozenset[str] = frozenset({"everyone", "session", "user", "root", "service", "federated"})
#: A principal element naming the caller's own session, user or root ARN.
_FIRST_LINK_GRANT: dict[str, _Grant] = {
    "role": "session",
    "user": "user",
    "root": "root",
    "federated-user": "session",
    "service": "service",
    "federated": "federated",
}


def _principal_grant(spec: _PrincipalSpec, caller: _Caller) -> _Grant | None:
    if spec.everyone or (spec.aws_everyone and caller.has_identity_side):
        return "everyone"
    if caller.kind == "service":
        return "service" if caller.chain[0] in spec.services else None
    if caller.kind == "federated":
        return "federated" if caller.chain[0] in spec.federated else None
    if caller.chain[0] in spec.aws:
        return _FIRST_LINK_GRANT[caller.kind]
    if caller.role_arn is not None and caller.role_arn in spec.aws:
        return "role"
    if caller.account is not None and _account_token(caller.account) in spec.aws:
        return "root" if caller.kind == "root" else "account"
    return None


def _not_principal_applies(spec: _PrincipalSpec, caller: _Caller, effect: str) -> bool:
    """Whether a NotPrincipal statement applies to the caller (see rule 6 in the module docstring)."""
    if spec.everyone or (spec.aws_everyone and caller.has_identity_side):
        return False
    listed = [
        c in spec.aws or c.lower() in spec.services or c in spec.federated
        for c in caller.chain  # session/user, role, account
    ]
    if effect == "Deny":
        return not all(listed)
    return not any(listed)


# --------------------------------------------------------------------------------------------------
# Policies

_POLICY_KEYS = frozenset({"Version", "Id", "Statement"})
_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)


@dataclass(frozen=True)
class StatementRef:
    """Which statement of which policy decided."""

    policy: str
    index: int
    sid: str | None
    effect: str

    def __str__(self) -> str:
        name = repr(self.sid) if self.sid else f"#{self.index}"
        return f"{self.policy} statement {name} ({self.effect})"


def _strings(raw: object, where: str) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if not items or not all(isinstance(v, str) and v for v in items):
        raise PolicyError(f"{where}: expected a non-empty string or list of strings, got {raw!r}")
    return tuple(str(v) for v in items)


@dataclass(frozen=True)
class _Statement:
    ref: StatementRef
    effect: str
    actions: _Patterns | None
    not_actions: _Patterns | None
    resources: _Patterns | None
    not_resources: _Patterns | None
    principal: _PrincipalSpec | None
    not_principal: _PrincipalSpec | None
    conditions: tuple[_Condition, ...]

    @property
    def names_principal(self) -> bool:
        return self.principal is not None or self.not_principal is not None

    def matches(self, action: str, resource: str, ctx: _Context) -> bool:
        """Action, resource and conditions (not the principal)."""
        if self.actions is not None and not self.actions.matches(action, ctx):
            return False
        if self.not_actions is not None and self.not_actions.matches(action, ctx):
            return False
        if self.resources is not None and not self.resources.matches(resource, ctx):
            return False
        if self.not_resources is not None and self.not_resources.matches(resource, ctx):
            return False
        return all(c.holds(ctx) for c in self.conditions)

    def grant(self, caller: _Caller) -> _Grant | None:
        """How this resource-policy statement names the caller (None: it does not apply to it)."""
        if self.principal is not None:
            return _principal_grant(self.principal, caller)
        if self.not_principal is not None:
            return "everyone" if _not_principal_applies(self.not_principal, caller, self.effect) else None
        return None


def _parse_statement(raw: object, index: int, name: str, variables: bool) -> _Statement:
    where = f"{name} statement #{index}"
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: a statement must be an object")
    unknown = set(raw) - _STATEMENT_KEYS
    if unknown:
        raise PolicyError(f"{where}: unknown element(s) {sorted(unknown)}")
    sid = raw.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise PolicyError(f"{where}: Sid must be a string")
    if sid:
        where = f"{name} statement {sid!r}"
    effect = raw.get("Effect")
    if effect not in ("Allow", "Deny"):
        raise PolicyError(f'{where}: Effect must be "Allow" or "Deny", got {effect!r}')
    if ("Action" in raw) == ("NotAction" in raw):
        raise PolicyError(f"{where}: exactly one of Action and NotAction is required")
    if "Resource" in raw and "NotResource" in raw:
        raise PolicyError(f"{where}: Resource and NotResource cannot both be present")
    if "Principal" in raw and "NotPrincipal" in raw:
        raise PolicyError(f"{where}: Principal and NotPrincipal cannot both be present")

    def patterns(key: str, mode: str, ignore_case: bool) -> _Patterns | None:
        if key not in raw:
            return None
        values = _strings(raw[key], f"{where} {key}")
        return _Patterns.build(values, mode, ignore_case, variables and mode == "arn")

    for key in ("Action", "NotAction"):
        for a in _strings(raw[key], f"{where} {key}") if key in raw else ():
            if a != "*" and ":" not in a:
                raise PolicyError(f"{where}: action {a!r} must be service:action (or *)")
    conditions: list[_Condition] = []
    block = raw.get("Condition", {})
    if not isinstance(block, dict):
        raise PolicyError(f"{where}: Condition must be an object")
    for op, keys in block.items():
        if not isinstance(keys, dict) or not keys:
            raise PolicyError(f"{where}: Condition {op} must map condition keys to values")
        for key, value in keys.items():
            conditions.append(_parse_condition(op, key, value, variables, where))
    return _Statement(
        ref=StatementRef(name, index, sid or None, effect),
        effect=effect,
        actions=patterns("Action", "glob", True),
        not_actions=patterns("NotAction", "glob", True),
        resources=patterns("Resource", "arn", False),
        not_resources=patterns("NotResource", "arn", False),
        principal=_PrincipalSpec.parse(raw["Principal"], where) if "Principal" in raw else None,
        not_principal=_PrincipalSpec.parse(raw["NotPrincipal"], where) if "NotPrincipal" in raw else None,
        conditions=tuple(conditions),
    )


@dataclass(frozen=True)
class Policy:
    """A parsed policy document. Parse once (``Policy.parse``) when evaluating many requests."""

    name: str
    version: str | None
    statements: tuple[_Statement, ...]

    @classmethod
    def parse(cls, document: Mapping[str, object] | str, name: str = "policy") -> Policy:
        """Parse a policy document (a dict or its JSON); ``name`` labels it in decisions."""
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except json.JSONDecodeError as err:
                raise PolicyError(f"{name}: not JSON: {err}") from None
        if not isinstance(document, Mapping):
            raise PolicyError(f"{name}: a policy document must be a JSON object")
        unknown = set(document) - _POLICY_KEYS
        if unknown:
            raise PolicyError(f"{name}: unknown top-level element(s) {sorted(unknown)}")
        version = document.get("Version")
        if version not in (None, "2012-10-17", "2008-10-17"):
            raise PolicyError(f"{name}: Version must be 2012-10-17 (or 2008-10-17), got {version!r}")
        raw = document.get("Statement")
        if isinstance(raw, dict):
            raw = [raw]
        if not isinstance(raw, list):
            raise PolicyError(f"{name}: Statement must be an object or a list of objects")
        variables = version == _VARIABLES_VERSION
        return cls(name, version, tuple(_parse_statement(s, i, name, variables) for i, s in enumerate(raw)))


#: What ``evaluate`` accepts for a policy: a parsed :class:`Policy`, a document dict, or its JSON.
PolicyLike: TypeAlias = Policy | Mapping[str, object] | str


def _as_policy(value: PolicyLike, name: str) -> Policy:
    return value if isinstance(value, Policy) else Policy.parse(value, name)


# --------------------------------------------------------------------------------------------------
# Requests and decisions


@dataclass(frozen=True)
class Request:
    """One request as AWS authorizes it.

    ``principal`` is who calls: an IAM role ARN (the call comes from a session of that role, named
    ``session_name``), an assumed-role session ARN, an IAM user ARN, an account root ARN, a service
    principal (``lambda.amazonaws.com``) or a federated provider (an ``oidc-provider``/``saml-provider``
    ARN, or a web identity domain). ``context`` holds any other context key, exactly as AWS names it.
    A session ARN carries no role path, so its ``aws:PrincipalArn`` is the path-less role ARN: give the
    role ARN itself when the role has a path.
    """

    principal: str
    action: str
    resource: str = "*"
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    request_tags: Mapping[str, str] = field(default_factory=dict)
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    secure_transport: bool = True
    session_name: str = "session"
    #: The account that owns the resource; by default the account field of its ARN, else the caller's.
    resource_account: str | None = None


class Outcome(StrEnum):
    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Decision:
    """The verdict, why, and the statements that decided it (deny statements, or the allowing ones)."""

    outcome: Outcome
    reason: str
    statements: tuple[StatementRef, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.outcome is Outcome.ALLOW

    def __bool__(self) -> bool:
        return self.allowed

    def __str__(self) -> str:
        return f"{self.outcome.value}: {self.reason}"


def _values(value: ContextValue) -> tuple[str, ...]:
    if isinstance(value, bool):
        return ("true" if value else "false",)
    if isinstance(value, int | float):
        return (str(value),)
    if isinstance(value, datetime):
        return (value.isoformat(),)
    if isinstance(value, bytes):
        return (base64.b64encode(value).decode(),)
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _context(request: Request, caller: _Caller) -> _Context:
    ctx: _Context = {"aws:securetransport": _values(request.secure_transport)}
    if caller.principal_arn is not None:
        ctx["aws:principalarn"] = (caller.principal_arn,)
    if caller.account is not None:
        ctx["aws:principalaccount"] = (caller.account,)
    types = {"role": "AssumedRole", "user": "User", "root": "Account", "federated-user": "FederatedUser"}
    if caller.kind in types:
        ctx["aws:principaltype"] = (types[caller.kind],)
    if caller.kind == "user" and caller.name:
        ctx["aws:username"] = (caller.name,)
    if caller.kind == "service":
        ctx["aws:principalservicename"] = caller.chain
        ctx["aws:principalisawsservice"] = ("true",)
    service = request.action.split(":", 1)[0].lower()
    for tag, text in request.principal_tags.items():
        ctx[f"aws:principaltag/{tag.lower()}"] = (text,)
    for tag, text in request.resource_tags.items():
        ctx[f"aws:resourcetag/{tag.lower()}"] = (text,)
        ctx[f"{service}:resourcetag/{tag.lower()}"] = (text,)
    for tag, text in request.request_tags.items():
        ctx[f"aws:requesttag/{tag.lower()}"] = (text,)
    if request.request_tags:
        ctx["aws:tagkeys"] = tuple(request.request_tags)
    for key, value in request.context.items():
        ctx[key.lower()] = _values(value)
    return ctx


_TRUST_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithwebidentity",
        "sts:assumerolewithsaml",
        "sts:tagsession",
        "sts:setsourceidentity",
        "sts:setcontext",
    }
)


def _refs(statements: Iterable[_Statement]) -> tuple[StatementRef, ...]:
    return tuple(s.ref for s in statements)


def _describe(refs: Sequence[StatementRef]) -> str:
    return "; ".join(str(r) for r in refs)


def evaluate(
    request: Request,
    *,
    identity_policies: Sequence[PolicyLike] = (),
    resource_policy: PolicyLike | None = None,
    boundary: PolicyLike | None = None,
    key_policy: PolicyLike | None = None,
) -> Decision:
    """Decide ``request`` as AWS would from these policies (rules: see the module docstring).

    ``identity_policies``: every identity-based policy of the caller (managed and inline).
    ``resource_policy``: the resource's policy (a secret's, a queue's, or the role's trust policy for
    ``sts:AssumeRole*``). ``boundary``: the caller's permissions boundary. ``key_policy``: the KMS key
    policy when the resource is a KMS key (it must allow, directly or through the account).
    """
    if resource_policy is not None and key_policy is not None:
        raise ValueError("pass a KMS key's policy as key_policy, and no other resource policy")
    action = request.action.lower()
    is_key = key_policy is not None
    if action.startswith("kms:") and ":key/" in request.resource and not is_key:
        raise ValueError(f"{request.action} on a KMS key is decided by the key policy: pass key_policy=")
    is_trust = action in _TRUST_ACTIONS
    caller = _caller(request.principal, request.session_name)
    ctx = _context(request, caller)

    identities = [_as_policy(p, f"identity policy {i + 1}") for i, p in enumerate(identity_policies)]
    bound = _as_policy(boundary, "permissions boundary") if boundary is not None else None
    resource_doc = key_policy if is_key else resource_policy
    resource_name = "key policy" if is_key else ("trust policy" if is_trust else "resource policy")
    resource = _as_policy(resource_doc, resource_name) if resource_doc is not None else None
    for policy in [*identities, *([bound] if bound else [])]:
        for s in policy.statements:
            if s.names_principal:
                raise PolicyError(f"{s.ref}: an identity policy or boundary cannot name a Principal")
            if s.resources is None and s.not_resources is None:
                raise PolicyError(f"{s.ref}: Resource or NotResource is required")
    if resource is not None:
        for s in resource.statements:
            if not s.names_principal:
                raise PolicyError(f"{s.ref}: a resource-based policy statement must name a Principal")

    if not caller.has_identity_side and (identities or bound):
        raise ValueError(f"{request.principal} is not an IAM identity: it has no identity policies")

    # 1. Explicit deny anywhere.
    id_side = [s for p in identities for s in p.statements if s.matches(action, request.resource, ctx)]
    bound_side = [s for s in bound.statements if s.matches(action, request.resource, ctx)] if bound else []
    resource_side: list[tuple[_Statement, _Grant]] = []
    if resource is not None:
        for s in resource.statements:
            grant = s.grant(caller)
            if grant is not None and s.matches(action, request.resource, ctx):
                resource_side.append((s, grant))
    denies = [
        *(s for s in id_side if s.effect == "Deny"),
        *(s for s in bound_side if s.effect == "Deny"),
        *(s for s, _ in resource_side if s.effect == "Deny"),
    ]
    if denies:
        return Decision(Outcome.EXPLICIT_DENY, f"denied by {_describe(_refs(denies))}", _refs(denies))

    # 2. Allows, per policy type.
    id_allows = [s for s in id_side if s.effect == "Allow"]
    bound_allows = [s for s in bound_side if s.effect == "Allow"]
    grants = [(s, g) for s, g in resource_side if s.effect == "Allow"]
    direct = [s for s, g in grants if g in _DIRECT]
    via_role = [s for s, g in grants if g == "role"]
    via_account = [s for s, g in grants if g == "account"]

    is_root = caller.kind == "root"
    resource_account = request.resource_account
    if resource_account is None:
        m = _ARN.fullmatch(request.resource)
        resource_account = (m["account"] if m and m["account"] else None) or caller.account
    same_account = caller.account is not None and caller.account == resource_account
    boundary_ok = is_root or bound is None or bool(bound_allows)
    identity_ok = is_root or bool(id_allows)
    principal_side = caller.has_identity_side and identity_ok and boundary_ok
    must_allow = is_key or is_trust

    used: list[_Statement] = []
    if not caller.has_identity_side:
        # A service or a federated identity has no identity policies: only the resource policy counts.
        allowed, used = bool(direct), direct
    elif same_account and not must_allow:
        # Identity side OR a resource-policy grant (a role-ARN grant still within the boundary).
        if principal_side:
            allowed, used = True, id_allows + bound_allows
        elif direct:
            allowed, used = True, direct
        elif via_role and boundary_ok:
            allowed, used = True, via_role + bound_allows
        else:
            allowed = False
    else:
        # Key and trust policies must allow; across accounts the resource policy must name the caller
        # (or its role or account) and the caller's own account must allow too.
        resource_used: list[_Statement]
        if direct:
            resource_used, needs_identity = direct, not same_account
        elif via_role and boundary_ok:
            resource_used, needs_identity = via_role, not same_account
        elif via_account:
            resource_used, needs_identity = via_account, True
        else:
            resource_used, needs_identity = [], True
        allowed = bool(resource_used) and (principal_side or not needs_identity)
        used = resource_used + (id_allows + bound_allows if needs_identity else [])

    if allowed:
        if is_root and not used:
            return Decision(Outcome.ALLOW, "the account root user, in its own account, with no explicit deny")
        return Decision(Outcome.ALLOW, f"allowed by {_describe(_refs(used))}", _refs(used))
    return Decision(
        Outcome.IMPLICIT_DENY,
        _why_not(
            request,
            caller,
            same_account=same_account,
            must_allow=must_allow,
            resource_name=resource_name,
            has_resource_policy=resource is not None,
            id_allows=id_allows,
            boundary=bound,
            boundary_ok=boundary_ok,
            grants=grants,
        ),
    )


def _why_not(
    request: Request,
    caller: _Caller,
    *,
    same_account: bool,
    must_allow: bool,
    resource_name: str,
    has_resource_policy: bool,
    id_allows: Sequence[_Statement],
    boundary: Policy | None,
    boundary_ok: bool,
    grants: Sequence[tuple[_Statement, _Grant]],
) -> str:
    what = f"{request.action} on {request.resource} by {request.principal}"
    parts: list[str] = []
    if caller.has_identity_side:
        if not id_allows and caller.kind != "root":
            parts.append("no identity policy statement allows it")
        if boundary is not None and not boundary_ok:
            parts.append("the permissions boundary does not allow it")
    if not has_resource_policy:
        if must_allow or not same_account or not caller.has_identity_side:
            parts.append(f"there is no {resource_name}, and it must allow")
    elif not grants:
        parts.append(f"no {resource_name} statement grants it to this principal, its role or its account")
    else:
        kinds = sorted({g for _, g in grants})
        parts.append(f"the {resource_name} grants it only through {', '.join(kinds)} (not enough on its own)")
    if not same_account:
        parts.append("cross-account: the identity side and the resource policy must both allow")
    return f"implicit deny of {what}: " + "; ".join(parts or ["nothing allows it"])
