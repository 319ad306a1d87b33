"""The Vault KV v2 rotator on a real server (OpenBao), logged in as itself, against the fake Makini.

Each test deploys its own small stack on the session's OpenBao (tests/engines/vault_platform.py: the
program under the offline harness, its Vault resources applied with the provider's calls), so the
mount, the custom metadata, the rotator's policy and its Kubernetes role are the program's own. The
rotator then logs in as its service account (Kubernetes auth, checked by a fake TokenReview) and
runs with that token: whatever its policy does not allow, the server refuses.

Time: the server stamps each version's ``created_time`` with the real clock; the rotator gets an
injected ``now`` (real time, or real time plus ``LATER``) to see the period pass. A test that checks a
second run after a rotation rotates at real time (``run(only=...)``), as a deployed rotator would.

What the server cannot show is injected around the client, and says so: a metadata write that fails
after the data write (``test_metadata_failure_after_write_...``).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rotation import vault_rotator as vr
from rotation.bindings import Bindings

from tests.engines import vault_provider
from tests.engines.vault_platform import Deployment, Platform, deploy, env_name, program_run

from .conftest import CONNECTION_ID

PERIOD_DAYS = 7
LATER = timedelta(days=PERIOD_DAYS, hours=1)  # past one period: every rotated token is due
ACME = "connections/acme-netsuite/token"
FRESH = "connections/eu-fresh/token"
MANUAL = "connections/manual-erp/token"
OOB = "connections/oob-filled/token"  # declared, no value in config: filled later (or by the first rotation)


def stack(makini, environment: str, owner: str = "team-a") -> tuple[dict, set[str]]:
    makini.add_connection("c-dev")
    makini.add_connection("c-oob")
    conn = {"system": "NetSuite", "tier": 1, "deployment": "cloud", "consumers": ["svc"]}
    config = {
        "makini:environment": environment,
        "makini:tags": {"owner": owner, "costCenter": "cc-1"},
        "makini:backends": ["vault"],
        "makini:oauth": {"clientId": makini.client_id},
        "makini:oauthClientSecret": makini.client_secret,
        "makini:credits": {"pool": 20},
        "makini:connections": [
            {"key": "acme-netsuite", "makiniId": CONNECTION_ID, **conn},
            {"key": "eu-fresh", "makiniId": "c-dev", **conn},
            {"key": "manual-erp", **conn},
            {"key": "oob-filled", "makiniId": "c-oob", **conn},
        ],
        "makini:connectionTokens": {
            "acme-netsuite": makini.mint_connection_token(CONNECTION_ID),
            "eu-fresh": makini.mint_connection_token("c-dev"),
            "manual-erp": "manual-token",
        },
        "makini:consumers": {
            "svc": {"vault": {"auth": {"kubernetes": {"serviceAccountNames": ["svc"], "namespaces": ["apps"]}}}}
        },
        "makini:rotation": {"connectionTokenDays": PERIOD_DAYS},
        "makini:vault": {
            "rotator": {
                "auth": {"kubernetes": {"mountPath": "kubernetes"}},
                "namespace": "makini",
                "serviceAccountName": "makini-token-rotator",
                "image": "ghcr.io/example/makini-rotator@sha256:" + "0" * 64,
                "vaultAddress": "https://vault.example.internal:8200",
            }
        },
    }
    return config, {"makini:oauthClientSecret", "makini:connectionTokens"}


class Rig:
    def __init__(self, bao, platform: Platform, d: Deployment, makini, client_factory, folder: Path):
        self.bao, self.platform, self.d, self.makini, self.client_factory = bao, platform, d, makini, client_factory
        self.root = bao.client().secrets.kv.v2
        self.mount = d.mount
        self.started = datetime.now(UTC)
        #: The bindings file the program generated (the CronJob's ConfigMap), as the pod mounts it.
        self.bindings_file = d.bindings_file(folder)

    @property
    def bindings(self) -> Bindings:
        return Bindings.load(self.bindings_file, backend="vault")

    def rotator_token(self) -> str:
        return self.platform.login_kubernetes(f"makini-{self.d.environment}-rotator", "makini", "makini-token-rotator")

    def rotator(self, now: datetime | None = None, **kw) -> vr.VaultRotator:
        when = now or datetime.now(UTC)
        vault = self.bao.client(token=self.rotator_token())
        kw.setdefault("bindings", self.bindings)
        return vr.VaultRotator(
            vault, self.client_factory(), mount=self.mount, oauth_client_path="oauth/client", now=lambda: when, **kw
        )

    def later(self) -> datetime:
        return datetime.now(UTC) + LATER

    def versions(self, path: str) -> int:
        return self.root.read_secret_metadata(path=path, mount_point=self.mount)["data"]["current_version"]

    def value(self, path: str) -> dict:
        return self.root.read_secret_version(path=path, mount_point=self.mount, raise_on_deleted_version=True)["data"][
            "data"
        ]

    def custom(self, path: str) -> dict:
        return self.root.read_secret_metadata(path=path, mount_point=self.mount)["data"]["custom_metadata"] or {}

    def set_custom(self, path: str, **changes: str) -> None:
        custom = {**self.custom(path), **changes}
        self.root.update_metadata(path=path, custom_metadata=custom, mount_point=self.mount)


@pytest.fixture
def rig(openbao, vault_platform, makini, client_factory, tmp_path) -> Rig:
    config, keys = stack(makini, env_name("rot"))
    r = Rig(openbao, vault_platform, deploy(openbao, config, keys), makini, client_factory, tmp_path)
    r.config = config
    return r


# -- what is due --------------------------------------------------------------------------------


def test_a_fresh_deployment_rotates_only_the_empty_declared_token(rig):
    """Right after the first up the configured tokens are new versions (not due); the declared token
    nobody filled has no version, so the first run fills it from Makini; the manual one is not its business."""
    report = rig.rotator().run()
    assert report.rotated == [OOB] and report.failed == {}
    assert sorted(report.not_due) == [ACME, FRESH]
    assert not any(p.startswith("connections/manual-erp") for p in report.rotated + report.not_due + report.skipped)
    assert rig.value(OOB)["connection_id"] == "c-oob" and rig.versions(OOB) == 1


def test_after_a_period_every_rotated_token_is_rotated_and_readers_keep_working(rig):
    old = rig.value(ACME)["token"]
    report = rig.rotator(now=rig.later()).run()
    assert sorted(report.rotated) == [ACME, FRESH, OOB] and report.failed == {}
    new = rig.value(ACME)
    assert set(new) == {"token", "connection_id", "issued_at"} and new["connection_id"] == CONNECTION_ID
    assert new["token"] != old and rig.makini.token_is_valid(new["token"]) and rig.makini.token_is_valid(old)
    assert rig.versions(ACME) == 2
    custom = rig.custom(ACME)
    assert custom["makini_connection_id"] == CONNECTION_ID and custom["rotation_period_days"] == str(PERIOD_DAYS)
    assert custom["owner"] == "team-a" and custom["last_rotated"]  # the store's keys kept, the rotation added
    assert rig.value(MANUAL)["token"] == "manual-token"  # not the rotator's: no Makini id


def test_second_run_is_a_no_op(rig):
    later = rig.later()
    rig.rotator(now=later).run()
    report = rig.rotator(now=later).run()
    assert report.rotated == [] and ACME in report.not_due and rig.versions(ACME) == 2


def test_a_pulumi_up_that_rewrites_the_metadata_does_not_rotate_again(rig, openbao, makini):
    """Finding 5: KV v2 replaces the whole custom_metadata on every metadata write, and the store's
    metadata endpoint writes it whenever one of its inputs changes (here the owner tag), dropping
    ``last_rotated``. The rotation must survive that: the token rotated an hour ago is not due."""
    assert rig.rotator().run(only=ACME).rotated == [ACME]  # rotated now (the server stamps it now)
    assert rig.custom(ACME)["last_rotated"]
    config, keys = stack(makini, rig.d.environment, owner="team-b")  # a changed input of every metadata endpoint
    _, run = program_run(config, keys)
    vault_provider.apply(openbao, run.resources, only=["vault:generic/endpoint:Endpoint"])
    assert rig.custom(ACME)["owner"] == "team-b"  # the up did rewrite the map
    report = rig.rotator(now=datetime.now(UTC) + timedelta(hours=1)).run()
    assert ACME in report.not_due and ACME not in report.rotated
    assert rig.versions(ACME) == 2


def test_an_out_of_band_write_counts_as_a_rotation(rig):
    """An operator's `vault kv put -cas=N` (e.g. after revoking a token) restarts the period."""
    rig.root.create_or_update_secret(
        path=ACME, secret={"token": "operator", "connection_id": CONNECTION_ID}, cas=1, mount_point=rig.mount
    )
    rig.set_custom(ACME, last_rotated="2020-01-01T00:00:00Z")  # an old bookkeeping entry does not win
    report = rig.rotator(now=datetime.now(UTC) + timedelta(days=PERIOD_DAYS - 1)).run()
    assert ACME in report.not_due and rig.value(ACME)["token"] == "operator"


