"""Every key of a stack's configuration is accounted for: ``makini:`` keys by the model, provider keys by
the provider that reads them, nothing else.

Pulumi hands a program every key of the stack file, in every namespace. A key in a namespace nobody
reads is a mistake that would otherwise pass silently (``makni:aws`` leaves the operators out of every
policy; ``webhookSecret`` without a namespace lands in the project's namespace ``makini-infra:``, where
nothing reads it). The rules here run on the flat configuration, so the offline plan and ``pulumi up``
apply them alike:

- the namespaces of the providers the program uses are allowed; their keys are checked against the
  provider SDK's own configuration variables (``aws:regoin`` -> ``aws:region``);
- provider credentials must be Pulumi secrets when they are in the stack file at all;
- ``aws:allowedAccountIds`` (and ``aws:forbiddenAccountIds``) are lists of 12-digit strings, and
  ``aws:region`` is a region name;
- any other namespace is an error naming the nearest valid key, and a key in the project's namespace
  gets the exact ``pulumi config`` commands that move it.
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import json
import re
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

from ..errors import Problem
from .base import NAMESPACE

#: The Pulumi project name (Pulumi.yaml): keys written without a namespace land in it.
PROJECT_NAMESPACE = "makini-infra"

#: Provider namespace -> the Python SDK package whose ``config/vars.py`` lists the keys it reads.
PROVIDER_PACKAGES: dict[str, str] = {
    "aws": "pulumi_aws",
    "azure-native": "pulumi_azure_native",
    "vault": "pulumi_vault",
    "tls": "pulumi_tls",
}
#: Namespaces whose keys are not checked here (Pulumi's own: pulumi:tags, pulumi:disable-default-providers).
UNCHECKED_NAMESPACES = frozenset({"pulumi"})
KNOWN_NAMESPACES = frozenset({NAMESPACE, *PROVIDER_PACKAGES, *UNCHECKED_NAMESPACES})

#: Provider credentials: in a stack file they must be encrypted (`pulumi config set --secret`).
PROVIDER_SECRETS = frozenset(
    {
        "aws:accessKey",
        "aws:secretKey",
        "aws:token",
        "azure-native:clientSecret",
        "azure-native:clientCertificatePassword",
        "azure-native:oidcToken",
        "azure-native:oidcRequestToken",
        "vault:token",
    }
)

_ACCOUNT_ID = re.compile(r"\d{12}")
_AWS_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")


@functools.cache
def provider_keys(namespace: str) -> frozenset[str] | None:
    """The configuration keys the provider SDK reads (``None`` when the SDK cannot be found: unchecked)."""
    package = PROVIDER_PACKAGES.get(namespace)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or spec.origin is None:
        return None
    source = Path(spec.origin).parent / "config" / "vars.py"
    try:
        text = source.read_text(encoding="utf-8")
    except OSError:
        return None
    keys = frozenset(re.findall(r"__config__\.get(?:_\w+)?\('([A-Za-z0-9_-]+)'\)", text))
    return keys or None


def _set_command(key: str, secret: bool, structured: bool) -> str:
    flag = " --secret" if secret else ""
    if structured:
        return f"pulumi config set{flag} --path '{key}.<field>' <value>   # one per field"
    return f"pulumi config set{flag} {key} <value>"


def namespace_problems(
    raw: Mapping[str, str],
    secret_keys: Collection[str],
    model_keys: Iterable[str],
    structured_keys: Collection[str],
    secret_model_keys: Collection[str],
) -> list[Problem]:
    """Keys outside ``makini:`` that nothing reads, and provider keys that are misspelled or mis-typed.

    ``model_keys`` are the top-level keys of the model (``environment``, ``aws``, ...), ``structured_keys``
    the ones holding sections or lists, ``secret_model_keys`` the ones that must be secrets.
    """
    model_keys = sorted(model_keys)
    candidates = [f"{NAMESPACE}:{k}" for k in model_keys]
    for ns in PROVIDER_PACKAGES:
        candidates += [f"{ns}:{k}" for k in sorted(provider_keys(ns) or ())]
    problems: list[Problem] = []
    for full in sorted(raw):
        ns, sep, key = full.partition(":")
        if not sep:
            ns, key = PROJECT_NAMESPACE, full
        if ns == NAMESPACE or ns in UNCHECKED_NAMESPACES:
            continue
        if ns in PROVIDER_PACKAGES:
            problems += _provider_key_problems(full, ns, key, raw[full], full in secret_keys)
            continue
        secret = full in secret_keys
        if ns == PROJECT_NAMESPACE:
            near = key if key in model_keys else next(iter(difflib.get_close_matches(key, model_keys, 1, 0.75)), None)
            if near is not None:
                target = f"{NAMESPACE}:{near}"
                problems.append(
                    Problem(
                        full,
                        f"is in the project's namespace '{PROJECT_NAMESPACE}:', which nothing reads; makini-infra "
                        f"reads '{target}' (a key set without a namespace lands in the project's namespace)",
                        f"pulumi config rm {_quote(full)}\n"
                        + _set_command(target, secret or near in secret_model_keys, near in structured_keys)
                        + (
                            "\nthen rotate the value: the plain-text copy may already be in version control"
                            if near in secret_model_keys and not secret
                            else ""
                        ),
                    )
                )
                continue
        near_keys = difflib.get_close_matches(full, candidates, 1, 0.6)
        near_ns = difflib.get_close_matches(ns, sorted(KNOWN_NAMESPACES), 1, 0.6)
        if near_keys:
            hint = f"did you mean {near_keys[0]}?"
        elif near_ns:
            hint = f"did you mean the namespace '{near_ns[0]}:'?"
        else:
            hint = f"keys belong to {NAMESPACE}: or to a provider namespace ({', '.join(sorted(PROVIDER_PACKAGES))})"
        problems.append(
            Problem(
                full,
                f"unknown namespace '{ns}:': nothing reads this key, so it would be silently ignored; {hint}",
                f"rename it in the stack file (e.g. to {near_keys[0]}), or pulumi config rm {_quote(full)}"
                if near_keys
                else f"pulumi config rm {_quote(full)}",
            )
        )
    return problems


def _quote(key: str) -> str:
    return f"'{key}'" if re.search(r"[^\w:.-]", key) else key


def _provider_key_problems(full: str, ns: str, key: str, value: str, secret: bool) -> list[Problem]:
    known = provider_keys(ns)
    if known is not None and key not in known:
        near = difflib.get_close_matches(key, sorted(known), 1, 0.6)
        hint = f"; did you mean {ns}:{near[0]}?" if near else ""
        return [
            Problem(
                full,
                f"the {ns} provider has no configuration key '{key}', so it would be silently ignored{hint}",
                f"rename it to {ns}:{near[0]}" if near else f"pulumi config rm {_quote(full)}",
            )
        ]
    if full in PROVIDER_SECRETS and not secret:
        return [
            Problem(
                full,
                "is a provider credential held in plain text; credentials are never stored in plain text "
                "(better still, give the provider its credentials from the environment, e.g. OIDC in CI)",
                f"pulumi config rm {full}\npulumi config set --secret {full} <value>\n"
                "then rotate the credential: the plain-text copy may already be in version control",
            )
        ]
    if full in ("aws:allowedAccountIds", "aws:forbiddenAccountIds"):
        return _account_list_problems(full, value)
    if full == "aws:region" and not (isinstance(value, str) and _AWS_REGION.fullmatch(value)):
        return [
            Problem(
                full,
                f"{_show(value)} is not an AWS region name such as eu-west-1 or us-east-1",
                "pulumi config set aws:region eu-west-1",
            )
        ]
    return []


def _show(value: str) -> str:
    return repr(value) if len(value) <= 40 else repr(value[:37] + "...")


def account_ids(raw: Mapping[str, str], key: str = "aws:allowedAccountIds") -> tuple[str, ...]:
    """The AWS account ids a stack pins (empty when it pins none or the value is malformed)."""
    value = raw.get(key)
    if value is None:
        return ()
    try:
        ids = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        return ()
    if isinstance(ids, list) and all(isinstance(i, str) and _ACCOUNT_ID.fullmatch(i) for i in ids):
        return tuple(ids)
    return ()


def _account_list_problems(full: str, value: str) -> list[Problem]:
    example = f'{full}: ["111122223333"]'
    try:
        ids = json.loads(value)
    except (TypeError, json.JSONDecodeError):
        ids = value
    if not isinstance(ids, list):
        return [
            Problem(
                full,
                f"must be a list of 12-digit account ids written as quoted strings, got a single value {_show(value)} "
                "(the AWS provider would not read it as a list, and the plan would fall back to a mock account)",
                f"write it as a YAML list in the stack file: {example}",
            )
        ]
    problems = []
    if not ids:
        problems.append(Problem(full, "is an empty list: it would allow no account", f"write {example}"))
    for i, item in enumerate(ids):
        if isinstance(item, bool) or not isinstance(item, str):
            problems.append(
                Problem(
                    f"{full}[{i}]",
                    f"is {json.dumps(item)}, a {'boolean' if isinstance(item, bool) else 'number'}; account ids are "
                    "strings of 12 digits (unquoted, YAML reads them as numbers and drops leading zeros)",
                    f"quote it in the stack file: {example}",
                )
            )
        elif not _ACCOUNT_ID.fullmatch(item):
            problems.append(
                Problem(f"{full}[{i}]", f"{_show(item)} is not a 12-digit AWS account id", f"write {example}")
            )
    if len(set(map(str, ids))) != len(ids):
        problems.append(Problem(full, "lists an account more than once", "remove the repeat"))
    return problems
