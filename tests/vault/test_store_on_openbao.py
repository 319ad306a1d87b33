"""The Vault store's first ``pulumi up`` on a real server, and what its writes promise (findings 1, 2).

The staging stack (Pulumi.staging.yaml, on Vault alone and renamed so tests never share a mount) is run
under the offline harness and its Vault resources applied with the provider's HTTP calls
(tests/engines/vault_provider.py). The server is OpenBao (tests/engines/openbao.py).
"""

from __future__ import annotations

import pytest

from tests.engines.vault_platform import deploy, env_name, program_run, stack_file, vault_only, with_secrets
from tests.engines.vault_provider import ProviderError, apply

TOKENS = {"acme-maintainx": "mk-token-acme-from-config"}


def staging(prefix: str = "stg", **vault: object) -> tuple[dict, set[str]]:
    config = vault_only(stack_file("staging"), env_name(prefix))
    config["makini:vault"] = {**config["makini:vault"], **vault}
    return with_secrets(config, TOKENS)


def test_first_up_writes_every_configured_value_with_cas_required(openbao, vault_platform):
    """Finding 1: with cas_required (the default) the first ``pulumi up`` of a stack that supplies a value
    must succeed; a top-level ``cas`` is ignored by KV v2 and the write is refused with 400."""
    config, keys = staging()
    d = deploy(openbao, config, keys)
    root = openbao.client()
    kv = root.secrets.kv.v2
    assert kv.read_configuration(mount_point=d.mount)["data"]["cas_required"] is True
    token = kv.read_secret_version(
        path="connections/acme-maintainx/token", mount_point=d.mount, raise_on_deleted_version=True
    )
    assert token["data"]["data"]["token"] == TOKENS["acme-maintainx"]
    oauth = kv.read_secret_version(path="oauth/client", mount_point=d.mount, raise_on_deleted_version=True)
    assert oauth["data"]["data"]["client_secret"] == "oauth-client-secret-for-tests"
    webhook = kv.read_secret_version(path="webhook/secret", mount_point=d.mount, raise_on_deleted_version=True)
    assert webhook["data"]["data"] == {"value": "webhook-secret-for-tests"}
    # The connections filled out of band exist, described, with no version yet.
    meta = kv.read_secret_metadata(path="connections/globex-netsuite/token", mount_point=d.mount)["data"]
    assert meta["current_version"] == 0 and meta["custom_metadata"]["makini_connection_id"] == "19000207611901"


@pytest.mark.parametrize("cas_required", [True, False])
def test_a_value_written_out_of_band_first_is_never_overwritten(openbao, vault_platform, cas_required):
    """Finding 2: the value is written only if the key has no version yet ("cas=0"), on a mount with or
    without cas_required. An operator's value put before the first ``pulumi up`` stays; the up reports
    the conflict instead of clobbering it (the fix: remove the value from the stack's config)."""
    config, keys = staging(casRequired=cas_required)
    cfg, run = program_run(config, keys)
    mount = f"makini-{cfg.environment}"
    # The mount, its settings and the metadata exist (an earlier up without the value) ...
    apply(openbao, run.resources, only=["vault:index/mount:Mount", "vault:kv/secretBackendV2:SecretBackendV2"])
    # ... and an operator fills the token out of band: `vault kv put -cas=0 ...`.
    root = openbao.client()
    root.secrets.kv.v2.create_or_update_secret(
        path="connections/acme-maintainx/token", secret={"token": "operator-token"}, cas=0, mount_point=mount
    )
    with pytest.raises(ProviderError) as refused:
        apply(openbao, run.resources, only=["vault:kv/secretV2:SecretV2"])
    assert refused.value.status == 400 and "check-and-set" in " ".join(refused.value.errors)
    assert refused.value.path == f"{mount}/data/connections/acme-maintainx/token"
    current = root.secrets.kv.v2.read_secret_version(
        path="connections/acme-maintainx/token", mount_point=mount, raise_on_deleted_version=True
    )
    assert current["data"]["data"] == {"token": "operator-token"} and current["data"]["metadata"]["version"] == 1


def test_the_value_is_written_once_a_second_up_changes_nothing(openbao, vault_platform):
    """``ignore_changes`` keeps Pulumi from rewriting a value; on the server a repeated create (what an
    update of the resource would send) is refused by check-and-set, so a rotated value is never reverted."""
    config, keys = staging()
    d = deploy(openbao, config, keys)
    root = openbao.client()
    root.secrets.kv.v2.create_or_update_secret(
        path="connections/acme-maintainx/token", secret={"token": "rotated"}, cas=1, mount_point=d.mount
    )
    with pytest.raises(ProviderError):
        apply(openbao, d.run.resources, only=["vault:kv/secretV2:SecretV2"])
    latest = root.secrets.kv.v2.read_secret_version(
        path="connections/acme-maintainx/token", mount_point=d.mount, raise_on_deleted_version=True
    )
    assert latest["data"]["data"] == {"token": "rotated"}
