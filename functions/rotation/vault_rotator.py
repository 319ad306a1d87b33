"""Scheduled rotation of Makini connection tokens held in HashiCorp Vault KV v2.

Run: ``python -m rotation.vault_rotator`` (a Kubernetes CronJob in the environment's cluster, or a
scheduled CI job; see README.md for why a schedule and not an agent). Each run:

1. reads the deployment's bindings (``ROTATION_BINDINGS_FILE``: the ConfigMap the program generates beside
   the CronJob, see bindings.py): KV path -> Makini connection, and the rotation period;
2. walks every bound path, and lists ``<VAULT_MOUNT>/metadata/<VAULT_CONNECTIONS_PATH>`` (recursively) to
   find tokens the bindings miss: a secret whose custom metadata names a Makini connection but that is not
   bound is reported as failed (re-apply the manifest), never rotated; each run-time class of the bindings
   (``runtimeClasses``, issue 19: tokens the onboarding service stores without a deploy) is listed once
   (``LIST metadata/connections/<class>/``, the only list its policy has there), and each
   ``connections/<class>/<id>/token`` is bound by its path (the id checked, never guessed, see bindings.py);
   any other key there is skipped and logged;
3. for each bound, due secret (no version yet, or ``last written + period <= now``, where "last written" is
   the later of the current version's ``created_time``, which the engine keeps, and ``last_rotated``):
   issues a fresh token for the *bound* connection (custom metadata naming another connection or period is
   logged as ``binding_mismatch`` and ignored; the value is never read: the rotator's policy has no read on
   data, so nothing a writer of the value claims can reach it), checks it with ``GET /api/integrations/current``, writes
   it as a new version with check-and-set (``cas`` = the current version, so a concurrent writer wins and
   this run reports a conflict instead of overwriting), then sets ``last_rotated``.

Why ``created_time``: the Vault store (``pulumi up``) writes each secret's whole ``custom_metadata`` map
whenever one of its inputs changes, and KV v2 replaces the map on every metadata write, so
``last_rotated`` does not survive an up; the version's ``created_time`` does, and it also counts a value
written out of band (a manual revoke-and-replace) as the last rotation.

The old token is not revoked (it stays valid at Makini), so readers of the previous version keep
working. Every rotation's log says which source bound the path (``bound_by``: ``deployment`` or
``runtime-name``). Exit status: 0 all due secrets rotated (or none due), 1 at least one failed, 2 bad config.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.shared import jsonlog

from .bindings import ENV_BINDINGS_FILE, BindingError, Bindings
from .makini_client import ENV_API_BASE, MakiniClient, MakiniError
from .oauth_client import oauth_client_of
from .token_lifetime import DAY, TokenLifetimeTooShort, check_token_lifetime

META_CONNECTION = "makini_connection_id"
META_PERIOD = "rotation_period_days"
META_LAST_ROTATED = "last_rotated"
#: ``python -m infra.rotate --connection KEY --now`` sets this (an ISO time): the next run rotates the path if the
#: request is newer than its last write. It can only ask for an extra rotation of the bound connection.
META_ROTATE_REQUESTED = "rotate_requested_at"
BAD_SYNC_STATUSES = frozenset({"fail"})
DEFAULT_K8S_JWT = "/var/run/secrets/kubernetes.io/serviceaccount/token"

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class ConfigError(Exception):
    """Bad settings; the message names the variable and the fix."""


class RotationFailed(Exception):
    """One secret could not be rotated; the previous version is untouched."""


@dataclass
class Report:
    rotated: list[str] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: Tokens Makini issued in this run that were never stored: each stays valid at Makini until the connection
    #: is disconnected (logged one by one as ``token_left_live``).
    tokens_left_live: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rotated": self.rotated,
            "not_due": self.not_due,
            "skipped": self.skipped,
            "failed": self.failed,
            "tokens_left_live": self.tokens_left_live,
        }


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_time(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def period_days(custom: Mapping[str, str]) -> int:
    """``rotation_period_days`` of a secret's custom metadata (used only when the bindings carry no period);
    raises RotationFailed if invalid."""
    raw = custom.get(META_PERIOD)
    try:
        period = int(raw) if raw is not None else None
    except ValueError:
        period = None
    if period is None or period < 1:
        raise RotationFailed(f"custom metadata {META_PERIOD}={raw!r} is not a whole number of days >= 1")
    return period


def current_version_written(meta: Mapping[str, Any]) -> datetime | None:
    """When the current version was written: KV v2 metadata ``versions[<current_version>].created_time``
    (None when the key has no version yet)."""
    versions = meta.get("versions") or {}
    info = versions.get(str(meta.get("current_version") or 0)) or {}
    raw = info.get("created_time") or ""
    # Vault prints nanoseconds (2026-12-01T15:19:51.705011057Z); datetime takes at most microseconds.
    return _parse_time(re.sub(r"(\.\d{6})\d+", r"\1", raw))


def current_version_deleted(meta: Mapping[str, Any], now: datetime) -> bool:
    """Whether the current version is soft-deleted (``deletion_time`` passed: a disconnected customer's token, or
    an operator's ``vault kv delete``) or destroyed. A mount's ``delete_version_after`` stamps a future
    ``deletion_time`` on every live version: that one has not come."""
    if not int(meta.get("current_version") or 0):
        return False
    info = (meta.get("versions") or {}).get(str(meta.get("current_version"))) or {}
    if info.get("destroyed"):
        return True
    when = _parse_time(re.sub(r"(\.\d{6})\d+", r"\1", info.get("deletion_time") or ""))
    return when is not None and when <= now


def due(period: int, custom: Mapping[str, str], now: datetime, written: datetime | None = None) -> tuple[bool, str]:
    """Whether a secret rotated every ``period`` days, with this custom metadata (``last_rotated``), whose
    current version was ``written`` then, is due."""
    known = [t for t in (_parse_time(custom.get(META_LAST_ROTATED)), written) if t is not None]
    if not known:
        return True, "never rotated (no version, no valid last_rotated)"
    last = max(known)
    next_due = last + timedelta(days=period)
    if next_due <= now:
        return True, f"due since {_iso(next_due)}"
    requested = _parse_time(custom.get(META_ROTATE_REQUESTED))
    if requested is not None and requested > last:
        return True, f"rotation requested at {_iso(requested)} (infra.rotate --now)"
    return False, f"next due {_iso(next_due)}"


class VaultRotator:
    def __init__(
        self,
        vault: Any,
        makini: MakiniClient,
        *,
        mount: str,
        bindings: Bindings,
        connections_path: str = "connections",
        oauth_client_path: str = "oauth-client",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.kv = vault.secrets.kv.v2
        self.makini = makini
        # The deployment's bindings, then the run-time tokens' names (bindings.py, RuntimeNames).
        self.bindings = bindings.with_runtime_names()
        self.mount = mount.strip("/")
        self.prefix = connections_path.strip("/")
        self.oauth_path = oauth_client_path.strip("/")
        self.now = now
        self._system_token: str | None = None

    def paths(self) -> Iterator[str]:
        """Every key under the connections folder, except the run-time classes' (:meth:`runtime_paths`)."""
        import hvac.exceptions  # noqa: PLC0415

        runtime = {p.rstrip("/") for p in self.bindings.runtime_classes.values()}
        stack = [self.prefix]
        while stack:
            folder = stack.pop()
            if folder in runtime:
                continue  # listed once by runtime_paths; its policy lists nothing below it
            try:
                keys = self.kv.list_secrets(path=folder, mount_point=self.mount)["data"]["keys"]
            except hvac.exceptions.InvalidPath:
                continue  # nothing stored there yet
            except hvac.exceptions.Forbidden:
                # The rotator's policy lists only the folders of connections it rotates (those with a
                # Makini id): any other folder is not its business.
                jsonlog.log(logger, logging.INFO, "not_listable", path=folder or "/")
                continue
            for key in sorted(keys, reverse=True):
                full = f"{folder}/{key}".strip("/") if folder else key
                if key.endswith("/"):
                    stack.append(full.rstrip("/"))
                else:
                    yield full

    def runtime_paths(self, report: Report) -> list[str]:
        """The run-time tokens of every run-time class: one LIST of ``metadata/<class prefix>`` each, every
        ``<id>/`` key read as ``<prefix><id>/token``; a key the names do not bind is skipped (and logged)."""
        import hvac.exceptions  # noqa: PLC0415

        found: list[str] = []
        for access_class, prefix in sorted(self.bindings.runtime_classes.items()):
            folder = prefix.rstrip("/")
            try:
                keys = self.kv.list_secrets(path=folder, mount_point=self.mount)["data"]["keys"]
            except hvac.exceptions.InvalidPath:
                continue  # nothing stored in the class yet
            except Exception as err:  # noqa: BLE001 - refused or unreachable: fails the run, the rest goes on
                message = f"cannot list run-time class {access_class} ({folder}/): {type(err).__name__}"
                report.failed[f"{folder}/"] = message
                jsonlog.log(logger, logging.ERROR, "rotation_failed", path=f"{folder}/", error=message)
                continue
            for key in sorted(keys):
                path = f"{prefix}{key.rstrip('/')}/token" if key.endswith("/") else f"{prefix}{key}"
                try:
                    binding = self.bindings.binding_for(path)
                except BindingError:  # e.g. a declared connection's id: this path fails (in _one), the run goes on
                    found.append(path)
                    continue
                if binding is None or binding.access_class != access_class:
                    report.skipped.append(path)
                    jsonlog.log(
                        logger,
                        logging.WARNING,
                        "skipped",
                        path=path,
                        reason=f"not a run-time token's name of class {access_class}",
                    )
                    continue
                found.append(path)
        return found

    def _system(self) -> str:
        if self._system_token is None:
            secret = self.kv.read_secret_version(
                path=self.oauth_path, mount_point=self.mount, raise_on_deleted_version=True
            )
            parsed = oauth_client_of(secret["data"]["data"])
            if parsed is None:
                raise RotationFailed(
                    f"{self.mount}/{self.oauth_path} must hold client_id and client_secret, both non-empty strings "
                    "(VAULT_OAUTH_CLIENT_PATH)"
                )
            self._system_token = self.makini.system_token(*parsed)
        return self._system_token

    def run(self, *, only: str | None = None, dry_run: bool = False) -> Report:
        report = Report()
        paths = (
            [only.strip("/")]
            if only
            else sorted(set(self.bindings.secrets()) | set(self.paths()) | set(self.runtime_paths(report)))
        )
        for path in paths:
            try:
                self._one(path, report, force=bool(only), dry_run=dry_run)
            except (RotationFailed, MakiniError, TokenLifetimeTooShort, BindingError) as err:
                report.failed[path] = str(err)
                jsonlog.log(
                    logger, logging.ERROR, "rotation_failed", path=path, error=str(err), error_type=type(err).__name__
                )
            except Exception as err:  # hvac errors (CAS conflict, permission) and the like
                message = f"{type(err).__name__}: {jsonlog.mask(str(err))[:300]}"
                report.failed[path] = message
                jsonlog.log(logger, logging.ERROR, "rotation_failed", path=path, error=message)
        jsonlog.log(
            logger,
            logging.INFO,
            "run_done",
            mount=self.mount,
            rotated=len(report.rotated),
            not_due=len(report.not_due),
            skipped=len(report.skipped),
            failed=len(report.failed),
            tokens_left_live=report.tokens_left_live,
        )
        return report

    def _one(self, path: str, report: Report, *, force: bool, dry_run: bool) -> None:
        import hvac.exceptions  # noqa: PLC0415

        try:
            meta = self.kv.read_secret_metadata(path=path, mount_point=self.mount)["data"]
        except hvac.exceptions.Forbidden:
            # Not a token this rotator may rotate (e.g. a NetSuite M2M key beside a token): skip it.
            report.skipped.append(path)
            jsonlog.log(logger, logging.INFO, "skipped", path=path, reason="the rotator's policy does not cover it")
            return
        custom = dict(meta.get("custom_metadata") or {})
        binding = self.bindings.binding_for(path)
        if binding is None:
            if not custom.get(META_CONNECTION) and not force:
                report.skipped.append(path)
                jsonlog.log(logger, logging.INFO, "skipped", path=path, reason="not a bound connection token")
                return
            # Names a connection (or was asked for by --path) but the deployment does not bind it: refused.
            self.bindings.require(path)
        assert binding is not None
        connection_id = binding.connection_id
        period = self.bindings.period_days or period_days(custom)
        for key, claimed in ((META_CONNECTION, custom.get(META_CONNECTION)), (META_PERIOD, custom.get(META_PERIOD))):
            expected = connection_id if key == META_CONNECTION else str(period)
            if claimed is not None and claimed != expected:
                jsonlog.log(
                    logger,
                    logging.WARNING,
                    "binding_mismatch",
                    path=path,
                    where=f"custom metadata {key}",
                    claimed=claimed,
                    expected=expected,
                    bound_by=binding.via,
                    binding_source=binding.source,
                )
        now = self.now()
        if not force and current_version_deleted(meta, now):
            # Rotating would write a live token again for a customer who was disconnected (the onboarding
            # client's disconnect soft-deletes it; recoverable): left alone until someone undeletes it.
            report.skipped.append(path)
            jsonlog.log(
                logger,
                logging.INFO,
                "skipped",
                path=path,
                reason="its current version is deleted (a disconnected connection): undelete it to resume rotation",
                bound_by=binding.via,
            )
            return
        is_due, reason = due(period, custom, now, current_version_written(meta))
        if not (is_due or force):
            report.not_due.append(path)
            jsonlog.log(logger, logging.INFO, "not_due", path=path, reason=reason)
            return
        if dry_run:
            report.rotated.append(path)
            jsonlog.log(
                logger,
                logging.INFO,
                "would_rotate",
                path=path,
                reason=reason,
                connection_id=connection_id,
                bound_by=binding.via,
            )
            return
        current_version = int(meta.get("current_version") or 0)
        issued = self.makini.issue_connection_token(self._system(), connection_id)
        try:
            check_token_lifetime(
                issued.expires_in,
                period * DAY,
                where=f"{self.mount}/{path} (connection {connection_id})",
                period_source="the deployed bindings' periodDays"
                if self.bindings.period_days
                else f"custom metadata {META_PERIOD}",
            )
            status = self.makini.check_token(issued.token)
            if status in BAD_SYNC_STATUSES:
                raise RotationFailed(
                    f"Makini reports sync_status={status!r} for connection {connection_id}: the customer must "
                    "reconnect; nothing was written"
                )
            stamp = _iso(now)
            value = {"token": issued.token, "connection_id": connection_id, "issued_at": stamp}
            self.kv.create_or_update_secret(path=path, secret=value, cas=current_version, mount_point=self.mount)
        except Exception as err:
            # Issued but never stored: Makini keeps it valid until the connection is disconnected.
            report.tokens_left_live += 1
            jsonlog.log(
                logger,
                logging.WARNING,
                "token_left_live",
                path=path,
                connection_id=connection_id,
                reason=type(err).__name__,
                note="Makini keeps this unused token valid until the connection is disconnected",
            )
            raise
        custom[META_LAST_ROTATED] = stamp
        custom.pop(META_ROTATE_REQUESTED, None)  # answered by this version
        self.kv.update_metadata(
            path=path,
            custom_metadata=custom,
            # hvac sends delete_version_after="0s" unless told; keep what the path has.
            delete_version_after=meta.get("delete_version_after") or "0s",
            mount_point=self.mount,
        )
        report.rotated.append(path)
        jsonlog.log(
            logger,
            logging.INFO,
            "rotated",
            path=path,
            connection_id=connection_id,
            bound_by=binding.via,
            binding_source=binding.source,
            reason=reason,
            previous_version=current_version,
            sync_status=status,
        )


def vault_client_from_env(env: Mapping[str, str]) -> Any:
    """hvac client from VAULT_ADDR plus VAULT_TOKEN, or Kubernetes / JWT login (VAULT_AUTH_METHOD)."""
    import hvac  # noqa: PLC0415

    addr = env.get("VAULT_ADDR")
    if not addr:
        raise ConfigError("VAULT_ADDR is not set; point it at the environment's Vault (https://...)")
    client = hvac.Client(url=addr, namespace=env.get("VAULT_NAMESPACE") or None)
    method = (env.get("VAULT_AUTH_METHOD") or "token").lower()
    if method == "token":
        if not env.get("VAULT_TOKEN"):
            raise ConfigError("VAULT_TOKEN is not set (VAULT_AUTH_METHOD=token); or use kubernetes / jwt auth")
        client.token = env["VAULT_TOKEN"]
        return client
    role = env.get("VAULT_AUTH_ROLE")
    if not role:
        raise ConfigError(f"VAULT_AUTH_ROLE is not set (VAULT_AUTH_METHOD={method}); name the Vault role to log in as")
    jwt_file = env.get("VAULT_JWT_FILE") or DEFAULT_K8S_JWT
    try:
        with open(jwt_file, encoding="utf-8") as fh:
            jwt = fh.read().strip()
    except OSError as err:
        raise ConfigError(f"cannot read the workload JWT from {jwt_file} (VAULT_JWT_FILE): {err.strerror}") from None
    if method == "kubernetes":
        client.auth.kubernetes.login(role=role, jwt=jwt, mount_point=env.get("VAULT_AUTH_MOUNT") or "kubernetes")
    elif method == "jwt":
        client.auth.jwt.jwt_login(role=role, jwt=jwt, path=env.get("VAULT_AUTH_MOUNT") or "jwt")
    else:
        raise ConfigError(f"VAULT_AUTH_METHOD={method!r} is not one of token, kubernetes, jwt")
    return client


def main(
    argv: list[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    vault_factory: Callable[[Mapping[str, str]], Any] = vault_client_from_env,
    makini_factory: Callable[[], MakiniClient] | None = None,
) -> int:
    env = os.environ if env is None else env
    if makini_factory is None:
        # MAKINI_API_BASE is pinned to Makini's host (makini_client's module doc).
        def makini_factory() -> MakiniClient:
            return MakiniClient(env.get(ENV_API_BASE))

    parser = argparse.ArgumentParser(prog="python -m rotation.vault_rotator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="report what is due; change nothing")
    parser.add_argument("--path", help="rotate this secret now, due or not (e.g. connections/acme-netsuite)")
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        mount = env.get("VAULT_MOUNT")
        if not mount:
            raise ConfigError("VAULT_MOUNT is not set; name the environment's KV v2 mount (e.g. makini-prod)")
        makini = makini_factory()  # refuses a foreign MAKINI_API_BASE before Vault is even contacted
        bindings_file = env.get(ENV_BINDINGS_FILE)
        if not bindings_file:
            raise ConfigError(
                f"{ENV_BINDINGS_FILE} is not set; mount the rotation bindings ConfigMap the stack generates "
                "(stack output rotation.vault.bindingsConfigMap) and point it at bindings.json"
            )
        try:
            bindings = Bindings.load(bindings_file, backend="vault")
        except BindingError as err:
            raise ConfigError(str(err)) from None
        rotator = VaultRotator(
            vault_factory(env),
            makini,
            mount=mount,
            bindings=bindings,
            connections_path=env.get("VAULT_CONNECTIONS_PATH") or "connections",
            oauth_client_path=env.get("VAULT_OAUTH_CLIENT_PATH") or "oauth-client",
        )
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = rotator.run(only=args.path, dry_run=args.dry_run)
    print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
