"""The rotation calendar: per environment and catalog secret, how it rotates and when it is next due.

Pure (no Pulumi): built from the config and the catalog, relative to an injectable ``today`` so the
date arithmetic is testable. Three modes:

- ``automatic``: a connection token with a ``makiniId`` while rotation is enabled; the cloud rotates it
  every ``connectionTokenDays`` days. The last rotation is not known offline.
- ``manual``: a connection token that cannot be rotated automatically (no ``makiniId``, or rotation
  disabled): someone issues a new token in Makini before the 30-day token lifetime runs out.
- ``manual-with-reminder``: secrets Makini issues by hand (webhook secret, OAuth client secret): a maximum
  age, and a reminder ``reminderDaysBefore`` days before it, dated when the rotated-on date is configured.
  NetSuite M2M keys too: the period is the certificate's validity, the next date its renew-by date
  (``renewalReminderDays`` before expiry), dated when the certificate's notAfter is known (after deployment:
  the ``netsuiteCertificateNotAfter`` stack output), never guessed offline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from .catalog import Catalog, CatalogSecret, SecretKind, SystemIdentity, build_catalog, class_prefix
from .config.model import StackConfig
from .config.rotation import TOKEN_LIFETIME_DAYS
from .naming import aws_secret_name
from .netsuite import renew_by


class Mode(StrEnum):
    AUTOMATIC = "automatic"
    MANUAL = "manual"
    MANUAL_WITH_REMINDER = "manual-with-reminder"


class Status(StrEnum):
    SCHEDULED = "scheduled"  # automatic rotation
    OK = "ok"  # before the reminder date
    REMINDER_DUE = "reminder-due"  # on or after the reminder date, before the maximum age
    OVERDUE = "overdue"  # on or after the maximum age
    UNKNOWN = "unknown"  # no rotated-on date known


@dataclass(frozen=True)
class Deadline:
    """The dates of one hand-issued secret: ``due = rotated_on + max_age``, ``reminder = due - reminder_days``."""

    rotated_on: date
    max_age_days: int
    reminder_days: int

    def __post_init__(self) -> None:
        if self.max_age_days < 1 or self.reminder_days < 0 or self.reminder_days >= self.max_age_days:
            raise ValueError("need max_age_days >= 1 and 0 <= reminder_days < max_age_days")

    @property
    def due(self) -> date:
        return self.rotated_on + timedelta(days=self.max_age_days)

    @property
    def reminder(self) -> date:
        return self.due - timedelta(days=self.reminder_days)

    def status(self, today: date) -> Status:
        if today >= self.due:
            return Status.OVERDUE
        if today >= self.reminder:
            return Status.REMINDER_DUE
        return Status.OK

    def days_left(self, today: date) -> int:
        """Days until the maximum age (negative once overdue)."""
        return (self.due - today).days

    def next_date(self, today: date) -> date:
        """The next date someone must act on: the reminder while it is ahead, else the due date (even if past)."""
        return self.reminder if today < self.reminder else self.due


@dataclass(frozen=True)
class CalendarEntry:
    environment: str
    path: str
    kind: SecretKind
    mode: Mode
    #: Rotation period (automatic) or maximum age (manual), in days.
    period_days: int
    last_rotated: date | None
    #: Next due rotation (manual) or reminder date; None when not knowable offline.
    next_date: date | None
    next_event: str  # "rotation", "reminder", "due" or ""
    status: Status
    note: str
    connection: str | None = None
    #: The Makini connection the rotation issues this token for (automatic tokens): the deployed binding.
    makini_id: str | None = None

    def row(self) -> tuple[str, ...]:
        return (
            self.environment,
            self.path,
            self.mode.value,
            f"{self.period_days} d",
            self.last_rotated.isoformat() if self.last_rotated else "unknown",
            f"{self.next_event} {self.next_date.isoformat()}"
            if self.next_date
            else (f"every {self.period_days} d" if self.mode is Mode.AUTOMATIC else "-"),
            self.status.value,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "path": self.path,
            "kind": self.kind.value,
            "connection": self.connection,
            "makiniId": self.makini_id,
            "mode": self.mode.value,
            "periodDays": self.period_days,
            "lastRotated": self.last_rotated.isoformat() if self.last_rotated else None,
            "nextDate": self.next_date.isoformat() if self.next_date else None,
            "nextEvent": self.next_event or None,
            "status": self.status.value,
            "note": self.note,
        }


HEADERS = ("environment", "secret", "mode", "period/max age", "last rotated", "next", "status")


def _hand_issued(
    cfg: StackConfig, s: CatalogSecret, max_age: int, rotated_on: date | None, key: str, today: date
) -> CalendarEntry:
    r = cfg.rotation
    if rotated_on is None:
        return CalendarEntry(
            cfg.environment,
            s.path,
            s.kind,
            Mode.MANUAL_WITH_REMINDER,
            max_age,
            None,
            None,
            "",
            Status.UNKNOWN,
            f"the reminder needs the date the current secret was issued: pulumi config set --path "
            f"'makini:rotation.{key}' YYYY-MM-DD",
        )
    d = Deadline(rotated_on, max_age, r.reminder_days_before)
    status = d.status(today)
    nxt = d.next_date(today)
    event = "reminder" if nxt == d.reminder and today < d.reminder else "due"
    if status is Status.OVERDUE:
        note = f"past its maximum age since {d.due.isoformat()}: issue a new one in Makini now"
    elif status is Status.REMINDER_DUE:
        note = f"{d.days_left(today)} days left: issue a new one in Makini"
    else:
        note = f"reminder {r.reminder_days_before} days before the maximum age"
    return CalendarEntry(
        cfg.environment, s.path, s.kind, Mode.MANUAL_WITH_REMINDER, max_age, rotated_on, nxt, event, status, note
    )


def _netsuite_key(cfg: StackConfig, s: CatalogSecret, today: date, not_after: str | None) -> CalendarEntry:
    """A NetSuite M2M private key: renewed by hand (new key pair, certificate uploaded to the integration record)."""
    assert s.connection is not None  # an M2M key belongs to a connection
    conn = cfg.connection(s.connection)
    ns = conn.netsuite
    assert ns is not None  # the catalog lists an M2M key only for connections with NetSuite settings
    validity, reminder = ns.certificate_validity_days, ns.renewal_reminder_days
    renew = (
        "replace the key pair (pulumi up --replace on its tls:index/privateKey:PrivateKey) and upload the new "
        "certificate to the integration record"
    )
    if not_after is None:
        return CalendarEntry(
            cfg.environment,
            s.path,
            s.kind,
            Mode.MANUAL_WITH_REMINDER,
            validity,
            None,
            None,
            "",
            Status.UNKNOWN,
            f"certificate valid {validity} days from creation; renew by {reminder} days before expiry. No date is "
            f"recorded, so no reminder can fire: copy the stack output netsuiteCertificateNotAfter (key {conn.key}) "
            f"into makini:connections[{[c.key for c in cfg.connections].index(conn.key)}].netsuite."
            f"certificateNotAfter. Then: {renew}",
            connection=conn.key,
        )
    end = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    end = (end if end.tzinfo else end.replace(tzinfo=UTC)).astimezone(UTC)
    renew_on = date.fromisoformat(renew_by(not_after, reminder)[:10])
    d = Deadline(end.date() - timedelta(days=validity), validity, reminder)
    status = d.status(today)
    if today < renew_on:
        nxt, event = renew_on, "reminder"
    else:
        nxt, event = end.date(), "due"
    if status is Status.OVERDUE:
        note = f"certificate expired on {end.date().isoformat()}: NetSuite refuses its tokens; {renew} now"
    elif status is Status.REMINDER_DUE:
        note = f"certificate expires on {end.date().isoformat()} ({d.days_left(today)} days left): {renew}"
    else:
        note = f"renew by {renew_on.isoformat()} ({reminder} days before the certificate expires)"
    last = end.date() - timedelta(days=validity)
    return CalendarEntry(
        cfg.environment,
        s.path,
        s.kind,
        Mode.MANUAL_WITH_REMINDER,
        validity,
        last,
        nxt,
        event,
        status,
        note,
        connection=conn.key,
    )


def _not_after(cfg: StackConfig, s: CatalogSecret, known: Mapping[str, str] | None) -> str | None:
    """The certificate's notAfter: from the deployment when given, else as recorded in the stack's config
    (``netsuite.certificateNotAfter``), so the reminder can be dated offline (python -m infra.due)."""
    key = s.connection or ""
    if known and known.get(key):
        return known[key]
    ns = cfg.connection(key).netsuite if s.connection else None
    if ns is None or ns.certificate_not_after is None:
        return None
    return ns.certificate_not_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def calendar(
    cfg: StackConfig,
    today: date,
    catalog: Catalog | None = None,
    certificates_not_after: Mapping[str, str] | None = None,
) -> tuple[CalendarEntry, ...]:
    """The calendar; ``certificates_not_after`` (connection key -> the NetSuite certificate's notAfter,
    RFC 3339) dates the NetSuite renewals when known."""
    catalog = catalog or build_catalog(cfg)
    r = cfg.rotation
    out = []
    for s in catalog.secrets:
        if s.kind is SecretKind.NETSUITE_M2M_KEY:
            out.append(_netsuite_key(cfg, s, today, _not_after(cfg, s, certificates_not_after)))
        elif s.kind is SecretKind.WEBHOOK_SECRET:
            out.append(
                _hand_issued(
                    cfg, s, r.webhook_secret_max_age_days, r.webhook_secret_rotated_on, "webhookSecretRotatedOn", today
                )
            )
        elif s.kind is SecretKind.OAUTH_CLIENT:
            out.append(
                _hand_issued(
                    cfg,
                    s,
                    r.oauth_client_secret_max_age_days,
                    r.oauth_client_secret_rotated_on,
                    "oauthClientSecretRotatedOn",
                    today,
                )
            )
        else:
            assert s.connection is not None  # a connection token belongs to a connection
            conn = cfg.connection(s.connection)
            if r.enabled and r.connection_token_days is not None and conn.makini_id:
                window = f", window {r.rotation_window}" if r.rotation_window else ""
                first = "at deployment" if r.rotate_immediately else f"{r.connection_token_days} days after deployment"
                out.append(
                    CalendarEntry(
                        cfg.environment,
                        s.path,
                        s.kind,
                        Mode.AUTOMATIC,
                        r.connection_token_days,
                        None,
                        None,
                        "",
                        Status.SCHEDULED,
                        f"rotated automatically every {r.connection_token_days} days{window}; first rotation {first}",
                        connection=conn.key,
                        makini_id=conn.makini_id,
                    )
                )
            else:
                why = "rotation is disabled" if not r.enabled else "the connection has no makiniId"
                out.append(
                    CalendarEntry(
                        cfg.environment,
                        s.path,
                        s.kind,
                        Mode.MANUAL,
                        TOKEN_LIFETIME_DAYS,
                        None,
                        None,
                        "",
                        Status.UNKNOWN,
                        f"not rotated automatically ({why}): issue a new token in Makini within the "
                        f"{TOKEN_LIFETIME_DAYS}-day token lifetime",
                        connection=conn.key,
                    )
                )
    return tuple(out)


def calendar_rows(entries: tuple[CalendarEntry, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(e.row() for e in entries)


def calendar_dict(cfg: StackConfig, today: date, catalog: Catalog | None = None) -> dict[str, Any]:
    """JSON-able calendar (the plan's ``rotation`` key and the ``rotation`` stack output)."""
    entries = calendar(cfg, today, catalog)
    r = cfg.rotation
    return {
        "environment": cfg.environment,
        "asOf": today.isoformat(),
        "enabled": r.enabled,
        "connectionTokenDays": r.connection_token_days,
        "rotationWindow": r.rotation_window,
        "rotateImmediately": r.rotate_immediately,
        "reminderDaysBefore": r.reminder_days_before,
        "secrets": [e.as_dict() for e in entries],
    }


def rotation_outputs(cfg: StackConfig, catalog: Catalog | None = None) -> dict[str, dict[str, Any]]:
    """The date-free part of the calendar, as stack outputs: each secret's mode and period, by catalog path.

    Neither depends on the day (a status or a next date would: those are the plan's and ``infra.due``'s)."""
    entries = calendar(cfg, date(2000, 1, 1), catalog)  # modes and periods do not depend on the date
    return {
        "rotationModes": {e.path: e.mode.value for e in entries},
        "rotationPeriodDays": {e.path: e.period_days for e in entries},
    }


def reminder_deadlines(cfg: StackConfig) -> dict[str, Deadline | None]:
    """Catalog path -> the deadline of each hand-issued secret (None when its rotated-on date is not set)."""
    r = cfg.rotation

    def mk(on: date | None, age: int) -> Deadline | None:
        return Deadline(on, age, r.reminder_days_before) if on is not None else None

    return {
        "webhook/secret": mk(r.webhook_secret_rotated_on, r.webhook_secret_max_age_days),
        "oauth/client": mk(r.oauth_client_secret_rotated_on, r.oauth_client_secret_max_age_days),
    }


#: Each hand-issued secret: what it is called, its rotated-on config key, and where Makini issues a new one.
HAND_ISSUED: dict[str, tuple[str, str, str]] = {
    "webhook/secret": ("webhook secret", "webhookSecretRotatedOn", "Makini's Webhooks page"),
    "oauth/client": ("OAuth client secret", "oauthClientSecretRotatedOn", "Makini's API credentials page"),
}


def reminder_note(cfg: StackConfig, path: str, deadline: Deadline | None, today: date) -> str:
    """Why a hand-issued secret has no reminder scheduled ("" when it has one): its rotated-on date is not
    set, or it is past its maximum age (a schedule in the past would never fire)."""
    what, key, _ = HAND_ISSUED[path]
    if deadline is None:
        return (
            f"{cfg.environment}: no reminder for the {what}: it needs the date the current one was issued "
            f"(pulumi config set --path 'makini:rotation.{key}' YYYY-MM-DD)"
        )
    if reminder_moment(deadline, today) is not None:
        return ""
    return (
        f"{cfg.environment}: the {what} is past its maximum age ({deadline.due.isoformat()}): no reminder "
        "is scheduled; rotate it now"
    )


#: Reminders are sent at this hour (UTC) of their day.
REMINDER_HOUR_UTC = 9


def reminder_moment(deadline: Deadline, today: date) -> datetime | None:
    """When a one-time reminder should fire: the reminder date at 09:00 UTC while it is ahead, else the
    due date while that is ahead (a late reminder still warns before the maximum age), else None (overdue:
    the calendar says so; a schedule in the past would never fire)."""
    for day in (deadline.reminder, deadline.due):
        if day > today:
            return datetime(day.year, day.month, day.day, REMINDER_HOUR_UTC, tzinfo=UTC)
    return None


# --------------------------------------------------------------------------------------------------
# Rotation bindings: which Makini connection each rotated secret gets a token for


#: The bindings document's format (read by functions/rotation/bindings.py, which documents it).
BINDINGS_FORMAT = "makini-rotation-bindings/1"


def rotation_bindings(cfg: StackConfig, catalog: Catalog | None = None) -> dict[str, str]:
    """Catalog path -> Makini connection id of every token the rotation writes, from the stack's config
    alone: what the rotators check every secret against (never a tag, value or metadata)."""
    catalog = catalog or build_catalog(cfg)
    out: dict[str, str] = {}
    for s in catalog.secrets:
        # A class's tokens are all writable by the rotation (the class is the grant), but only those with a
        # makiniId are rotated: the others have no connection to get a token for.
        if SystemIdentity.ROTATION not in s.writers or not s.rotated:
            continue
        assert s.connection is not None  # only connection tokens are written by the rotation
        makini_id = cfg.connection(s.connection).makini_id
        assert makini_id is not None  # rotated means it has a makiniId
        out[s.path] = makini_id
    return out


def rotated_runtime_classes(catalog: Catalog) -> tuple[str, ...]:
    """The run-time classes whose tokens the rotation writes (every run-time class while rotation is on): the
    ``runtimeClasses`` of the bindings document, bound by name (functions/rotation/bindings.py)."""
    return tuple(c.name for c in catalog.runtime_classes if SystemIdentity.ROTATION in c.writers)


def runtime_prefix(backend: str, environment: str, access_class: str, vault: str | None = None) -> str:
    """The secret-key prefix of a run-time class's tokens on ``backend``: AWS ``makini/<env>/connections/<class>/``,
    Vault ``connections/<class>/`` (in the mount), Key Vault ``<class vault>/connections-<class>-``. The
    rotators' copy (``functions/rotation/bindings.py``, ``runtime_prefix``) refuses any other; a test checks
    they agree."""
    if backend == "aws":
        return aws_secret_name(environment, class_prefix(access_class))
    if backend == "vault":
        return class_prefix(access_class)
    if backend == "azure":
        if vault is None:
            raise ValueError("a Key Vault run-time prefix needs the class's vault name")
        # stacks.naming.key_vault_secret_name keeps a class name's and a connection id's segments as they are
        return f"{vault}/connections-{access_class}-"
    raise ValueError(f"unknown backend {backend!r}")


def bindings_document(
    environment: str,
    backend: str,
    period_days: int | None,
    bindings: Mapping[str, str],
    runtime_classes: Mapping[str, str] | None = None,
) -> str:
    """The bindings as the rotators read them: backend secret key -> connection id, compact and sorted
    (so the package, and so the plan, change only when a binding does); ``runtime_classes`` (run-time class ->
    the secret-key prefix of its tokens, :func:`runtime_prefix`) when the environment has any."""
    doc: dict[str, Any] = {
        "format": BINDINGS_FORMAT,
        "environment": environment,
        "backend": backend,
        "periodDays": period_days,
        "bindings": dict(sorted(bindings.items())),
    }
    if runtime_classes:
        doc["runtimeClasses"] = dict(sorted(runtime_classes.items()))
    return json.dumps(doc, separators=(",", ":")) + "\n"
