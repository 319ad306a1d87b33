"""The offline plan: what ``pulumi up`` would build for a stack, readable without cloud access.

    python -m infra.plan <stack> [--program bootstrap] [--config-file FILE] [--json | --markdown] [--detail]
                         [--previous OLD.json [--allow-moves]] [--import-file FILE]

``--program bootstrap`` plans the CI identities instead (``bootstrap/Pulumi.<stack>.yaml``, the bootstrap
program): the same JSON shape, with a ``ci_identities`` report of who may assume what.

Runs the real program under Pulumi mocks with the stack's ``Pulumi.<stack>.yaml`` (or FILE, shaped
like one) and prints the resources as a tree by component with their key properties, the credits
table, and the environment's reports (access matrix, rotation calendar, webhook endpoints as those
capabilities are configured). Secret values are never printed: they appear as ``[secret]``.

At scale the text and Markdown plans summarise what grows with the connections (beyond ``SUMMARY_THRESHOLD``
rows): the credits per access class, tier and deployment, the calendar per due day or week with the first items
due, and the first few resources of a kind per component with a count; ``--detail`` prints every row. The JSON
(``--json``) always holds every row; a long input document that repeats across resources (a resource policy
shared by a class's secrets) is printed once under ``documents`` and referenced as ``{"$document": <id>}``
(``expand_documents`` inlines them again); a resource's URN is left out when its parent's gives it, and its
options when they have their defaults (``expand_documents`` restores both).

With ``--previous OLD.json`` (an earlier plan's JSON, e.g. the base branch's) it lists every connection
token whose path would move (a connection moved into or out of an access class: a new secret and the
deletion of the old one; see infra/moves.py), as warnings; in production it refuses them unless
``--allow-moves``.

With ``--import-file FILE`` it also writes the ``pulumi import --file`` document that adopts the stores that
already exist under the stack's names (AWS secrets and KMS key, Vault mount and secrets; see infra/adopt.py and
docs/adoption.md). That reads the clouds with your credentials (names and IDs, never a value).

Exit codes: 0 plan printed; 2 invalid configuration, unreadable stack or previous-plan file, a document a
cloud would refuse (a documented limit exceeded: message on stderr naming the limit, the resource, the
measured value and the fix; no traceback), or a path move in production without ``--allow-moves``;
1 anything else.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bootstrap import azure_ci, oidc, pulumi_cloud, vault_ci
from bootstrap.model import (
    BOOTSTRAP_DIR,
    DEPLOY_BRANCH,
    DEPLOY_WORKFLOW,
    PERMISSIONS_BOUNDARY_NAME,
    PREVIEW_WORKFLOW,
    Bootstrap,
    BootstrapConfigError,
    deploy_role_name,
    drift_role_name,
    load_bootstrap,
    pinned_account,
    preview_role_name,
)
from components.azure.webhook import silence_window  # the component's own rounding, not a copy
from stacks import clock
from stacks.access import administration, administration_notes, matrix_dict, matrix_rows
from stacks.catalog import build_catalog
from stacks.config import ConfigError, Problem, StackConfig
from stacks.credits import CreditReport, credit_report
from stacks.environment.aws import aws_reminders
from stacks.environment.preflight import Target, limit_problems, limits_context, preflight, refuse_if_exceeded
from stacks.errors import LimitsExceeded
from stacks.limits import HEADERS as LIMIT_HEADERS
from stacks.limits import Context as LimitsContext
from stacks.limits import measure
from stacks.limits import report as limits_report
from stacks.outputs import CONSUMER_PREFIX, consumer_output
from stacks.rotation import HEADERS as ROTATION_HEADERS
from stacks.rotation import CalendarEntry, calendar_dict, calendar_rows
from stacks.rotation import calendar as rotation_calendar

from . import adopt
from .ci import read_stack_files
from .cli import make_parser, unexpected
from .moves import moves as path_moves
from .offline import ProgramRun, RecordedResource, StackFileError, load_stack_file, redact, run_program

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


#: Beyond this many rows (connections, calendar entries, resources of one type under one parent) the human plan
#: summarises (per class, tier and deployment; per due date; the first few resources of a kind) and says so;
#: ``--detail`` prints every row, and the JSON always holds them all.
SUMMARY_THRESHOLD = 50
#: Resources of one kind shown before the rest are counted (the resource tree, beyond the threshold).
TREE_SAMPLE = 3


@dataclass(frozen=True)
class Summary:
    """What the human plan shows instead of a section's rows when they are too many to read."""

    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """One report of the plan: a table for people and a JSON value under ``key`` for machines."""

    key: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    data: Any
    notes: tuple[str, ...] = field(default=())
    #: Shown instead of ``rows`` unless ``--detail`` (only when the rows exceed :data:`SUMMARY_THRESHOLD`).
    summary: Summary | None = None

    def shown(self, detail: bool) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[str, ...]]:
        """Headers, rows and notes as the human plan shows them."""
        if self.summary is None or detail:
            return self.headers, self.rows, self.notes
        return self.summary.headers, self.summary.rows, (*self.summary.notes, *self.notes)


#: A text output value longer than this is cut in the human plan (unless ``--detail``).
OUTPUT_TEXT_LIMIT = 2000


def _summarised(value: Any) -> Any:
    """An output as the human plan shows it: a map or list of more than :data:`SUMMARY_THRESHOLD` entries (one per
    secret) as its first :data:`TREE_SAMPLE` and a count; a very long text cut. ``--detail`` and ``--json`` show all."""
    if isinstance(value, dict):
        items = list(value.items())
        if len(items) > SUMMARY_THRESHOLD:
            more = f"{len(items) - TREE_SAMPLE:,} more (--detail, --json)"
            return {**{k: _summarised(v) for k, v in items[:TREE_SAMPLE]}, "...": more}
        return {k: _summarised(v) for k, v in items}
    if isinstance(value, list):
        if len(value) > SUMMARY_THRESHOLD:
            return [*(_summarised(v) for v in value[:TREE_SAMPLE]), f"... {len(value) - TREE_SAMPLE:,} more"]
        return [_summarised(v) for v in value]
    if isinstance(value, str) and len(value) > OUTPUT_TEXT_LIMIT:
        return value[:OUTPUT_TEXT_LIMIT] + f"... ({len(value):,} characters; --detail, --json)"
    return value


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n:,} {one if n == 1 else many or one + 's'}"


SectionBuilder = Callable[[StackConfig, ProgramRun], "Section | None"]


def credits_section(cfg: StackConfig, run: ProgramRun) -> Section:
    report = credit_report(cfg.connections, cfg.credits)
    rows = tuple((r.key, r.system, str(r.tier), r.deployment, str(r.credits)) for r in report.rows) + (
        ("total", "", "", "", f"{report.used} of {report.pool} ({report.free} free)"),
    )
    return Section(
        key="credits",
        title="Connection credits",
        headers=("connection", "system", "tier", "deployment", "credits"),
        rows=rows,
        data=report.as_dict(),
        summary=_credits_summary(cfg, report) if len(report.rows) > SUMMARY_THRESHOLD else None,
    )


