"""The configuration reference (docs/configuration.md), generated from the config model.

``python -m infra.config_reference`` prints it; ``--write`` updates docs/configuration.md and the list of
keys in Pulumi.yaml (a generated comment: see :func:`pulumi_yaml_block`); ``--check`` exits 1 when either
is stale. Generic: it walks ``StackConfig`` and every nested pydantic
model through ``model_fields`` (key as written in the stack file, type, default, constraints,
description), so a new field or section appears without changes here.

Exit codes: 0 printed, written, or current; 1 stale (--check) or the file could not be written.
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, cast

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from infra.cli import make_parser
from stacks.config.base import NAMESPACE
from stacks.config.model import SECRET_KEYS, StackConfig

OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def _strip(annotation: Any) -> tuple[Any, list[Any]]:
    """Annotated[T, m...] -> (T, [m...]) (nested Annotated flattened)."""
    metadata: list[Any] = []
    while typing.get_origin(annotation) is typing.Annotated:
        args = typing.get_args(annotation)
        annotation, metadata = args[0], [*metadata, *args[1:]]
    return annotation, metadata


def type_name(annotation: Any) -> str:
    annotation, _ = _strip(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a).replace("'", '"') for a in args)
    if origin in (tuple, list, frozenset, set):
        return f"list of {type_name(args[0])}" if args else "list"
    if origin is dict:
        return f"map of {type_name(args[0])} to {type_name(args[1])}"
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return "object"
        if issubclass(annotation, SecretStr):
            return "string (secret)"
        if issubclass(annotation, enum.Enum):
            return " | ".join(f'"{m.value}"' for m in annotation)
        if issubclass(annotation, bool):
            return "boolean"
        if issubclass(annotation, int):
            return "integer"
        if issubclass(annotation, float):
            return "number"
        if issubclass(annotation, str):
            return "string"
        if issubclass(annotation, date):
            return "date (YYYY-MM-DD)"
        return annotation.__name__
    return str(annotation)


_CONSTRAINT_NAMES = {
    "ge": ">=",
    "gt": ">",
    "le": "<=",
    "lt": "<",
    "min_length": "min length",
    "max_length": "max length",
    "multiple_of": "multiple of",
    "pattern": "pattern",
}


def constraints(field: FieldInfo) -> list[str]:
    _, annotated = _strip(field.annotation)
    out: list[str] = []
    for item in [*field.metadata, *annotated]:
        if isinstance(item, annotated_types.BaseMetadata) or type(item).__name__ == "_PydanticGeneralMetadata":
            for attr, label in _CONSTRAINT_NAMES.items():
                value = getattr(item, attr, None)
                if value is not None:
                    out.append(f"{label} {value}" if attr != "pattern" else f"pattern `{value}`")
        elif hasattr(item, "func"):
            # Validators built around a compiled regular expression (stacks/config/base.py): show it.
            for cell in getattr(item.func, "__closure__", None) or ():
                if isinstance(cell.cell_contents, re.Pattern):
                    out.append(f"pattern `{cell.cell_contents.pattern}`")
    return list(dict.fromkeys(out))


def default_text(field: FieldInfo) -> str:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "default" in extra:
        return f"{extra['default']}"
    if field.default_factory is not None:
        try:
            # Factories of this model take no data; one that does raises TypeError here.
            value = cast(Callable[[], Any], field.default_factory)()
        except TypeError:
            return "(computed)"
        if isinstance(value, BaseModel):
            return "(section defaults)"
        return f"`{_plain(value)}`" if value not in ({}, [], ()) else "empty"
    if field.default is PydanticUndefined:
        return "**required**"
    if field.default is None:
        return "not set"
    return f"`{_plain(field.default)}`"


def _plain(value: Any) -> str:
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return str(value)


def _models_in(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """Nested models reachable from a field's type, with the path suffix each is reached by."""
    annotation, _ = _strip(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    if origin in (typing.Union, types.UnionType):
        return [m for a in args for m in _models_in(a)]
    if origin in (tuple, list, frozenset, set) and args:
        return [("[]" + s, m) for s, m in _models_in(args[0])]
    if origin is dict and len(args) == 2:
        return [(".<name>" + s, m) for s, m in _models_in(args[1])]
    return []


def rows(model: type[BaseModel], prefix: str) -> list[tuple[str, FieldInfo]]:
    out: list[tuple[str, FieldInfo]] = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        path = f"{prefix}{key}" if prefix.endswith(":") else f"{prefix}.{key}"
        out.append((path, field))
        seen: set[type] = set()
        for suffix, nested in _models_in(field.annotation):
            if nested not in seen:
                seen.add(nested)
                out.extend(rows(nested, path + suffix))
    return out


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def render() -> str:
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m infra.config_reference --write` from stacks/config/; do not edit by hand. "
        "tests/unit/test_config_reference.py fails when this file is stale. -->",
        "",
        f"Every key lives under the `{NAMESPACE}:` namespace of `Pulumi.<stack>.yaml`. The providers' namespaces "
        "(`aws`, `azure-native`, `vault`, `tls`) hold their own keys, checked against each provider SDK's list "
        "(`aws:allowedAccountIds` must be a list of quoted 12-digit ids); `pulumi:` keys are Pulumi's. A key in "
        "any other namespace is an error naming the nearest valid key, and a key without a namespace (which "
        "lands in the project's, `makini-infra:`) gets the `pulumi config` commands that move it. Keys are "
        "camelCase; an unknown key is an error. Types are strict: `true` is not a number, `2.0` not a whole "
        'number, `"30"` not a number, `12345` not a string (quote it); dates are `YYYY-MM-DD`, quoted or not; '
        "a key written twice is refused. Nested keys are "
        f"set with `pulumi config set --path '{NAMESPACE}:section.key' value`; `[]` marks a list item and "
        "`<name>` a map key you choose.",
        "",
        "Secret keys (set them with `pulumi config set --secret`, never in plain text): "
        + ", ".join(f"`{NAMESPACE}:{k}`" for k in sorted(SECRET_KEYS))
        + ".",
        "",
    ]
    top = rows(StackConfig, f"{NAMESPACE}:")
    sections: dict[str, list[tuple[str, FieldInfo]]] = {"Top-level keys": []}
    nested = {p.split(":", 1)[1].split(".")[0].split("[")[0] for p, _ in top if "." in p or "[" in p}
    for path, field in top:
        section = path.split(":", 1)[1].split(".")[0].split("[")[0]
        title = f"`{NAMESPACE}:{section}`" if section in nested else "Top-level keys"
        sections.setdefault(title, []).append((path, field))
    doc = (StackConfig.__doc__ or "").strip().splitlines()
    if doc:
        lines += [doc[0], ""]
    for section, entries in sections.items():
        lines += [f"## {section}", ""]
        lines += ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
        for path, field in entries:
            lines.append(
                f"| `{path}` | {_cell(type_name(field.annotation))} | {_cell(default_text(field))} | "
                f"{_cell('; '.join(constraints(field)))} | {_cell(field.description or '')} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


PULUMI_YAML = OUTPUT.parents[1] / "Pulumi.yaml"
BLOCK_START = "# --- makini: configuration keys"
BLOCK_END = "# --- end of makini: configuration keys ---"


def pulumi_yaml_block() -> str:
    """The top-level ``makini:`` keys as a comment block for Pulumi.yaml.

    Pulumi lets a project declare typed config (``config: {key: {type, description}}``) only for keys in
    its own namespace (``makini-infra:``); a typed declaration of a key in another namespace makes every
    ``pulumi`` command fail ("Configuration key 'makini:...' is not namespaced by the project and should
    not define a type"). So the declaration is a generated comment, checked for staleness like the reference.
    """
    lines = [
        f"{BLOCK_START} (generated by `python -m infra.config_reference --write`; do not edit) ---",
        "# The program reads these keys of the makini: namespace (docs/configuration.md has every nested key).",
        "# Pulumi accepts typed `config:` declarations only for the project's own namespace (makini-infra:), so",
        "# they are declared here as comments; the program refuses any other key, in any namespace but the",
        "# providers' (aws, azure-native, vault, tls) and pulumi.",
    ]
    for name, field in StackConfig.model_fields.items():
        key = field.alias or name
        secret = key in SECRET_KEYS
        kind = type_name(field.annotation).replace(" | null", "")
        default = default_text(field).replace("**", "").replace("`", "")
        summary = (field.description or "").removeprefix("Secret. ").split(". ")[0].rstrip(".")
        lines.append(
            f"#   {NAMESPACE}:{key}: {kind}{' (secret)' if secret and 'secret' not in kind else ''}; "
            f"{'required' if default == 'required' else 'default ' + default}. {summary}."
        )
    lines.append(BLOCK_END)
    return "\n".join(lines) + "\n"


def with_pulumi_yaml_block(text: str) -> str:
    """Pulumi.yaml's text with the generated block replaced (or appended)."""
    block = pulumi_yaml_block()
    start = text.find(BLOCK_START)
    if start < 0:
        return text.rstrip("\n") + "\n" + block
    end = text.index(BLOCK_END, start) + len(BLOCK_END)
    return text[:start] + block.rstrip("\n") + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = make_parser("python -m infra.config_reference", __doc__ or "")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help=f"write {OUTPUT.relative_to(OUTPUT.parents[1])}")
    group.add_argument("--check", action="store_true", help="exit 1 when the committed file is stale")
    args = parser.parse_args(argv)
    text = render()
    project = PULUMI_YAML.read_text(encoding="utf-8") if PULUMI_YAML.exists() else ""
    if args.write:
        try:
            OUTPUT.write_text(text, encoding="utf-8")
            PULUMI_YAML.write_text(with_pulumi_yaml_block(project), encoding="utf-8")
        except OSError as err:
            print(f"makini-infra: cannot write {OUTPUT} or {PULUMI_YAML}: {err}", file=sys.stderr)
            return 1
        print(f"wrote {OUTPUT} and the key list in {PULUMI_YAML}", file=sys.stderr)
    elif args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        stale = [
            str(p)
            for p, ok in ((OUTPUT, current == text), (PULUMI_YAML, with_pulumi_yaml_block(project) == project))
            if not ok
        ]
        if stale:
            print(f"{' and '.join(stale)} stale: run python -m infra.config_reference --write", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
