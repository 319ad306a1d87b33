"""The fake Makini API itself behaves as FACTS.md and the OAS describe (raw urllib, no client code)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import pytest

from tests.fakes.makini_api import FakeMakini


def call(base, method, path, body=None, bearer=None):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), dict(err.headers)


def system_token(fake):
    status, body, _ = call(
        fake.base_url,
        "POST",
        "/link/token",
        {"grant_type": "client_credentials", "client_id": fake.client_id, "client_secret": fake.client_secret},
    )
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] > 0
    return body["access_token"]


def test_binds_loopback_ephemeral_port_and_stops_itself():
    with FakeMakini() as fake:
        assert fake.base_url.startswith("http://127.0.0.1:")
        port = int(fake.base_url.rsplit(":", 1)[1])
        assert port > 0
        base = fake.base_url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(base + "/api/integrations/current", timeout=0.5)


def test_wrong_secret_gets_401_with_makini_error_shape():
    with FakeMakini() as fake:
        status, body, headers = call(
            fake.base_url,
            "POST",
            "/link/token",
            {"grant_type": "client_credentials", "client_id": fake.client_id, "client_secret": "wrong"},
        )
        assert status == 401
        assert set(body["error"]) == {"code", "type", "message", "request_id"}
        assert headers["X-Request-Id"]


def test_issue_check_delete_lifecycle():
    with FakeMakini() as fake:
        fake.add_connection("c1")
        sys_token = system_token(fake)
        status, body, _ = call(fake.base_url, "POST", "/api/system/connections/c1/token", {}, bearer=sys_token)
        assert status == 200 and set(body["data"]) == {"token", "expires_in"}
        conn_token = body["data"]["token"]
        status, body, _ = call(fake.base_url, "GET", "/api/integrations/current", bearer=conn_token)
        assert status == 200 and body["data"]["sync_status"] == "done"
        # a connection token is not a system token
        assert call(fake.base_url, "POST", "/api/system/connections/c1/token", {}, bearer=conn_token)[0] == 401
        assert call(fake.base_url, "GET", "/api/integrations/current", bearer="nope")[0] == 401
        assert call(fake.base_url, "DELETE", "/api/system/connections/c1", bearer=sys_token)[0] == 200
        assert call(fake.base_url, "GET", "/api/integrations/current", bearer=conn_token)[0] == 401


def test_old_tokens_stay_valid_by_default_and_optionally_not():
    with FakeMakini() as fake:
        fake.add_connection("c1")
        old = fake.mint_connection_token("c1")
        fake.mint_connection_token("c1")
        assert fake.token_is_valid(old)
    with FakeMakini(revoke_previous_on_issue=True) as fake:
        fake.add_connection("c1")
        old = fake.mint_connection_token("c1")
        new = fake.mint_connection_token("c1")
        assert not fake.token_is_valid(old) and fake.token_is_valid(new)


def test_connections_are_paginated_per_oas():
    with FakeMakini(per_page=2) as fake:
        for i in range(5):
            fake.add_connection(f"c{i}")
        sys_token = system_token(fake)
        status, body, _ = call(fake.base_url, "GET", "/api/system/connections?page=2", bearer=sys_token)
        assert status == 200
        assert [c["key"] for c in body["data"]] == ["c2", "c3"]
        assert body["meta"] | {} == {
            **body["meta"],
            "current_page": 2,
            "last_page": 3,
            "per_page": 2,
            "total": 5,
            "from": 3,
            "to": 4,
        }
        assert body["links"]["prev"].endswith("page=1") and body["links"]["next"].endswith("page=3")


def test_fault_injection_429_5xx_401_and_slow():
    with FakeMakini() as fake:
        fake.add_connection("c1")
        token = fake.mint_connection_token("c1")
        fake.fail_next(429, count=2, retry_after=7)
        fake.fail_next(503, count=1)
        fake.fail_next(401, count=1)
        seen = [call(fake.base_url, "GET", "/api/integrations/current", bearer=token) for _ in range(5)]
        assert [s for s, _, _ in seen] == [429, 429, 503, 401, 200]
        assert seen[0][2]["Retry-After"] == "7"
        assert seen[0][1]["error"]["code"] == "RATE_LIMIT_EXCEEDED"
        fake.slow_next(0.3)
        start = time.monotonic()
        assert call(fake.base_url, "GET", "/api/integrations/current", bearer=token)[0] == 200
        assert time.monotonic() - start >= 0.3
        assert len(fake.requests) == 6
        assert fake.requests[0].bearer == token
