"""Every request the rotator sends conforms to Makini's published API (OAS + FACTS.md)."""

from __future__ import annotations

import pytest

from tests.fakes.makini_contract import check_recorded, check_request, match_path


def test_rotation_requests_conform_to_the_oas(aws):
    token = aws.start_rotation()
    aws.makini.fail_next(429, count=1, retry_after=1)  # retried requests are checked too
    aws.rotate(token)
    sent = aws.makini.requests
    assert len(sent) == 4
    assert check_recorded(sent) == []


def test_vault_and_azure_paths_use_the_same_calls(makini, client_factory):
    client = client_factory()
    system = client.system_token(makini.client_id, makini.client_secret)
    issued = client.issue_connection_token(system, "09000207611898")
    client.check_token(issued.token)
    list(client.list_connections(system))
    assert check_recorded(makini.requests) == []


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "expected"),
    [
        ("POST", "/api/system/connections/x/token", {"expires_in": 5}, {"Authorization": "Bearer t"}, "not among"),
        ("POST", "/api/system/connections/x/token", {}, {}, "bearerAuth required"),
        ("PUT", "/api/system/connections/x/token", {}, {"Authorization": "Bearer t"}, "has no PUT"),
        ("GET", "/api/system/nowhere", None, {"Authorization": "Bearer t"}, "no path in the OAS"),
        ("GET", "/api/integrations/current", {"a": 1}, {"Authorization": "Bearer t"}, "no request body"),
        ("POST", "/link/token", {"grant_type": "client_credentials", "client_id": "a"}, {}, "missing body keys"),
        ("POST", "/link/token", {"grant_type": "password", "username": "u"}, {}, "not one FACTS.md documents"),
        (
            "POST",
            "/link/token",
            {"grant_type": "client_credentials", "client_id": "a", "client_secret": "b", "scope": "x"},
            {},
            "undocumented body keys",
        ),
    ],
)
def test_checker_catches_violations(method, path, body, headers, expected):
    problems = check_request(method, path, body, headers)
    assert problems and expected in problems[0]


def test_path_templates_match_literal_first():
    assert match_path("/api/system/connections") == ("/api/system/connections", {})
    assert match_path("/api/system/connections/abc/token") == ("/api/system/connections/{id}/token", {"id": "abc"})
    assert match_path("/api/system/connections/abc/token/extra") is None
