"""Sanity rules for an IAM role trust policy: who may assume the role must be a bounded subject.

Pure (no pydantic, no Pulumi): :func:`trust_policy_problems` takes the policy document and the AWS
accounts that count as "ours", and returns one sentence per problem. Consumers' ``createRole`` uses it;
so can any other code that writes trust policies (the CI roles in ``bootstrap/``).

Refused:

- anything but ``sts:AssumeRole*`` / ``sts:TagSession`` / ``sts:SetSourceIdentity`` / ``sts:SetContext``
  actions, and ``NotAction`` or ``NotPrincipal`` (each trusts everything but what it names);
- a wildcard principal (``*``, ``{AWS: "*"}``, ``arn:aws:iam::*:root``);
- a federated principal without a condition that binds the subject: web identity (OIDC) needs a
  ``<provider>:sub`` condition, SAML a ``SAML:aud`` one, Cognito a ``cognito-identity.amazonaws.com:aud``
  one; a subject that is only wildcards, or a GitHub subject whose repository part has a wildcard
  (``repo:*``, ``repo:org/*``);
- an AWS principal in another account (not in ``accounts``) without an ``sts:ExternalId`` condition.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

ASSUME_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithwebidentity",
        "sts:assumerolewithsaml",
        "sts:tagsession",
        "sts:setsourceidentity",
        "sts:setcontext",
    }
)
_ACCOUNT_IN_ARN = re.compile(r"arn:aws[\w-]*:(?:iam|sts)::(\d{12}|\*):")


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _principal_account(value: str) -> str | None:
    if re.fullmatch(r"\d{12}", value):
        return value
    match = _ACCOUNT_IN_ARN.match(value)
    return match.group(1) if match else None


def _condition_values(conditions: Any) -> dict[str, list[str]]:
    """Condition key (lower case) -> every value it is compared with, over every operator."""
    out: dict[str, list[str]] = {}
    if not isinstance(conditions, Mapping):
        return out
    for operator, block in conditions.items():
        if not isinstance(block, Mapping) or str(operator).startswith(("Null", "ForAnyValue:Null")):
            continue
        for key, values in block.items():
            out.setdefault(str(key).lower(), []).extend(str(v) for v in _as_list(values))
    return out


def _wild(value: str) -> bool:
    return "*" in value or "?" in value


def _federation_problems(i: int, provider: str, conditions: dict[str, list[str]]) -> list[str]:
    where = f"Statement[{i}]"
    lowered = provider.lower()
    if "saml-provider/" in lowered:
        wanted = ["saml:aud"]
    elif "cognito-identity" in lowered:
        wanted = ["cognito-identity.amazonaws.com:aud"]
    else:
        wanted = [k for k in conditions if k.endswith(":sub")] or [f"{lowered.split('/')[-1]}:sub"]
    bound = [k for k in wanted if k in conditions]
    if not bound:
        return [
            f"{where} trusts the federated principal {provider} with no {wanted[0]} condition, so any identity "
            "that provider issues a token to (any repository, any cluster's workload) could assume the role"
        ]
    found = []
    for key in bound:
        for value in conditions[key]:
            if value.strip("*?") == "" or value.startswith("system:serviceaccount:*"):
                found.append(f"{where} matches {key} against '{value}', which any subject matches")
            elif value.startswith("repo:") and _wild(value[5:].split(":", 1)[0]):
                found.append(
                    f"{where} matches {key} against '{value}': a wildcard in the repository lets other "
                    "repositories (any repository of the owner, or of anyone) assume the role"
                )
    return found


def trust_policy_problems(document: Any, accounts: Collection[str] = ()) -> list[str]:
    """What is wrong with a role trust policy (empty when nothing is). ``accounts`` are the AWS accounts
    of the stack (``aws:allowedAccountIds``); principals elsewhere need ``sts:ExternalId``. Unknown
    accounts (an empty collection) skip that rule."""
    if not isinstance(document, Mapping) or "Statement" not in document:
        return ["is not an IAM policy document (a mapping with Version and Statement)"]
    found: list[str] = []
    statements = _as_list(document["Statement"])
    if not statements:
        return ["has no statements, so nobody could assume the role"]
    for i, st in enumerate(statements):
        if not isinstance(st, Mapping):
            found.append(f"Statement[{i}] is not a mapping")
            continue
        allow = st.get("Effect") == "Allow"
        if "NotPrincipal" in st:
            found.append(f"Statement[{i}] uses NotPrincipal, which trusts every principal but the ones named")
        if "NotAction" in st and allow:
            found.append(f"Statement[{i}] uses NotAction, which allows every action but the ones named")
        principal = st.get("Principal")
        if allow and principal is None and "NotPrincipal" not in st:
            found.append(f"Statement[{i}] has no Principal")
        if principal is not None and not isinstance(principal, str | Mapping):
            found.append(f"Statement[{i}].Principal must be a mapping such as {{AWS: <role ARN>}}")
        kinds: dict[str, list[str]] = (
            {"*": [principal]}
            if isinstance(principal, str)
            else {str(k): [str(v) for v in _as_list(vs)] for k, vs in principal.items()}
            if isinstance(principal, Mapping)
            else {}
        )
        for action in _as_list(st.get("Action", [])):
            if str(action).lower() not in ASSUME_ACTIONS:
                found.append(f"Statement[{i}] allows '{action}'; a trust policy may only allow sts:AssumeRole* actions")
        if not allow:
            continue
        values = [v for vs in kinds.values() for v in vs]
        if any("*" in v for v in values):
            found.append(f"Statement[{i}] trusts a wildcard principal ('*'), so anyone could assume the role")
            continue
        conditions = _condition_values(st.get("Condition"))
        for provider in kinds.get("Federated", []):
            found += _federation_problems(i, provider, conditions)
        if accounts:
            for value in kinds.get("AWS", []):
                account = _principal_account(value)
                if account and account not in accounts and not conditions.get("sts:externalid"):
                    found.append(
                        f"Statement[{i}] trusts {value} in account {account}, outside this stack's accounts "
                        f"({', '.join(sorted(accounts))}), without an sts:ExternalId condition (the confused-deputy "
                        "guard for a role another account assumes)"
                    )
    return found
