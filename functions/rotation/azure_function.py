"""Azure Functions (Python v2 programming model) rotation of Makini connection tokens in Key Vault.

Trigger: a timer (``SCHEDULE``, hourly), like the Vault rotator's CronJob. Each run walks the deployment's
bindings (``bindings.json`` in this package, see bindings.py: ``<vault name>/<secret name>`` -> Makini
connection, and the period) and, for each bound secret whose current version was written at least
``periodDays`` ago (or that holds only the program's disabled placeholder), obtains a system token with the
OAuth client held in the environment's vault (``KEY_VAULT_URL``, secret ``OAUTH_CLIENT_SECRET_NAME``, JSON
``{"client_id", "client_secret"}``), issues a fresh token for the *bound* connection, checks it with
``GET /api/integrations/current`` and writes it as a new version. The previous version is left alone and its
token stays valid at Makini, so readers never see a broken secret.

Why a timer and not Key Vault's ``SecretNearExpiry`` event: that event fires a fixed 30 days before a
version's ``exp`` and once per version, so a schedule shorter than 30 days needed an ``exp`` set past the
token's own expiry, a token lifetime check that counted the 30 days too (a 30-day token was refused), and a
rotation that failed all of Event Grid's retries (a day) never fired again for that version. The timer fires
whatever the token's lifetime, retries a failed secret on the next run, fills a placeholder, and counts from
the version's creation time that Key Vault keeps (an out-of-band ``az keyvault secret set`` restarts the
period, as on Vault). ``exp`` is now the truth: ``now + expires_in`` when Makini gives a lifetime, none when
the token does not expire.

Run-time tokens (issue 19: stored by the onboarding service in a run-time class's own vault, without a deploy)
are not in the bindings: each run lists each run-time class's vault (``list_properties_of_secrets``: names, and
the current version's attributes and tags, no value; the rotator role's ``readMetadata``), and a name bound by
the bindings' ``runtimeClasses`` (``connections-<class>-<id>-token``, the id checked, see bindings.py) is rotated
for the connection its name says, like a bound secret. The listing carries what decides "not due" (the current
version's ``created_on``, ``enabled``, the request tag), so a not-due run-time token costs no call of its own:
thousands of them cost the listing's pages (25 names a page). Any other name in a class vault is skipped and
logged (``not_bound``), never rotated. Every rotation's log says which source bound the secret (``bound_by``:
``deployment`` or ``runtime-name``); a tag or current value naming another connection is logged
(``binding_mismatch``) and ignored.

Each run has a time budget (``ROTATION_TIME_BUDGET_SECONDS``, default 240 s: inside the Consumption plan's
5-minute limit); due secrets it cannot reach are ``deferred`` to the next run. A run with any failed secret
raises at the end (after trying every other secret), so the invocation is marked failed, which is what the
rotation alert counts.

The Functions host loads ``function_app.py`` at the app root; ship one containing
``from rotation.azure_function import app``. Azure SDKs are imported lazily, so this module can be imported
(and the rotation logic tested) without them; ``secret_client_factory`` is injectable.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.shared import jsonlog

from .bindings import VIA_RUNTIME_NAME, Binding, BindingError, Bindings, claimed_connection
from .makini_client import ENV_API_BASE, MakiniClient, MakiniError
from .oauth_client import parse_oauth_client
from .token_lifetime import DAY, TokenLifetimeTooShort, check_token_lifetime

FUNCTION_NAME = "makini_rotate_connection_tokens"
#: NCRONTAB (six fields, UTC): every hour at minute 17. Periods are whole days, so an hour is precise enough,
#: and a failed secret is retried within the hour.
SCHEDULE = "0 17 * * * *"
CONNECTION_TAG = "makini-connection-id"
#: The tag the onboarding client sets on a run-time token (functions/onboarding/places.py, TAG_CONNECTION_ID).
RUNTIME_CONNECTION_TAG = "makini:connection-id"
LAST_ROTATED_TAG = "makini-last-rotated"
#: ``python -m infra.rotate --connection KEY --now`` sets this tag (an ISO time) on the current version: the next
#: run rotates the secret if the request is newer than the version. A tag can only ask for an extra rotation of
#: the *bound* connection (the bindings still decide which), so a tag writer gains nothing else.
ROTATE_REQUESTED_TAG = "makini-rotate-requested"
ENV_OAUTH = "OAUTH_CLIENT_SECRET_NAME"
ENV_VAULT_URL = "KEY_VAULT_URL"
ENV_BUDGET = "ROTATION_TIME_BUDGET_SECONDS"
DEFAULT_BUDGET_SECONDS = 240
BAD_SYNC_STATUSES = frozenset({"fail"})

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class RotationError(Exception):
    """The rotation cannot proceed; the message says what is wrong and how to fix it."""


class RotationRunFailed(RotationError):
    """At least one secret failed in this run (the others were tried); the invocation fails on purpose."""


@dataclass
class Report:
    rotated: list[str] = field(default_factory=list)
    not_due: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    #: Names in a run-time class's vault that are not a run-time token's name: never rotated.
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    #: Tokens Makini issued in this run that were not stored (each stays valid until its connection is deleted).
    tokens_left_live: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rotated": self.rotated,
            "not_due": self.not_due,
            "deferred": self.deferred,
            "skipped": self.skipped,
            "failed": self.failed,
            "tokens_left_live": self.tokens_left_live,
        }


def default_secret_client(vault_url: str) -> Any:
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - lazy: Azure SDKs only here
    from azure.keyvault.secrets import SecretClient  # noqa: PLC0415

    return SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _parse_iso(raw: object) -> datetime | None:
    """An ISO 8601 time with a zone (``Z`` or an offset), else None (a malformed tag asks for nothing)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def vault_url_for(vault_name: str, home_url: str) -> str:
    """``https://<vault_name>.<suffix>``, the DNS suffix taken from the environment's vault URL (the same cloud:
    vault.azure.net, vault.azure.cn, vault.usgovcloudapi.net)."""
    host = urllib.parse.urlsplit(home_url).hostname or ""
    if "." not in host:
        raise RotationError(
            f"app setting {ENV_VAULT_URL}={home_url!r} is not a Key Vault URL such as https://kv.vault.azure.net"
        )
    return f"https://{vault_name}.{host.split('.', 1)[1]}"


