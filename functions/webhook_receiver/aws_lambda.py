"""AWS Lambda handler: API Gateway HTTP API (payload 2.0) and Lambda function URL events.

Handler string: ``webhook_receiver.aws_lambda.handler``. Import chain: the standard library and
boto3 only (cold start). The environment-variable contract is documented in README.md.

Flow: method -> source address -> size -> raw body -> strict signature decode -> secrets ->
HMAC verify -> JSON -> claim the dedupe id (conditional put, status "pending") -> SendMessage ->
mark "done" -> 200. A failed SendMessage releases the claim and answers 503.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

from .errors import InProgress, MalformedRequest, PayloadTooLarge, Unavailable, WebhookError
from .logs import log, log_event, protect_keys
from .payload import build_message, encode_message
from .request import check_method, check_source, event_body_bytes, header, normalise_headers
from .responses import error_body, error_headers, response
from .settings import Settings, int_setting, required_setting
from .signature import authenticate, usable_keys

DEFAULT_GRACE_SECONDS = 86_400
DEFAULT_DEDUPE_TTL_SECONDS = 172_800
#: Secrets are cached per container for this long, so a rotation applies without a redeploy.
SECRET_CACHE_SECONDS = 60
#: On a signature mismatch the secrets are re-read at most this often (picks up a rotation at once).
SECRET_REFRESH_MIN_SECONDS = 5
#: A "pending" claim older than this is considered abandoned (a crashed or timed-out invocation)
#: and may be claimed again. Must exceed the function timeout.
PENDING_LEASE_SECONDS = 60
#: SQS's largest message (the queue's MaximumMessageSize should be set to it).
SQS_MAX_MESSAGE_BYTES = 1_048_576

#: Short timeouts: Makini wants an answer within 10 s, and a 503 is better than a timeout.
BOTO_CONFIG = BotoConfig(
    connect_timeout=1,
    read_timeout=2,
    retries={"max_attempts": 2, "mode": "standard"},
)

_AWS_ERRORS = (ClientError, BotoCoreError)
_GROUP_ID_RE = re.compile(r"[!-~]{1,128}")
_ATTR_RE = re.compile(r"[A-Za-z0-9._:/-]{1,256}")

Clock = Callable[[], float]


def _error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


class _NoResponseBodies(logging.Filter):
    """botocore logs every response body at DEBUG, GetSecretValue's included: drop those
    records so that turning on DEBUG logging can never print the webhook secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.DEBUG and str(record.msg).startswith("Response body"))


def _guard_botocore_logs() -> None:
    parsers = logging.getLogger("botocore.parsers")
    if not any(isinstance(f, _NoResponseBodies) for f in parsers.filters):
        parsers.addFilter(_NoResponseBodies())


@dataclass(frozen=True, kw_only=True)
class LambdaSettings(Settings):
    """The environment-variable contract on Lambda, validated once per container."""

    secret_arn: str
    queue_url: str
    dedupe_table: str
    dedupe_ttl_seconds: int
    grace_seconds: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LambdaSettings:
        return cls(
            secret_arn=required_setting(
                env, "WEBHOOK_SECRET_ARN", "the ARN of the Secrets Manager secret holding the webhook secret"
            ),
            queue_url=required_setting(env, "QUEUE_URL", "the URL of the SQS queue that receives accepted webhooks"),
            dedupe_table=required_setting(
                env, "DEDUPE_TABLE", "the name of the DynamoDB dedupe table (partition key id)"
            ),
            dedupe_ttl_seconds=int_setting(env, "DEDUPE_TTL_SECONDS", DEFAULT_DEDUPE_TTL_SECONDS, 60),
            grace_seconds=int_setting(env, "GRACE_SECONDS", DEFAULT_GRACE_SECONDS, 0),
            **Settings.shared_from_env(env),
        )


def _secret_value(resp: Mapping[str, Any]) -> bytes:
    """The secret's bytes: SecretString as UTF-8 (used verbatim), else SecretBinary."""
    value = resp.get("SecretString")
    if value is None:
        value = resp.get("SecretBinary")
    keys = protect_keys(usable_keys([value]))
    return keys[0] if keys else b""


