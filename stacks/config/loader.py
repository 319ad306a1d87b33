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
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import ConfigError, Problem
from .base import NAMESPACE
from .model import SECRET_KEYS, StackConfig

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: Nested keys that look like a secret placed in plain structured config, and where the secret belongs.
_MISPLACED_SECRETS = {
    ("oauth", "clientSecret"): "makini:oauthClientSecret",
    ("webhooks", "secret"): "makini:webhookSecret",
}


def key_path(loc: tuple[Any, ...]) -> str:
    """``('connections', 2, 'tier')`` -> ``makini:connections[2].tier`` (Pulumi's --path syntax)."""
    out = f"{NAMESPACE}:{loc[0]}" if loc else f"{NAMESPACE}:"
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
            field = _alias_fields(model).get(loc[-1]) if model else None
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
        data[key] = value
    return data, problems


def read_stack_config(
    stack: str,
    raw: Mapping[str, str],
    secret_keys: Collection[str] = (),
) -> tuple[StackConfig, list[Problem]]:
    """Validate a stack's flat Pulumi configuration against the model.

    Raises :class:`ConfigError` listing every problem when the model cannot be built; else returns the
    model and the problems found on the way (secrets set in plain text), for the whole-stack rules to
    add to (see :func:`stacks.load.load_stack_config`).
    """
    data, problems = decode_raw(stack, raw)
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

    data.setdefault("environment", stack)
    try:
        cfg = StackConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(stack, problems + _problems_from_validation(err, data)) from None
    return cfg, problems