def test_path_option_rotates_now_even_if_not_due(rig):
    report = rig.rotator().run(only=FRESH)
    assert report.rotated == [FRESH] and rig.versions(FRESH) == 2 and rig.versions(ACME) == 1


def test_infra_rotate_now_asks_the_next_run_to_rotate_one_path(rig, tmp_path):
    """Finding 5 (--connection --now on Vault): ``python -m infra.rotate STACK --connection KEY --now``, run as
    an operator against the real server, sets rotate_requested_at on that path; the rotator's next run (logged
    in as itself) rotates it although it is not due, and only it; the next run does not rotate it again. With
    --dry-run nothing is written."""
    import io

    from infra.rotate import EXIT_OK, Clients, rotate_now
    from stacks.config.stack_file import dump_stack_yaml

    path = tmp_path / f"Pulumi.{rig.d.environment}.yaml"
    names_only = {
        k: v for k, v in rig.config.items() if k not in ("makini:oauthClientSecret", "makini:connectionTokens")
    }
    path.write_text(dump_stack_yaml({"config": names_only}))  # the command reads names, never values
    operator = Clients(vault=lambda address: rig.bao.client())
    env = {"VAULT_ADDR": rig.bao.addr}
    out = io.StringIO()
    code = rotate_now(rig.d.environment, "eu-fresh", path, out=out, err=out, clients=operator, dry_run=True, env=env)
    assert code == EXIT_OK and "[dry-run] Vault" in out.getvalue(), out.getvalue()
    assert vr.META_ROTATE_REQUESTED not in rig.custom(FRESH)
    out = io.StringIO()
    code = rotate_now(rig.d.environment, "eu-fresh", path, out=out, err=out, clients=operator, env=env)
    assert code == EXIT_OK, out.getvalue()
    assert rig.custom(FRESH)[vr.META_ROTATE_REQUESTED]
    assert f"create job --from=cronjob/makini-{rig.d.environment}-token-rotator" in out.getvalue()
    report = rig.rotator(now=datetime.now(UTC) + timedelta(minutes=1)).run()
    # OOB has no value yet (never rotated, so due anyway); of the two with a fresh value only FRESH rotates.
    assert sorted(report.rotated) == [FRESH, OOB] and rig.versions(FRESH) == 2 and rig.versions(ACME) == 1
    assert vr.META_ROTATE_REQUESTED not in rig.custom(FRESH)
    assert FRESH in rig.rotator(now=datetime.now(UTC) + timedelta(minutes=2)).run().not_due