def _credits_summary(cfg: StackConfig, report: CreditReport) -> Summary:
    """Totals per access class, tier and deployment (a connection outside classes counts under its own list)."""
    class_of = {c.key: c.access_class or "(own consumer list)" for c in cfg.connections}
    groups: dict[tuple[str, int, str], list[int]] = {}
    for r in report.rows:
        groups.setdefault((class_of[r.key], r.tier, r.deployment), []).append(r.credits)
    rows = tuple(
        (klass, str(tier), deployment, f"{len(credits):,}", f"{sum(credits):,}")
        for (klass, tier, deployment), credits in sorted(groups.items())
    ) + (("total", "", "", f"{len(report.rows):,}", f"{report.used:,} of {report.pool:,} ({report.free:,} free)"),)
    biggest = ", ".join(f"{r.key} ({r.credits})" for r in report.biggest(3))
    return Summary(
        headers=("class", "tier", "deployment", "connections", "credits"),
        rows=rows,
        notes=(
            f"{_count(len(report.rows), 'connection')}: totals per class, tier and deployment (--detail lists every "
            f"connection; --json holds them all). The dearest: {biggest}.",
        ),
    )


def access_matrix_section(cfg: StackConfig, run: ProgramRun) -> Section:
    """Who may read or write which secret of the environment (from the catalog every backend is built from)."""
    notes = ["Every other (identity, secret) pair is denied."]
    catalog = build_catalog(cfg)
    if catalog.classes:
        counts = {c.name: 0 for c in catalog.classes}
        for s in catalog.secrets:
            if s.access_class is not None:
                counts[s.access_class] += 1
        notes.append(
            "Access classes (a class is granted whole: one name pattern on AWS and Vault, its own Key Vault on "
            "Azure): "
            + "; ".join(
                f"{c.name} ({counts[c.name]} token{'' if counts[c.name] == 1 else 's'} under {c.prefix}, read by "
                f"{', '.join(c.readers) or 'nobody'})"
                for c in catalog.classes
            )
            + "."
        )
        keeper = run.outputs.get("awsKeeperFunctionName")
        if keeper is not None and catalog.runtime_classes:
            notes.append(
                f"Run-time classes on AWS ({', '.join(c.name for c in catalog.runtime_classes)}) are kept by the Lambda "
                f"{keeper}: when the onboarding service invokes it after a create, and on its sweep schedule, each "
                "run-time token gets its class's resource policy (the readers above; nobody else reads it) and, when "
                "tokens rotate, rotation with the environment's function."
            )
        empty = [c.name for c in catalog.classes if not counts[c.name]]
        if empty:
            notes.append(
                f"{', '.join(empty)}: no declared connection yet; the class's place and grants exist for tokens filed "
                "under it later (e.g. at run time)."
            )
    queue_consumers = sorted(n for n, c in cfg.consumers.items() if c.webhook_queue)
    if queue_consumers:
        notes.append(
            "Webhook queue consumers (receive and delete, on this environment's queue and its dead-letter queue "
            "only; nobody else receives, only the receiver sends, nothing is redriven): "
            f"{', '.join(queue_consumers)}."
        )
    notes += administration_notes(cfg, catalog)
    data = matrix_dict(cfg, catalog)
    admin = administration(cfg, catalog)
    if admin:
        data["aws"] = admin
    return Section(
        key="access_matrix",
        title="Access matrix",
        headers=("identity", "kind", "environment", "secret", "access"),
        rows=matrix_rows(cfg, catalog),
        data=data,
        notes=tuple(notes),
    )


#: Each backend's webhook outputs, by the key the plan's webhooks report uses.
WEBHOOK_OUTPUTS: dict[str, dict[str, str]] = {
    "aws": {
        "url": "awsWebhookUrl",
        "queueUrl": "awsWebhookQueueUrl",
        "queueArn": "awsWebhookQueueArn",
        "dlqUrl": "awsWebhookDlqUrl",
        "dlqArn": "awsWebhookDlqArn",
        "alarmTopicArn": "awsWebhookAlarmTopicArn",
    },
    "azure": {
        "url": "azureWebhookUrl",
        "serviceBusNamespace": "azureWebhookServiceBusNamespace",
        "queueName": "azureWebhookQueueName",
        "alarms": "azureWebhookAlarms",
        "alarmActionGroup": "azureWebhookAlarmActionGroup",
        "queueConsumers": "azureWebhookQueueConsumers",
    },
}


def _outputs_of(run: ProgramRun, names: Mapping[str, str]) -> dict[str, Any] | None:
    """``{key: output}`` for the outputs ``names`` maps, or None when the program exported none of them."""
    out = redact(run.outputs)
    found = {key: out[name] for key, name in names.items() if name in out}
    return found or None


def webhooks_section(cfg: StackConfig, run: ProgramRun) -> Section | None:
    """Each backend's webhook endpoint: where Makini posts, where messages land, what alarms watch it."""
    if not cfg.webhooks.enabled:
        return None
    endpoints = {b: out for b, names in WEBHOOK_OUTPUTS.items() if (out := _outputs_of(run, names)) is not None}
    alarm_names = sorted(
        r.plain_inputs.get("name", r.name)
        for r in run.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        if "webhooks" in str(r.plain_inputs.get("name", ""))
    )
    rows, data = [], {}
    for backend, out in sorted(endpoints.items()):
        alarms = alarm_names if backend == "aws" else list(out.get("alarms", []))
        queue = out.get("queueUrl") or (
            f"{out['serviceBusNamespace']}/{out['queueName']}"
            if out.get("serviceBusNamespace")
            else out.get("queueName", "")
        )
        dlq = out.get("dlqArn") or ("the queue's $DeadLetterQueue" if backend == "azure" else "")
        rows.append(
            (
                backend,
                str(out.get("url", "")),
                str(queue),
                str(dlq),
                ", ".join(a.rsplit("-webhooks-", 1)[-1] for a in alarms) or "-",
            )
        )
        data[backend] = {**out, "alarms": alarms}
    w = cfg.webhooks
    ips = w.source_ips()
    notes = (
        (
            f"Source allow list: {', '.join(ips) if ips else 'any source (allowAnySource: true)'}",
            f"Signature mode {w.signature_mode}; previous secret accepted {w.grace_seconds} s after a rotation; "
            f"duplicates remembered {w.dedupe_ttl_seconds} s.",
            "No-webhook alarm: "
            + (f"after {h} h without a webhook" if (h := w.alarms.effective_silence_hours(cfg.production)) else "off"),
        )
        + _azure_function_notes(cfg, "azure" in endpoints)
        + _azure_alert_notes(cfg, endpoints.get("azure"))
    )
    return Section(
        key="webhooks",
        title="Webhook endpoints",
        headers=("backend", "endpoint", "queue", "dead-letter queue", "alarms"),
        rows=tuple(rows),
        data=data,
        notes=notes,
    )


