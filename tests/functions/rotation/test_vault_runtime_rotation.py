"""Run-time tokens (issue 19) rotated by the Vault rotator on a real server (OpenBao).

The staging stack (Pulumi.staging.yaml: run-time class ``linked``, declared class ``standard``) is deployed on
Vault under its own name by the program's own resources; the onboarding identity stores new customers' tokens
as it would (logged in as its service account, check-and-set); the rotator logs in as itself and runs with the
bindings ConfigMap the program generated. Whatever its policy does not allow, the server refuses: the policy
lists the run-time class's folder and nothing below it.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from rotation import vault_rotator as vr
from rotation.bindings import Bindings

from tests.engines.vault_platform import Deployment, deploy, env_name, stack_file, vault_only, with_secrets
from tests.vault.test_onboarding_on_openbao import login

from .conftest import log_events

LATER = timedelta(days=22)  # past staging's 21-day period


@pytest.fixture(scope="module")
def stg(openbao, vault_platform) -> Deployment:
    config, keys = with_secrets(vault_only(stack_file("staging"), env_name("rrt")), {"acme-maintainx": "tok-a"})
    return deploy(openbao, config, keys)


def rotator_token(vault_platform, d: Deployment) -> str:
    r = d.config.vault.rotator
    return vault_platform.login_kubernetes(f"makini-{d.environment}-rotator", r.namespace, r.service_account_name)


@pytest.fixture
def rig(openbao, vault_platform, stg, makini, client_factory, tmp_path):
    bindings = Bindings.load(stg.bindings_file(tmp_path), backend="vault")
    for connection_id in set(bindings.entries.values()):
        makini.add_connection(connection_id)
    kv = openbao.client().secrets.kv.v2
    try:
        version = kv.read_secret_metadata(path="oauth/client", mount_point=stg.mount)["data"]["current_version"]
    except Exception:  # noqa: BLE001 - not written yet
        version = 0
    kv.create_or_update_secret(  # the fake Makini's client (the deployment's holds the stack's)
        path="oauth/client",
        secret={"client_id": makini.client_id, "client_secret": makini.client_secret},
        cas=version,
        mount_point=stg.mount,
    )

    class Rig:
        d = stg
        root = openbao.client().secrets.kv.v2

        def onboard(self, connection_id: str, *, claims: str | None = None, path: str | None = None) -> str:
            """The onboarding identity stores a new customer's token (cas 0), as functions/onboarding does."""
            makini.add_connection(connection_id)
            token = makini.mint_connection_token(connection_id)
            where = path or f"connections/linked/{connection_id}/token"
            body = {"data": {"connection_id": claims or connection_id, "token": token}, "options": {"cas": 0}}
            status, answer = openbao.http(
                "POST", f"{stg.mount}/data/{where}", body, token=login(vault_platform, stg, "onboarding")
            )
            assert status == 200, answer
            return token

        def rotator(self, now: datetime | None = None) -> vr.VaultRotator:
            when = now or datetime.now(UTC)
            return vr.VaultRotator(
                openbao.client(token=rotator_token(vault_platform, stg)),
                client_factory(),
                mount=stg.mount,
                bindings=bindings,
                oauth_client_path="oauth/client",
                now=lambda: when,
            )

        def value(self, path: str) -> dict:
            answer = self.root.read_secret_version(path=path, mount_point=stg.mount, raise_on_deleted_version=True)
            return answer["data"]["data"]

    return Rig()


def fresh_id() -> str:
    import uuid

    return f"2901{uuid.uuid4().int % 10**10:010d}"


