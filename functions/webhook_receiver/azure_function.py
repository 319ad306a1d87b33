"""Azure Functions handler (Python v2 programming model).

The Function App's ``function_app.py`` re-exports the app::

    from webhook_receiver.azure_function import app  # noqa: F401

Settings (app settings; the two secrets are Key Vault references the platform resolves):
``WEBHOOK_SECRET``, ``WEBHOOK_SECRET_PREVIOUS`` (optional), ``SERVICEBUS_FULLY_QUALIFIED_NAMESPACE``,
``SERVICEBUS_QUEUE_NAME``, and the shared optional ``SIGNATURE_HEADER``, ``MAX_BODY_BYTES``,
``ALLOWED_SOURCE_IPS``, ``SIGNATURE_MODE``. The queue is written with the azure-servicebus SDK
using the Function's managed identity (``DefaultAzureCredential``) and ``message_id`` = the dedupe
id, so Service Bus duplicate detection drops repeats. The azure-servicebus and azure-identity
SDKs are imported lazily, on the first send.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import azure.functions as func

from .errors import PayloadTooLarge, Unavailable, WebhookError
from .logs import log, log_event, protect_keys
from .payload import build_message, encode_message
from .request import check_method, check_source, header, normalise_headers
from .responses import error_body, error_headers, response
from .settings import Settings, required_setting
from .signature import authenticate, usable_keys

ROUTE = "makini/webhooks"
#: An app setting whose Key Vault reference the platform could not resolve keeps this literal text.
_UNRESOLVED_REFERENCE = "@microsoft.keyvault("
_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


@dataclass(frozen=True, kw_only=True)
class FunctionSettings(Settings):
    """The app-settings contract on Azure Functions, validated once per process."""

    namespace: str
    queue_name: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FunctionSettings:
        return cls(
            namespace=required_setting(
                env, "SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", "<namespace>.servicebus.windows.net"
            ),
            queue_name=required_setting(
                env, "SERVICEBUS_QUEUE_NAME", "the Service Bus queue that receives accepted webhooks"
            ),
            **Settings.shared_from_env(env),
        )


class AppSettingKeys:
    """Current and previous secret from app settings. The platform resolves the Key Vault
    references (and re-resolves them after a rotation); the previous secret is accepted while the
    setting is present and ``WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT`` (ISO 8601 UTC, the rotation time
    plus graceSeconds) has not passed, like AWS's AWSPREVIOUS after GRACE_SECONDS. An expiry that
    cannot be read refuses the previous secret (fail closed)."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.time) -> None:
        self._env = env
        self._clock = clock

    def _previous_expired(self) -> bool:
        raw = (self._env.get("WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT") or "").strip()
        if not raw:
            return False  # no expiry configured: accepted while the setting is present
        try:
            until = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            log_event(
                logging.WARNING,
                "previous webhook secret refused",
                reason="WEBHOOK_SECRET_PREVIOUS_EXPIRES_AT unreadable",
            )
            return True
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return self._clock() >= until.timestamp()

    def load(self, refresh: bool = False) -> tuple[bytes, ...]:
        current = self._env.get("WEBHOOK_SECRET") or ""
        if not current or current.strip().lower().startswith(_UNRESOLVED_REFERENCE):
            log_event(
                logging.ERROR,
                "webhook secret unavailable",
                reason="WEBHOOK_SECRET is empty or its Key Vault reference is unresolved",
            )
            raise Unavailable("webhook secret is not configured")
        values = [current]
        previous = self._env.get("WEBHOOK_SECRET_PREVIOUS") or ""
        if previous.strip().lower().startswith(_UNRESOLVED_REFERENCE):
            log_event(logging.WARNING, "previous webhook secret unresolved")
        elif previous and self._previous_expired():
            log_event(logging.INFO, "previous webhook secret expired")
        elif previous:
            values.append(previous)
        return protect_keys(usable_keys(values))


class ServiceBusQueue:
    """Sends with the azure-servicebus SDK; the client (or a fake with the same surface:
    ``get_queue_sender(queue_name)`` returning a sender with ``send_messages`` and ``close``)
    is injectable. The sender is kept open between invocations and rebuilt after an error."""

    def __init__(self, namespace: str, queue_name: str, client: Any = None) -> None:
        self._namespace = namespace
        self._queue = queue_name
        self._client = client
        self._sender: Any = None
        self._lock = threading.Lock()

    def _get_sender(self) -> Any:
        if self._sender is None:
            if self._client is None:
                from azure.identity import DefaultAzureCredential
                from azure.servicebus import ServiceBusClient

                self._client = ServiceBusClient(
                    fully_qualified_namespace=self._namespace,
                    credential=DefaultAzureCredential(),
                    retry_total=2,
                    retry_backoff_factor=0.5,
                    retry_backoff_max=2,
                )
            self._sender = self._client.get_queue_sender(queue_name=self._queue)
        return self._sender

    def send(self, text: str, message: Mapping[str, Any]) -> None:
        from azure.servicebus import ServiceBusMessage

        props: dict[str | bytes, int | float | bytes | bool | str | uuid.UUID] = {"dedupe_id": message["dedupe_id"]}
        if message.get("event"):
            props["event"] = message["event"]
        msg = ServiceBusMessage(
            text,
            message_id=message["dedupe_id"],
            content_type="application/json",
            subject=message.get("event"),
            application_properties=props,
        )
        with self._lock:
            try:
                self._get_sender().send_messages(msg)
            except BaseException:
                sender, self._sender = self._sender, None
                if sender is not None:
                    with contextlib.suppress(Exception):
                        sender.close()
                raise


