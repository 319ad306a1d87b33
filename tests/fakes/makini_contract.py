"""Check recorded requests against Makini's published system API (OpenAPI 3).

``check_request(method, path, body, headers)`` returns a list of problems (empty = conforms):
- the path matches a path template of the OAS (``{id}`` segments match one non-empty segment),
- the method exists for that path, path parameters are present and non-empty,
- a JSON body is sent only where the OAS has a requestBody, and its keys are among the listed
  ``properties`` (an empty ``properties`` list in the OAS means: no properties documented, so the
  body must be empty),
- operations with ``security: bearerAuth`` carry ``Authorization: Bearer <token>``.

``POST /link/token`` is not in the system OAS; FACTS.md documents it (JSON body with
``grant_type`` and, for client_credentials, ``client_id`` + ``client_secret``), and that is what
the checker holds it to, explicitly.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

# One copy in the repository (docs/makini/), read by the tests and linked from the docs.
OAS_PATH = Path(__file__).resolve().parents[2] / "docs/makini/oas3_system.json"

# Documented by FACTS.md, not by the system OAS.
FACTS_ENDPOINTS = {
    ("POST", "/link/token"): {
        "body_required": True,
        "grants": {
            "client_credentials": {"grant_type", "client_id", "client_secret"},
            "authorization_code": {"grant_type", "code", "redirect_uri", "client_id", "client_secret"},
        },
    },
}


@lru_cache(maxsize=1)
def load_oas(path: str | None = None) -> dict:
    return json.loads(Path(path or OAS_PATH).read_text())


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}/]+\})", template)
    pattern = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") and p.endswith("}") else re.escape(p) for p in parts)
    return re.compile(f"^{pattern}$")


def match_path(path: str, oas: dict | None = None) -> tuple[str, dict[str, str]] | None:
    """The OAS path template matching ``path`` and its parameters; literal templates win."""
    oas = oas or load_oas()
    candidates = []
    for template in oas["paths"]:
        m = _template_regex(template).match(path)
        if m:
            candidates.append((template.count("{"), template, m.groupdict()))
    if not candidates:
        return None
    candidates.sort()
    return candidates[0][1], candidates[0][2]


def check_request(
    method: str, path: str, body: object = None, headers: dict[str, str] | None = None, oas: dict | None = None
) -> list[str]:
    method = method.upper()
    path = path.split("?", 1)[0]
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    problems: list[str] = []

    facts = FACTS_ENDPOINTS.get((method, path))
    if facts is not None:
        if not isinstance(body, dict):
            return [f"{method} {path}: FACTS.md documents a JSON object body; got {type(body).__name__}"]
        grant = body.get("grant_type")
        allowed = facts["grants"].get(grant)
        if allowed is None:
            return [f"{method} {path}: grant_type {grant!r} is not one FACTS.md documents"]
        missing = sorted(allowed - set(body))
        extra = sorted(set(body) - allowed)
        if missing:
            problems.append(f"{method} {path}: missing body keys {missing} for grant {grant}")
        if extra:
            problems.append(f"{method} {path}: undocumented body keys {extra} for grant {grant}")
        return problems

    oas = oas or load_oas()
    found = match_path(path, oas)
    if found is None:
        return [f"{method} {path}: no path in the OAS matches"]
    template, params = found
    operation = oas["paths"][template].get(method.lower())
    if operation is None:
        return [f"{method} {path}: the OAS has no {method} for {template}"]

    for param in operation.get("parameters", []):
        if param.get("in") == "path":
            value = params.get(param["name"])
            if param.get("required") and not value:
                problems.append(f"{method} {path}: path parameter {param['name']} is missing")

    request_body = operation.get("requestBody")
    if request_body is None:
        if body not in (None, b"", ""):
            problems.append(f"{method} {template}: the OAS documents no request body, but one was sent")
    else:
        schema = (request_body.get("content", {}).get("application/json", {}) or {}).get("schema", {})
        if body is None:
            pass  # the OAS does not mark these bodies required
        elif schema.get("type") == "object":
            if not isinstance(body, dict):
                problems.append(f"{method} {template}: body must be a JSON object")
            else:
                props = schema.get("properties")
                listed = set(props) if isinstance(props, dict) else set()
                extra = sorted(set(body) - listed)
                if extra:
                    problems.append(
                        f"{method} {template}: body keys {extra} are not among the OAS properties {sorted(listed)}"
                    )
        elif schema.get("type") == "array" and not isinstance(body, list):
            problems.append(f"{method} {template}: body must be a JSON array")

    if any("bearerAuth" in req for req in operation.get("security", [])):
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
            problems.append(f"{method} {template}: bearerAuth required but no 'Authorization: Bearer' header")
    return problems


def check_recorded(requests) -> list[str]:
    """Check every RecordedRequest of tests.fakes.makini_api; returns all problems."""
    problems: list[str] = []
    for req in requests:
        problems.extend(check_request(req.method, req.path, req.json, req.headers))
    return problems
