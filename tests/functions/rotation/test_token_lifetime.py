"""A fresh token that would expire before the next rotation is refused before anything is staged:
the pure check, and the AWS Secrets Manager rotator (moto + the fake Makini)."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from rotation.token_lifetime import (
    DAY,
    TokenLifetimeTooShort,
    aws_rotation_period_seconds,
    check_token_lifetime,
)

from .conftest import CONNECTION_ID
from .test_aws_lambda import _current_version, assert_current_unchanged

# -- pure ---------------------------------------------------------------------------------------


@given(
    expires_in=st.integers(min_value=-10 * DAY, max_value=1000 * DAY),
    period_days=st.one_of(st.none(), st.integers(min_value=1, max_value=500)),
)
def test_refused_exactly_when_shorter_than_period_plus_one_day(expires_in, period_days):
    period = None if period_days is None else period_days * DAY
    required = 30 * DAY if period is None else period + DAY
    if expires_in < required:
        with pytest.raises(TokenLifetimeTooShort) as err:
            check_token_lifetime(expires_in, period, where="secret s", period_source="src")
        assert "secret s" in str(err.value) and f"expires in {expires_in} s" in str(err.value)
    else:
        check_token_lifetime(expires_in, period, where="secret s", period_source="src")


@pytest.mark.parametrize("period", [None, DAY, 400 * DAY])
def test_absent_expires_in_always_passes(period):
    check_token_lifetime(None, period, where="w", period_source="s")


@pytest.mark.parametrize(
    "rules,expected",
    [
        ({"AutomaticallyAfterDays": 7}, 7 * DAY),
        ({"ScheduleExpression": "rate(10 days)"}, 10 * DAY),
        ({"ScheduleExpression": "rate(1 day)", "AutomaticallyAfterDays": 99}, DAY),
        ({"ScheduleExpression": "rate(12 hours)"}, 12 * 3600),
        ({"ScheduleExpression": "cron(0 16 1,15 * ? *)", "AutomaticallyAfterDays": 7}, None),
        ({"ScheduleExpression": "every week"}, None),
        ({}, None),
        (None, None),
        ({"AutomaticallyAfterDays": 0}, None),
    ],
)
def test_aws_period_from_rotation_rules(rules, expected):
    assert aws_rotation_period_seconds(rules)[0] == expected


# -- AWS Secrets Manager (rig: RotationRules.AutomaticallyAfterDays = 7 -> needs >= 8 days) ------


def _refused_create(aws, expires_in):
    aws.makini.connection_token_lifetime = expires_in
    before = _current_version(aws)
    token = aws.start_rotation()
    with pytest.raises(TokenLifetimeTooShort) as err:
        aws.step("createSecret", token)
    issued = aws.makini.tokens_issued(CONNECTION_ID)[-1]
    assert issued != aws.current_token and issued not in str(err.value)
    # nothing staged: the AWSPENDING version still has no value, AWSCURRENT untouched and valid
    with pytest.raises(aws.sm.exceptions.ResourceNotFoundException):
        aws.sm.get_secret_value(SecretId=aws.secret_arn, VersionId=token, VersionStage="AWSPENDING")
    assert_current_unchanged(aws, before)
    return str(err.value), token, before


@pytest.mark.parametrize("expires_in", [300, 7 * DAY, 8 * DAY - 1])
def test_aws_short_lived_token_is_refused_before_pending_is_written(aws, caplog, expires_in):
    caplog.set_level(logging.DEBUG, logger="rotation")
    message, token, before = _refused_create(aws, expires_in)
    assert f"expires in {expires_in} s" in message
    assert "RotationRules.AutomaticallyAfterDays=7" in message and "at least 8 days" in message
    assert aws.secret_arn in message and "Nothing was written" in message
    assert aws.makini.tokens_issued(CONNECTION_ID)[-1] not in caplog.text
    # the later steps cannot promote anything either
    with pytest.raises(ClientError, match="AWSPENDING"):  # nothing was staged to test
        aws.step("testSecret", token)
    assert_current_unchanged(aws, before)


@pytest.mark.parametrize("expires_in", [8 * DAY, 90 * DAY, None])
def test_aws_long_or_absent_lifetime_rotates(aws, expires_in):
    aws.makini.connection_token_lifetime = expires_in
    before = _current_version(aws)
    token = aws.start_rotation()
    aws.rotate(token)
    assert _current_version(aws) == token != before
    new = aws.value("AWSCURRENT")
    assert new["token"] != aws.current_token and aws.makini.token_is_valid(new["token"])


def test_aws_unparseable_schedule_requires_30_days(aws, monkeypatch):
    real = aws.sm.describe_secret

    def describe(**kw):
        meta = real(**kw)
        meta["RotationRules"] = {"AutomaticallyAfterDays": 1, "ScheduleExpression": "cron(0 4 ? * MON *)"}
        return meta

    monkeypatch.setattr(aws.sm, "describe_secret", describe)
    message, _, _ = _refused_create(aws, 29 * DAY)
    assert "cron(0 4 ? * MON *)" in message and "at least 30 days" in message and "unknown" in message
    aws.makini.connection_token_lifetime = 30 * DAY
    token = aws.start_rotation()
    aws.rotate(token)
    assert _current_version(aws) == token