def _source_ip(headers: Mapping[str, str]) -> str | None:
    """The client address the Azure front end appended: the last X-Forwarded-For entry, port
    stripped. (Prefer the Function App's access restrictions; this is defence in depth.)"""
    xff = headers.get("x-forwarded-for")
    if not xff:
        return None
    last = xff.split(",")[-1].strip()
    if last.startswith("["):
        return last[1:].split("]", 1)[0]
    if last.count(":") == 1:
        return last.split(":", 1)[0]
    return last


class Receiver:
    def __init__(
        self,
        settings: FunctionSettings,
        keys: Callable[[bool], tuple[bytes, ...]],
        queue: Any,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self._keys = keys
        self.queue = queue
        self._clock = clock

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        servicebus_client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> Receiver:
        env = os.environ if env is None else env
        settings = FunctionSettings.from_env(env)
        return cls(
            settings,
            AppSettingKeys(env, clock).load,
            ServiceBusQueue(settings.namespace, settings.queue_name, servicebus_client),
            clock,
        )

    def handle(self, req: func.HttpRequest, request_id: str) -> func.HttpResponse:
        try:
            return self._handle(req, request_id)
        except WebhookError as err:
            return _rejected(err, request_id)
        except Exception as exc:  # never a 500
            log_event(logging.ERROR, "unexpected error", request_id=request_id, error_type=type(exc).__name__)
            return _http(response(503, {"status": "retry", "error": "unavailable"}, {"retry-after": "30"}))

    def _handle(self, req: func.HttpRequest, request_id: str) -> func.HttpResponse:
        s = self.settings
        check_method(req.method)
        headers = normalise_headers(dict(req.headers))
        check_source(_source_ip(headers), s.networks)
        body = req.get_body() or b""
        if len(body) > s.max_body_bytes:
            raise PayloadTooLarge(f"body larger than {s.max_body_bytes} bytes")
        verified = authenticate(body, header(headers, s.signature_header), self._keys, s.mode)
        message = build_message(verified, request_id, self._clock())
        text = encode_message(message)
        try:
            self.queue.send(text, message)
        except Exception as exc:
            if type(exc).__name__ == "MessageSizeExceededError":
                log_event(
                    logging.ERROR,
                    "message larger than the queue accepts",
                    request_id=request_id,
                    dedupe_id=verified.dedupe_id,
                )
                raise PayloadTooLarge("message larger than the queue accepts") from None
            log_event(
                logging.ERROR,
                "queue unreachable",
                request_id=request_id,
                dedupe_id=verified.dedupe_id,
                error_type=type(exc).__name__,
            )
            raise Unavailable("queue unreachable") from None
        log_event(
            logging.INFO,
            "webhook accepted",
            request_id=request_id,
            status=200,
            dedupe_id=verified.dedupe_id,
            event=message["event"],
            connection_id=message["connection_id"],
            matched=verified.matched,
        )
        # Service Bus duplicate detection (message_id = dedupe id) drops a repeat silently, so a
        # duplicate is answered like the first delivery.
        return _http(response(200, {"status": "accepted", "dedupe_id": verified.dedupe_id}))


def _http(resp: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(
        body=resp["body"], status_code=resp["statusCode"], headers=resp["headers"], mimetype="application/json"
    )


def _rejected(err: WebhookError, request_id: str) -> func.HttpResponse:
    level = logging.WARNING if err.status >= 500 or err.status == 409 else logging.INFO
    log_event(level, "webhook rejected", request_id=request_id, status=err.status, error=err.code, reason=err.reason)
    return _http(response(err.status, error_body(err), error_headers(err)))


_receiver: Receiver | None = None
_receiver_lock = threading.Lock()


def handle(req: func.HttpRequest, context: Any = None) -> func.HttpResponse:
    """Entry point body, separate from the decorated function for tests."""
    global _receiver
    rid = getattr(context, "invocation_id", None)
    request_id = rid if isinstance(rid, str) and rid else uuid.uuid4().hex
    try:
        receiver = _receiver
        if receiver is None:
            if log.level == logging.NOTSET:
                log.setLevel(logging.INFO)
            with _receiver_lock:
                if _receiver is None:
                    _receiver = Receiver.from_env()
                receiver = _receiver
        return receiver.handle(req, request_id)
    except WebhookError as err:
        return _rejected(err, request_id)
    except Exception:
        return func.HttpResponse(
            body='{"status":"retry","error":"unavailable"}', status_code=503, mimetype="application/json"
        )


def reset(receiver: Receiver | None = None) -> None:
    """Replace (tests) or forget the per-process receiver."""
    global _receiver
    with _receiver_lock:
        _receiver = receiver


app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.function_name(name="makini_webhook")
@app.route(route=ROUTE, methods=_ALL_METHODS, auth_level=func.AuthLevel.ANONYMOUS)
def makini_webhook(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    # Every method is routed here so that non-POST gets this receiver's 405, not the host's 404.
    return handle(req, context)
