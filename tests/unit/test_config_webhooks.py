"""The webhooks section of the stack configuration: defaults, limits, and one clear error per mistake."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks.config import ConfigError
from stacks.config.webhooks import MAKINI_SOURCE_IPS, iso_duration, parse_iso_duration
from tests.support import VAULT_ROTATOR, base_config, load


def cfg(env="dev", **webhooks):
    c = base_config(env)
    c["makini:webhooks"] = {"enabled": True, **webhooks}
    return c


def problems(c):
    with pytest.raises(ConfigError) as err:
        load(c)
    return {p.path: p for p in err.value.problems}


def test_defaults():
    w = load(cfg()).webhooks
    assert w.route_path == "/makini/webhooks"
    assert w.source_ips() == MAKINI_SOURCE_IPS
    assert MAKINI_SOURCE_IPS == (
        "15.204.75.108/32",
        "15.204.73.75/32",
        "15.204.77.147/32",
        "148.113.140.236/32",
        "51.79.101.4/32",
    )  # FACTS.md
    assert (w.aws.timeout_seconds, w.aws.memory_mb, w.aws.reserved_concurrency) == (6, 256, None)
    assert (w.aws.throttling.burst_limit, w.aws.throttling.rate_limit) == (100, 50)
    assert w.signature_mode == "raw" and w.grace_seconds == 86_400 and w.dedupe_ttl_seconds == 172_800
    assert w.azure.duplicate_detection_window == "P2D" and w.azure.plan_sku == "EP1"
    assert w.log_retention_days(False) == 30 and w.log_retention_days(True) == 365
    assert w.alarms.effective_silence_hours(False) is None
    assert w.alarms.effective_silence_hours(True) == 24
    assert load(base_config()).webhooks.enabled is False


def test_silence_hours_explicit_values():
    w = load(cfg(alarms={"silenceHours": 6})).webhooks
    assert w.alarms.effective_silence_hours(False) == 6
    assert load(cfg("prod", alarms={"silenceHours": 0})).webhooks.alarms.effective_silence_hours(True) is None


@pytest.mark.parametrize(
    ("webhooks", "path", "words"),
    [
        ({"aws": {"timeoutSeconds": 10}}, "makini:webhooks.aws.timeoutSeconds", "10 s answer budget"),
        ({"aws": {"timeoutSeconds": 30}}, "makini:webhooks.aws.timeoutSeconds", "at most 9"),
        ({"aws": {"timeoutSeconds": 0}}, "makini:webhooks.aws.timeoutSeconds", "too short"),
        ({"aws": {"memoryMb": 64}}, "makini:webhooks.aws.memoryMb", "128"),
        ({"aws": {"reservedConcurrency": 0}}, "makini:webhooks.aws.reservedConcurrency", "1"),
        ({"aws": {"logRetentionDays": 31}}, "makini:webhooks.aws.logRetentionDays", "nearest: 30"),
        ({"aws": {"throttling": {"burstLimit": 0}}}, "makini:webhooks.aws.throttling.burstLimit", "1"),
        (
            {
                "aws": {
                    "customDomain": {
                        "domainName": "Web Hooks",
                        "certificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/c1",
                    }
                }
            },
            "makini:webhooks.aws.customDomain.domainName",
            "DNS name",
        ),
        (
            {"aws": {"customDomain": {"domainName": "hooks.example.com", "certificateArn": "arn:aws:iam::1:x"}}},
            "makini:webhooks.aws.customDomain.certificateArn",
            "ACM certificate ARN",
        ),
        ({"routePath": "makini/webhooks"}, "makini:webhooks.routePath", "start with '/'"),
        ({"routePath": "/makini/{id}"}, "makini:webhooks.routePath", "no {parameters}"),
        ({"routePath": "/makini/"}, "makini:webhooks.routePath", "no trailing slash"),
        ({"allowedSourceIps": ["15.204.75.108/24"]}, "makini:webhooks.allowedSourceIps[0]", "host bits"),
        ({"allowedSourceIps": ["not-an-ip"]}, "makini:webhooks.allowedSourceIps[0]", "CIDR"),
        ({"allowedSourceIps": ["0.0.0.0/0"]}, "makini:webhooks.allowedSourceIps[0]", "allowAnySource"),
        ({"allowedSourceIps": []}, "makini:webhooks.allowedSourceIps", "refuse every delivery"),
        ({"allowAnySource": True, "allowedSourceIps": ["15.204.75.108/32"]}, "makini:webhooks", "contradict"),
        ({"signatureMode": "hex"}, "makini:webhooks.signatureMode", "raw"),
        ({"dedupeTtlSeconds": 86_400}, "makini:webhooks.dedupeTtlSeconds", "90000"),
        ({"graceSeconds": -1}, "makini:webhooks.graceSeconds", "0"),
        ({"azure": {"duplicateDetectionWindow": "PT24H"}}, "makini:webhooks.azure.duplicateDetectionWindow", "PT25H"),
        ({"azure": {"duplicateDetectionWindow": "P1D"}}, "makini:webhooks.azure.duplicateDetectionWindow", "PT25H"),
        ({"azure": {"duplicateDetectionWindow": "P8D"}}, "makini:webhooks.azure.duplicateDetectionWindow", "P7D"),
        (
            {"azure": {"duplicateDetectionWindow": "2 days"}},
            "makini:webhooks.azure.duplicateDetectionWindow",
            "ISO 8601",
        ),
        ({"azure": {"planSku": "F1"}}, "makini:webhooks.azure.planSku", "Y1"),
        ({"alarms": {"silenceHours": 25}}, "makini:webhooks.alarms.silenceHours", "24"),
        ({"alarms": {"errorRatePercent": 0}}, "makini:webhooks.alarms.errorRatePercent", "0"),
        ({"alarms": {"email": "oncall"}}, "makini:webhooks.alarms.email", "e-mail"),
        ({"secret": "plain"}, "makini:webhooks.secret", "plain"),
        ({"timeout": 5}, "makini:webhooks.timeout", "unknown key"),
    ],
)
def test_each_mistake_gets_one_clear_error_at_its_path(webhooks, path, words):
    found = problems(cfg(**webhooks))
    assert list(found) == [path], found
    text = f"{found[path].message} {found[path].fix}"
    assert words in text, text


def test_allow_any_source_is_refused_in_production_and_allowed_in_dev():
    found = problems(cfg("prod", allowAnySource=True))
    assert list(found) == ["makini:webhooks.allowAnySource"]
    assert "pulumi config rm --path 'makini:webhooks.allowAnySource'" in found["makini:webhooks.allowAnySource"].fix
    assert load(cfg("dev", allowAnySource=True)).webhooks.source_ips() == ()


def test_endpoint_needs_a_compute_backend():
    c = cfg()
    c["makini:backends"] = ["vault"]
    c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    with pytest.raises(ConfigError) as err:
        load(c)
    assert "makini:webhooks.enabled" in {p.path for p in err.value.problems}


def test_custom_allow_list_and_settings_are_kept():
    w = load(
        cfg(
            allowedSourceIps=["203.0.113.0/24", "2001:db8::/48"],
            signatureMode="raw+js-stringify",
            azure={"duplicateDetectionWindow": "PT36H"},
        )
    ).webhooks
    assert w.source_ips() == ("203.0.113.0/24", "2001:db8::/48")
    assert w.signature_mode == "raw+js-stringify"
    assert w.azure.duplicate_detection_window == "P1DT12H"  # canonical ISO 8601


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("P2D", timedelta(days=2)),
        ("PT25H", timedelta(hours=25)),
        ("P1DT12H", timedelta(days=1, hours=12)),
        ("P1W", timedelta(days=7)),
        ("PT90M", timedelta(minutes=90)),
        ("PT20S", timedelta(seconds=20)),
    ],
)
def test_iso_durations_known_answers(text, expected):
    assert parse_iso_duration(text) == expected


@pytest.mark.parametrize("text", ["P", "PT", "2D", "P1Y", "P1M", "PT1.5H", "P-1D", "", "P1DT"])
def test_iso_durations_refused(text):
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_iso_duration(text)


@given(st.integers(min_value=0, max_value=10 * 86_400))
def test_iso_duration_round_trips(seconds):
    td = timedelta(seconds=seconds)
    assert parse_iso_duration(iso_duration(td)) == td