def test_dry_run_changes_nothing(rig, makini):
    makini.clear_requests()
    report = rig.rotator(now=rig.later()).run(dry_run=True)
    assert sorted(report.rotated) == [ACME, FRESH, OOB]
    assert rig.versions(ACME) == 1 and rig.versions(OOB) == 0 and makini.requests == []


# -- what its identity may do -------------------------------------------------------------------


def test_secrets_outside_its_policy_are_skipped_not_failures(rig):
    """Its policy lists only the folders of the connections it rotates and reads only their tokens'
    metadata: a NetSuite M2M key beside a token answers 403 and is skipped; the manual connection's
    folder is not even listable."""
    rig.root.create_or_update_secret(
        path="connections/acme-netsuite/m2m-key", secret={"pem": "k"}, cas=0, mount_point=rig.mount
    )
    report = rig.rotator(now=rig.later()).run()
    assert report.failed == {} and "connections/acme-netsuite/m2m-key" in report.skipped
    assert ACME in report.rotated


def test_it_cannot_read_the_tokens_it_writes(rig, openbao):
    """The engine enforces what the access matrix says for Vault: write, never read, a token value."""
    token = rig.rotator_token()
    assert openbao.http("GET", f"{rig.mount}/data/{ACME}", token=token)[0] == 403
    assert openbao.http("GET", f"{rig.mount}/data/{MANUAL}", token=token)[0] == 403
    assert openbao.http("GET", f"{rig.mount}/data/oauth/client", token=token)[0] == 200