def _settings(env: Mapping[str, str]) -> tuple[str, str, float]:
    home = (env.get(ENV_VAULT_URL) or "").rstrip("/")
    if not home.startswith("https://"):
        raise RotationError(f"app setting {ENV_VAULT_URL} is not set to the environment's vault (https://...)")
    oauth = env.get(ENV_OAUTH)
    if not oauth:
        raise RotationError(f"app setting {ENV_OAUTH} is not set; name the Key Vault secret holding the OAuth client")
    raw = env.get(ENV_BUDGET) or str(DEFAULT_BUDGET_SECONDS)
    try:
        budget = float(raw)
    except ValueError:
        budget = -1.0
    if not 10 <= budget <= 3600:
        raise RotationError(f"app setting {ENV_BUDGET}={raw!r} is not a number of seconds from 10 to 3600")
    return home, oauth, budget


class KeyVaultRotator:
    """Rotates the bound secrets of one environment's vaults (one instance per run)."""

    def __init__(
        self,
        bindings: Bindings,
        *,
        env: Mapping[str, str],
        secret_client_factory: Callable[[str], Any] = default_secret_client,
        makini_client_factory: Callable[[], MakiniClient] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # The deployment's bindings, then the run-time tokens' names (bindings.py, RuntimeNames).
        self.bindings = bindings.with_runtime_names()
        self.home, self.oauth_name, self.budget = _settings(env)
        if bindings.period_days is None:
            raise RotationError(
                f"the rotation bindings ({bindings.source}) carry no periodDays; regenerate them with pulumi up"
            )
        self.period_days = bindings.period_days
        # The host pin refuses a foreign MAKINI_API_BASE here, before any Key Vault read.
        self.makini = (makini_client_factory or (lambda: MakiniClient(env.get(ENV_API_BASE))))()
        self._factory = secret_client_factory
        self._clients: dict[str, Any] = {}
        self.now = now
        self.clock = clock
        self._system_token: str | None = None

    def _client(self, vault_url: str) -> Any:
        if vault_url not in self._clients:
            self._clients[vault_url] = self._factory(vault_url)
        return self._clients[vault_url]

    def _locate(self, key: str) -> tuple[str, str]:
        vault, sep, name = key.partition("/")
        if not sep or not vault or not name or "/" in name:
            raise BindingError(f"binding key {key!r} is not '<vault name>/<secret name>'")
        return vault_url_for(vault, self.home), name

    def _system(self) -> str:
        if self._system_token is None:
            parsed = parse_oauth_client(self._client(self.home).get_secret(self.oauth_name).value)
            if parsed is None:
                raise RotationError(
                    f'Key Vault secret {self.oauth_name} ({ENV_OAUTH}) must hold JSON {{"client_id", "client_secret"}}, '
                    "both non-empty strings"
                )
            self._system_token = self.makini.system_token(*parsed)
        return self._system_token

    # -- a run --------------------------------------------------------------------------------------

    def run(self, *, only: str | None = None, dry_run: bool = False) -> Report:
        """Every bound secret and every run-time token of the run-time classes' vaults (or ``only``, rotated now
        whether due or not)."""
        report = Report()
        started = self.clock()
        work: list[tuple[str, Any]] = (
            [(only, None)] if only else [(k, None) for k in self.bindings.secrets()] + self._runtime_tokens(report)
        )
        for key, listed in work:
            try:
                self._one(key, report, force=bool(only), dry_run=dry_run, started=started, listed=listed)
            except (RotationError, MakiniError, TokenLifetimeTooShort, BindingError) as err:
                report.failed[key] = str(err)
                jsonlog.log(
                    logger, logging.ERROR, "rotation_failed", secret=key, error=str(err), error_type=type(err).__name__
                )
            except Exception as err:  # noqa: BLE001 - Key Vault errors and the like: one line, then the next secret
                message = f"{type(err).__name__}: {jsonlog.mask(str(err))[:300]}"
                report.failed[key] = message
                jsonlog.log(logger, logging.ERROR, "rotation_failed", secret=key, error=message)
        jsonlog.log(
            logger,
            logging.INFO,
            "run_done",
            environment=self.bindings.environment,
            rotated=len(report.rotated),
            not_due=len(report.not_due),
            deferred=len(report.deferred),
            skipped=len(report.skipped),
            failed=len(report.failed),
            tokens_left_live=report.tokens_left_live,
        )
        return report

    def _runtime_tokens(self, report: Report) -> list[tuple[str, Any]]:
        """(secret key, its listed properties) of every run-time token in the run-time classes' vaults; other
        names there are skipped. A vault that cannot be listed fails the run (after the other secrets)."""
        found: list[tuple[str, Any]] = []
        for access_class, prefix in sorted(self.bindings.runtime_classes.items()):
            vault = prefix.split("/", 1)[0]
            try:
                listed = list(self._client(vault_url_for(vault, self.home)).list_properties_of_secrets())
            except Exception as err:  # noqa: BLE001 - a 403 or an outage: this class waits for the next run
                message = f"cannot list run-time class {access_class}'s vault: {type(err).__name__}: "
                message += jsonlog.mask(str(err))[:300]
                report.failed[f"{vault}/*"] = message
                jsonlog.log(logger, logging.ERROR, "rotation_failed", secret=f"{vault}/*", error=message)
                continue
            for props in listed:
                key = f"{vault}/{getattr(props, 'name', '')}"
                try:
                    binding = self.bindings.binding_for(key)
                except BindingError:  # e.g. a declared connection's id: this secret fails (in _one), the run goes on
                    found.append((key, None))
                    continue
                if binding is None or binding.access_class != access_class:
                    report.skipped.append(key)
                    jsonlog.log(
                        logger,
                        logging.WARNING,
                        "not_bound",
                        secret=key,
                        reason=f"not a run-time token's name of class {access_class}",
                    )
                    continue
                found.append((key, props))
        return found

    def _due(self, current: Any, now: datetime) -> tuple[bool, str]:
        """Whether a secret whose current version has these properties is due (None: no usable version)."""
        if current is None or not getattr(current, "enabled", True) or getattr(current, "created_on", None) is None:
            return True, "no usable version yet (the program's placeholder or none)"
        due_at = current.created_on + timedelta(days=self.period_days)
        if due_at <= now:
            return True, f"current version written {_iso(current.created_on)}, due {_iso(due_at)}"
        requested = _parse_iso((getattr(current, "tags", None) or {}).get(ROTATE_REQUESTED_TAG))
        if requested is not None and requested > current.created_on:
            return True, f"rotation requested at {_iso(requested)} (infra.rotate --now)"
        return False, f"current version written {_iso(current.created_on)}, due {_iso(due_at)}"

    def _current(self, client: Any, name: str) -> Any | None:
        """The current (latest) version's properties, or None when the secret has no version."""
        try:
            versions = list(client.list_properties_of_secret_versions(name))
        except Exception as err:
            if type(err).__name__ == "ResourceNotFoundError":  # azure.core's, imported lazily by the SDK
                return None
            raise
        dated = [(v.created_on, i, v) for i, v in enumerate(versions) if getattr(v, "created_on", None) is not None]
        # Key Vault's current version is the latest created (creation times have one-second resolution; two
        # versions written in the same second keep the listing's order).
        return max(dated, key=lambda t: (t[0], t[1]))[2] if dated else None

    def _one(self, key: str, report: Report, *, force: bool, dry_run: bool, started: float, listed: Any = None) -> None:
        binding = self.bindings.require(key)
        vault_url, name = self._locate(key)
        client = self._client(vault_url)
        now = self.now()
        if listed is not None and not force and not self._due(listed, now)[0]:
            # The listing carried the current version's attributes: not due, no call of its own.
            self._log_mismatch(key, binding, listed)
            report.not_due.append(key)
            return
        current = self._current(client, name)
        self._log_mismatch(key, binding, current)
        is_due, reason = self._due(current, now)
        if not (is_due or force):
            report.not_due.append(key)
            return
        if not force and self.clock() - started > self.budget:
            report.deferred.append(key)
            jsonlog.log(logger, logging.WARNING, "deferred", secret=key, reason="time budget spent; next run")
            return
        if dry_run:
            report.rotated.append(key)
            jsonlog.log(
                logger,
                logging.INFO,
                "would_rotate",
                secret=key,
                connection_id=binding.connection_id,
                bound_by=binding.via,
                reason=reason,
            )
            return
        self._log_value_mismatch(client, key, name, binding, current)
        self._rotate(client, key, name, binding, current, report, reason)

    def _rotate(
        self, client: Any, key: str, name: str, binding: Binding, current: Any, report: Report, reason: str
    ) -> None:
        connection_id = binding.connection_id
        issued = self.makini.issue_connection_token(self._system(), connection_id)
        try:
            check_token_lifetime(
                issued.expires_in,
                self.period_days * DAY,
                where=f"secret {key} (connection {connection_id})",
                period_source="the deployed bindings' periodDays",
            )
            status = self.makini.check_token(issued.token)
            if status in BAD_SYNC_STATUSES:
                raise RotationError(
                    f"Makini reports sync_status={status!r} for connection {connection_id} (invalid platform "
                    f"credentials): the customer must reconnect; secret {key} was not changed"
                )
            now = self.now()
            stamp = _iso(now)
            value = json.dumps({"token": issued.token, "connection_id": connection_id, "issued_at": stamp})
            tags = dict(getattr(current, "tags", None) or {})
            tags.pop(ROTATE_REQUESTED_TAG, None)  # answered by this version
            tags.update({CONNECTION_TAG: connection_id, LAST_ROTATED_TAG: stamp})
            if binding.via == VIA_RUNTIME_NAME or RUNTIME_CONNECTION_TAG in tags:
                tags[RUNTIME_CONNECTION_TAG] = connection_id  # the name's connection, never a claim carried forward
            expires_on = None if issued.expires_in is None else now + timedelta(seconds=issued.expires_in)
            written = client.set_secret(name, value, tags=tags, content_type="application/json", expires_on=expires_on)
        except Exception as err:
            report.tokens_left_live += 1
            jsonlog.log(
                logger,
                logging.WARNING,
                "token_left_live",
                secret=key,
                connection_id=connection_id,
                reason=type(err).__name__,
                note="Makini keeps this unused token valid until the connection is disconnected",
            )
            raise
        report.rotated.append(key)
        jsonlog.log(
            logger,
            logging.INFO,
            "rotated",
            secret=key,
            connection_id=connection_id,
            bound_by=binding.via,
            binding_source=binding.source,
            new_version=getattr(getattr(written, "properties", None), "version", None),
            expires_on=None if expires_on is None else _iso(expires_on),
            lifetime=issued.lifetime,
            reply_shape=issued.reply_shape,
            sync_status=status,
            reason=reason,
        )

    def _log_mismatch(self, key: str, binding: Binding, current: Any) -> None:
        tags = (getattr(current, "tags", None) or {}) if current is not None else {}
        for tag in (CONNECTION_TAG, RUNTIME_CONNECTION_TAG):
            self._mismatch(key, binding, f"tag {tag}", tags.get(tag))

    def _log_value_mismatch(self, client: Any, key: str, name: str, binding: Binding, current: Any) -> None:
        """The current value's ``connection_id``, read only before a rotation (a due secret): logged, never used."""
        if current is None or not getattr(current, "enabled", True):
            return
        try:
            raw = client.get_secret(name).value
        except Exception:  # noqa: BLE001 - the check is informational; the rotation decides nothing from it
            return
        self._mismatch(key, binding, "current value's connection_id", claimed_connection(raw))

    def _mismatch(self, key: str, binding: Binding, where: str, claimed: object) -> None:
        if claimed and claimed != binding.connection_id:
            jsonlog.log(
                logger,
                logging.WARNING,
                "binding_mismatch",
                secret=key,
                where=where,
                claimed=str(claimed)[:80],
                connection_id=binding.connection_id,
                bound_by=binding.via,
                binding_source=binding.source,
            )


def run_scheduled(
    *,
    bindings: Bindings | None = None,
    env: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> Report:
    """One timer run over the packaged bindings; raises :class:`RotationRunFailed` when a secret failed."""
    env = os.environ if env is None else env
    rotator = KeyVaultRotator(bindings or Bindings.packaged("azure"), env=env, **kwargs)
    report = rotator.run()
    if report.failed:
        raise RotationRunFailed(
            f"{len(report.failed)} of {len(report.failed) + len(report.rotated) + len(report.not_due) + len(report.deferred)} "
            "secret(s) failed to rotate (the others were tried): "
            + "; ".join(f"{k}: {v}" for k, v in sorted(report.failed.items()))[:2000]
        )
    return report


app: func.FunctionApp | None
try:  # the Functions host provides azure.functions; elsewhere the module still imports
    import azure.functions as func
except ImportError:  # pragma: no cover - exercised only outside the Functions runtime
    app = None
else:
    app = func.FunctionApp()

    @app.function_name(name=FUNCTION_NAME)
    @app.timer_trigger(schedule=SCHEDULE, arg_name="timer", run_on_startup=False, use_monitor=True)
    def on_schedule(timer: func.TimerRequest) -> None:
        # An exception marks the invocation failed (the rotation alert counts those); the next run retries.
        run_scheduled()
