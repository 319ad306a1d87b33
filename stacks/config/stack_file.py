"""Read a ``Pulumi.<stack>.yaml`` as the Pulumi CLI does, and refuse what YAML would silently lose.

The Pulumi CLI reads stack files with Go's yaml.v3, whose rules differ from PyYAML's YAML 1.1 defaults.
:func:`parse_stack_yaml` follows the CLI, so the offline plan sees the values the real program would:

- only ``true``/``false`` (any case variant YAML 1.2 allows) are booleans; ``yes``, ``on``, ``no`` are strings;
- dates are not a type: ``2026-11-02`` stays the text ``"2026-11-02"`` (yaml.v3 hands an unquoted date
  to Pulumi as its original string), so quoted and unquoted dates are the same;
- integers follow Go's ``ParseInt(..., 0, 64)`` (``0x``, ``0o``, ``0b``, a leading-zero octal, ``_``
  separators); a number that is not an integer is a float (``09000207611898`` is the float
  9000207611898, as in Pulumi);
- a key written twice in one mapping is refused, naming both lines (yaml.v3 refuses it too; PyYAML would
  keep the last one silently).

:func:`plaintext_leaves` finds the plain values inside a structured value that also holds ``secure:``
values: Pulumi marks the whole key secret then, so only the file shows that one leaf is plain text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problem
from .loader import key_path

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


class StackYamlLoader(yaml.SafeLoader):
    """PyYAML loader with yaml.v3's implicit types (see the module doc)."""


class StackYamlDumper(yaml.SafeDumper):
    """Writes YAML that :class:`StackYamlLoader` (and the Pulumi CLI) read back as written: a string that
    would read as a number or boolean there (``"0900001"``, ``"2.0"``) is quoted."""


StackYamlLoader.yaml_implicit_resolvers = {}
StackYamlDumper.yaml_implicit_resolvers = {}
for _tag, _regex, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_INT, r"^[-+]?(?:0b[01_]+|0o[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*)$", "-+0123456789"),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", "<"),
):
    StackYamlLoader.add_implicit_resolver(_tag, re.compile(_regex), list(_first))
    StackYamlDumper.add_implicit_resolver(_tag, re.compile(_regex), list(_first))


def dump_stack_yaml(document: Any) -> str:
    """``document`` as stack-file YAML that reads back unchanged (see :class:`StackYamlDumper`)."""
    return yaml.dump(document, Dumper=StackYamlDumper, sort_keys=False)


def _go_int(text: str) -> int | float:
    """An integer as yaml.v3 reads it (Go's ParseInt with base 0), else the float it falls back to."""
    plain = text.replace("_", "")
    sign, digits = (plain[0], plain[1:]) if plain[:1] in "+-" else ("", plain)
    base = 10
    if digits[:2] in ("0x", "0X"):
        base, digits = 16, digits[2:]
    elif digits[:2] in ("0o", "0O"):
        base, digits = 8, digits[2:]
    elif digits[:2] in ("0b", "0B"):
        base, digits = 2, digits[2:]
    elif len(digits) > 1 and digits.startswith("0"):
        base = 8
    try:
        return int(sign + digits, base)
    except ValueError:
        return float(plain)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int | float:
    return _go_int(str(loader.construct_scalar(node)))


def _construct_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node)).replace("_", "")
    lowered = text.lower()
    if lowered.endswith(".inf"):
        return float("-inf") if text.startswith("-") else float("inf")
    if lowered == ".nan":
        return float("nan")
    return float(text)


StackYamlLoader.add_constructor(_INT, _construct_int)
StackYamlLoader.add_constructor(_FLOAT, _construct_float)


@dataclass(frozen=True)
class Duplicate:
    path: str
    first_line: int
    second_line: int


def _node_path(parts: tuple[Any, ...]) -> str:
    """Where a node sits: inside ``config:`` as the config key path, else as YAML keys."""
    if len(parts) >= 2 and parts[0] == "config":
        key = str(parts[1])
        rest = parts[2:]
        if ":" in key:
            ns, name = key.split(":", 1)
            return key_path((name, *rest), namespace=ns)
        return key_path((key, *rest), namespace=None)
    return ".".join(str(p) for p in parts) or "(document)"


def _duplicates(node: yaml.Node, parts: tuple[Any, ...] = ()) -> list[Duplicate]:
    found: list[Duplicate] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is not None and key != "<<":
                line = key_node.start_mark.line + 1
                if key in seen:
                    found.append(Duplicate(_node_path((*parts, key)), seen[key], line))
                else:
                    seen[key] = line
            found += _duplicates(value_node, (*parts, key))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicates(item, (*parts, i))
    return found


class StackYamlError(Exception):
    """The text is not YAML at all (the message says where)."""


def parse_stack_yaml(text: str) -> tuple[Any, list[Problem]]:
    """The document, and a problem per key written twice (the document keeps the last one)."""
    loader = StackYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, []
        problems = [
            Problem(
                d.path,
                f"is written twice in the stack file (lines {d.first_line} and {d.second_line}); YAML keeps only "
                "the second, so everything under the first would be silently lost",
                f"keep one: merge the two into the entry on line {d.first_line} and delete the one on line "
                f"{d.second_line}",
            )
            for d in _duplicates(node)
        ]
        return loader.construct_document(node), problems
    except yaml.YAMLError as err:
        raise StackYamlError(str(err)) from None
    finally:
        loader.dispose()


def is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def plaintext_leaves(key: str, value: Any) -> list[str]:
    """Paths of plain leaves in ``value`` when it also holds ``secure:`` leaves (else none)."""
    plain: list[str] = []
    secure = False

    def walk(v: Any, parts: tuple[Any, ...]) -> None:
        nonlocal secure
        if is_secure(v):
            secure = True
        elif isinstance(v, dict):
            for k, item in v.items():
                walk(item, (*parts, str(k)))
        elif isinstance(v, list):
            for i, item in enumerate(v):
                walk(item, (*parts, i))
        elif v is not None:
            ns, _, name = key.rpartition(":")
            plain.append(key_path((name, *parts), namespace=ns or None))

    walk(value, ())
    return plain if secure else []


def stack_file_leaves(path: Path, raw: Mapping[str, str], project: str) -> set[str]:
    """Plain values beside ``secure:`` ones in the stack file at ``path``, for the real program (the engine
    marks the whole key secret, so only the file shows them). Read only when that file is the source of
    ``raw`` (the same keys outside ``pulumi:``), so --config-file or ESC configuration is not misread."""
    try:
        document, _ = parse_stack_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, StackYamlError):
        return set()
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        return set()
    keys = {str(k) if ":" in str(k) else f"{project}:{k}": v for k, v in config.items()}
    if {k for k in keys if not k.startswith("pulumi:")} != {k for k in raw if not k.startswith("pulumi:")}:
        return set()
    return {leaf for key, value in keys.items() for leaf in plaintext_leaves(key, value)}