# -- failures leave the current version ----------------------------------------------------------


def test_cas_conflict_is_reported_and_the_concurrent_write_wins(rig):
    r = rig.rotator(now=rig.later())
    real_issue = r.makini.issue_connection_token

    def issue_while_someone_writes(system, conn):
        issued = real_issue(system, conn)
        if conn == CONNECTION_ID:
            rig.root.create_or_update_secret(
                path=ACME, secret={"token": "written-by-someone-else"}, cas=1, mount_point=rig.mount
            )
        return issued

    r.makini.issue_connection_token = issue_while_someone_writes
    report = r.run(only=ACME)
    assert "check-and-set" in report.failed[ACME]
    assert rig.value(ACME) == {"token": "written-by-someone-else"}


@pytest.mark.parametrize("fault", [dict(status=401), dict(status=503, count=50), dict(status=429, count=50)])
def test_makini_failure_leaves_the_current_version(rig, makini, fault):
    old = rig.value(ACME)
    makini.fail_next(**fault)
    report = rig.rotator(now=rig.later()).run(only=ACME)
    assert ACME in report.failed and rig.value(ACME) == old and rig.versions(ACME) == 1
    assert "last_rotated" not in rig.custom(ACME)


def test_sync_status_fail_writes_nothing(rig, makini):
    makini.set_sync_status(CONNECTION_ID, "fail")
    report = rig.rotator(now=rig.later()).run(only=ACME)
    assert "must reconnect" in report.failed[ACME] and rig.versions(ACME) == 1


def test_metadata_failure_after_write_is_reported_and_the_new_version_stands(rig, makini):
    """Injected (the server cannot be made to fail one write): the data write lands, the metadata write
    raises. The new token is current and valid, and the next run does not rotate it again."""
    r = rig.rotator()

    def broken(**kwargs):
        raise RuntimeError("injected metadata write failure")

    r.kv.update_metadata = broken
    first = r.run(only=ACME)
    assert ACME in first.failed and rig.versions(ACME) == 2
    assert makini.token_is_valid(rig.value(ACME)["token"])
    assert ACME in rig.rotator(now=datetime.now(UTC) + timedelta(hours=1)).run().not_due


def test_the_period_comes_from_the_bindings_not_the_metadata(rig, caplog):
    """Metadata writers cannot stretch (or shorten) the schedule: the deployed period decides."""
    caplog.set_level(logging.WARNING, logger="rotation")
    rig.set_custom(ACME, rotation_period_days="3650")
    report = rig.rotator(now=rig.later()).run(only=ACME)
    assert report.rotated == [ACME]
    rig.set_custom(ACME, rotation_period_days="weekly")
    report = rig.rotator(now=datetime.now(UTC) + timedelta(hours=1)).run()
    assert ACME in report.not_due and report.failed == {}
    assert "binding_mismatch" in caplog.text and "'weekly'" not in str(report.as_dict())


# -- the binding: from the deployment, never from metadata a non-reader can edit --------------------

OTHER = "09000299999999"


def test_metadata_pointing_at_another_customer_is_ignored(rig, makini, caplog):
    """Finding 3 on a real server: whoever may update a token's metadata (here the root token) re-points
    acme's secret at customer B. The rotator still issues acme's token, from the deployed bindings."""
    caplog.set_level(logging.WARNING, logger="rotation")
    makini.add_connection(OTHER)
    rig.set_custom(ACME, makini_connection_id=OTHER)
    report = rig.rotator(now=rig.later()).run(only=ACME)
    assert report.rotated == [ACME]
    assert rig.value(ACME)["connection_id"] == CONNECTION_ID and makini.tokens_issued(OTHER) == []
    assert "binding_mismatch" in caplog.text and OTHER in caplog.text


