"""NetSuite M2M integration record rules: each refusal names its key path and speaks NetSuite's words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stacks.config import ConfigError
from stacks.netsuite import is_netsuite, renew_by, scope_label, scope_suggestion
from tests.support import base_config, load

NS = "makini:connections[2].netsuite"


def netsuite_config(**settings):
    cfg = base_config("dev")
    cfg["makini:connections"].append(
        {
            "key": "initech-ns",
            "system": "Oracle NetSuite",
            "tier": 2,
            "deployment": "cloud",
            "makiniId": "0900003",
            "consumers": ["orders"],
            "netsuite": {"signer": "orders", **settings},
        }
    )
    cfg["makini:credits"]["pool"] = 20
    return cfg


def problems(cfg) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(cfg)
    return {p.path: p.message for p in info.value.problems}


def test_defaults_are_the_m2m_setup():
    conn = load(netsuite_config()).connection("initech-ns")
    assert conn.netsuite.client_credentials_grant and not conn.netsuite.authorization_code_grant
    assert not conn.netsuite.authorization_flow
    assert conn.netsuite.certificate_validity_days == 730


def test_explicit_m2m_setup_in_the_records_words_is_accepted():
    load(
        netsuite_config(
            clientCredentialsGrant=True,
            authorizationCodeGrant=False,
            authorizationFlow=False,
            scopes=["REST Web Services", "RESTlets"],
            certificateValidityDays=365,
        )
    )


@pytest.mark.parametrize(
    ("written", "meant"),
    [("restlets", "RESTlets"), ("RESTLETS", "RESTlets"), ("rest_webservices", "REST Web Services")],
)
def test_a_scope_not_spelled_as_on_the_record_is_refused_with_the_label(written, meant):
    found = problems(netsuite_config(scopes=["REST Web Services" if meant == "RESTlets" else "RESTlets", written]))
    assert f"did you mean '{meant}'?" in found[f"{NS}.scopes[1]"]


def test_authorization_code_grant_refused_in_netsuite_words():
    found = problems(netsuite_config(authorizationCodeGrant=True))
    assert list(found) == [f"{NS}.authorizationCodeGrant"]
    assert found[f"{NS}.authorizationCodeGrant"] == (
        "On the integration record, uncheck 'Authorization Code Grant'; for machine-to-machine only "
        "'Client Credentials (Machine To Machine) Grant' may be checked"
    )


def test_authorization_flow_and_missing_client_credentials_refused():
    found = problems(netsuite_config(authorizationFlow=True, clientCredentialsGrant=False))
    assert set(found) == {f"{NS}.authorizationFlow", f"{NS}.clientCredentialsGrant"}
    assert "uncheck 'Authorization Flow'" in found[f"{NS}.authorizationFlow"]
    assert "check 'Client Credentials (Machine To Machine) Grant'" in found[f"{NS}.clientCredentialsGrant"]


def test_extra_scope_refused_at_its_index():
    found = problems(netsuite_config(scopes=["RESTlets", "REST Web Services", "SuiteAnalytics Connect"]))
    assert list(found) == [f"{NS}.scopes[2]"]
    assert "uncheck 'SuiteAnalytics Connect'" in found[f"{NS}.scopes[2]"]


def test_missing_and_unknown_scopes_refused():
    found = problems(netsuite_config(scopes=["RESTlets", "SOAP Web Services"]))
    assert set(found) == {f"{NS}.scopes[1]", f"{NS}.scopes"}
    assert "check 'REST Web Services'" in found[f"{NS}.scopes"]
    assert "not a scope" in found[f"{NS}.scopes[1]"]


def test_duplicate_scope_refused():
    found = problems(netsuite_config(scopes=["RESTlets", "restlets", "REST Web Services"]))
    assert list(found) == [f"{NS}.scopes[1]"]


@pytest.mark.parametrize("days", [731, 1095])
def test_certificate_longer_than_two_years_refused(days):
    found = problems(netsuite_config(certificateValidityDays=days))
    assert list(found) == [f"{NS}.certificateValidityDays"]
    assert "at most two years (730 days)" in found[f"{NS}.certificateValidityDays"]


def test_reminder_not_shorter_than_validity_refused():
    found = problems(netsuite_config(certificateValidityDays=30, renewalReminderDays=30))
    assert list(found) == [f"{NS}.renewalReminderDays"]


def test_netsuite_block_on_other_system_refused():
    cfg = base_config("dev")
    cfg["makini:connections"][0]["netsuite"] = {"signer": "orders"}
    found = problems(cfg)
    assert list(found) == ["makini:connections[0].netsuite"]
    assert "'SAP S/4HANA'" in found["makini:connections[0].netsuite"]


def test_unknown_key_algorithm_refused():
    with pytest.raises(ConfigError) as info:
        load(netsuite_config(keyAlgorithm="RSA-2048"))
    assert any("keyAlgorithm" in p.path for p in info.value.problems)


@pytest.mark.parametrize(
    "system,expected",
    [
        ("Oracle NetSuite", True),
        ("netsuite", True),
        ("Net Suite ERP", True),
        ("SAP S/4HANA", False),
        ("Dynamics 365", False),
    ],
)
def test_is_netsuite(system, expected):
    assert is_netsuite(system) is expected


def test_scope_labels():

    assert scope_label("RESTlets") == "RESTlets"
    assert scope_label("restlets") is None
    assert scope_suggestion("restlets") == "RESTlets"
    assert scope_suggestion("REST  web services") == "REST Web Services"
    assert scope_suggestion("rest_webservices") == "REST Web Services"
    assert scope_label("SOAP Web Services") is None and scope_suggestion("SOAP Web Services") is None


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    st.integers(min_value=1, max_value=729),
)
def test_renew_by_is_expiry_minus_reminder(end, days):
    text = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    got = datetime.strptime(renew_by(text, days), "%Y-%m-%dT%H:%M:%SZ")
    assert got == end - timedelta(days=days)
    # the same instant written with another offset gives the same date
    shifted = end.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert renew_by(shifted, days) == renew_by(text, days)


def test_the_signer_is_required_and_must_be_a_declared_consumer():
    """Finding 8: no identity could read the M2M key; the consumer that signs NetSuite requests is now named."""
    cfg = netsuite_config()
    del cfg["makini:connections"][2]["netsuite"]["signer"]
    found = problems(cfg)
    assert list(found) == [f"{NS}.signer"] and "no identity may read the NetSuite M2M key" in found[f"{NS}.signer"]
    found = problems(netsuite_config(signer="ordrs"))
    assert list(found) == [f"{NS}.signer"] and "unknown consumer 'ordrs'" in found[f"{NS}.signer"]


def test_the_signer_alone_reads_the_m2m_key():
    from stacks.catalog import build_catalog

    cfg = load(netsuite_config())
    [key] = [s for s in build_catalog(cfg).secrets if s.path == "connections/initech-ns/m2m-key"]
    assert key.readers == ("orders",) and key.writers == ()
