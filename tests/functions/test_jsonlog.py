"""The JSON logger every function shares: both record shapes, and the redaction behind them."""

from __future__ import annotations

import json
import logging

import pytest

from functions.shared import jsonlog


@pytest.fixture
def lines():
    logger = logging.getLogger("tests.jsonlog")
    captured: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record.getMessage())

    handler = Capture()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield logger, captured
    finally:
        logger.removeHandler(handler)


def test_rotation_shape_sorted_with_secret_fields_redacted(lines):
    logger, captured = lines
    jsonlog.log(logger, logging.INFO, "rotated", token="tok-123456", path="connections/a/token", step=None)
    (line,) = captured
    assert line == '{"event": "rotated", "path": "connections/a/token", "step": null, "token": "[redacted]"}'


def test_receiver_shape_compact_without_none_fields(lines):
    logger, captured = lines
    jsonlog.log_record(logger, logging.WARNING, "webhook rejected", request_id="r1", status=401, reason=None)
    (line,) = captured
    record = json.loads(line)
    assert list(record) == ["level", "time", "message", "request_id", "status"]
    assert (record["level"], record["message"], record["status"]) == ("WARNING", "webhook rejected", 401)
    assert record["time"].endswith("Z") and ", " not in line and '": ' not in line


def test_registered_secrets_are_masked_in_every_shape(lines):
    logger, captured = lines
    secret = "s3cr3t-value-registered-for-this-test"
    jsonlog.register_secret(secret)
    jsonlog.log(logger, logging.INFO, "failed", error=f"upstream said {secret}")
    jsonlog.log_record(logger, logging.INFO, "failed", reason=f"upstream said {secret}", client_secret="x")
    assert len(captured) == 2 and all(secret not in line for line in captured)
    assert all("[redacted]" in line for line in captured)
    assert json.loads(captured[1])["client_secret"] == "[redacted]"


def test_log_record_formats_nothing_when_the_level_is_off(lines):
    logger, captured = lines
    jsonlog.log_record(logger, logging.DEBUG, "noise", detail="x")
    assert captured == []
