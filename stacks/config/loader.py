"""Read a stack's ``makini:`` configuration into the validated model :class:`StackConfig`.

Pulumi hands a program its configuration as a flat mapping of ``namespace:key`` to strings (structured
values JSON-encoded) plus the set of keys that are secrets. :func:`read_stack_config` turns that into a
:class:`StackConfig` or raises one :class:`ConfigError` listing every problem, each with its key path,
what is allowed and the fix. Nothing here ever echoes a secret value. The rules over the whole validated
model run after it: :func:`stacks.load.load_stack_config` is the entry every caller uses.
"""

from __future__ import annotations

import collections.abc
import difflib
import json
import re
import types
import typing
from collections.abc import Collection, Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError

from ..errors import ConfigError, Problem
from .base import NAMESPACE
from .model import PRODUCTION_NAMES, SECRET_KEYS, StackConfig
from .namespaces import namespace_problems

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Nested keys that look like a secret placed in plain structured config, and where the secret belongs.
_MISPLACED_SECRETS: dict[tuple[Any, ...], str] = {
    ("oauth", "clientSecret"): "makini:oauthClientSecret",
    ("webhooks", "secret"): "makini:webhookSecret",
}


def key_path(loc: tuple[Any, ...], namespace: str | None = NAMESPACE) -> str:
    """``('connections', 2, 'tier')`` -> ``makini:connections[2].tier`` (Pulumi's --path syntax)."""
    prefix = f"{namespace}:" if namespace else ""
    out = f"{prefix}{loc[0]}" if loc else prefix
    for part in loc[1:]:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.fullmatch(str(part)):
            out += f".{part}"
        else:
            out += f'["{part}"]'
    return out


