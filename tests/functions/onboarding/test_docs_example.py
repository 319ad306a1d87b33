"""The client examples in docs/access-at-scale.md and the package doc run as written: their own calls, against moto
(Secrets Manager, KMS), a real OpenBao KV v2 mount, the Key Vault double and the fake Makini. Only what the
example leaves to the reader is supplied (a boto3 module, the SDK's SecretClient, addresses and credentials), and
the places are pointed at the local engines; a changed signature or a renamed export fails here."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

import functions.onboarding as package
from tests.fakes.key_vault import FakeSecretClient
from tests.fakes.makini_api import FakeMakini

ROOT = Path(__file__).resolve().parents[3]
CONNECTION = "09000207611898"


def docs_example() -> str:
    text = (ROOT / "docs" / "access-at-scale.md").read_text()
    section = text[text.index("The client, `functions/onboarding`") :]
    start = section.index("```python\n") + len("```python\n")
    return section[start : section.index("\n```", start)]


def package_example() -> str:
    doc = package.__doc__ or ""
    block = doc[doc.index("::\n") + 3 : doc.index("\n\n``connect``")]
    return textwrap.dedent(block)


@pytest.fixture
def engines(openbao, monkeypatch):
    import boto3
    from moto import mock_aws

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(var, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    with mock_aws(), FakeMakini() as makini:
        sm = boto3.client("secretsmanager", region_name="eu-west-1")
        key = boto3.client("kms", region_name="eu-west-1").create_key()["KeyMetadata"]["Arn"]
        mount = openbao.enable_kv2("docs-example")
        real_vault, real_makini = package.VaultPlace, package.client.MakiniClient

        def vault_place(address, token, mount_name, **kw):  # the example's address and mount, on the local server
            assert address.startswith("https://") and mount_name == "makini-prod"
            return real_vault(openbao.addr, token, mount, **kw)

        monkeypatch.setattr(package, "VaultPlace", vault_place)
        monkeypatch.setattr(
            "functions.rotation.makini_client.MakiniClient",
            lambda: real_makini(makini.base_url, allow_loopback=True, timeout=5.0),
        )
        kv = FakeSecretClient("https://kvc-prod-linked.vault.azure.net")
        namespace = {
            "boto3": SimpleNamespace(client=lambda service: sm),
            "SecretClient": lambda url, credential: kv,
            "kms_key_arn": key,
            "vault_token": openbao.root_token,
            "class_vault_url": kv.vault_url,
            "credential": object(),
            "client_id": makini.client_id,
            "client_secret": makini.client_secret,
            "code": makini.link_code(CONNECTION),
            "redirect_uri": "https://app.example.com/makini/callback",
            "customers_tiers": [(2, "cloud")],
        }
        yield namespace, sm, kv, makini, mount


@pytest.mark.parametrize("example", [docs_example, package_example], ids=["docs", "package"])
def test_the_example_connects_and_disconnects_as_written(engines, openbao, example):
    namespace, sm, kv, makini, mount = engines
    source = example()
    assert re.search(r"\.connect\(", source) and re.search(r"\.disconnect\(", source)
    exec(compile(source, f"<{example.__name__}>", "exec"), namespace)  # noqa: S102 (our own documentation)
    # it stored the token, then disconnected the customer in Makini and scheduled the deletion
    name = f"makini/prod/connections/linked/{CONNECTION}/token"
    assert sm.describe_secret(SecretId=name)["DeletedDate"] is not None
    assert openbao.http("GET", f"{mount}/data/connections/linked/{CONNECTION}/token")[0] == 404
    assert [r.path for r in makini.requests if r.method == "DELETE"] == [f"/api/system/connections/{CONNECTION}"]
    if example is docs_example:
        assert f"connections-linked-{CONNECTION}-token" in kv.deleted