def _azure_alert_notes(cfg: StackConfig, out: dict[str, Any] | None) -> tuple[str, ...]:
    """Where the Azure alerts go, and how they differ from the AWS alarms (count, not rate; fixed windows)."""
    if out is None:
        return ()
    group = out.get("alarmActionGroup", "the action group")
    email = cfg.webhooks.alarms.email
    where = (
        f"e-mailed to {email}" if email else "NOT SENT ANYWHERE: the group has no receivers (set webhooks.alarms.email)"
    )
    hours = cfg.webhooks.alarms.effective_silence_hours(cfg.production)
    silence = f"; silence window {silence_window(hours)} ({hours} h rounded up to an Azure window)" if hours else ""
    return (
        f"Azure alerts go to action group {group}, {where}. 5xx alerts on any Http5xx in 5 minutes (a count: "
        f"Azure metric alerts cannot divide, so errorRatePercent applies to AWS only){silence}.",
    )


def _azure_function_notes(cfg: StackConfig, azure: bool) -> tuple[str, ...]:
    """How the Azure Function Apps run: package, network, and whether their dependencies are vendored."""
    if not azure or cfg.azure is None:
        return ()
    az = cfg.azure
    deps = (
        f"Linux dependencies vendored from {az.function_dependencies_dir}"
        if az.function_dependencies_dir
        else "NO vendored dependencies (makini:azure.functionDependenciesDir unset): the apps would fail at their "
        "first Azure SDK import; see docs/azure-functions.md"
    )
    subnet = az.functions_subnet_id.rsplit("/subnets/", 1)[-1] if az.functions_subnet_id else "none"
    return (
        f"Azure: run from a package blob (runtime files only) read with the app identity; plan "
        f"{cfg.webhooks.azure.plan_sku}; VNet integration subnet {subnet}; {deps}.",
    )


#: The plan's reports, in order. Later capabilities append their builders (access matrix, rotation
#: calendar, webhook endpoints); a builder returns None when its capability is not configured.
SECTIONS: list[SectionBuilder] = [credits_section, access_matrix_section, webhooks_section]


#: The AWS rotation's outputs, by the key the plan's rotation report uses.
AWS_ROTATION_OUTPUTS = {
    "functionArn": "awsRotationFunctionArn",
    "alarmTopicArn": "awsRotationAlarmTopicArn",
    "alarms": "awsRotationAlarms",
    "reminderTopicArn": "awsReminderTopicArn",
}


def _view_row(consumer: str, backend: str, view: Mapping[str, Any]) -> tuple[str, ...]:
    if backend == "aws":
        identity = f"role {view['roleArn']}"
        secrets, classes = view["secretArns"], view["classArnPatterns"]
        queue = view["webhookQueue"].get("url") or "-"
    elif backend == "azure":
        identity = f"{view['principalType']} {view['principalId']}"
        secrets, classes = view["secretUris"], view["classVaultUris"]
        q = view["webhookQueue"]
        queue = f"{q['serviceBusNamespace']}/{q['queueName']}" if q else "-"
    else:
        identity = f"{view['authMethod']} role {view['authRole']} (auth/{view['authMount']})"
        secrets, classes = view["secretPaths"], view["classPathGlobs"]
        queue = "-"
    reads = [*sorted(secrets), *(f"class {c}: {p}" for c, p in sorted(classes.items()))]
    creates = view[_CREATES[backend]]
    return (
        consumer,
        backend,
        identity,
        "; ".join(reads) or "nothing",
        "; ".join(f"class {c}: {p}" for c, p in sorted(creates.items())) or "-",
        str(queue),
    )


#: The view key saying where the onboarding identity may create run-time tokens, per backend.
_CREATES = {"aws": "createNamePatterns", "azure": "createVaultUris", "vault": "createPathGlobs"}


def consumers_section(cfg: StackConfig, run: ProgramRun) -> Section | None:
    """Per consumer, per backend: the identity it must use, exactly what it may read, the queue it consumes
    (the ``consumer-<name>`` outputs: what its application team wires)."""
    if not cfg.consumers:
        return None
    outputs = redact(run.outputs)
    views = {name: outputs[consumer_output(name)] for name in sorted(cfg.consumers)}
    rows = tuple(_view_row(name, backend, view[backend]) for name, view in views.items() for backend in cfg.backends)
    return Section(
        key="consumers",
        title="Consumer views",
        headers=("consumer", "backend", "identity", "may read", "may create", "webhook queue"),
        rows=rows,
        data=views,
        notes=(
            "Each row is the stack output consumer-<name> (docs/outputs.md, 'Consumer views'): an application "
            "stack reads it with pulumi.StackReference. Secrets are catalog paths; class grants cover every "
            "token of the class, present and future. May create: where the onboarding identity stores run-time "
            "tokens (nobody else creates any).",
        ),
    )


SECTIONS.append(consumers_section)


def runtime_classes_section(cfg: StackConfig, run: ProgramRun) -> Section | None:
    """The governed place of each run-time class on each backend: where its tokens live, who reads them, who
    creates them (from the onboarding identity's consumer view, so the place shown is the one it is granted)."""
    catalog = build_catalog(cfg)
    creator = catalog.onboarding_identity
    if not catalog.runtime_classes or creator is None:
        return None
    view = redact(run.outputs)[consumer_output(creator)]
    rows, data = [], {}
    for c in catalog.runtime_classes:
        places = {b: view[b][_CREATES[b]].get(c.name, "") for b in cfg.backends}
        writers = [*(f"{n} (creates)" for n in c.creators), *(w.value for w in c.writers)]
        rows += [
            (c.name, b, str(place), ", ".join(c.readers) or "nobody", ", ".join(writers)) for b, place in places.items()
        ]
        data[c.name] = {
            "description": c.description,
            "path": f"{c.prefix}<makini connection id>/token",
            "readers": list(c.readers),
            "creators": list(c.creators),
            "writers": [w.value for w in c.writers],
            "places": places,
        }
    return Section(
        key="runtime_classes",
        title="Run-time classes (governed places)",
        headers=("class", "backend", "place", "read by", "written by"),
        rows=tuple(rows),
        data=data,
        notes=(
            f"A run-time token lives at connections/<class>/<makini connection id>/token: {creator} stores it without "
            "a deploy (functions/onboarding) and never reads it; the class's readers read it through the grants they "
            "already hold. python -m infra.doctor lists them against Makini.",
        ),
    )


SECTIONS.append(runtime_classes_section)


#: The Vault rotator's outputs, by the key the plan's rotation report uses.
VAULT_ROTATION_OUTPUTS = {
    "policy": "vaultRotatorPolicy",
    "role": "vaultRotatorRole",
    "authMethod": "vaultRotatorAuthMethod",
    "schedule": "vaultRotatorSchedule",
    "tokenPaths": "vaultRotatorTokenPaths",
    "classPrefixes": "vaultRotatorClassPrefixes",
    "bindingsConfigMap": "vaultRotatorBindingsConfigMap",
    "cronJob": "vaultRotatorCronJob",
    "prometheusRule": "vaultRotatorPrometheusRule",
}


