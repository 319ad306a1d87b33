"""One parser of a stored OAuth client for the rotators and the operator commands."""

from __future__ import annotations

import json

import pytest

from functions.rotation import oauth_client
from functions.shared import jsonlog


def test_the_operator_commands_use_the_rotators_parser():
    from infra import stores

    assert stores.parse_oauth_client is oauth_client.parse_oauth_client


@pytest.mark.parametrize(
    "raw",
    [
        None,
        "",
        "not json",
        "[]",
        json.dumps({"client_id": "c"}),
        json.dumps({"client_id": 1, "client_secret": "s"}),
        json.dumps({"client_id": "c", "client_secret": 2}),
        json.dumps({"client_id": "c", "client_secret": ["s"]}),
        json.dumps({"client_id": "", "client_secret": "s"}),
        json.dumps({"client_id": "c", "client_secret": ""}),
    ],
)
def test_anything_but_two_non_empty_strings_is_refused(raw):
    assert oauth_client.parse_oauth_client(raw) is None


def test_a_client_is_read_and_its_secret_masked_in_logs():
    secret = "s3cr3t-oauth-client-value"
    assert oauth_client.parse_oauth_client(json.dumps({"client_id": "c", "client_secret": secret})) == ("c", secret)
    assert secret not in jsonlog.mask(f"error with {secret}")
    assert oauth_client.oauth_client_of({"client_id": "c", "client_secret": secret}) == ("c", secret)
    assert oauth_client.oauth_client_of('{"client_id": "c", "client_secret": "s"}') is None  # text is not data
