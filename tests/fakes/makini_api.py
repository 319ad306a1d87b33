"""A local fake of Makini's API, following docs/makini/FACTS.md and oas3_system.json.

    with FakeMakini() as makini:
        makini.add_connection("conn-1")
        base_url = makini.base_url       # http://127.0.0.1:<ephemeral port>
        makini.fail_next(429, count=2, retry_after=3)
        ...
        makini.requests                   # what the client sent (method, path, headers, json)

Endpoints:
- ``POST /link/token`` (JSON body) grant_type=client_credentials + client_id + client_secret ->
  ``{"access_token", "token_type": "Bearer", "expires_in"}``; wrong credentials -> 401.
  grant_type=authorization_code + code + redirect_uri + client_id + client_secret (FACTS.md: Makini Link) ->
  a new connection token ``{"access_token", "token_type": "Bearer", "expires_in": 30 days, "refresh_token"}``
  for the connection the code was made for (:meth:`FakeMakini.link_code`); a code works once, with its own
  redirect_uri, else 400.
- ``GET /api/system/connections`` (system token) -> ``{"data": [...], "links": {...}, "meta": {...}}``.
- ``POST /api/system/connections/{id}/token`` (system token) -> ``{"data": {"token", "expires_in"}}`` (the
  OAS's response schema around the ConnectionToken sample ``{"token": ..., "expires_in": ...}``), or the bare
  sample with ``token_reply_shape="unwrapped"``; ``reply_next`` answers anything else a test needs.
- ``DELETE /api/system/connections/{id}`` (system token): disconnects, invalidating every token of
  that connection at once.
- ``GET /api/integrations/current`` (connection token) -> ``{"data": {..., "sync_status"}}``;
  unknown, revoked or expired token -> 401.

Errors use Makini's documented shape: ``{"error": {"code", "type", "message", "request_id"}}`` and
an ``X-Request-Id`` header.

Token lifetime on re-issue (``revoke_previous_on_issue``): FACTS.md says a connection token stays
valid while the connection is active and is invalidated on disconnect; it does not say that issuing
a new token revokes the old one. The default here is therefore that old tokens *stay valid until the
connection is deleted* -- the property that makes zero-downtime rotation possible (readers holding
AWSCURRENT keep working while AWSPENDING is tested). Set ``revoke_previous_on_issue=True`` to model
a stricter server and test what the rotator does then.

``connection_token_lifetime`` (seconds, default 30 days) is the ``expires_in`` answered with a new
connection token and when that token stops working; ``None`` omits ``expires_in`` and the token
never expires. It may be changed on a running fake (``fake.connection_token_lifetime = 300``).
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SYNC_STATUSES = ("inprogress", "done", "fulldone", "error", "fail")
CONNECTION_TOKEN_LIFETIME = 30 * 86400  # FACTS.md: access tokens expire in 30 days
SYSTEM_TOKEN_LIFETIME = 3600


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    json: object  # parsed JSON body, or None when there was no body
    raw_body: bytes

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


@dataclass
class Fault:
    status: int | None  # None = no error, only a delay
    remaining: int
    retry_after: str | None = None
    delay: float = 0.0
    method: str | None = None
    path_prefix: str | None = None
    headers: dict[str, str] | None = None
    #: A 2xx (or any) answer with this exact JSON body instead of an error (``reply_next``).
    body: object = None
    raw: bytes | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.remaining <= 0:
            return False
        if self.method and self.method != method:
            return False
        return not (self.path_prefix and not path.startswith(self.path_prefix))


@dataclass
class Connection:
    key: str
    name: str
    email: str = "ops@example.com"
    status: str = "active"
    integration_name: str = "netsuite"
    sync_status: str = "done"
    created_at: str = field(default_factory=lambda: _now_iso())


@dataclass
class ConnectionToken:
    connection_id: str
    expires_at: float
    revoked: bool = False


_ERROR_TYPES = {
    400: ("INVALID_REQUEST", "invalid_request_error"),
    401: ("UNAUTHENTICATED", "authentication_error"),
    403: ("FORBIDDEN", "permission_error"),
    404: ("NOT_FOUND", "invalid_request_error"),
    405: ("METHOD_NOT_ALLOWED", "invalid_request_error"),
    429: ("RATE_LIMIT_EXCEEDED", "rate_limit_error"),
    500: ("INTERNAL_ERROR", "api_error"),
    502: ("BAD_GATEWAY", "api_error"),
    503: ("SERVICE_UNAVAILABLE", "api_error"),
}


def _now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


class FakeMakini:
    def __init__(
        self,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret-0123456789",
        revoke_previous_on_issue: bool = False,
        connection_token_lifetime: int | None = CONNECTION_TOKEN_LIFETIME,
        per_page: int = 15,
        token_reply_shape: str = "data",
        clock=time.time,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.revoke_previous_on_issue = revoke_previous_on_issue
        self.connection_token_lifetime = connection_token_lifetime
        self.per_page = per_page
        #: How the token call answers: "data" (``{"data": ConnectionToken}``, the OAS's response schema) or
        #: "unwrapped" (a bare ``{"token", "expires_in"}``, the shape of the OAS's sample payload).
        self.token_reply_shape = token_reply_shape
        self.clock = clock
        self.connections: dict[str, Connection] = {}
        self._system_tokens: dict[str, float] = {}
        self._connection_tokens: dict[str, ConnectionToken] = {}
        #: Link authorization codes: code -> (connection key, redirect_uri); removed when exchanged.
        self._link_codes: dict[str, tuple[str, str]] = {}
        self._faults: list[Fault] = []
        self._requests: list[RecordedRequest] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> FakeMakini:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeMakini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeMakini is not running: use it as a context manager or call start()")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- state helpers for tests ------------------------------------------------------------

    def add_connection(self, key: str, *, name: str | None = None, sync_status: str = "done") -> Connection:
        if sync_status not in SYNC_STATUSES:
            raise ValueError(f"sync_status must be one of {SYNC_STATUSES}")
        with self._lock:
            conn = Connection(key=key, name=name or f"Connection {key}", sync_status=sync_status)
            self.connections[key] = conn
            return conn

    def set_sync_status(self, key: str, sync_status: str) -> None:
        if sync_status not in SYNC_STATUSES:
            raise ValueError(f"sync_status must be one of {SYNC_STATUSES}")
        with self._lock:
            self.connections[key].sync_status = sync_status

    def link_code(self, connection_id: str, redirect_uri: str = "https://app.example.com/makini/callback") -> str:
        """What Makini Link hands the product's redirect after a customer connects: a single-use code (the
        connection is created if it does not exist yet)."""
        with self._lock:
            if connection_id not in self.connections:
                self.connections[connection_id] = Connection(key=connection_id, name=f"Connection {connection_id}")
            code = "mklc_" + secrets.token_urlsafe(24)
            self._link_codes[code] = (connection_id, redirect_uri)
            return code

    def mint_connection_token(self, connection_id: str) -> str:
        """A token as if issued earlier (e.g. the value already in AWSCURRENT)."""
        with self._lock:
            return self._issue(connection_id)

    def token_is_valid(self, token: str) -> bool:
        with self._lock:
            return self._connection_token(token) is not None

    def tokens_issued(self, connection_id: str) -> list[str]:
        with self._lock:
            return [t for t, rec in self._connection_tokens.items() if rec.connection_id == connection_id]

    def revoke_token(self, token: str) -> None:
        with self._lock:
            self._connection_tokens[token].revoked = True

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # -- fault injection --------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        retry_after: str | int | float | None = None,
        method: str | None = None,
        path_prefix: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``count`` matching responses are ``status`` (e.g. 429 with Retry-After, 503, 401;
        a 3xx with ``headers={"Location": ...}``)."""
        with self._lock:
            self._faults.append(
                Fault(
                    status=status,
                    remaining=count,
                    method=method,
                    path_prefix=path_prefix,
                    retry_after=None if retry_after is None else str(retry_after),
                    headers=headers,
                )
            )

    def reply_next(
        self,
        status: int,
        body: object = None,
        *,
        raw: bytes | None = None,
        count: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """The next ``count`` matching requests are answered ``status`` with exactly this JSON ``body``
        (or these ``raw`` bytes): replies Makini does not document, to test what a client does with them."""
        with self._lock:
            self._faults.append(
                Fault(status=status, remaining=count, method=method, path_prefix=path_prefix, body=body, raw=raw)
            )

    def slow_next(
        self, delay: float, *, count: int = 1, method: str | None = None, path_prefix: str | None = None
    ) -> None:
        """The next ``count`` matching responses are delayed by ``delay`` seconds."""
        with self._lock:
            self._faults.append(
                Fault(status=None, remaining=count, delay=delay, method=method, path_prefix=path_prefix)
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    # -- domain -----------------------------------------------------------------------------

    def _issue(self, connection_id: str) -> str:
        if self.revoke_previous_on_issue:
            for rec in self._connection_tokens.values():
                if rec.connection_id == connection_id:
                    rec.revoked = True
        token = "mkc_" + secrets.token_urlsafe(32)
        lifetime = self.connection_token_lifetime  # None: no expiry, and no expires_in in the answer
        self._connection_tokens[token] = ConnectionToken(
            connection_id=connection_id, expires_at=float("inf") if lifetime is None else self.clock() + lifetime
        )
        return token

    def _connection_token(self, token: str | None) -> ConnectionToken | None:
        rec = self._connection_tokens.get(token or "")
        if rec is None or rec.revoked or rec.expires_at <= self.clock():
            return None
        if rec.connection_id not in self.connections:
            return None
        return rec

    def _system_token_ok(self, token: str | None) -> bool:
        expiry = self._system_tokens.get(token or "")
        return expiry is not None and expiry > self.clock()

    def handle(self, req: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        """Route one request; returns (status, JSON body, extra headers)."""
        method, path = req.method, req.path
        with self._lock:
            if path == "/link/token":
                if method != "POST":
                    return _error(405, "Use POST /link/token")
                return self._link_token(req)
            if path == "/api/integrations/current":
                if method != "GET":
                    return _error(405, "Only GET is implemented by the fake")
                rec = self._connection_token(req.bearer)
                if rec is None:
                    return _error(401, "Token invalid or expired: reauthorisation needed")
                conn = self.connections[rec.connection_id]
                return (
                    200,
                    {
                        "data": {
                            "id": conn.key,
                            "company_name": conn.name,
                            "email": conn.email,
                            "provider": conn.integration_name,
                            "updated_at": conn.created_at,
                            "sync_status": conn.sync_status,
                            "sync_updated_at": _now_iso(),
                        }
                    },
                    {},
                )
            if path.startswith("/api/system/"):
                if not self._system_token_ok(req.bearer):
                    return _error(401, "System token missing, invalid or expired")
                return self._system(req)
            return _error(404, f"No route for {method} {path}")

    def _link_token(self, req: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        body = req.json
        if not isinstance(body, dict):
            return _error(400, "Body must be a JSON object")
        grant = body.get("grant_type")
        if grant == "authorization_code":
            return self._link_code_exchange(body)
        if grant != "client_credentials":
            return _error(400, "unsupported grant_type (the fake implements client_credentials and authorization_code)")
        if not body.get("client_id") or not body.get("client_secret"):
            return _error(400, "client_id and client_secret are required")
        if not (
            secrets.compare_digest(str(body["client_id"]), self.client_id)
            and secrets.compare_digest(str(body["client_secret"]), self.client_secret)
        ):
            return _error(401, "Client authentication failed")
        token = "mks_" + secrets.token_urlsafe(32)
        self._system_tokens[token] = self.clock() + SYSTEM_TOKEN_LIFETIME
        return 200, {"access_token": token, "token_type": "Bearer", "expires_in": SYSTEM_TOKEN_LIFETIME}, {}

    def _link_code_exchange(self, body: dict) -> tuple[int, dict, dict[str, str]]:
        missing = sorted({"code", "redirect_uri", "client_id", "client_secret"} - {k for k, v in body.items() if v})
        if missing:
            return _error(400, f"missing: {', '.join(missing)}")
        if not (
            secrets.compare_digest(str(body["client_id"]), self.client_id)
            and secrets.compare_digest(str(body["client_secret"]), self.client_secret)
        ):
            return _error(401, "Client authentication failed")
        found = self._link_codes.get(str(body["code"]))
        if found is None or found[1] != body["redirect_uri"]:
            return _error(400, "invalid_grant: the code is unknown, used, or was issued for another redirect_uri")
        del self._link_codes[str(body["code"])]
        token = self._issue(found[0])
        return (
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": CONNECTION_TOKEN_LIFETIME,
                "refresh_token": "mkr_" + secrets.token_urlsafe(24),
            },
            {},
        )

    def _system(self, req: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        parts = [unquote(p) for p in req.path.split("/")[1:]]  # api, system, connections, ...
        if parts[:3] != ["api", "system", "connections"]:
            return _error(404, f"No route for {req.method} {req.path}")
        if len(parts) == 3:
            if req.method != "GET":
                return _error(405, "Only GET /api/system/connections is implemented by the fake")
            return self._list(req)
        conn_id = parts[3]
        if conn_id not in self.connections:
            return _error(404, f"Connection {conn_id} not found")
        if len(parts) == 5 and parts[4] == "token" and req.method == "POST":
            token = self._issue(conn_id)
            data: dict[str, object] = {"token": token}
            if self.connection_token_lifetime is not None:
                data["expires_in"] = self.connection_token_lifetime
            if self.token_reply_shape == "unwrapped":
                return 200, data, {}
            return 200, {"data": data}, {}
        if len(parts) == 4 and req.method == "DELETE":
            del self.connections[conn_id]
            for rec in self._connection_tokens.values():
                if rec.connection_id == conn_id:
                    rec.revoked = True
            return 200, {}, {}
        return _error(405, f"{req.method} {req.path} is not implemented by the fake")

    def _list(self, req: RecordedRequest) -> tuple[int, dict, dict[str, str]]:
        try:
            page = max(1, int((req.query.get("page") or ["1"])[0]))
        except ValueError:
            return _error(400, "page must be an integer")
        items = sorted(self.connections.values(), key=lambda c: c.key)
        total = len(items)
        last = max(1, -(-total // self.per_page))
        chunk = items[(page - 1) * self.per_page : page * self.per_page]
        path = self.base_url + "/api/system/connections"
        data = [
            {
                "key": c.key,
                "name": c.name,
                "email": c.email,
                "status": c.status,
                "integration_name": c.integration_name,
                "redirect": "",
                "scopes": "",
                "tags": [],
                "user_metadata": "",
                "client_id": self.client_id,
                "updated_at": c.created_at,
                "created_at": c.created_at,
                "connected_at": c.created_at,
            }
            for c in chunk
        ]
        first_index = (page - 1) * self.per_page + 1
        return (
            200,
            {
                "data": data,
                "links": {
                    "first": f"{path}?page=1",
                    "last": f"{path}?page={last}",
                    "prev": f"{path}?page={page - 1}" if page > 1 else None,
                    "next": f"{path}?page={page + 1}" if page < last else None,
                },
                "meta": {
                    "current_page": page,
                    "from": first_index if chunk else None,
                    "last_page": last,
                    "path": path,
                    "per_page": self.per_page,
                    "to": first_index + len(chunk) - 1 if chunk else None,
                    "total": total,
                },
            },
            {},
        )


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> tuple[int, dict, dict[str, str]]:
    code, etype = _ERROR_TYPES.get(status, ("ERROR", "api_error"))
    return (
        status,
        {"error": {"code": code, "type": etype, "message": message, "request_id": "req_" + uuid.uuid4().hex[:16]}},
        dict(headers or {}),
    )


def _make_handler(fake: FakeMakini) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "FakeMakini/1"

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            return

        def _serve(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                parsed = json.loads(raw) if raw else None
            except ValueError:
                parsed = "<invalid json>"
            req = RecordedRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                json=parsed,
                raw_body=raw,
            )
            with fake._lock:
                fake._requests.append(req)
            fault = fake._take_fault(req.method, req.path)
            extra: dict[str, str] = {}
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            raw_payload: bytes | None = None
            if fault is not None and fault.status is not None and (fault.body is not None or fault.raw is not None):
                status, body, extra = fault.status, fault.body if fault.body is not None else {}, {}
                raw_payload = fault.raw
            elif fault is not None and fault.status is not None:
                status, body, extra = _error(fault.status, f"Injected fault {fault.status}")
                if fault.retry_after is not None:
                    extra["Retry-After"] = fault.retry_after
                extra.update(fault.headers or {})
            elif parsed == "<invalid json>":
                status, body, extra = _error(400, "Body is not valid JSON")
            else:
                status, body, extra = fake.handle(req)
            payload = raw_payload if raw_payload is not None else json.dumps(body).encode()
            error = body.get("error") if isinstance(body, dict) else None
            request_id = error.get("request_id") if isinstance(error, dict) else None
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Request-Id", request_id or "req_" + uuid.uuid4().hex[:16])
                for name, value in extra.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout test)
                pass

        do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    return Handler
