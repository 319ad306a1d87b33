"""Rules that span several keys of a stack's configuration.

Each rule returns :class:`Problem` s with the exact key path and a fix; the loader raises them together
as one :class:`ConfigError` before any resource is registered. Later capabilities add their rules to
``RULES``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable

from ..credits import credit_report
from ..errors import Problem
from .model import PRODUCTION_NAMES, StackConfig

Rule = Callable[[StackConfig], list[Problem]]


def _production(cfg: StackConfig) -> list[Problem]:
    if cfg.environment in PRODUCTION_NAMES and not cfg.production:
        return [
            Problem(
                "makini:production",
                f"environment '{cfg.environment}' is a production environment and cannot be unprotected",
                "pulumi config rm makini:production",
            )
        ]
    return []


def _connection_keys(cfg: StackConfig) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, conn in enumerate(cfg.connections):
        if conn.key in seen:
            problems.append(
                Problem(
                    f"makini:connections[{i}].key",
                    f"duplicate connection key '{conn.key}' (also makini:connections[{seen[conn.key]}].key); "
                    "every connection needs its own key",
                    "rename one of them, or remove the duplicate entry",
                )
            )
        else:
            seen[conn.key] = i
    return problems


def _consumer_references(cfg: StackConfig) -> list[Problem]:
    problems = []
    declared = sorted(cfg.consumers)
    referenced: set[str] = set()
    for i, conn in enumerate(cfg.connections):
        for j, name in enumerate(conn.consumers):
            referenced.add(name)
            if name not in cfg.consumers:
                near = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                problems.append(
                    Problem(
                        f"makini:connections[{i}].consumers[{j}]",
                        f"unknown consumer '{name}'{hint} Declared consumers: {', '.join(declared) or '(none)'}",
                        f"declare it under makini:consumers, e.g. pulumi config set --path "
                        f"'makini:consumers.{name}.aws.roleArn' arn:aws:iam::<account>:role/<role>",
                    )
                )
        if len(set(conn.consumers)) != len(conn.consumers):
            problems.append(
                Problem(f"makini:connections[{i}].consumers", "lists a consumer more than once", "remove the repeat")
            )
    for name, consumer in sorted(cfg.consumers.items()):
        if name not in referenced and not consumer.oauth_client:
            problems.append(
                Problem(
                    f"makini:consumers.{name}" if name.isidentifier() else f'makini:consumers["{name}"]',
                    f"consumer '{name}' is declared but no connection lists it, so it could read nothing",
                    "add it to the consumers of the connections it calls, or remove it",
                )
            )
    return problems


def _consumer_identities(cfg: StackConfig) -> list[Problem]:
    problems = []
    if "aws" in cfg.backends:
        for name, consumer in sorted(cfg.consumers.items()):
            if consumer.aws is None:
                problems.append(
                    Problem(
                        f'makini:consumers["{name}"].aws',
                        f"backends includes aws but consumer '{name}' has no AWS identity",
                        f"pulumi config set --path 'makini:consumers[\"{name}\"].aws.roleArn' "
                        "arn:aws:iam::<account>:role/<role>",
                    )
                )
    return problems


def _backend_sections(cfg: StackConfig) -> list[Problem]:
    problems = []
    if "azure" in cfg.backends and cfg.azure is None:
        problems.append(
            Problem(
                "makini:azure",
                "backends includes azure, but the azure section is missing (it needs at least location)",
                "pulumi config set --path 'makini:azure.location' westeurope",
            )
        )
    for section in ("aws", "azure", "vault"):
        if getattr(cfg, section) is not None and section not in cfg.backends:
            problems.append(
                Problem(
                    f"makini:{section}",
                    f"settings for {section} are given, but '{section}' is not in makini:backends",
                    f"add {section} to makini:backends, or remove the makini:{section} section",
                )
            )
    return problems


def _connection_tokens(cfg: StackConfig) -> list[Problem]:
    keys = [c.key for c in cfg.connections]
    problems = []
    for key in sorted(cfg.connection_tokens):
        if key not in keys:
            near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            problems.append(
                Problem(
                    f"makini:connectionTokens.{key}",
                    f"token for unknown connection '{key}'{hint}",
                    f"pulumi config rm --path 'makini:connectionTokens.{key}'",
                )
            )
    return problems


def _credit_budget(cfg: StackConfig) -> list[Problem]:
    report = credit_report(cfg.connections, cfg.credits)
    if not report.over_budget:
        return []
    biggest = ", ".join(f"{r.key} ({r.credits})" for r in report.biggest(3))
    return [
        Problem(
            "makini:credits.pool",
            f"connections need {report.used} credits but the pool has {report.pool} "
            f"({report.used - report.pool} over). Biggest consumers of credits: {biggest}",
            "raise makini:credits.pool to match your Makini plan, or remove or downgrade connections",
        )
    ]


RULES: list[Rule] = [
    _production,
    _connection_keys,
    _consumer_references,
    _consumer_identities,
    _backend_sections,
    _connection_tokens,
    _credit_budget,
]


def cross_checks(cfg: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    for rule in RULES:
        problems.extend(rule(cfg))
    return problems
