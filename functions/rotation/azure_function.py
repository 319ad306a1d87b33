"""Azure Functions (Python v2 programming model) rotation of Makini connection tokens in Key Vault.

Trigger: an Event Grid subscription on each vault's system topic for
``Microsoft.KeyVault.SecretNearExpiry``: the environment's vault (``KEY_VAULT_URL``) and each access
class's vault (``TOKEN_VAULT_URLS``, comma-separated, the environment's vault included; events from any
other vault are refused). For a connection-token secret (tag ``makini-connection-id``) the function
obtains a system token with the OAuth client held in the environment's vault (secret named by
app setting ``OAUTH_CLIENT_SECRET_NAME``, JSON ``{"client_id", "client_secret"}``), issues a fresh
connection token, checks it with ``GET /api/integrations/current`` and writes it as a new version
with a new ``expires_on`` (see ``_expires_on``). The previous version is left alone and its token
stays valid at Makini, so readers never see a broken secret.

The Functions host loads ``function_app.py`` at the app root; ship one containing
``from rotation.azure_function import app``. Azure SDKs are imported lazily, so this module can
be imported (and the rotation logic tested) without them; ``secret_client_factory`` is injectable.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from functions.shared import jsonlog

from .makini_client import ENV_API_BASE, MakiniClient
from .token_lifetime import DAY, check_token_lifetime

EVENT_TYPE = "Microsoft.KeyVault.SecretNearExpiry"
CONNECTION_TAG = "makini-connection-id"
LAST_ROTATED_TAG = "makini-last-rotated"
ENV_OAUTH = "OAUTH_CLIENT_SECRET_NAME"
ENV_PERIOD = "ROTATION_PERIOD_DAYS"
ENV_LEAD = "NEAR_EXPIRY_LEAD_DAYS"
ENV_VAULT_URL = "KEY_VAULT_URL"
ENV_TOKEN_VAULTS = "TOKEN_VAULT_URLS"
KEY_VAULT_NEAR_EXPIRY_LEAD_DAYS = 30  # Key Vault publishes SecretNearExpiry 30 days before exp
BAD_SYNC_STATUSES = frozenset({"fail"})

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class RotationError(Exception):
    """The rotation cannot proceed; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Outcome:
    rotated: bool
    reason: str
    secret_name: str | None = None
    new_version: str | None = None


def default_secret_client(vault_url: str) -> Any:
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - lazy: Azure SDKs only here
    from azure.keyvault.secrets import SecretClient  # noqa: PLC0415

    return SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())