def test_a_token_the_bindings_do_not_name_is_failed_not_rotated(rig, makini):
    """A stale ConfigMap (a connection added by pulumi up, the manifest not re-applied), or metadata planted
    on another path: reported as failed (the job fails, the alert fires), and nothing is issued for it."""
    bindings = rig.bindings
    stale = Bindings(
        bindings.environment,
        "vault",
        {k: v for k, v in bindings.entries.items() if k != FRESH},
        "stale ConfigMap",
        bindings.period_days,
    )
    makini.clear_requests()
    report = rig.rotator(now=rig.later(), bindings=stale).run()
    assert "not in the deployed rotation bindings" in report.failed[FRESH]
    assert sorted(report.rotated) == [ACME, OOB] and rig.versions(FRESH) == 1
    assert not any(r.path == "/api/system/connections/c-dev/token" for r in makini.requests)
    forced = rig.rotator(bindings=stale).run(only=FRESH)
    assert FRESH in forced.failed and rig.versions(FRESH) == 1


def test_main_refuses_to_run_without_bindings(rig, capsys):
    env = {"VAULT_ADDR": "https://v", "VAULT_TOKEN": "t", "VAULT_MOUNT": rig.mount}
    assert vr.main([], env=env, makini_factory=rig.client_factory) == 2
    assert "ROTATION_BINDINGS_FILE is not set" in capsys.readouterr().err
    bad = rig.bindings_file.with_name("aws.json")
    bad.write_text(rig.bindings_file.read_text().replace('"backend":"vault"', '"backend":"aws"'))
    assert vr.main([], env={**env, "ROTATION_BINDINGS_FILE": str(bad)}, makini_factory=rig.client_factory) == 2
    assert "runs on vault" in capsys.readouterr().err


def test_logs_never_contain_tokens(rig, makini, caplog):
    caplog.set_level(logging.INFO, logger="rotation")
    old = rig.value(ACME)["token"]
    rig.rotator(now=rig.later()).run()
    assert "rotated" in caplog.text
    for secret in [rig.value(ACME)["token"], old, makini.client_secret]:
        assert secret not in caplog.text


# -- the command, logging in as its service account -----------------------------------------------


def test_main_logs_in_with_kubernetes_auth_and_exits_with_the_report(rig, openbao, vault_platform, tmp_path, capsys):
    jwt_file = tmp_path / "sa-token"
    jwt_file.write_text(vault_platform.kubernetes_jwt("makini", "makini-token-rotator"))
    env = {
        "VAULT_ADDR": openbao.addr,
        "VAULT_MOUNT": rig.mount,
        "VAULT_OAUTH_CLIENT_PATH": "oauth/client",
        "VAULT_CONNECTIONS_PATH": "connections",
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_ROLE": f"makini-{rig.d.environment}-rotator",
        "VAULT_AUTH_MOUNT": "kubernetes",
        "VAULT_JWT_FILE": str(jwt_file),
        "ROTATION_BINDINGS_FILE": str(rig.bindings_file),
    }
    code = vr.main([], env=env, makini_factory=rig.client_factory)
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["rotated"] == [OOB] and out["failed"] == {}
    rig.makini.fail_next(401)
    assert vr.main(["--path", FRESH], env=env, makini_factory=rig.client_factory) == 1
    assert vr.main([], env={**env, "VAULT_MOUNT": ""}, makini_factory=rig.client_factory) == 2
    assert "VAULT_MOUNT is not set" in capsys.readouterr().err


