"""``ast.parse`` for the tests that read our own source, safe on the CPython this runs on (3.11.7 here).

Some CPython releases keep the AST converter's recursion depth in interpreter-wide state, so a parse
that runs while another thread converts an AST (the Pulumi SDK and moto run threads inside the test
process) can fail with ``SystemError: AST constructor recursion depth mismatch`` (CPython gh-106905).
The source is the same on a retry, so a retry is exact, never a way around a real failure.
"""

from __future__ import annotations

import ast

_ATTEMPTS = 5


def parse_python(source: str, filename: str = "<unknown>") -> ast.Module:
    for attempt in range(_ATTEMPTS):
        try:
            return ast.parse(source, filename)
        except SystemError as exc:  # pragma: no cover - only under the race
            if "recursion depth mismatch" not in str(exc) or attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")