def _int_setting(env: Mapping[str, str], name: str, default: int | None, low: int, high: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        if default is None:
            raise RotationError(f"app setting {name} is not set; set it to a whole number of days ({low}-{high})")
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RotationError(f"app setting {name}={raw!r} is not a whole number of days ({low}-{high})") from None
    if not low <= value <= high:
        raise RotationError(f"app setting {name}={value} is out of range; use {low}-{high} days")
    return value


def _expires_on(now: datetime, env: Mapping[str, str]) -> datetime:
    """now + ROTATION_PERIOD_DAYS + NEAR_EXPIRY_LEAD_DAYS.

    Key Vault fires SecretNearExpiry a fixed 30 days before ``exp``. With ``exp = now + period``
    and a period under 30 days (prod 7) the event would fire as soon as the version is written, and
    only once per version, so rotation would stop after one step. Adding the 30-day lead makes the
    event fire ``period`` days after the write. Set NEAR_EXPIRY_LEAD_DAYS=0 to get ``exp = now +
    period`` exactly (only sensible for periods over 30 days).
    """
    period = _int_setting(env, ENV_PERIOD, None, 1, 365)
    lead = _int_setting(env, ENV_LEAD, KEY_VAULT_NEAR_EXPIRY_LEAD_DAYS, 0, 90)
    return now + timedelta(days=period + lead)


def _vault_url(data: Mapping[str, Any]) -> str:
    ident = data.get("Id") or data.get("id")
    if isinstance(ident, str) and ident.startswith("https://"):
        parts = urllib.parse.urlsplit(ident)
        return f"https://{parts.netloc}"
    name = data.get("VaultName") or data.get("vaultName")
    if isinstance(name, str) and name:
        return f"https://{name}.vault.azure.net"
    raise RotationError("Event Grid event data has neither Id nor VaultName: cannot tell which vault to rotate in")


def rotate_near_expiry(
    event_type: str,
    data: Mapping[str, Any],
    *,
    secret_client_factory: Callable[[str], Any] = default_secret_client,
    makini_client_factory: Callable[[], MakiniClient] | None = None,
    env: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Outcome:
    env = os.environ if env is None else env
    if makini_client_factory is None:
        # MAKINI_API_BASE is pinned to Makini's host (makini_client's module doc).
        def makini_client_factory() -> MakiniClient:
            return MakiniClient(env.get(ENV_API_BASE))

    if event_type != EVENT_TYPE:
        jsonlog.log(logger, logging.INFO, "event_ignored", event_type=event_type)
        return Outcome(False, f"event type {event_type} is not {EVENT_TYPE}")
    if data.get("ObjectType", "Secret") != "Secret":
        return Outcome(False, f"object type {data.get('ObjectType')} is not a secret")
    name = data.get("ObjectName")
    if not isinstance(name, str) or not name:
        raise RotationError("Event Grid event data has no ObjectName: cannot tell which secret to rotate")
    vault_url = _vault_url(data)
    home = (env.get(ENV_VAULT_URL) or "").rstrip("/")
    allowed = {u.strip().rstrip("/").lower() for u in (env.get(ENV_TOKEN_VAULTS) or home).split(",") if u.strip()}
    if allowed and vault_url.lower() not in allowed:
        raise RotationError(
            f"event for vault {vault_url} but this function rotates only {', '.join(sorted(allowed))} "
            f"({ENV_TOKEN_VAULTS} / {ENV_VAULT_URL}); check the Event Grid subscription's source"
        )
    expires_on = _expires_on(now(), env)  # validate settings before touching anything
    oauth_name = env.get(ENV_OAUTH)
    if not oauth_name:
        raise RotationError(f"app setting {ENV_OAUTH} is not set; name the Key Vault secret holding the OAuth client")
    makini = makini_client_factory()  # the host pin refuses a foreign MAKINI_API_BASE before any read

    client = secret_client_factory(vault_url)
    current = client.get_secret(name)
    props = current.properties
    tags = dict(props.tags or {})
    connection_id = tags.get(CONNECTION_TAG) or _connection_id_from_value(current.value)
    if not connection_id:
        jsonlog.log(logger, logging.INFO, "not_a_connection_token", secret_name=name, vault=vault_url)
        return Outcome(False, f"secret {name} has no {CONNECTION_TAG} tag: not a connection token", name)
    event_version = data.get("Version")
    if event_version and props.version and event_version != props.version:
        jsonlog.log(
            logger,
            logging.INFO,
            "already_rotated",
            secret_name=name,
            event_version=event_version,
            current_version=props.version,
        )
        return Outcome(False, f"secret {name} already has a newer version than the event's", name)

    # The OAuth client lives in the environment's vault; a class's vault holds only its tokens.
    oauth_vault = home if home and home.lower() != vault_url.lower() else None
    oauth_store = secret_client_factory(oauth_vault) if oauth_vault else client
    client_id, client_secret = _oauth_client(oauth_store, oauth_name)
    system_token = makini.system_token(client_id, client_secret)
    issued = makini.issue_connection_token(system_token, connection_id)
    period_days = _int_setting(env, ENV_PERIOD, None, 1, 365) + _int_setting(
        env, ENV_LEAD, KEY_VAULT_NEAR_EXPIRY_LEAD_DAYS, 0, 90
    )
    try:
        check_token_lifetime(
            issued.expires_in,
            period_days * DAY,
            where=f"secret {name}",
            period_source=f"{ENV_PERIOD} + {ENV_LEAD}, the new version's planned lifetime",
        )
    except Exception:
        jsonlog.log(
            logger,
            logging.ERROR,
            "rotation_refused",
            reason="token_expires_too_soon",
            secret_name=name,
            expires_in=issued.expires_in,
            period_days=period_days,
        )
        raise
    if issued.expires_in is not None:  # never let Key Vault's exp promise more than Makini does
        expires_on = min(expires_on, now() + timedelta(seconds=issued.expires_in))
    status = makini.check_token(issued.token)
    if status in BAD_SYNC_STATUSES:
        raise RotationError(
            f"Makini reports sync_status={status!r} for connection {connection_id} (invalid platform "
            f"credentials): the customer must reconnect; secret {name} was not changed"
        )
    stamp = now().replace(microsecond=0).isoformat().replace("+00:00", "Z")
    value = json.dumps({"token": issued.token, "connection_id": connection_id, "issued_at": stamp})
    tags.update({CONNECTION_TAG: connection_id, LAST_ROTATED_TAG: stamp})
    written = client.set_secret(name, value, tags=tags, content_type="application/json", expires_on=expires_on)
    new_version = getattr(getattr(written, "properties", None), "version", None)
    jsonlog.log(
        logger,
        logging.INFO,
        "rotated",
        secret_name=name,
        vault=vault_url,
        connection_id=connection_id,
        new_version=new_version,
        expires_on=expires_on.isoformat(),
        sync_status=status,
    )
    return Outcome(True, "rotated", name, new_version)


def _connection_id_from_value(raw: str | None) -> str | None:
    try:
        value = json.loads(raw or "")
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("connection_id"), str):
        return value["connection_id"] or None
    return None


def _oauth_client(client: Any, name: str) -> tuple[str, str]:
    raw = client.get_secret(name).value
    try:
        value = json.loads(raw or "")
    except ValueError:
        value = None
    if not isinstance(value, dict) or not value.get("client_id") or not value.get("client_secret"):
        raise RotationError(f'Key Vault secret {name} ({ENV_OAUTH}) must hold JSON {{"client_id", "client_secret"}}')
    jsonlog.register_secret(value["client_secret"])
    return str(value["client_id"]), str(value["client_secret"])


def handle_event(event: Any, **kwargs: Any) -> Outcome:
    """Entry point shared by the Functions trigger and tests: takes an azure.functions.EventGridEvent."""
    data = event.get_json() or {}
    if not isinstance(data, dict):
        raise RotationError("Event Grid event data is not a JSON object")
    jsonlog.log(
        logger,
        logging.INFO,
        "event_received",
        event_type=event.event_type,
        subject=event.subject,
        event_id=getattr(event, "id", None),
    )
    return rotate_near_expiry(event.event_type, data, **kwargs)


app: func.FunctionApp | None
try:  # the Functions host provides azure.functions; elsewhere the module still imports
    import azure.functions as func
except ImportError:  # pragma: no cover - exercised only outside the Functions runtime
    app = None
else:
    app = func.FunctionApp()

    @app.function_name(name="makini_rotate_connection_token")
    @app.event_grid_trigger(arg_name="event")
    def on_secret_near_expiry(event: func.EventGridEvent) -> None:
        # An exception fails the invocation; Event Grid then retries delivery with backoff.
        handle_event(event)