def _is_structured(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_structured(a) for a in typing.get_args(annotation) if a is not type(None))
    if origin in (list, tuple, dict, set, frozenset, collections.abc.Mapping):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _alias_fields(model: type[BaseModel]) -> dict[str, Any]:
    return {(f.alias or n): f for n, f in model.model_fields.items()}


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that holds the key at ``loc`` (used to suggest the nearest valid key)."""
    current: Any = StackConfig
    for part in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = _alias_fields(current).get(part)
            if field is None:
                return None
            current = field.annotation
        else:
            args = [a for a in typing.get_args(current) if a is not type(None) and a is not Ellipsis]
            if not args:
                return None
            current = args[-1]  # list/tuple item, or dict value
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _describe_input(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _secret_loc(loc: tuple[Any, ...]) -> bool:
    return bool(loc) and loc[0] in SECRET_KEYS


def _problems_from_validation(err: ValidationError, raw: Mapping[str, Any]) -> list[Problem]:
    errors = err.errors(include_url=False)
    extras = [e for e in errors if e["type"] == "extra_forbidden"]
    problems: list[Problem] = []
    consumed_missing: set[tuple[Any, ...]] = set()

    for e in extras:
        loc = tuple(e["loc"])
        path = key_path(loc)
        misplaced = _MISPLACED_SECRETS.get(tuple(p for p in loc if not isinstance(p, int))) if len(loc) == 2 else None
        if misplaced is None and len(loc) == 3 and loc[0] == "connections" and loc[2] == "token":
            misplaced = "makini:connectionTokens"
        if misplaced:
            problems.append(
                Problem(
                    path,
                    "a secret value is held in plain structured config; secrets are never stored in plain text",
                    f"pulumi config rm --path '{path}'\n"
                    + _secret_fix(misplaced, loc)
                    + "\nthen rotate the value: the plain-text copy may already be in version control",
                )
            )
            continue
        model = _model_at(loc)
        valid = sorted(_alias_fields(model)) if model else []
        near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        msg = f"unknown key '{loc[-1]}'"
        fix = ""
        if near:
            msg += f"; did you mean '{near[0]}'?"
            fix = f"rename '{loc[-1]}' to '{near[0]}'"
            consumed_missing.add(loc[:-1] + (near[0],))
        if valid:
            msg += f" Valid keys here: {', '.join(valid)}."
        problems.append(Problem(path, msg, fix))

    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden" or loc in consumed_missing:
            continue
        path = key_path(loc)
        if e["type"] == "missing":
            model = _model_at(loc)
            field = _alias_fields(model).get(str(loc[-1])) if model else None
            what = f" ({field.description})" if field is not None and field.description else ""
            problems.append(
                Problem(path, f"required key is missing{what}", f"pulumi config set --path '{path}' <value>")
            )
            continue
        msg = str(e["msg"])
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        msg = re.sub(r" or instance of \w+", "", msg)
        msg = msg.replace("a valid tuple", "a list").replace("a valid dictionary", "a mapping of key: value")
        if not _secret_loc(loc) and e["type"] not in ("value_error",):
            msg += f" (got {_describe_input(e['input'])})"
        if e["type"] == "value_error" and loc == ("backends",):
            fix = "pulumi config set --path 'makini:backends[0]' aws   # and/or azure, vault"
        else:
            fix = ""
        problems.append(Problem(path, msg[0].lower() + msg[1:] if msg else msg, fix))
    return problems


def _secret_fix(target: str, loc: tuple[Any, ...] = ()) -> str:
    key = target.split(":", 1)[1]
    if key == "connectionTokens":
        return "pulumi config set --secret --path 'makini:connectionTokens.<connection-key>' <token>"
    return SECRET_KEYS.get(key, f"pulumi config set --secret {target} <value>")


def _top_scalar(annotation: Any, value: str) -> Any:
    """A top-level scalar as Pulumi hands it (always a string) -> the value it spells, for booleans and
    integers (``"true"`` -> True, ``"30"`` -> 30); anything else is left for the type check to refuse."""
    ann = _unwrap(annotation)
    if ann is bool and value.lower() in ("true", "false") and value in (value.lower(), value.upper(), value.title()):
        return value.lower() == "true"  # YAML 1.2's spellings, as the CLI's YAML reader takes them
    if ann is int and re.fullmatch(r"-?[0-9]{1,18}", value):
        return int(value)
    return value


def decode_raw(stack: str, raw: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """Pick the ``makini:`` keys out of Pulumi's flat config and decode structured values."""
    fields = _alias_fields(StackConfig)
    data: dict[str, Any] = {}
    problems: list[Problem] = []
    prefix = NAMESPACE + ":"
    for full_key, value in raw.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        field = fields.get(key)
        if field is not None and _is_structured(field.annotation) and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                shape = "a list" if typing.get_origin(_unwrap(field.annotation)) is tuple else "a mapping"
                problems.append(
                    Problem(
                        full_key,
                        f"must be {shape} (structured YAML), got a plain string",
                        f"write it as structured YAML in Pulumi.{stack}.yaml, or use pulumi config set --path",
                    )
                )
                continue
        elif field is not None and isinstance(value, str):
            value = _top_scalar(field.annotation, value)
        data[key] = value
    return data, problems


# --------------------------------------------------------------------------------------------------
# Strict types: YAML as people write it. Pydantic's lax mode would read `true` as 1, 2.0 as 2, "30" as
# 30 and 20261001 as a date; these checks refuse each with the YAML fix. Driven by the model's types.

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "empty (null)" if value is None else type(value).__name__


def _yaml_key(loc: tuple[Any, ...]) -> str:
    return str(next((p for p in reversed(loc) if not isinstance(p, int)), "value"))


