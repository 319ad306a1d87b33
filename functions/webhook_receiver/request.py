"""Checks on a request before its signature: method, source address, headers, body size and encoding."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .errors import ConfigurationError, MalformedRequest, MethodNotAllowed, PayloadTooLarge, SourceNotAllowed

# A base64 event body: standard alphabet, length a multiple of 4, padding only at the end.
_B64_BODY_RE = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")


def check_method(method: Any) -> None:
    if not isinstance(method, str) or method.upper() != "POST":
        raise MethodNotAllowed("only POST is accepted")


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(value: str | None) -> tuple[Network, ...]:
    """``ALLOWED_SOURCE_IPS``: comma-separated CIDRs (or bare addresses); empty means any."""
    if not value or not value.strip():
        return ()
    networks = []
    for i, part in enumerate(value.split(",")):
        part = part.strip()
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            raise ConfigurationError(
                f"ALLOWED_SOURCE_IPS entry {i + 1} is not an IP address or CIDR; "
                "use comma-separated values such as 15.204.75.108/32,148.113.140.236/32"
            ) from None
    return tuple(networks)


def check_source(source_ip: Any, networks: Sequence[Network]) -> None:
    if not networks:
        return
    if not isinstance(source_ip, str):
        raise SourceNotAllowed("source address unknown")
    try:
        addr = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        raise SourceNotAllowed("source address unknown") from None
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [addr]
    mapped = getattr(addr, "ipv4_mapped", None)
    if mapped is not None:
        candidates.append(mapped)
    for net in networks:
        for a in candidates:
            if a.version == net.version and a in net:
                return
    raise SourceNotAllowed("source address not allowed")


def normalise_headers(headers: Any) -> dict[str, str]:
    """Lower-cased header names; values of names that differ only in case are joined by commas
    (as HTTP API payload 2.0 joins duplicates). Non-string entries are ignored."""
    out: dict[str, str] = {}
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        key = name.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def header(headers: Mapping[str, str], name: str) -> str | None:
    return headers.get(name.lower())


def event_body_bytes(body: Any, is_base64: Any, max_bytes: int) -> bytes:
    """Raw body bytes of an API Gateway HTTP API / function URL event, size-checked before and
    after decoding."""
    if body is None:
        return b""
    if not isinstance(body, str):
        raise MalformedRequest("event body must be a string")
    if is_base64 not in (None, False, True):
        raise MalformedRequest("isBase64Encoded must be a boolean")
    if is_base64:
        if len(body) > 4 * math.ceil(max_bytes / 3):
            raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
        if _B64_BODY_RE.fullmatch(body) is None:
            raise MalformedRequest("isBase64Encoded body is not valid base64")
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest("isBase64Encoded body is not valid base64") from None
    else:
        if len(body) > max_bytes:
            raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise MalformedRequest("body is not encodable as UTF-8") from None
    if len(raw) > max_bytes:
        raise PayloadTooLarge(f"body larger than {max_bytes} bytes")
    return raw
