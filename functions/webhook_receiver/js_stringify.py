"""JSON.stringify compatibility (``SIGNATURE_MODE=raw+js-stringify``).

Makini's published samples sign ``JSON.stringify(payload)``; :func:`js_stringify` produces what
JavaScript's ``JSON.stringify(JSON.parse(text))`` produces for a JSON value parsed by Python's ``json``
module. The tests check it against node.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

_JS_ESCAPE_RE = re.compile(r'[\x00-\x1f"\\\ud800-\udfff]')
_JS_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ARRAY_INDEX_RE = re.compile(r"0|[1-9][0-9]*")


def _js_escape(match: re.Match[str]) -> str:
    ch = match.group()
    return _JS_SHORT.get(ch) or f"\\u{ord(ch):04x}"


def _js_string(s: str) -> str:
    return '"' + _JS_ESCAPE_RE.sub(_js_escape, s) + '"'


def _js_number(value: int | float) -> str:
    """ECMAScript Number::toString of the double nearest to ``value``."""
    try:
        x = float(value)
    except OverflowError:  # an integer beyond the double range: JS parses it as Infinity
        return "null"
    if not math.isfinite(x):
        return "null"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    _, digits_t, exp = Decimal(repr(abs(x))).normalize().as_tuple()
    assert isinstance(exp, int)  # x is finite: no 'n', 'N' or 'F' exponent
    s = "".join(map(str, digits_t))
    k = len(s)
    n = exp + k  # value = 0.s * 10**n
    if k <= n <= 21:
        out = s + "0" * (n - k)
    elif 0 < n <= 21:
        out = s[:n] + "." + s[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + s
    else:
        e = n - 1
        esign = "+" if e >= 0 else "-"
        mant = s if k == 1 else s[0] + "." + s[1:]
        out = f"{mant}e{esign}{abs(e)}"
    return sign + out


def _is_array_index(key: str) -> bool:
    return _ARRAY_INDEX_RE.fullmatch(key) is not None and int(key) < 2**32 - 1


def js_stringify(value: Any) -> str:
    """What JavaScript's ``JSON.stringify(JSON.parse(text))`` produces for a JSON value parsed by
    Python's ``json`` module: compact separators, integer-like keys first in ascending order
    (JS property order), numbers as JS prints doubles, only the escapes JS emits."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _js_string(value)
    if isinstance(value, (int, float)):
        return _js_number(value)
    if isinstance(value, list):
        return "[" + ",".join(js_stringify(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = list(value)
        index_keys = sorted((k for k in keys if _is_array_index(k)), key=int)
        if index_keys:
            keys = index_keys + [k for k in keys if not _is_array_index(k)]
        return "{" + ",".join(_js_string(k) + ":" + js_stringify(value[k]) for k in keys) + "}"
    raise ValueError("not a JSON value")