def _type_problem(
    loc: tuple[Any, ...], value: Any, want: str, secret: bool, allowed: str | None = None
) -> Problem | None:
    """One strict-type problem (or None when ``value`` is of the kind ``want``; ``allowed`` names the
    values a Literal takes)."""
    path = key_path(loc)
    name = _yaml_key(loc)
    shown = "" if secret else f" ({_describe_input(value)})"
    if want == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e18:
            return Problem(
                path,
                f"is {_kind(value)}{shown}, but must be a whole number",
                f"write it without the decimal point: {name}: {int(value)}",
            )
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value):
            return Problem(
                path, f"is a string{shown}, but must be a number", f"remove the quotes: {name}: {value.strip()}"
            )
        return Problem(
            path, f"is {_kind(value)}{shown}, but must be {allowed or 'a whole number'}", f"write e.g. {name}: 30"
        )
    if want == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return None
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+(\.[0-9]+)?\s*", value):
            return Problem(
                path, f"is a string{shown}, but must be a number", f"remove the quotes: {name}: {value.strip()}"
            )
        return Problem(path, f"is {_kind(value)}{shown}, but must be a number", f"write e.g. {name}: 50")
    if want == "boolean":
        if isinstance(value, bool):
            return None
        hint = (
            f"remove the quotes: {name}: {value}"
            if value in ("true", "false")
            else f"write {name}: true or {name}: false"
        )
        return Problem(path, f"is {_kind(value)}{shown}, but must be true or false", hint)
    if want == "string":
        if isinstance(value, str):
            return None
        if isinstance(value, bool | int | float):
            text = json.dumps(value)
            return Problem(
                path,
                f"is {_kind(value)}{shown}, but must be a string (YAML reads unquoted digits as a number, dropping "
                "leading zeros, and true/false as a boolean)",
                "quote it in the stack file: " + (f'{name}: "<value>"' if secret else f'{name}: "{text}"'),
            )
        return Problem(path, f"is {_kind(value)}, but must be {allowed or 'a string'}", f'write it as {name}: "<text>"')
    if want == "date":
        if isinstance(value, date) or (isinstance(value, str) and _DATE.fullmatch(value)):
            return None
        return Problem(
            path,
            f"is {_kind(value)}{shown}, but must be a date written YYYY-MM-DD",
            f"write e.g. {name}: 2026-10-01 (quoted or not: both are read the same)",
        )
    return None


def type_problems(value: Any, annotation: Any, loc: tuple[Any, ...]) -> list[Problem]:
    """Strict-type problems of ``value`` against a model annotation (recursing into sections and lists)."""
    secret = _secret_loc(loc)
    ann = annotation
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        arms = [a for a in args if a is not type(None)]
        if value is None and len(arms) != len(args):
            return []
        found = [type_problems(value, a, loc) for a in arms]
        return [] if any(not f for f in found) else found[0]
    if ann is Any or value is None:
        return []
    want: str | None
    if origin is typing.Literal:
        if all(isinstance(a, bool) for a in args):
            want = "boolean"
        elif all(isinstance(a, int) and not isinstance(a, bool) for a in args):
            want = "integer"
        else:
            want = "string"
        names = [json.dumps(a) if isinstance(a, str) else str(a) for a in args]
        allowed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
        p = _type_problem(loc, value, want, secret, allowed)
        return [p] if p else []
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        if not isinstance(value, dict):
            return []  # the model's own validation names the expected shape
        fields = _alias_fields(ann)
        out: list[Problem] = []
        for key, item in value.items():
            field = fields.get(key)
            if field is not None:
                out += type_problems(item, field.annotation, (*loc, key))
        return out
    if origin in (tuple, list, set, frozenset):
        if not isinstance(value, list | tuple):
            return []
        item_ann = args[0] if args else Any
        return [p for i, item in enumerate(value) for p in type_problems(item, item_ann, (*loc, i))]
    if origin in (dict, collections.abc.Mapping):
        if not isinstance(value, dict):
            return []
        item_ann = args[1] if len(args) == 2 else Any
        return [p for k, item in value.items() for p in type_problems(item, item_ann, (*loc, k))]
    want = None
    if ann is bool:
        want = "boolean"
    elif ann is int:
        want = "integer"
    elif ann is float:
        want = "number"
    elif ann is date:
        want = "date"
    elif isinstance(ann, type) and issubclass(ann, str | SecretStr):
        want = "string"
    p = _type_problem(loc, value, want, secret) if want else None
    return [p] if p else []


# --------------------------------------------------------------------------------------------------
# Production is never implicit by accident

#: Words that mark a production stack when they are a whole part of its name (``acme-prod``, ``live-eu``).
PRODUCTION_WORDS = ("prod", "production", "prd", "live")


def production_word(name: str) -> str | None:
    """The production word in a stack or environment name, as a part between '-', '_' or '.' (a trailing
    number allowed: ``prod2``), or None."""
    for part in re.split(r"[-_.]", name.lower()):
        word = re.sub(r"\d+$", "", part)
        if word in PRODUCTION_WORDS:
            return word
    return None


