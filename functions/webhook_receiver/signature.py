"""Makini's webhook signature: strict decoding, constant-time HMAC-SHA256 over the raw body with every
accepted secret, the optional ``JSON.stringify`` form, and :func:`authenticate`, which turns a body and its
signature header into a :class:`Verified` payload or a typed error.
"""

from __future__ import annotations

import binascii
import hmac
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .errors import SignatureInvalid, SignatureMissing, Unavailable
from .js_stringify import js_stringify
from .payload import Verified, loads_strict, parse_payload

MODE_RAW = "raw"
MODE_RAW_JS = "raw+js-stringify"
SIGNATURE_MODES = (MODE_RAW, MODE_RAW_JS)

#: At most this many comma-separated signatures are tried (a duplicated header arrives joined
#: by commas); more than that is rejected without decoding anything.
MAX_SIGNATURES = 4
#: A signature header longer than this is rejected before any splitting or decoding, so an
#: absurd header (10,000 values) costs one length check.
MAX_SIGNATURE_HEADER_CHARS = 256

# base64 of exactly 32 bytes, standard alphabet, canonical: 43 characters then one "=". The
# 43rd character carries 4 data bits and 2 zero bits, so only these 16 characters are canonical.
_SIGNATURE_RE = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")
_a2b = binascii.a2b_base64
_hmac_digest = hmac.digest
_compare = hmac.compare_digest
_OWS = " \t"


def decode_signatures(value: Any) -> list[bytes]:
    """Strictly decode the signature header into 1..MAX_SIGNATURES 32-byte digests.

    Accepted: standard-alphabet, padded, canonical base64 of exactly 32 bytes, optionally
    surrounded by HTTP optional whitespace; a duplicated header (values joined by commas) is
    split and each part decoded, at most ``MAX_SIGNATURES`` parts. Rejected with
    :class:`SignatureInvalid`: hex, ``sha256=`` prefixes, URL-safe alphabet, missing padding,
    31/33 bytes, embedded whitespace or junk, non-ASCII, and anything longer than
    ``MAX_SIGNATURE_HEADER_CHARS`` (checked first, so the work is bounded).
    """
    if value.__class__ is str and len(value) == 44 and _SIGNATURE_RE.fullmatch(value) is not None:
        return [_a2b(value)]  # the common case: one well-formed signature
    if value is None:
        raise SignatureMissing("signature header missing")
    if not isinstance(value, str):
        raise SignatureInvalid("signature header malformed")
    if len(value) > MAX_SIGNATURE_HEADER_CHARS:
        raise SignatureInvalid("signature header too long")
    value = value.strip(_OWS)
    if not value:
        raise SignatureMissing("signature header empty")
    if "," in value:
        parts = value.split(",")
        if len(parts) > MAX_SIGNATURES:
            raise SignatureInvalid("too many signatures")
    else:
        parts = (value,)
    out = []
    for part in parts:
        part = part.strip(_OWS)
        if _SIGNATURE_RE.fullmatch(part) is None:
            raise SignatureInvalid("signature is not base64 of a 32-byte HMAC-SHA256")
        out.append(binascii.a2b_base64(part))
    return out


def _matches(message: bytes, presented: Sequence[bytes], keys: Sequence[bytes]) -> bool:
    if len(keys) == 1 and len(presented) == 1:
        return _compare(_hmac_digest(keys[0], message, "sha256"), presented[0])
    ok = False
    for key in keys:
        mac = _hmac_digest(key, message, "sha256")
        for sig in presented:
            # compare_digest is constant time on bytes; no early exit across candidates either
            ok |= _compare(mac, sig)
    return ok


def verify(body: bytes, presented: Sequence[bytes], keys: Sequence[bytes], mode: str = MODE_RAW) -> str:
    """Return the mode that matched (``"raw"`` or ``"js-stringify"``) or raise SignatureInvalid.

    ``keys`` must be non-empty byte strings (an empty key is refused by the caller)."""
    if not keys:
        raise Unavailable("no webhook secret available")
    if _matches(body, presented, keys):
        return "raw"
    if mode == MODE_RAW_JS:
        try:
            canonical = js_stringify(loads_strict(body.decode("utf-8"))).encode("utf-8")
        except (ValueError, UnicodeError, RecursionError):
            canonical = None
        if canonical is not None and canonical != body and _matches(canonical, presented, keys):
            return "js-stringify"
    raise SignatureInvalid("signature does not match")


def authenticate(
    body: bytes,
    signature_header: Any,
    load_keys: Callable[[bool], Sequence[bytes]],
    mode: str = MODE_RAW,
) -> Verified:
    """Decode the signature, verify against the keys and parse the verified body.

    ``load_keys(refresh)`` returns the accepted secrets; on a mismatch it is called once more
    with ``refresh=True`` so a freshly rotated secret is picked up without waiting for the
    cache to expire (the loader rate-limits refreshes)."""
    presented = decode_signatures(signature_header)
    keys = load_keys(False)
    try:
        matched = verify(body, presented, keys, mode)
    except SignatureInvalid:
        fresh = load_keys(True)
        if fresh is keys or list(fresh) == list(keys):
            raise
        matched = verify(body, presented, fresh, mode)
    text, payload = parse_payload(body)
    return Verified(body, text, payload, matched)


def usable_keys(values: Iterable[Any]) -> tuple[bytes, ...]:
    """Non-empty secrets as bytes (str secrets are UTF-8 encoded). An empty secret is never a key."""
    out = []
    for v in values:
        if isinstance(v, str):
            v = v.encode("utf-8")
        if isinstance(v, (bytes, bytearray)) and len(v) > 0:
            out.append(bytes(v))
    return tuple(out)