class SecretsManagerKeys:
    """AWSCURRENT always; AWSPREVIOUS while younger than the grace period, measured from the
    creation of the current version. Cached per container for ``ttl`` seconds."""

    def __init__(
        self,
        client: Callable[[], Any],
        secret_arn: str,
        grace_seconds: int,
        clock: Clock,
        ttl: float = SECRET_CACHE_SECONDS,
        refresh_min: float = SECRET_REFRESH_MIN_SECONDS,
    ) -> None:
        self._client = client
        self._arn = secret_arn
        self._grace = grace_seconds
        self._clock = clock
        self._ttl = ttl
        self._refresh_min = refresh_min
        self._lock = threading.Lock()
        self._entry: tuple[bytes, bytes | None, float] | None = None
        self._fetched_at = 0.0
        self._expires_at = 0.0

    def load(self, refresh: bool = False) -> tuple[bytes, ...]:
        with self._lock:
            now = self._clock()
            stale = self._entry is None or now >= self._expires_at
            if stale or (refresh and now - self._fetched_at >= self._refresh_min):
                try:
                    self._fetch(now)
                except Unavailable:
                    if stale:
                        raise
                    # refresh failed but the cached entry is still valid: keep using it
            entry = self._entry
            assert entry is not None  # fetched above, or the fetch raised
            current, previous, current_created = entry
        if previous and now < current_created + self._grace:
            return (current, previous)
        return (current,)

    def _fetch(self, now: float) -> None:
        client = self._client()
        try:
            cur = client.get_secret_value(SecretId=self._arn, VersionStage="AWSCURRENT")
        except _AWS_ERRORS as exc:
            log_event(logging.ERROR, "webhook secret unreachable", error_type=_error_code(exc))
            raise Unavailable("webhook secret unreachable") from None
        current = _secret_value(cur)
        if not current:
            log_event(logging.ERROR, "webhook secret is empty")
            raise Unavailable("webhook secret is not configured")
        created = cur.get("CreatedDate")
        current_created = created.timestamp() if hasattr(created, "timestamp") else 0.0
        ttl = self._ttl
        previous: bytes | None = None
        if self._grace > 0:
            try:
                prev = client.get_secret_value(SecretId=self._arn, VersionStage="AWSPREVIOUS")
                previous = _secret_value(prev) or None
            except ClientError as exc:
                if _error_code(exc) != "ResourceNotFoundException":
                    log_event(logging.WARNING, "previous webhook secret unreachable", error_type=_error_code(exc))
                    ttl = min(ttl, self._refresh_min)
            except BotoCoreError as exc:
                log_event(logging.WARNING, "previous webhook secret unreachable", error_type=_error_code(exc))
                ttl = min(ttl, self._refresh_min)
        self._entry = (current, previous, current_created)
        self._fetched_at = now
        self._expires_at = now + ttl


