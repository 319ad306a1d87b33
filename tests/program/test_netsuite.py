"""NetSuite M2M under mocks: a key pair and a certificate of at most two years per NetSuite connection,
the private key only ever secret and kept by every backend's store, the renewal date exported."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from infra.offline import is_secret_marker, redact
from infra.plan import rotation_section
from tests.support import VAULT_ROTATOR, azure_section, base_config, load, run

KEY = "tls:index/privateKey:PrivateKey"
CERT = "tls:index/selfSignedCert:SelfSignedCert"
PATH = "connections/initech-ns/m2m-key"


def netsuite_config(env="dev", backends=("aws", "azure", "vault"), **settings):
    cfg = base_config(env)
    cfg["makini:backends"] = list(backends)
    if "azure" in backends:
        cfg["makini:azure"] = azure_section()
    if "vault" in backends:
        cfg["makini:vault"] = {"rotator": VAULT_ROTATOR}
    # The service that signs NetSuite requests (netsuite.signer): the one identity that reads the M2M key.
    signer: dict = {}
    if "aws" in backends:
        signer["aws"] = {"roleArn": "arn:aws:iam::111111111111:role/erp-sync"}
    if "azure" in backends:
        signer["azure"] = {"principalId": "5b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"}
    if "vault" in backends:
        signer["vault"] = {"auth": {"kubernetes": {"serviceAccountNames": ["erp-sync"], "namespaces": ["erp"]}}}
    cfg["makini:consumers"] = {"erp-sync": signer}
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)
    cfg["makini:connections"].append(
        {
            "key": "initech-ns",
            "system": "Oracle NetSuite",
            "tier": 2,
            "deployment": "cloud",
            "makiniId": "0900003",
            "netsuite": {"signer": "erp-sync", **settings},
        }
    )
    cfg["makini:credits"]["pool"] = 20
    return cfg


@pytest.fixture(scope="module")
def program():
    return run(netsuite_config(certificateValidityDays=700, renewalReminderDays=45, keyAlgorithm="EC-P256"))


def test_one_key_pair_and_certificate_for_the_netsuite_connection_only(program):
    [key], [cert] = program.of_type(KEY), program.of_type(CERT)
    assert key.plain_inputs["algorithm"] == "ECDSA" and key.plain_inputs["ecdsaCurve"] == "P256"
    assert cert.plain_inputs["validityPeriodHours"] == 700 * 24
    assert cert.plain_inputs["allowedUses"] == ["digital_signature"]
    assert cert.plain_inputs["subject"]["commonName"] == "makini-dev-initech-ns"
    assert key.parent.endswith("makini:netsuite:M2MCertificate::makini-dev-netsuite-initech-ns")
    assert cert.parent == key.parent


def test_default_key_is_rsa_3072_and_two_years():
    r = run(netsuite_config(backends=("aws",)))
    [key], [cert] = r.of_type(KEY), r.of_type(CERT)
    assert key.plain_inputs["algorithm"] == "RSA" and key.plain_inputs["rsaBits"] == 3072
    assert cert.plain_inputs["validityPeriodHours"] == 730 * 24
    # no NetSuite connection, no key pair
    assert not run(base_config("dev")).of_type(KEY)


def test_private_key_is_secret_wherever_it_appears(program):
    [cert] = program.of_type(CERT)
    assert is_secret_marker(cert.inputs["privateKeyPem"])
    pem_holders = [r for r in program.resources if "BEGIN PRIVATE KEY" in json.dumps(r.plain_inputs, default=str)]
    assert pem_holders, "the private key reaches no store"
    for r in pem_holders:
        assert "BEGIN PRIVATE KEY" not in json.dumps(redact(r.inputs), default=str), (
            f"{r.name} holds the key in plaintext"
        )
    assert "PRIVATE KEY" not in json.dumps(redact(program.outputs))


def test_private_key_is_the_value_of_the_catalog_secret_on_every_backend(program):
    [key] = program.of_type(KEY)
    aws = [
        v
        for v in program.of_type("aws:secretsmanager/secretVersion:SecretVersion")
        if "BEGIN PRIVATE KEY" in json.dumps(v.plain_inputs, default=str)
    ]
    [aws_secret] = [
        s for s in program.of_type("aws:secretsmanager/secret:Secret") if s.plain_inputs["name"] == f"makini/dev/{PATH}"
    ]
    assert len(aws) == 1 and is_secret_marker(aws[0].inputs["secretString"])
    assert aws[0].plain_inputs["secretString"].startswith("-----BEGIN PRIVATE KEY-----\nMOCK-ECDSA-")
    [kv] = [s for s in program.of_type("azure-native:keyvault:Secret") if "m2m-key" in s.plain_inputs["secretName"]]
    assert kv.plain_inputs["properties"]["value"].startswith("-----BEGIN PRIVATE KEY-----")
    assert kv.plain_inputs["properties"]["attributes"]["enabled"] is True
    assert kv.plain_inputs["properties"]["contentType"] == "application/x-pem-file"
    [hv] = [s for s in program.of_type("vault:kv/secretV2:SecretV2") if s.plain_inputs["name"] == PATH]
    assert json.loads(hv.plain_inputs["dataJson"])["value"].startswith("-----BEGIN PRIVATE KEY-----")
    assert is_secret_marker(hv.inputs["dataJson"])
    assert aws_secret


def test_certificate_dates_and_renewal_reminder_exported(program):
    out = program.outputs
    assert out["netsuiteCertificatePems"]["initech-ns"].startswith("-----BEGIN CERTIFICATE-----")
    not_after = datetime.strptime(out["netsuiteCertificateNotAfter"]["initech-ns"], "%Y-%m-%dT%H:%M:%SZ")
    renew = datetime.strptime(out["netsuiteCertificateRenewBy"]["initech-ns"], "%Y-%m-%dT%H:%M:%SZ")
    assert not_after - renew == timedelta(days=45)
    assert not_after - datetime.utcnow() <= timedelta(days=730)


def test_netsuite_block_on_a_sap_connection_registers_nothing():
    cfg = base_config("dev")
    cfg["makini:connections"][0]["netsuite"] = {"authorizationCodeGrant": True}
    with pytest.raises(Exception) as info:
        run(cfg)
    assert "makini:connections[0].netsuite" in str(info.value)


def test_the_signer_may_read_the_m2m_key_on_every_backend(program):
    """Finding 8: the identity that signs NetSuite requests (netsuite.signer) is granted the M2M key, and
    only it, on AWS (its read policy and the secret's resource policy), Azure (Secrets User on that secret)
    and Vault (read on that path)."""
    name = "makini/dev/connections/initech-ns/m2m-key"
    [policy] = [
        p for p in program.of_type("aws:iam/policy:Policy") if p.plain_inputs.get("name") == "makini-dev-erp-sync-read"
    ]
    assert name in policy.plain_inputs["policy"]
    [resource_policy] = [
        p
        for p in program.of_type("aws:secretsmanager/secretPolicy:SecretPolicy")
        if p.name.endswith("connections-initech-ns-m2m-key-policy")
    ]
    assert "role/erp-sync" in resource_policy.plain_inputs["policy"]
    [grant] = [
        a.plain_inputs
        for a in program.of_type("azure-native:authorization:RoleAssignment")
        if a.plain_inputs["scope"].endswith("/secrets/connections-initech-ns-m2m-key")
    ]
    assert grant["principalId"] == "5b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"
    [vault_policy] = [p for p in program.of_type("vault:index/policy:Policy") if "erp-sync" in p.plain_inputs["name"]]
    assert "makini-dev/data/connections/initech-ns/m2m-key" in vault_policy.plain_inputs["policy"]


def test_aws_schedules_the_renewal_reminder_once_not_after_is_recorded():
    """Finding 8 on AWS: a one-time EventBridge Scheduler reminder at the renew-by date (to the reminders
    topic); without a recorded notAfter a note says how to record it. Azure and Vault have no scheduler in the
    stack: python -m infra.due (daily, .github/workflows/reminders.yml) is their reminder (tests/unit/test_due.py)."""
    from datetime import UTC
    from datetime import datetime as dt

    end = (dt.now(UTC) + timedelta(days=400)).replace(microsecond=0)
    dated = run(
        netsuite_config(
            backends=("aws",), certificateNotAfter=end.strftime("%Y-%m-%dT%H:%M:%SZ"), renewalReminderDays=45
        )
    )
    [schedule] = [
        s.plain_inputs
        for s in dated.of_type("aws:scheduler/schedule:Schedule")
        if s.plain_inputs["name"] == "makini-dev-netsuite-initech-ns-reminder"
    ]
    renew = (end - timedelta(days=45)).date()
    assert schedule["scheduleExpression"] == f"at({renew.isoformat()}T09:00:00)"
    assert schedule["target"]["arn"] == dated.outputs["awsReminderTopicArn"]
    assert "NetSuite M2M certificate of connection initech-ns" in schedule["target"]["input"]
    undated = run(netsuite_config(backends=("aws",)))
    assert not [s for s in undated.of_type("aws:scheduler/schedule:Schedule") if "netsuite" in s.plain_inputs["name"]]
    notes = rotation_section(load(netsuite_config(backends=("aws",))), undated).data["aws"]["notes"]
    assert any("netsuite.certificateNotAfter" in n for n in notes)