def rotation_section(cfg: StackConfig, run: ProgramRun, today: date | None = None) -> Section:
    """Per secret of the environment: how it rotates, the period or maximum age, and what is next."""
    today = today or clock.utc_today()
    entries = rotation_calendar(cfg, today)
    data = calendar_dict(cfg, today)
    notes = [f"As of {today.isoformat()} (UTC)."]
    if azure_out := _outputs_of(
        run,
        {
            "functionAppName": "azureRotationFunctionApp",
            "schedule": "azureRotationSchedule",
            "alert": "azureRotationAlert",
        },
    ):
        data["azure"] = azure_out
        notes.append(
            f"Azure: {azure_out.get('functionAppName')} runs every hour ({azure_out.get('schedule')}, UTC) and "
            "rotates each bound token whose period has passed."
        )
    if aws_out := _outputs_of(run, AWS_ROTATION_OUTPUTS):
        # Which reminders are scheduled depends on the day: the same pure rules the program schedules them by.
        reminders = aws_reminders(cfg, today)
        aws_out["reminderSchedules"] = sorted(r.path for r in reminders if r.at is not None)
        aws_out["notes"] = [r.note for r in reminders if r.at is None and r.note]
        data["aws"] = aws_out
        notes += aws_out["notes"]
    if vault_out := _outputs_of(run, VAULT_ROTATION_OUTPUTS):
        data["vault"] = vault_out
        notes.append(
            f"Vault: the rotator CronJob runs at '{vault_out['schedule']}' (UTC) as role {vault_out['role']} "
            "and rotates each bound token whose period has passed; apply its manifests, the outputs "
            "vaultRotatorBindingsConfigMap and vaultRotatorCronJob."
        )
    attention = [e for e in entries if e.status.value in ("overdue", "reminder-due")]
    rows = calendar_rows(entries)
    summary = _calendar_summary(entries, today, len(attention)) if len(rows) > SUMMARY_THRESHOLD else None
    for e in attention[: SUMMARY_THRESHOLD if summary is not None else None]:
        notes.append(f"{e.path}: {e.note}")
    if summary is not None and len(attention) > SUMMARY_THRESHOLD:
        notes.append(f"... and {len(attention) - SUMMARY_THRESHOLD:,} more overdue or reminder-due (--detail)")
    return Section(
        key="rotation",
        title="Rotation calendar",
        headers=ROTATION_HEADERS,
        rows=rows,
        data=data,
        notes=tuple(notes),
        summary=summary,
    )


#: Dated entries due within this many days are counted per day in the summarised calendar; later ones per week.
CALENDAR_DAYS = 14
_KIND_LABELS = {"connection-token": ("connection token", None), "netsuite-m2m-key": ("NetSuite M2M key", None)}


def _due_bucket(e: CalendarEntry, today: date) -> tuple[str, str]:
    """(sort key, text) of when an entry is next due: its day soon, its week later, its period when undated."""
    if e.next_date is None:
        return ("~", e.row()[5])
    if (e.next_date - today).days < CALENDAR_DAYS:
        return (e.next_date.isoformat(), f"{e.next_event} {e.next_date.isoformat()}")
    monday = e.next_date - timedelta(days=e.next_date.weekday())
    return (monday.isoformat(), f"{e.next_event} in the week of {monday.isoformat()}")


def _calendar_summary(entries: tuple[CalendarEntry, ...], today: date, attention: int) -> Summary:
    """Secrets that are one of a kind (OAuth client, webhook secret) row by row; connection tokens and NetSuite keys
    counted per mode, period, due day (or week, beyond two weeks) and status; then the first items due."""
    single = [e for e in entries if e.kind.value not in _KIND_LABELS]
    groups: dict[tuple[str, str, str, int, str, str], list[CalendarEntry]] = {}
    for e in entries:
        if e.kind.value in _KIND_LABELS:
            order, text = _due_bucket(e, today)
            groups.setdefault((order, e.kind.value, e.mode.value, e.period_days, text, e.status.value), []).append(e)
    rows = [e.row() for e in single]
    for (_, kind, mode, period, text, status), members in sorted(groups.items()):
        dates = sorted(e.last_rotated for e in members if e.last_rotated is not None)
        last = (
            "unknown"
            if not dates
            else dates[0].isoformat() + (f" to {dates[-1].isoformat()}" if len(dates) > 1 else "")
        )
        label = _count(len(members), _KIND_LABELS[kind][0])
        rows.append((members[0].environment, label, mode, f"{period} d", last, text, status))
    dated = sorted((e for e in entries if e.next_date is not None), key=lambda e: (e.next_date, e.path))
    first = "; ".join(f"{e.path} {e.next_event} {e.next_date.isoformat()}" for e in dated[:3] if e.next_date)
    notes = [
        f"{_count(len(entries), 'secret')}: connection tokens and NetSuite keys counted per due day (per week beyond "
        f"{CALENDAR_DAYS} days), mode and status; --detail lists every secret, --json holds them all.",
        f"First due: {first}." if first else "Nothing is dated: every token rotates on its schedule after deployment.",
    ]
    if attention:
        notes.append(f"{_count(attention, 'secret')} overdue or reminder-due (listed below).")
    return Summary(headers=ROTATION_HEADERS, rows=tuple(rows), notes=tuple(notes))


SECTIONS.append(rotation_section)


def plan_resources(run: ProgramRun) -> list[dict[str, Any]]:
    """The recorded resources as the plan's JSON holds them (plain inputs: sizes are what the cloud gets)."""
    return [{"type": r.type, "name": r.name, "inputs": r.plain_inputs} for r in run.resources if r.custom]


def limits_section(
    run: ProgramRun, context: LimitsContext, notes: tuple[str, ...] = (), refuse: bool = True
) -> Section:
    """Every documented limit the plan's resources approach, measured on the documents the program rendered:
    the largest value, the limit, the headroom and where the limit is documented. Raises
    :class:`LimitsExceeded` (exit 2) when one is exceeded, or with ``refuse=False`` adds a warning per
    exceeded limit to the plan."""
    result = limits_report(measure(plan_resources(run), context))
    if not result.ok:
        problems = limit_problems(result)
        if refuse:
            raise LimitsExceeded(run.stack, problems)
        run.warnings.extend(f"DOCUMENTED LIMIT EXCEEDED: {p.message}; fix: {p.fix}" for p in problems)
    lines = [
        "Measured on this plan's own documents (its resources, as the clouds would receive them); the program "
        "refuses a stack that exceeds one before registering anything. Headroom = limit - largest value.",
        *notes,
    ]
    if (tightest := result.tightest()) is not None:
        m = tightest.largest
        lines.append(f"Least headroom: {tightest.spec.title.split(' (')[0]}, {m.headroom * 100 // m.limit}% left.")
    return Section(
        key="limits",
        title="Cloud limits",
        headers=LIMIT_HEADERS,
        rows=tuple(r.row() for r in result.rows),
        data=[r.as_dict() for r in result.rows],
        notes=tuple(lines),
    )