class DedupeTable:
    """Claim / done / release on the DynamoDB table (partition key ``id``, TTL ``expires_at``)."""

    CLAIMED = "claimed"
    DUPLICATE = "duplicate"

    def __init__(self, client: Callable[[], Any], table: str, ttl_seconds: int) -> None:
        self._client = client
        self._table = table
        self._ttl = ttl_seconds

    def claim(self, dedupe_id: str, token: str, now: float) -> str:
        n = int(now)
        item = {
            "id": {"S": dedupe_id},
            "status": {"S": "pending"},
            "claim": {"S": token},
            "claimed_at": {"N": str(n)},
            "expires_at": {"N": str(n + PENDING_LEASE_SECONDS)},
        }
        client = self._client()
        for _ in range(3):
            try:
                client.put_item(
                    TableName=self._table,
                    Item=item,
                    # An expired record counts as absent: TTL deletion can lag by up to 48 h.
                    ConditionExpression="attribute_not_exists(#id) OR #exp < :now",
                    ExpressionAttributeNames={"#id": "id", "#exp": "expires_at"},
                    ExpressionAttributeValues={":now": {"N": str(n)}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
                return self.CLAIMED
            except ClientError as exc:
                if _error_code(exc) != "ConditionalCheckFailedException":
                    log_event(logging.ERROR, "dedupe table unreachable", error_type=_error_code(exc))
                    raise Unavailable("dedupe table unreachable") from None
                old = exc.response.get("Item")
            except BotoCoreError as exc:
                log_event(logging.ERROR, "dedupe table unreachable", error_type=_error_code(exc))
                raise Unavailable("dedupe table unreachable") from None
            if old is None:
                try:
                    old = client.get_item(TableName=self._table, Key={"id": {"S": dedupe_id}}, ConsistentRead=True).get(
                        "Item"
                    )
                except _AWS_ERRORS as exc:
                    log_event(logging.ERROR, "dedupe table unreachable", error_type=_error_code(exc))
                    raise Unavailable("dedupe table unreachable") from None
            if old is None:
                continue  # deleted in between (a released claim): try again
            try:
                expired = int(old["expires_at"]["N"]) < n
            except (KeyError, TypeError, ValueError):
                expired = True
            if expired:
                continue
            if old.get("status", {}).get("S") == "done":
                return self.DUPLICATE
            raise InProgress("the same webhook is being queued by another delivery; retry later")
        raise InProgress("the same webhook is being queued by another delivery; retry later")

    def mark_done(self, dedupe_id: str, token: str, now: float, request_id: str) -> bool:
        n = int(now)
        try:
            self._client().update_item(
                TableName=self._table,
                Key={"id": {"S": dedupe_id}},
                UpdateExpression="SET #st = :done, #exp = :exp, done_at = :now, request_id = :rid",
                ConditionExpression="#claim = :token",
                ExpressionAttributeNames={"#st": "status", "#exp": "expires_at", "#claim": "claim"},
                ExpressionAttributeValues={
                    ":done": {"S": "done"},
                    ":exp": {"N": str(n + self._ttl)},
                    ":now": {"N": str(n)},
                    ":rid": {"S": request_id},
                    ":token": {"S": token},
                },
            )
            return True
        except _AWS_ERRORS as exc:
            # The message is queued already: answer 200 and let the consumer's idempotency cover
            # the small window in which a retry could queue it again.
            log_event(
                logging.ERROR,
                "dedupe record not marked done",
                request_id=request_id,
                dedupe_id=dedupe_id,
                error_type=_error_code(exc),
            )
            return False

    def release(self, dedupe_id: str, token: str, request_id: str) -> None:
        try:
            self._client().delete_item(
                TableName=self._table,
                Key={"id": {"S": dedupe_id}},
                ConditionExpression="#claim = :token",
                ExpressionAttributeNames={"#claim": "claim"},
                ExpressionAttributeValues={":token": {"S": token}},
            )
        except _AWS_ERRORS as exc:
            # The pending claim expires after PENDING_LEASE_SECONDS; Makini's retry then succeeds.
            log_event(
                logging.ERROR,
                "dedupe claim not released",
                request_id=request_id,
                dedupe_id=dedupe_id,
                error_type=_error_code(exc),
            )


class Receiver:
    """One configured receiver; clients and clock are injectable for tests."""

    def __init__(
        self,
        settings: LambdaSettings,
        *,
        secretsmanager: Any = None,
        sqs: Any = None,
        dynamodb: Any = None,
        clock: Clock = time.time,
        secret_cache_seconds: float = SECRET_CACHE_SECONDS,
    ) -> None:
        _guard_botocore_logs()
        self.settings = settings
        self._clients: dict[str, Any] = {"secretsmanager": secretsmanager, "sqs": sqs, "dynamodb": dynamodb}
        self._clients_lock = threading.Lock()
        self._clock = clock
        self.keys = SecretsManagerKeys(
            lambda: self._client("secretsmanager"),
            settings.secret_arn,
            settings.grace_seconds,
            clock,
            ttl=secret_cache_seconds,
        )
        self.dedupe = DedupeTable(lambda: self._client("dynamodb"), settings.dedupe_table, settings.dedupe_ttl_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **kw: Any) -> Receiver:
        return cls(LambdaSettings.from_env(os.environ if env is None else env), **kw)

    def _client(self, service: str) -> Any:
        client = self._clients[service]
        if client is None:
            with self._clients_lock:
                client = self._clients[service]
                if client is None:
                    client = boto3.client(service, config=BOTO_CONFIG)
                    self._clients[service] = client
        return client

    # -- request handling ---------------------------------------------------------------------

    def handle(self, event: Any, context: Any = None) -> dict[str, Any]:
        request_id = _request_id(event, context)
        try:
            return self._handle(event, request_id)
        except WebhookError as err:
            return _rejected(err, request_id)
        except Exception as exc:  # never a 500: anything unexpected is a retryable 503
            log_event(logging.ERROR, "unexpected error", request_id=request_id, error_type=type(exc).__name__)
            return response(503, {"status": "retry", "error": "unavailable"}, {"retry-after": "30"})

    def _handle(self, event: Any, request_id: str) -> dict[str, Any]:
        s = self.settings
        if not isinstance(event, dict):
            raise MalformedRequest("event is not an object")
        rc = event.get("requestContext")
        rc = rc if isinstance(rc, dict) else {}
        http = rc.get("http")
        http = http if isinstance(http, dict) else {}
        check_method(http.get("method", event.get("httpMethod")))
        check_source(http.get("sourceIp"), s.networks)
        headers = normalise_headers(event.get("headers"))
        body = event_body_bytes(event.get("body"), event.get("isBase64Encoded"), s.max_body_bytes)
        verified = authenticate(body, header(headers, s.signature_header), self.keys.load, s.mode)

        now = self._clock()
        message = build_message(verified, request_id, now)
        text = encode_message(message)
        if len(text.encode("utf-8")) > SQS_MAX_MESSAGE_BYTES:
            raise PayloadTooLarge("message larger than the queue accepts")

        token = uuid.uuid4().hex
        if self.dedupe.claim(verified.dedupe_id, token, now) == DedupeTable.DUPLICATE:
            log_event(
                logging.INFO,
                "duplicate webhook",
                request_id=request_id,
                status=200,
                dedupe_id=verified.dedupe_id,
                event=message["event"],
            )
            return response(200, {"status": "duplicate", "dedupe_id": verified.dedupe_id})
        try:
            self._send(text, message)
        except _AWS_ERRORS as exc:
            log_event(
                logging.ERROR,
                "queue unreachable",
                request_id=request_id,
                dedupe_id=verified.dedupe_id,
                error_type=_error_code(exc),
            )
            self.dedupe.release(verified.dedupe_id, token, request_id)
            raise Unavailable("queue unreachable") from None
        except BaseException:
            self.dedupe.release(verified.dedupe_id, token, request_id)
            raise
        self.dedupe.mark_done(verified.dedupe_id, token, self._clock(), request_id)
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
        return response(200, {"status": "accepted", "dedupe_id": verified.dedupe_id})

    def _send(self, text: str, message: Mapping[str, Any]) -> None:
        attrs = {"dedupe_id": {"DataType": "String", "StringValue": message["dedupe_id"]}}
        event = message.get("event")
        if isinstance(event, str) and _ATTR_RE.fullmatch(event):
            attrs["event"] = {"DataType": "String", "StringValue": event}
        kwargs: dict[str, Any] = {"QueueUrl": self.settings.queue_url, "MessageBody": text, "MessageAttributes": attrs}
        if self.settings.queue_url.endswith(".fifo"):
            conn = message.get("connection_id")
            kwargs["MessageGroupId"] = conn if isinstance(conn, str) and _GROUP_ID_RE.fullmatch(conn) else "makini"
            kwargs["MessageDeduplicationId"] = message["dedupe_id"]
        self._client("sqs").send_message(**kwargs)


def _request_id(event: Any, context: Any) -> str:
    try:
        rid = event["requestContext"]["requestId"]
        if isinstance(rid, str) and 0 < len(rid) <= 128 and rid.isprintable():
            return rid
    except Exception:
        pass
    rid = getattr(context, "aws_request_id", None)
    if isinstance(rid, str) and 0 < len(rid) <= 128:
        return rid
    return uuid.uuid4().hex


def _rejected(err: WebhookError, request_id: str) -> dict[str, Any]:
    level = logging.WARNING if err.status >= 500 or err.status == 409 else logging.INFO
    log_event(level, "webhook rejected", request_id=request_id, status=err.status, error=err.code, reason=err.reason)
    return response(err.status, error_body(err), error_headers(err))


def configure_logging(stream: Any = None) -> None:
    """One JSON object per line on stdout (CloudWatch keeps each line as one event)."""
    logger = log
    if logger.handlers:
        return
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    level = (os.environ.get("LOG_LEVEL") or "INFO").upper()
    logger.setLevel(level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO")


_receiver: Receiver | None = None
_receiver_lock = threading.Lock()

_FALLBACK_503 = {
    "statusCode": 503,
    "headers": {"content-type": "application/json"},
    "body": '{"status":"retry","error":"unavailable"}',
}


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Lambda entry point (``webhook_receiver.aws_lambda.handler``)."""
    global _receiver
    try:
        receiver = _receiver
        if receiver is None:
            configure_logging()
            with _receiver_lock:
                if _receiver is None:
                    _receiver = Receiver.from_env()
                receiver = _receiver
        return receiver.handle(event, context)
    except WebhookError as err:  # configuration errors: not cached, retried on the next call
        try:
            return _rejected(err, _request_id(event, context))
        except Exception:
            return dict(_FALLBACK_503)
    except Exception:
        return dict(_FALLBACK_503)


def reset() -> None:
    """Forget the per-container receiver (tests, or after changing the environment)."""
    global _receiver
    with _receiver_lock:
        _receiver = None