def implicit_production_problems(stack: str, data: Mapping[str, Any]) -> list[Problem]:
    """A stack or environment named like production states ``makini:production`` itself (unless its
    environment is one of the names that are always production)."""
    env = data.get("environment")
    if "production" in data or (isinstance(env, str) and env in PRODUCTION_NAMES):
        return []
    names = [("stack", stack)] + ([("environment", env)] if isinstance(env, str) and env != stack else [])
    for what, name in names:
        word = production_word(name)
        if word:
            return [
                Problem(
                    "makini:production",
                    f"is not set, but the {what} name '{name}' contains '{word}': a production environment left "
                    "unmarked would get no deletion protection and 7-day recovery windows. State it either way",
                    "pulumi config set makini:production true    # or false, if this is not production",
                )
            ]
    return []


def read_stack_config(
    stack: str,
    raw: Mapping[str, str],
    secret_keys: Collection[str] = (),
    plaintext_leaves: Collection[str] = (),
) -> tuple[StackConfig, list[Problem]]:
    """Validate a stack's flat Pulumi configuration against the model.

    ``plaintext_leaves`` are key paths of plain values inside a structured value that also holds secure
    values (only the stack file shows them: see :mod:`stacks.config.stack_file`).

    Raises :class:`ConfigError` listing every problem when the model cannot be built; else returns the
    model and the problems found on the way (keys nothing reads, secrets set in plain text, strict
    types), for the whole-stack rules to add to (see :func:`stacks.load.load_stack_config`).
    """
    fields = _alias_fields(StackConfig)
    problems = namespace_problems(
        raw,
        secret_keys,
        model_keys=fields,
        structured_keys={k for k, f in fields.items() if _is_structured(f.annotation)},
        secret_model_keys=SECRET_KEYS,
    )
    decoded, decode_problems = decode_raw(stack, raw)
    problems += decode_problems
    data: dict[str, Any] = dict(decoded)
    secret_keys = set(secret_keys)

    # Secrets in plain text: refuse, and print the exact command that fixes it. Never echo the value.
    for key, command in SECRET_KEYS.items():
        full = f"{NAMESPACE}:{key}"
        if key in data and full not in secret_keys:
            if key == "connectionTokens" and isinstance(data[key], dict) and data[key]:
                command = "\n".join(
                    f"pulumi config set --secret --path 'makini:connectionTokens.{k}' <token>" for k in data[key]
                )
            problems.append(
                Problem(
                    full,
                    "is set in plain text, but it must be a Pulumi secret (encrypted in the stack file)",
                    f"pulumi config rm {full}\n{command}\n"
                    "then rotate the value: the plain-text copy may already be in version control",
                )
            )
        elif key in data:
            for leaf in sorted(p for p in plaintext_leaves if p == full or p.startswith((full + ".", full + "["))):
                problems.append(
                    Problem(
                        leaf,
                        "is set in plain text beside encrypted values; every value here must be a Pulumi secret",
                        f"pulumi config rm --path '{leaf}'\npulumi config set --secret --path '{leaf}' <value>\n"
                        "then rotate the value: the plain-text copy may already be in version control",
                    )
                )

    strict = [
        p for key, value in data.items() if key in fields for p in type_problems(value, fields[key].annotation, (key,))
    ]
    problems += strict
    problems += implicit_production_problems(stack, data)

    env_defaulted = "environment" not in data
    data.setdefault("environment", stack)
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as err:
        reported = {p.path for p in strict}
        found = [
            p
            for p in _problems_from_validation(err, data)
            if not any(p.path == r or p.path.startswith((r + ".", r + "[")) for r in reported)
        ]
        if env_defaulted:
            found = [_defaulted_environment(p, stack) if p.path == "makini:environment" else p for p in found]
        raise ConfigError(stack, problems + found) from None
    if strict:
        raise ConfigError(stack, problems)
    return cfg, problems


def _defaulted_environment(problem: Problem, stack: str) -> Problem:
    return Problem(
        "makini:environment",
        f"is not set, so it defaults to the stack name '{stack}', which is not a valid environment name: "
        + problem.message,
        "pulumi config set makini:environment <name>   # 2-12 lowercase letters, digits and dashes, e.g. prod-eu",
    )
