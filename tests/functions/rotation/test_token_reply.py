"""How the client reads Makini's answer to ``POST /api/system/connections/{id}/token`` (the reading is
documented in functions/rotation/README.md, "The token call"):

- it sends ``{}``: the OAS's request schema lists no property, and its sample payload holds the token
  Makini *generates* (``{{TOKEN_GENERATED}}``), so the sample describes the answer, not a request;
- it accepts the documented response ``{"data": ConnectionToken}`` and the bare sample ``{"token",
  "expires_in"}``;
- ``expires_in`` absent or null means no expiry (FACTS.md: tokens stay valid while the connection is
  active); otherwise it must be a positive whole number of seconds;
- anything else is a :class:`MakiniBadReply` naming the connection and what was wrong, never the token.
"""

from __future__ import annotations

import json
import logging

import pytest
from rotation.makini_client import MakiniBadReply, MakiniError

from tests.fakes.makini_contract import check_recorded

from .conftest import CONNECTION_ID

TOKEN_PATH = f"/api/system/connections/{CONNECTION_ID}/token"
SECRET_TOKEN = "mkc_do-not-log-me-0123456789"


def issue(makini, client_factory):
    client = client_factory()
    return client.issue_connection_token(client.system_token(makini.client_id, makini.client_secret), CONNECTION_ID)


@pytest.mark.parametrize("shape", ["data", "unwrapped"])
@pytest.mark.parametrize("lifetime", [None, 30 * 86400, 300])
def test_both_reply_shapes_and_every_lifetime_are_read(makini, client_factory, shape, lifetime, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    makini.token_reply_shape = shape
    makini.connection_token_lifetime = lifetime
    issued = issue(makini, client_factory)
    assert makini.token_is_valid(issued.token)
    assert issued.expires_in == lifetime and issued.reply_shape == shape
    assert issued.lifetime == ("no expiry" if lifetime is None else f"{lifetime} s")
    logged = [json.loads(r.getMessage()) for r in caplog.records if "connection_token_issued" in r.getMessage()]
    assert logged == [
        {
            "event": "connection_token_issued",
            "connection_id": CONNECTION_ID,
            "reply_shape": shape,
            "expires_in": lifetime,
            "lifetime": issued.lifetime,
        }
    ]
    assert issued.token not in caplog.text


def test_the_request_body_is_empty_and_conforms(makini, client_factory):
    issue(makini, client_factory)
    sent = [r for r in makini.requests if r.path == TOKEN_PATH]
    assert [r.json for r in sent] == [{}]
    assert check_recorded(makini.requests) == []


@pytest.mark.parametrize(
    ("body", "what"),
    [
        pytest.param([], "not a JSON object", id="a-list"),
        pytest.param({}, "no token", id="empty-object"),
        pytest.param({"data": None}, "no token", id="data-null"),
        pytest.param({"data": "x"}, "data is not an object", id="data-string"),
        pytest.param({"data": {}}, "no token", id="data-empty"),
        pytest.param({"data": {"token": ""}}, "no token", id="token-empty"),
        pytest.param({"data": {"token": 12345678}}, "no token", id="token-number"),
        pytest.param({"data": {"token": SECRET_TOKEN}, "token": SECRET_TOKEN}, "both", id="both-shapes"),
        pytest.param({"data": {"token": SECRET_TOKEN, "expires_in": "300"}}, "expires_in", id="lifetime-text"),
        pytest.param({"data": {"token": SECRET_TOKEN, "expires_in": 0}}, "expires_in", id="lifetime-zero"),
        pytest.param({"data": {"token": SECRET_TOKEN, "expires_in": -5}}, "expires_in", id="lifetime-negative"),
        pytest.param({"data": {"token": SECRET_TOKEN, "expires_in": 1.5}}, "expires_in", id="lifetime-fraction"),
        pytest.param({"data": {"token": SECRET_TOKEN, "expires_in": True}}, "expires_in", id="lifetime-bool"),
        pytest.param({"token": SECRET_TOKEN, "expires_in": [300]}, "expires_in", id="lifetime-list"),
    ],
)
def test_an_unexpected_reply_names_the_connection_and_never_the_token(makini, client_factory, body, what, caplog):
    caplog.set_level(logging.DEBUG, logger="rotation")
    makini.reply_next(200, body, path_prefix=TOKEN_PATH)
    with pytest.raises(MakiniBadReply) as err:
        issue(makini, client_factory)
    message = str(err.value)
    assert CONNECTION_ID in message and what in message
    assert SECRET_TOKEN not in message and SECRET_TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("status", "raw", "what"),
    [
        pytest.param(204, b"", "HTTP 204", id="no-content"),
        pytest.param(200, b"<html>maintenance</html>", "invalid JSON", id="not-json"),
        pytest.param(302, b"{}", "HTTP 302", id="redirect"),
        pytest.param(404, b'{"error": {"code": "NOT_FOUND"}}', "HTTP 404", id="unknown-connection"),
    ],
)
def test_an_unexpected_status_names_the_connection(makini, client_factory, status, raw, what):
    makini.reply_next(status, raw=raw, path_prefix=TOKEN_PATH)
    with pytest.raises(MakiniError) as err:
        issue(makini, client_factory)
    assert f"connection {CONNECTION_ID}" in str(err.value) and what in str(err.value)


def test_an_integral_float_lifetime_is_whole_seconds(makini, client_factory):
    makini.reply_next(200, {"token": SECRET_TOKEN, "expires_in": 2592000.0}, path_prefix=TOKEN_PATH)
    issued = issue(makini, client_factory)
    assert issued.expires_in == 2592000 and isinstance(issued.expires_in, int)


def test_access_token_is_read_where_token_is_missing(makini, client_factory):
    """ConnectionStore, elsewhere in the OAS, names the field access_token: accepted, and logged as such."""
    makini.reply_next(200, {"data": {"access_token": SECRET_TOKEN}}, path_prefix=TOKEN_PATH)
    issued = issue(makini, client_factory)
    assert issued.token == SECRET_TOKEN and issued.expires_in is None and issued.reply_shape == "data"
