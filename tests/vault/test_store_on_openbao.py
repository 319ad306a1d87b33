"""The Vault store's first ``pulumi up`` on a real server, and what its writes promise (findings 1, 2).

The staging stack (Pulumi.staging.yaml, on Vault alone and renamed so tests never share a mount) is run
under the offline harness and its Vault resources applied with the provider's HTTP calls
(tests/engines/vault_provider.py). The server is OpenBao (tests/engines/openbao.py).
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.engines.openbao import bao_binary
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
        apply(openbao, run.resources, only=["vault:kv/secretV2:SecretV2"], retry_delay=0.005)
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
        apply(openbao, d.run.resources, only=["vault:kv/secretV2:SecretV2"], retry_delay=0.005)
    latest = root.secrets.kv.v2.read_secret_version(
        path="connections/acme-maintainx/token", mount_point=d.mount, raise_on_deleted_version=True
    )
    assert latest["data"]["data"] == {"token": "rotated"}


# -- deleteVersionAfter and maxVersions (finding 3) --------------------------------------------------

DAY = 86400
MARGIN_DAYS = 30  # stacks/config/vault.py VERSION_RETENTION_MARGIN_DAYS, restated here on purpose


def _seconds(vault_time: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", vault_time).replace("Z", "+00:00")).timestamp()


def test_kv2_deletes_the_current_version_after_delete_version_after(openbao):
    """The engine behaviour the config rule rests on: delete_version_after stamps every version, the
    current one included, and the value is gone once it passes (no later version needed)."""
    root = openbao.client()
    mount = openbao.enable_kv2()
    root.secrets.kv.v2.configure(mount_point=mount, delete_version_after="1s")
    written = root.secrets.kv.v2.create_or_update_secret(path="a", secret={"v": 1}, mount_point=mount)["data"]
    assert written["deletion_time"]  # stamped on the version that is current
    time.sleep(1.3)
    status, answer = openbao.http("GET", f"{mount}/data/a")
    assert status == 404 and answer["data"]["data"] is None and answer["data"]["metadata"]["deletion_time"]


def test_the_staging_stack_keeps_every_current_version_past_its_maximum_age(openbao, vault_platform):
    """Pulumi.staging.yaml on the server: each secret's current version is deleted no sooner than its
    maximum age (OAuth client 180 d, webhook secret 90 d + grace, tokens 30 d) plus the margin."""
    config, keys = staging()
    d = deploy(openbao, config, keys)
    r = d.config.rotation
    needs = {
        "oauth/client": r.oauth_client_secret_max_age_days * DAY,
        "webhook/secret": r.webhook_secret_max_age_days * DAY + d.config.webhooks.grace_seconds,
        "connections/acme-maintainx/token": 30 * DAY,
    }
    kv = openbao.client().secrets.kv.v2
    for path, need in needs.items():
        meta = kv.read_secret_version(path=path, mount_point=d.mount, raise_on_deleted_version=True)["data"]["metadata"]
        if meta["deletion_time"]:
            kept = _seconds(meta["deletion_time"]) - _seconds(meta["created_time"])
            assert kept >= need + MARGIN_DAYS * DAY, (path, kept / DAY)


def test_the_documented_vault_commands_work_on_a_cas_required_mount(openbao, vault_platform, tmp_path):
    """docs/operations.md's Vault command for a new webhook secret, and the README's out-of-band fill
    (`vault kv put -cas=0`), run as written (OpenBao's CLI is `bao`), against the deployed staging store."""
    config, keys = staging()
    d = deploy(openbao, config, keys)
    doc = (Path(__file__).resolve().parents[2] / "docs/operations.md").read_text()
    [command] = re.findall(r"`(vault kv put -cas=\$\(.*?webhook/secret value=@new-secret.txt)`", doc)
    (tmp_path / "new-secret.txt").write_text("the-new-webhook-secret")
    script = 'vault() { "$BAO" "$@"; }\nset -e\n' + command.replace("<mount>", d.mount) + "\n"
    script += (
        f"vault kv put -cas=0 {d.mount}/connections/globex-netsuite/token token=oob connection_id=19000207611901\n"
    )
    env = {"BAO": bao_binary(), "BAO_ADDR": openbao.addr, "BAO_TOKEN": openbao.root_token, "HOME": str(tmp_path)}
    run = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    kv = openbao.client().secrets.kv.v2
    webhook = kv.read_secret_version(path="webhook/secret", mount_point=d.mount, raise_on_deleted_version=True)["data"]
    assert webhook["data"] == {"value": "the-new-webhook-secret"} and webhook["metadata"]["version"] == 2
    token = kv.read_secret_version(path="connections/globex-netsuite/token", mount_point=d.mount)["data"]["data"]
    assert token["token"] == "oob"
    # Without -cas the same put is refused on this mount (cas_required), as the doc warns.
    plain = subprocess.run(
        ["bash", "-c", f'"$BAO" kv put {d.mount}/webhook/secret value=x'],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert plain.returncode != 0 and "check-and-set" in plain.stderr