def stack_limits_section(cfg: StackConfig, run: ProgramRun, source_config: Mapping[str, Any]) -> Section:
    notes: tuple[str, ...] = ()
    if cfg.azure is not None and "azure" in cfg.backends:
        notes = (
            f"Azure role assignments are counted against makini:azure.roleAssignmentBudget "
            f"({cfg.azure.role_assignment_budget:,} of the subscription's 4,000, which everything else in it shares).",
        )
    return limits_section(run, limits_context(cfg, Target.from_config(source_config)), notes)


#: Stack outputs that repeat a report: the text plan shows the report, not the output.
OUTPUT_SECTIONS = {"accessMatrix": "access_matrix", "rotationModes": "rotation", "rotationPeriodDays": "rotation"}


def _section_of_output(name: str) -> str | None:
    return "consumers" if name.startswith(CONSUMER_PREFIX) else OUTPUT_SECTIONS.get(name)


# --------------------------------------------------------------------------------------------------
# Resource tree

#: Inputs worth a reviewer's eye, per resource type; other types show their short scalar inputs.
KEY_PROPERTIES: dict[str, tuple[str, ...]] = {
    "aws:kms/key:Key": ("enableKeyRotation", "deletionWindowInDays", "description"),
    "aws:kms/alias:Alias": ("name",),
    "aws:secretsmanager/secret:Secret": ("name", "recoveryWindowInDays", "kmsKeyId"),
    "aws:secretsmanager/secretVersion:SecretVersion": ("secretString",),
    "aws:secretsmanager/secretPolicy:SecretPolicy": ("blockPublicPolicy", "policy"),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    "azure-native:keyvault:Vault": ("vaultName", "location", "properties"),
    "azure-native:keyvault:Secret": ("secretName", "properties"),
    "azure-native:network:PrivateEndpoint": ("privateEndpointName", "subnet", "privateLinkServiceConnections"),
    "azure-native:monitor:DiagnosticSetting": ("name", "workspaceId", "logs"),
    "vault:index/mount:Mount": ("path", "type", "options"),
    "vault:kv/secretBackendV2:SecretBackendV2": ("mount", "maxVersions", "casRequired", "deleteVersionAfter"),
    "vault:kv/secretV2:SecretV2": ("mount", "name", "options", "dataJson"),
    "vault:generic/endpoint:Endpoint": ("path", "disableRead", "disableDelete"),
}
KEY_PROPERTIES.update(
    {
        "aws:lambda/function:Function": (
            "name",
            "runtime",
            "architectures",
            "handler",
            "memorySize",
            "timeout",
            "reservedConcurrentExecutions",
        ),
        "aws:apigatewayv2/api:Api": ("name", "protocolType", "disableExecuteApiEndpoint"),
        "aws:apigatewayv2/stage:Stage": ("name", "autoDeploy", "defaultRouteSettings"),
        "aws:apigatewayv2/route:Route": ("routeKey",),
        "aws:apigatewayv2/integration:Integration": ("integrationType", "payloadFormatVersion", "timeoutMilliseconds"),
        "aws:apigatewayv2/domainName:DomainName": ("domainName",),
        "aws:lambda/permission:Permission": ("principal", "sourceArn"),
        "aws:sqs/queue:Queue": ("name", "kmsMasterKeyId", "messageRetentionSeconds", "redrivePolicy"),
        "aws:dynamodb/table:Table": ("name", "billingMode", "hashKey", "ttl", "pointInTimeRecovery"),
        "aws:cloudwatch/metricAlarm:MetricAlarm": (
            "name",
            "metricName",
            "comparisonOperator",
            "threshold",
            "evaluationPeriods",
        ),
        "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
        "aws:sns/topic:Topic": ("name", "kmsMasterKeyId"),
        "aws:iam/rolePolicy:RolePolicy": ("name", "policy"),
        "azure-native:web:WebApp": ("name", "kind", "httpsOnly", "identity"),
        "azure-native:web:AppServicePlan": ("name", "kind", "sku", "reserved"),
        "azure-native:servicebus:Namespace": ("namespaceName", "sku", "disableLocalAuth"),
        "azure-native:servicebus:Queue": (
            "queueName",
            "requiresDuplicateDetection",
            "duplicateDetectionHistoryTimeWindow",
            "deadLetteringOnMessageExpiration",
        ),
        "azure-native:authorization:RoleAssignment": ("roleDefinitionId", "scope", "principalType"),
        "azure-native:monitor:ActionGroup": ("actionGroupName", "groupShortName", "emailReceivers"),
        "azure-native:monitor:MetricAlert": ("ruleName", "severity", "windowSize", "evaluationFrequency", "criteria"),
    }
)
_SKIP = {"tags", "tagsAll"}
KEY_PROPERTIES.update(
    {
        "aws:secretsmanager/secretRotation:SecretRotation": ("secretId", "rotationRules", "rotateImmediately"),
        "aws:scheduler/schedule:Schedule": ("name", "scheduleExpression", "scheduleExpressionTimezone"),
        "aws:lambda/function:Function": ("name", "runtime", "architectures", "handler", "memorySize", "timeout"),
        "aws:lambda/permission:Permission": ("principal", "sourceArn"),
        "aws:iam/rolePolicy:RolePolicy": ("name", "policy"),
        "aws:sns/topic:Topic": ("name", "kmsMasterKeyId"),
        "aws:cloudwatch/logGroup:LogGroup": ("name", "retentionInDays"),
    }
    | KEY_PROPERTIES
)


def _short(value: Any, limit: int = 72) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _policy_summary(text: Any) -> str:
    try:
        doc = json.loads(text)
        sids = [s.get("Sid", "?") for s in doc.get("Statement", [])]
        return f"{len(sids)} statements: {', '.join(sids)}"
    except (TypeError, ValueError, AttributeError):
        return _short(text)


def key_properties(resource: RecordedResource) -> list[tuple[str, str]]:
    inputs = redact(resource.inputs)
    wanted = KEY_PROPERTIES.get(resource.type)
    if wanted is None:
        wanted = tuple(k for k, v in inputs.items() if k not in _SKIP and isinstance(v, str | int | float | bool))[:5]
    out = []
    for name in wanted:
        if name not in inputs:
            continue
        value = inputs[name]
        if name in ("policy", "assumeRolePolicy") and value != "[secret]":
            out.append((name, _policy_summary(value)))
        else:
            out.append((name, _short(value)))
    return out


def _flags(r: RecordedResource) -> str:
    flags = []
    if r.protect:
        flags.append("protected")
    if r.retain_on_delete:
        flags.append("retained on delete")
    if r.ignore_changes:
        flags.append("ignores changes to " + ", ".join(r.ignore_changes))
    return f"  [{'; '.join(flags)}]" if flags else ""