def test_main_logs_in_with_jwt_auth(openbao, vault_platform, makini, client_factory, tmp_path, capsys):
    """The rotator of a stack on JWT auth (a scheduled CI job or a projected service-account token)."""
    config, keys = stack(makini, env_name("rotj"))
    subject = "system:serviceaccount:makini:makini-token-rotator"
    config["makini:vault"]["rotator"]["auth"] = {"jwt": {"boundAudiences": ["vault.test"], "boundSubject": subject}}
    d = deploy(openbao, config, keys)
    jwt_file = tmp_path / "vault-token"
    jwt_file.write_text(vault_platform.workload_jwt(subject, "vault.test"))
    env = {
        "VAULT_ADDR": openbao.addr,
        "VAULT_MOUNT": d.mount,
        "VAULT_OAUTH_CLIENT_PATH": "oauth/client",
        "VAULT_AUTH_METHOD": "jwt",
        "VAULT_AUTH_ROLE": f"makini-{d.environment}-rotator",
        "VAULT_AUTH_MOUNT": "jwt",
        "VAULT_JWT_FILE": str(jwt_file),
        "ROTATION_BINDINGS_FILE": str(d.bindings_file(tmp_path)),
    }
    assert vr.main(["--path", FRESH], env=env, makini_factory=client_factory) == 0
    assert json.loads(capsys.readouterr().out)["rotated"] == [FRESH]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "VAULT_ADDR is not set"),
        ({"VAULT_ADDR": "https://v"}, "VAULT_TOKEN is not set"),
        ({"VAULT_ADDR": "https://v", "VAULT_AUTH_METHOD": "kubernetes"}, "VAULT_AUTH_ROLE is not set"),
        (
            {
                "VAULT_ADDR": "https://v",
                "VAULT_AUTH_METHOD": "kubernetes",
                "VAULT_AUTH_ROLE": "r",
                "VAULT_JWT_FILE": "/nonexistent/jwt",
            },
            "cannot read the workload JWT",
        ),
        (
            {
                "VAULT_ADDR": "https://v",
                "VAULT_AUTH_METHOD": "ldap",
                "VAULT_AUTH_ROLE": "r",
                "VAULT_JWT_FILE": __file__,
            },
            "not one of token, kubernetes, jwt",
        ),
    ],
)
def test_vault_client_config_errors(env, message):
    with pytest.raises(vr.ConfigError, match=message):
        vr.vault_client_from_env(env)


# -- token lifetime: must outlive rotation_period_days + 1 day --------------------------------


@pytest.mark.parametrize("expires_in", [300, 7 * 86400, 8 * 86400 - 1])
def test_short_lived_token_is_refused_and_nothing_written(rig, makini, expires_in):
    makini.connection_token_lifetime = expires_in
    before = rig.custom(ACME)
    report = rig.rotator().run(only=ACME)
    assert report.rotated == []
    message = report.failed[ACME]
    assert f"expires in {expires_in} s" in message and "periodDays" in message and CONNECTION_ID in message
    assert "at least 8 days" in message and "Nothing was written" in message
    assert makini.tokens_issued(CONNECTION_ID)[-1] not in message
    assert rig.versions(ACME) == 1 and rig.custom(ACME) == before
    # Finding 9: the issued token is still live at Makini; the run counts it (and logs it, never its value).
    assert report.tokens_left_live == 1 and makini.token_is_valid(makini.tokens_issued(CONNECTION_ID)[-1])


@pytest.mark.parametrize("expires_in", [8 * 86400, None])
def test_long_or_absent_lifetime_rotates(rig, makini, expires_in):
    makini.connection_token_lifetime = expires_in
    report = rig.rotator().run(only=ACME)
    assert report.rotated == [ACME] and report.failed == {} and rig.versions(ACME) == 2


def test_the_module_runs_on_the_server_not_on_a_fake():
    """The in-memory KV v2 this module used to run against is gone (tests/engines/openbao.py instead)."""
    assert not (Path(__file__).parent / "fake_vault.py").exists()


@pytest.mark.parametrize(
    "stored", [{"client_id": 12345, "client_secret": "s"}, {"client_id": "c", "client_secret": ""}]
)
def test_a_malformed_oauth_client_fails_every_due_path_and_nothing_is_sent(rig, stored):
    """The same rule as the operator commands (functions/rotation/oauth_client.py): both non-empty strings (a
    number was accepted as its text before)."""
    version = rig.versions("oauth/client")
    rig.root.create_or_update_secret(path="oauth/client", secret=stored, cas=version, mount_point=rig.mount)
    rig.makini.requests.clear()
    report = rig.rotator(now=rig.later()).run()
    assert report.rotated == [] and sorted(report.failed) == [ACME, FRESH, OOB]
    assert all("must hold client_id and client_secret" in m for m in report.failed.values())
    assert rig.makini.requests == []