def test_a_run_time_token_is_rotated_when_due_for_the_connection_its_path_names(rig, makini, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    cid = fresh_id()
    path = f"connections/linked/{cid}/token"
    old = rig.onboard(cid)
    now = rig.rotator().run()
    assert path in now.not_due and path not in now.rotated and not any(cid in k for k in now.failed)
    report = rig.rotator(now=datetime.now(UTC) + LATER).run()
    assert path in report.rotated and not any(cid in k for k in report.failed), report.failed
    new = rig.value(path)
    assert new["connection_id"] == cid and new["token"] != old and makini.token_is_valid(new["token"])
    assert makini.token_is_valid(old)  # the previous version keeps working
    [rotated] = [e for e in log_events(caplog, "rotated") if e["path"] == path]
    assert rotated["bound_by"] == "runtime-name" and rotated["connection_id"] == cid
    declared = [e for e in log_events(caplog, "rotated") if e["path"].startswith("connections/standard/")]
    assert declared and {e["bound_by"] for e in declared} == {"deployment"}
    assert old not in caplog.text and new["token"] not in caplog.text
    # no folder below the class's was listed (the policy allows none): nothing was refused
    assert not [e for e in log_events(caplog, "not_listable") if "linked" in e["path"]]


def test_a_run_time_token_whose_value_or_metadata_claims_another_connection_is_rotated_for_its_path(
    rig, makini, caplog
):
    """The onboarding identity writes the value (it may claim anything); an operator could write custom
    metadata. Neither decides: the token issued is the path's connection's, the metadata claim is logged."""
    caplog.set_level(logging.INFO, logger="rotation")
    cid, victim = fresh_id(), fresh_id()
    makini.add_connection(victim)
    path = f"connections/linked/{cid}/token"
    rig.onboard(cid, claims=victim)
    rig.root.update_metadata(path=path, custom_metadata={"makini_connection_id": victim}, mount_point=rig.d.mount)
    report = rig.rotator(now=datetime.now(UTC) + LATER).run(only=path)
    assert report.rotated == [path] and report.failed == {}
    assert rig.value(path)["connection_id"] == cid and makini.tokens_issued(victim) == []
    [mismatch] = [m for m in log_events(caplog, "binding_mismatch") if m["path"] == path]
    assert (mismatch["claimed"], mismatch["expected"], mismatch["bound_by"]) == (victim, cid, "runtime-name")


def test_a_malformed_id_in_the_run_time_class_is_listed_but_never_rotated(rig, makini, openbao, caplog):
    """The onboarding identity's policy lets it write connections/linked/<one segment>/token, any segment: a
    segment that is not a connection id is skipped by the rotator (never guessed)."""
    caplog.set_level(logging.INFO, logger="rotation")
    bad = "Not_An-Id"
    rig.onboard(fresh_id(), path=f"connections/linked/{bad}/token")
    report = rig.rotator(now=datetime.now(UTC) + LATER).run()
    path = f"connections/linked/{bad}/token"
    assert path in report.skipped and path not in report.rotated and path not in report.failed
    assert [e["reason"] for e in log_events(caplog, "skipped") if e["path"] == path] == [
        "not a run-time token's name of class linked"
    ]


def test_the_rotators_policy_lists_the_run_time_class_folder_and_nothing_below(rig, openbao, vault_platform):
    cid = fresh_id()
    rig.onboard(cid)
    token = rotator_token(vault_platform, rig.d)
    mount = rig.d.mount
    status, body = openbao.http("LIST", f"{mount}/metadata/connections/linked/", token=token)
    assert status == 200 and f"{cid}/" in body["data"]["keys"]
    assert openbao.http("LIST", f"{mount}/metadata/connections/linked/{cid}/", token=token)[0] == 403
    assert openbao.http("GET", f"{mount}/metadata/connections/linked/{cid}/token", token=token)[0] == 200
    assert openbao.http("GET", f"{mount}/data/connections/linked/{cid}/token", token=token)[0] == 403
    # a declared class keeps its folder listing (the walk finds its keys' tokens there)
    assert openbao.http("LIST", f"{mount}/metadata/connections/standard/hooli-fiix/", token=token)[0] == 200


def test_a_run_time_path_taking_a_declared_connections_id_fails_alone(rig, makini, caplog):
    """The onboarding identity stores a token under a declared connection's id (staging's standard/hooli-fiix):
    that path fails loudly, nothing is issued for it, and the run goes on with the others."""
    caplog.set_level(logging.INFO, logger="rotation")
    declared = "19000207611955"  # Pulumi.staging.yaml: connections/standard/hooli-fiix
    path = f"connections/linked/{declared}/token"
    stored = rig.onboard(declared, path=path)
    other = fresh_id()
    rig.onboard(other)
    report = rig.rotator(now=datetime.now(UTC) + LATER).run()
    assert "is a declared connection" in report.failed[path]
    assert f"connections/linked/{other}/token" in report.rotated  # the run went on
    assert rig.value(path)["token"] == stored  # nothing was written there
    assert all(e["path"] != path for e in log_events(caplog, "rotated"))


def test_a_disconnected_customers_deleted_token_is_not_brought_back(rig, makini, openbao, vault_platform, caplog):
    """The onboarding client's disconnect soft-deletes the token's latest version (recoverable). A rotation then
    would write a new version: a live token for a customer who left. The rotator skips it until someone
    undeletes it."""
    caplog.set_level(logging.INFO, logger="rotation")
    cid = fresh_id()
    path = f"connections/linked/{cid}/token"
    rig.onboard(cid)
    status, _ = openbao.http("DELETE", f"{rig.d.mount}/data/{path}", token=login(vault_platform, rig.d, "onboarding"))
    assert status == 204
    issued = len(makini.tokens_issued(cid))
    report = rig.rotator(now=datetime.now(UTC) + LATER).run()
    assert path in report.skipped and path not in report.rotated and path not in report.failed
    assert len(makini.tokens_issued(cid)) == issued
    meta = rig.root.read_secret_metadata(path=path, mount_point=rig.d.mount)["data"]
    assert meta["current_version"] == 1
    [skipped] = [e for e in log_events(caplog, "skipped") if e["path"] == path]
    assert "deleted" in skipped["reason"]
    # undeleted by an operator: rotated again
    rig.root.undelete_secret_versions(path=path, versions=[1], mount_point=rig.d.mount)
    assert path in rig.rotator(now=datetime.now(UTC) + LATER).run().rotated