def resource_tree(run: ProgramRun, detail: bool = True) -> list[str]:
    """The resources by component. Without ``detail``, a kind of resource that a component holds more than
    :data:`SUMMARY_THRESHOLD` of (one per connection) shows its first :data:`TREE_SAMPLE` and a count."""
    children: dict[str | None, list[RecordedResource]] = {}
    for r in run.resources:
        children.setdefault(r.parent, []).append(r)
    lines: list[str] = []

    def walk(r: RecordedResource, depth: int) -> None:
        indent = "    " * depth
        lines.append(f"{indent}{r.type}  {r.name}{_flags(r)}")
        for k, v in key_properties(r) if r.custom else []:
            lines.append(f"{indent}      {k}: {v}")
        kids = children.get(r.urn, [])
        per_type: dict[str, int] = {}
        for child in kids:
            per_type[child.type] = per_type.get(child.type, 0) + 1
        shown: dict[str, int] = {}
        for child in kids:
            many = not detail and child.custom and per_type[child.type] > SUMMARY_THRESHOLD
            shown[child.type] = shown.get(child.type, 0) + 1
            if many and shown[child.type] > TREE_SAMPLE:
                if shown[child.type] == TREE_SAMPLE + 1:
                    rest = per_type[child.type] - TREE_SAMPLE
                    lines.append(f"{indent}    ... and {rest:,} more {child.type} (--detail lists every resource)")
                continue
            walk(child, depth + 1)

    for siblings in children.values():
        siblings.sort(key=lambda r: (r.custom, r.type, r.name))
    for root in children.get(None, []):
        walk(root, 0)
    return lines


# --------------------------------------------------------------------------------------------------
# The JSON without repetition

#: An input string at least this long that occurs more than once among the resources is printed once, under
#: ``documents`` (at scale: one resource policy per access class instead of one per secret).
SHARED_DOCUMENT_MIN = 512
DOCUMENT_REF = "$document"


def _document_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def share_documents(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` (a plan's JSON) as ``--json`` prints it, without repetition: every input string of at least
    :data:`SHARED_DOCUMENT_MIN` characters that occurs more than once among ``resources`` replaced by
    ``{"$document": <id>}`` and printed once under ``documents`` (``<id>``: the first 16 hex digits of its
    SHA-256); a resource's ``urn`` left out when its parent's URN, type and name give it; ``protect``,
    ``retainOnDelete`` and ``ignoreChanges`` left out at their defaults (false, false, []). Nothing is lost:
    :func:`expand_documents` gives ``doc`` back."""
    counts: dict[str, int] = {}

    def count(value: Any) -> None:
        if isinstance(value, str):
            if len(value) >= SHARED_DOCUMENT_MIN:
                counts[value] = counts.get(value, 0) + 1
        elif isinstance(value, dict):
            for v in value.values():
                count(v)
        elif isinstance(value, list):
            for v in value:
                count(v)

    for r in doc.get("resources", ()):
        count(r.get("inputs"))
    ids = {text: _document_id(text) for text, n in counts.items() if n > 1}

    def share(value: Any) -> Any:
        if isinstance(value, str):
            return {DOCUMENT_REF: ids[value]} if value in ids else value
        if isinstance(value, dict):
            return {k: share(v) for k, v in value.items()}
        if isinstance(value, list):
            return [share(v) for v in value]
        return value

    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "resources":
            out[key] = [_lean(r, share) for r in value]
            if ids:
                out["documents"] = {i: text for text, i in sorted(ids.items(), key=lambda kv: kv[1])}
        else:
            out[key] = value
    return out


#: Resource options left out of the printed JSON when they have these (Pulumi's default) values.
_DEFAULT_OPTIONS: dict[str, Any] = {"protect": False, "retainOnDelete": False, "ignoreChanges": []}


def _child_urn(parent: str, typ: str, name: str) -> str | None:
    """Pulumi's URN of a resource from its parent's: ``<stack>::<project>::<parent types>$<type>::<name>`` (a
    child of the stack resource has its own type alone)."""
    parts = parent.split("::")
    if len(parts) != 4:
        return None
    qualified = typ if parts[2] == "pulumi:pulumi:Stack" else f"{parts[2]}${typ}"
    return f"{parts[0]}::{parts[1]}::{qualified}::{name}"


def _lean(r: dict[str, Any], share: Callable[[Any], Any]) -> dict[str, Any]:
    """A resource without what repeats: its URN when its parent's gives it, options at their defaults."""
    out = {}
    for key, value in r.items():
        if key == "urn" and r.get("parent") and _child_urn(r["parent"], r["type"], r["name"]) == value:
            continue
        if key in _DEFAULT_OPTIONS and value == _DEFAULT_OPTIONS[key]:
            continue
        out[key] = share(value) if key == "inputs" else value
    return out


def expand_documents(doc: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`share_documents`: every ``{"$document": <id>}`` replaced by its text again, each
    resource's URN and default options restored (a plan printed before them comes back unchanged)."""
    documents = doc.get("documents") or {}

    def expand(value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) == {DOCUMENT_REF}:
                return documents[value[DOCUMENT_REF]]
            return {k: expand(v) for k, v in value.items()}
        if isinstance(value, list):
            return [expand(v) for v in value]
        return value

    def full(r: dict[str, Any]) -> dict[str, Any]:
        out = dict(r)
        if "urn" not in out and out.get("parent"):
            out["urn"] = _child_urn(out["parent"], out["type"], out["name"])
        for key, value in _DEFAULT_OPTIONS.items():
            out.setdefault(key, value)
        if "inputs" in out:
            out["inputs"] = expand(out["inputs"])
        return out

    out = {k: v for k, v in doc.items() if k != "documents"}
    if isinstance(doc.get("resources"), list):
        out["resources"] = [full(r) for r in doc["resources"]]
    return out


# --------------------------------------------------------------------------------------------------
# Rendering


def _table(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return [fmt.format(*headers), fmt.format(*("-" * w for w in widths)), *(fmt.format(*r) for r in rows)]


def _md_table(headers: tuple[str, ...], rows: tuple[tuple[str, ...], ...]) -> list[str]:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    return [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
        *("| " + " | ".join(esc(c) for c in r) + " |" for r in rows),
    ]


@dataclass
class Plan:
    stack: str
    #: What the header and JSON say about the stack (for the bootstrap: its served stacks).
    environment: str
    production: bool
    backends: tuple[str, ...]
    run: ProgramRun
    sections: list[Section]
    program: str = "infra"

    @classmethod
    def of(cls, stack: str, cfg: StackConfig, run: ProgramRun, sections: list[Section]) -> Plan:
        return cls(stack, cfg.environment, cfg.production, tuple(cfg.backends), run, sections)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "stack": self.stack,
            "environment": self.environment,
            "production": self.production,
            "backends": list(self.backends),
            "resources": [r.to_json() for r in sorted(self.run.resources, key=lambda r: r.urn)],
            "outputs": redact(self.run.outputs),
        }
        for s in self.sections:
            doc[s.key] = s.data
        doc["warnings"] = list(self.run.warnings)
        return doc

    def to_document(self) -> dict[str, Any]:
        """What ``--json`` prints: :meth:`to_json` with each long input document that repeats across resources
        printed once (:func:`share_documents`; :func:`expand_documents` restores :meth:`to_json` exactly)."""
        return share_documents(self.to_json())

    def header(self) -> str:
        prod = "production (protected)" if self.production else "non-production"
        custom = sum(1 for r in self.run.resources if r.custom)
        what = "Bootstrap stack" if self.program == "bootstrap" else "Stack"
        return (
            f"{what} {self.stack}: environment {self.environment}, {prod}, "
            f"backends {', '.join(self.backends)}; {custom} resources"
        )

    def to_text(self, detail: bool = False) -> str:
        """The human plan; beyond :data:`SUMMARY_THRESHOLD` rows it summarises unless ``detail``."""
        lines = ["makini-infra offline plan (under mocks; nothing was deployed)", self.header()]
        if self.run.warnings:
            lines += ["", "Warnings", *(f"  ! {w}" for w in self.run.warnings)]
        lines += ["", "Resources"]
        lines += ["  " + line for line in resource_tree(self.run, detail)]
        for s in self.sections:
            headers, rows, notes = s.shown(detail)
            lines += ["", s.title, *("  " + line for line in _table(headers, rows)), *("  " + n for n in notes)]
        shown = {s.key for s in self.sections}
        outputs = {k: v for k, v in redact(self.run.outputs).items() if _section_of_output(k) not in shown}
        if not detail:
            outputs = {k: _summarised(v) for k, v in outputs.items()}
        lines += ["", "Outputs (reports shown above are left out)"]
        lines += ["  " + line for line in json.dumps(outputs, indent=2).splitlines()]
        return "\n".join(lines) + "\n"

    def to_markdown(self, detail: bool = False) -> str:
        lines = [f"## makini-infra plan: `{self.stack}`", "", self.header() + " (offline, under mocks).", ""]
        if self.run.warnings:
            lines += ["> [!WARNING]", *(f"> {w}" for w in self.run.warnings), ""]
        for s in self.sections:
            headers, rows, notes = s.shown(detail)
            lines += [f"### {s.title}", "", *_md_table(headers, rows), *("", *notes), ""]
        lines += [
            "<details><summary>Resources</summary>",
            "",
            "```",
            *resource_tree(self.run, detail),
            "```",
            "",
            "</details>",
            "",
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# The bootstrap program (--program bootstrap): the CI identities, who may assume each, what it may do

BOOTSTRAP_PROGRAM = BOOTSTRAP_DIR / "__main__.py"
BOOTSTRAP_PROJECT = "makini-infra-bootstrap"


def _deploy_job(env: str) -> str:
    return f"{DEPLOY_WORKFLOW} on a push to {DEPLOY_BRANCH}, environment {env}"


PR_JOB = f"{PREVIEW_WORKFLOW} of a pull request (never main, never an environment)"
DRIFT_JOB = f"{oidc.DRIFT_WORKFLOW} on {DEPLOY_BRANCH} (schedule or workflow_dispatch), no environment"


def identities_section(boot: Bootstrap) -> Section:
    rows: list[tuple[str, ...]] = []
    data: list[dict[str, object]] = []

    def add(stack: str, cloud: str, identity: str, job: str, may: str, claims: dict[str, str]) -> None:
        rows.append((stack, cloud, identity, job, may))
        data.append({"stack": stack, "cloud": cloud, "identity": identity, "job": job, "may": may, "claims": claims})

    for s in boot.served:
        need = oidc.deploy_requirement(boot.repository, boot.repository_id, s.github_environment, oidc.AWS_AUDIENCE)
        if "aws" in s.backends:
            add(
                s.name,
                "aws",
                deploy_role_name(s.name),
                _deploy_job(s.github_environment),
                f"manage environment {s.environment} (makini-{s.environment}-*, makini/{s.environment}/*); create "
                f"only {len(s.program_role_names())} named roles, each with {PERMISSIONS_BOUNDARY_NAME}",
                need.equals,
            )
            drift = oidc.drift_requirement(boot.repository, boot.repository_id, oidc.AWS_AUDIENCE)
            add(
                s.name,
                "aws",
                drift_role_name(s.name),
                DRIFT_JOB,
                f"read metadata of environment {s.environment}; read the secret values its stack file's "
                "makini:aws.driftArns lets it (the OAuth client, the tokens, initial versions); never write",
                {**drift.equals, **{k: ", ".join(v) for k, v in drift.any_of.items()}},
            )
            if s.previewable_from_pull_requests:
                pr = oidc.preview_requirement(boot.repository, boot.repository_id, oidc.AWS_AUDIENCE)
                add(
                    s.name,
                    "aws",
                    preview_role_name(s.name),
                    PR_JOB,
                    f"read metadata of environment {s.environment}; secret values and decryption denied",
                    {**pr.equals, **pr.like},
                )
        if "azure" in s.backends:
            cred = azure_ci.deploy_credential(boot.repository, boot.repository_id, s)
            add(
                s.name,
                "azure",
                azure_ci.deploy_identity_name(s),
                _deploy_job(s.github_environment),
                "Contributor; assign only the data-plane roles the program uses",
                {"iss": cred.issuer, "sub": cred.subject, "aud": ", ".join(cred.audiences)},
            )
        if "vault" in s.backends and boot.settings.vault is not None:
            role = vault_ci.deploy_role(boot.repository, boot.repository_id, s, boot.settings.vault.audience)
            add(
                s.name,
                "vault",
                f"{boot.settings.vault.jwt_mount_path}/role/{role.name}",
                _deploy_job(s.github_environment),
                f"mount {vault_ci.mount(s)}, policies and auth roles makini-{s.environment}-*",
                {"sub": role.bound_subject or "", **{k: ",".join(v) for k, v in role.bound_claims.items()}},
            )
            drift_role = vault_ci.drift_role(boot.repository, boot.repository_id, s, boot.settings.vault.audience)
            add(
                s.name,
                "vault",
                f"{boot.settings.vault.jwt_mount_path}/role/{drift_role.name}",
                DRIFT_JOB,
                f"read metadata of mount {vault_ci.mount(s)}, the OAuth client and the connection tokens",
                {k: ",".join(v) for k, v in drift_role.bound_claims.items()},
            )
    notes = [
        f"Repository {boot.repository} (id {boot.repository_id}); OIDC subject template: "
        f"{', '.join(oidc.SUBJECT_CLAIM_KEYS)}"
        + (" (managed here)" if boot.settings.github.manage else " (set it once: see docs/operations.md)"),
        "Production stacks have no preview identity; pull requests review them through this offline plan.",
    ]
    if boot.settings.pulumi_cloud is not None:
        for tp in pulumi_cloud.team_policies(boot, boot.settings.pulumi_cloud.organization):
            perms = ", ".join(f"{s} ({'admin' if p == pulumi_cloud.ADMIN else 'read'})" for s, p in tp.stacks.items())
            notes.append(f"Pulumi Cloud team {tp.team}: {perms}")
    return Section(
        key="ci_identities",
        title="CI identities",
        headers=("stack", "cloud", "identity", "assumable only by", "may"),
        rows=tuple(rows),
        data=data,
        notes=tuple(notes),
    )


def _bootstrap_limits_context(config: Mapping[str, Any]) -> LimitsContext:
    target = Target.from_config(config)
    return LimitsContext(region=target.region, account_id=target.account_id, partition=target.partition)


def build_bootstrap_plan(stack: str, config_file: Path | None = None) -> Plan:
    path = config_file or BOOTSTRAP_DIR / f"Pulumi.{stack}.yaml"
    source = load_stack_file(stack, path, project=BOOTSTRAP_PROJECT)
    boot = load_bootstrap(stack, source.config, read_stack_files(), aws_account_id=pinned_account(source.config))
    run = run_program(stack, source.config, source.secret_keys, program=BOOTSTRAP_PROGRAM, project=BOOTSTRAP_PROJECT)
    backends = tuple(sorted({b for s in boot.served for b in s.backends}))
    environments = ", ".join(s.environment for s in boot.served)
    return Plan(
        stack=stack,
        environment=environments,
        production=any(s.production for s in boot.served),
        backends=backends,
        run=run,
        # Refused like a stack's: an exceeded limit (e.g. a deploy role's policies) would fail pulumi up.
        sections=[
            identities_section(boot),
            limits_section(run, _bootstrap_limits_context(source.config)),
        ],
        program="bootstrap",
    )


class PreviousPlanError(Exception):
    """The --previous file is not a plan's JSON."""


def load_previous(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PreviousPlanError(f"--previous {path}: not readable as a plan's JSON ({err})") from None
    if not isinstance(doc, dict) or "access_matrix" not in doc:
        raise PreviousPlanError(
            f"--previous {path}: not a plan's JSON (no access_matrix): use python -m infra.plan <stack> --json"
        )
    return expand_documents(doc)


def moves_section(
    stack: str, cfg: StackConfig, previous: dict[str, Any], allow_moves: bool, warnings: list[str]
) -> Section | None:
    """Token paths that changed since the previous plan (a connection moved into or out of a class): each is a
    new secret and the deletion of the old one, so production refuses them unless ``--allow-moves``."""
    found = path_moves(previous, {"access_matrix": matrix_dict(cfg)})
    if not found:
        return None
    if cfg.production and not allow_moves:
        raise ConfigError(
            stack,
            [
                Problem(
                    f"makini:connections (key {m.connection})",
                    f"its token moves from {m.old} to {m.new}: {m.consequence(True)}",
                    "move it as docs/access-at-scale.md describes (value first, unprotect the old resources), then "
                    "plan again with --allow-moves",
                )
                for m in found
            ],
        )
    warnings += [f"secret path move: {m.consequence(cfg.production)}" for m in found]
    return Section(
        key="moves",
        title="Secret path moves (since --previous)",
        headers=("connection", "from", "to"),
        rows=tuple((m.connection, m.old, m.new) for m in found),
        data=[{"connection": m.connection, "from": m.old, "to": m.new} for m in found],
        notes=(
            "Each is a new secret (empty unless makini:connectionTokens gives a value) and the deletion of the old "
            "one; see docs/access-at-scale.md, 'Moving existing connections'.",
        ),
    )


def build_plan(
    stack: str,
    config_file: Path | None = None,
    program: str = "infra",
    previous: Path | None = None,
    allow_moves: bool = False,
) -> Plan:
    if program == "bootstrap":
        return build_bootstrap_plan(stack, config_file)
    source = load_stack_file(stack, config_file)
    cfg = source.load()
    # The same refusal as the program's, before it runs (and so before a long run at scale).
    refuse_if_exceeded(stack, preflight(cfg, build_catalog(cfg), Target.from_config(source.config)))
    moves_warnings: list[str] = []
    moved = (
        moves_section(stack, cfg, load_previous(previous), allow_moves, moves_warnings)
        if previous is not None
        else None
    )
    run = run_program(stack, source.config, source.secret_keys)
    run.warnings[:0] = moves_warnings
    sections = [s for s in (builder(cfg, run) for builder in SECTIONS) if s is not None]
    sections.append(stack_limits_section(cfg, run, source.config))
    if moved is not None:
        sections.insert(0, moved)
    return Plan.of(stack, cfg, run, sections)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser("python -m infra.plan", __doc__ or "")
    parser.add_argument("stack", help="stack name, e.g. dev (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--config-file", type=Path, help="read this file instead of Pulumi.<stack>.yaml")
    parser.add_argument(
        "--program",
        choices=("infra", "bootstrap"),
        default="infra",
        help="the program to plan: infra (default) or bootstrap (the CI identities, bootstrap/Pulumi.<stack>.yaml)",
    )
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print one JSON document")
    fmt.add_argument("--markdown", action="store_true", help="print Markdown (for a CI job summary)")
    parser.add_argument(
        "--detail",
        action="store_true",
        help=f"text and Markdown: every row and resource, even beyond {SUMMARY_THRESHOLD} (--json always has them)",
    )
    parser.add_argument(
        "--previous",
        type=Path,
        help="an earlier plan's JSON (e.g. the base branch's): report every secret whose path would move",
    )
    parser.add_argument(
        "--allow-moves", action="store_true", help="plan path moves in production (refused by default, exit 2)"
    )
    parser.add_argument(
        "--import-file",
        type=Path,
        help="also write a `pulumi import --file` document adopting the existing stores (reads the clouds)",
    )
    args = parser.parse_args(argv)
    try:
        plan = build_plan(args.stack, args.config_file, args.program, args.previous, args.allow_moves)
    except (ConfigError, BootstrapConfigError) as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID
    except (StackFileError, PreviousPlanError) as err:
        print(f"makini-infra: {err}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"makini-infra: the plan of stack '{args.stack}' failed: {unexpected(err)}", file=sys.stderr)
        return EXIT_FAILED
    if args.import_file is not None:
        try:
            if args.program != "infra":
                raise adopt.AdoptionError("--import-file adopts the stores of the makini-infra program only")
            source = load_stack_file(args.stack, args.config_file)
            found = adopt.discover(source.load(), source.config, plan.run, os.environ)
            doc = adopt.import_document(plan.run, found)
            args.import_file.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        except adopt.AdoptionError as err:
            print(f"makini-infra: --import-file: {err}", file=sys.stderr)
            return EXIT_INVALID
        except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
            print(f"makini-infra: --import-file: could not read what exists: {unexpected(err)}", file=sys.stderr)
            return EXIT_FAILED
        print(
            f"makini-infra: wrote {args.import_file} ({adopt.summary(doc)}); then: pulumi import --file "
            f"{args.import_file} --stack {args.stack} (see docs/adoption.md)",
            file=sys.stderr,
        )
    if args.json:
        text = json.dumps(plan.to_document(), indent=2) + "\n"
    elif args.markdown:
        text = plan.to_markdown(args.detail)
    else:
        text = plan.to_text(args.detail)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # e.g. piped into `head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
