"""A small Makini API client for rotation (standard library only: urllib).

Endpoints (FACTS.md and Makini's system OAS):
- ``POST /link/token`` (JSON body, ``grant_type=client_credentials``) -> system token;
- ``POST /api/system/connections/{id}/token`` (system token) -> a fresh connection token;
- ``GET /api/integrations/current`` (connection token) -> ``data.sync_status``;
- ``GET /api/system/connections`` (system token) -> paginated connections.

Retries: 429 honours ``Retry-After`` and 5xx/network errors back off exponentially, both within
``RetryPolicy`` (attempts and a total wait cap) and an optional absolute deadline, so a Lambda
never sleeps past its own timeout. 401 is never retried. Error messages carry the HTTP status,
Makini's error code/type/message and request id, never a token or secret.

Host pin: the client talks only to Makini's documented API host (:data:`MAKINI_HOSTS`, from FACTS.md
and the ``servers`` of Makini's OAS), over https, with no port, user info, path, query or fragment.
``MAKINI_API_BASE`` (or ``base_url``) may only name that host; anything else is refused with
:class:`MakiniHostRefused` when the client is built, before any request, so whoever can edit a
function's configuration cannot redirect the OAuth client secret or a token to their own server.
The one exception is a test fake on ``127.0.0.1`` with an explicit port, and only when the caller
passes ``allow_loopback=True`` in code: no setting, environment variable or app configuration can
turn it on (a test in the suite checks that no runtime module passes it).
"""

from __future__ import annotations

import email.message
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from functions.shared import jsonlog

from .backoff import RetryPolicy, next_wait, parse_retry_after

DEFAULT_BASE_URL = "https://api.makini.io"
#: Makini's documented API hosts (FACTS.md: "the API host is https://api.makini.io"; the OAS ``servers``).
MAKINI_HOSTS = frozenset({"api.makini.io"})
#: The only host a test fake may use, and only with ``allow_loopback=True`` passed in code.
LOOPBACK_HOST = "127.0.0.1"
ENV_API_BASE = "MAKINI_API_BASE"
USER_AGENT = "makini-infra-rotation/1"
logger = logging.getLogger(__name__)


class MakiniHostRefused(ValueError):
    """The Makini API base URL names something other than Makini's documented host; nothing was sent."""


def pinned_base_url(value: str | None, *, allow_loopback: bool = False) -> str:
    """The Makini API base URL to use, or :class:`MakiniHostRefused`.

    ``None`` or ``""`` gives :data:`DEFAULT_BASE_URL`. Accepted: ``https://<host>`` (optionally with a
    trailing ``/``) for a host in :data:`MAKINI_HOSTS`, compared after lower-casing; with
    ``allow_loopback`` also ``http(s)://127.0.0.1:<port>``. Refused: any other host (look-alikes,
    IDN and punycode names, a trailing dot, IP addresses), user info (``user@``, ``a@b``), any port,
    a path, query or fragment, plain http, non-ASCII, whitespace, control characters and
    backslashes. The message names the reason and the host, never the whole value (a URL with user
    info may carry a password).
    """
    raw = DEFAULT_BASE_URL if value is None or value == "" else value
    fix = f"unset {ENV_API_BASE} (the default is {DEFAULT_BASE_URL})"

    def refuse(reason: str) -> MakiniHostRefused:
        return MakiniHostRefused(
            f"{ENV_API_BASE} is refused: {reason}. The Makini API is reached only at {DEFAULT_BASE_URL} "
            f"(Makini's documented host: https, no other host, port, user info or path), so the OAuth client "
            f"secret and tokens are never sent anywhere else. Fix: {fix}. Nothing was sent."
        )

    if not isinstance(raw, str):
        raise refuse(f"it must be a string, not {type(raw).__name__}")
    if not raw.isascii():
        raise refuse("it holds non-ASCII characters (internationalised or look-alike host names are not Makini's)")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 or c == "\\" for c in raw):
        raise refuse("it holds whitespace, control characters or a backslash")
    parts = urllib.parse.urlsplit(raw)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        raise refuse(f"it must be an absolute URL such as {DEFAULT_BASE_URL}")
    if "@" in parts.netloc:
        raise refuse("it holds user info (an '@' before the host)")
    if parts.path not in ("", "/") or parts.query or parts.fragment or raw.endswith(("?", "#")):
        raise refuse("it holds a path, query or fragment; give the bare origin")
    try:
        port = parts.port
    except ValueError:
        raise refuse("its port is not a number in 0-65535") from None
    host = (parts.hostname or "").lower()
    shown = host[:80]
    if allow_loopback and host == LOOPBACK_HOST:
        if port is None or parts.netloc != f"{LOOPBACK_HOST}:{port}":
            raise refuse(f"a test fake on {LOOPBACK_HOST} needs an explicit port")
        return f"{scheme}://{LOOPBACK_HOST}:{port}"
    if host not in MAKINI_HOSTS:
        raise refuse(f"host {shown!r} is not a documented Makini API host ({', '.join(sorted(MAKINI_HOSTS))})")
    if parts.netloc.lower() != host or port is not None:
        raise refuse(f"it names a port ({parts.netloc.rsplit(':', 1)[-1][:10]!r}); Makini's API has none")
    if scheme != "https":
        raise refuse("it uses plain http; the Makini API is https only")
    return f"https://{host}"


class MakiniError(Exception):
    """A Makini call failed. Carries no token or secret, only status and Makini's error fields."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id


class MakiniAuthError(MakiniError):
    """401: credentials or token invalid, expired or revoked. Never retried."""


class MakiniRateLimited(MakiniError):
    """429 beyond the retry budget (or a Retry-After longer than the time left)."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, code=code, request_id=request_id)
        self.retry_after = retry_after


class MakiniUnavailable(MakiniError):
    """5xx or network failure that persisted through the retries."""


class MakiniBadReply(MakiniError):
    """Makini answered, but not as its API is documented (shape, token or lifetime): nothing can be stored.
    The message names the connection and what was wrong, never a token."""


#: The two shapes of a token reply the client accepts (README, "The token call").
REPLY_DATA = "data"  # {"data": ConnectionToken}: the OAS's response schema
REPLY_UNWRAPPED = "unwrapped"  # {"token", "expires_in"}: the OAS's sample payload


@dataclass(frozen=True)
class IssuedToken:
    token: str
    #: Seconds the token is valid for, or None: no expiry (valid while the connection is active).
    expires_in: int | None
    #: Which shape the reply had: REPLY_DATA or REPLY_UNWRAPPED.
    reply_shape: str = REPLY_DATA

    @property
    def lifetime(self) -> str:
        """``no expiry`` or ``<seconds> s``: what the logs say about the token, never the token."""
        return "no expiry" if self.expires_in is None else f"{self.expires_in} s"

    def __repr__(self) -> str:  # never show the token
        return f"IssuedToken(token='[redacted]', expires_in={self.expires_in!r}, reply_shape={self.reply_shape!r})"


def read_token_reply(data: object, connection_id: str) -> IssuedToken:
    """The issued token from the body of ``POST /api/system/connections/{id}/token`` (pure).

    Accepted: ``{"data": {"token", "expires_in"?}}`` (the documented response schema) and a bare
    ``{"token", "expires_in"?}`` (the OAS's sample payload). ``token`` is a non-empty string
    (``access_token``, ConnectionStore's name for it, is read when ``token`` is absent); ``expires_in`` is
    absent or null (no expiry: FACTS.md says tokens stay valid while the connection is active) or a
    positive whole number of seconds. Anything else raises :class:`MakiniBadReply`.
    """
    where = f"Makini's answer to the token request for connection {connection_id}"
    if not isinstance(data, dict):
        raise MakiniBadReply(f"{where} is not a JSON object ({type(data).__name__}); nothing was stored")
    if "data" in data and ("token" in data or "access_token" in data):
        raise MakiniBadReply(f"{where} has both a data object and a top-level token; refusing to guess which is meant")
    if "data" in data:
        payload, shape = data["data"], REPLY_DATA
        if payload is not None and not isinstance(payload, dict):
            raise MakiniBadReply(f"{where}: data is not an object ({type(payload).__name__}); nothing was stored")
        payload = payload or {}
    else:
        payload, shape = data, REPLY_UNWRAPPED
    token = payload.get("token")
    if token is None:
        token = payload.get("access_token")
    if not isinstance(token, str) or not token:
        raise MakiniBadReply(f"{where} carries no token (a non-empty string under token); nothing was stored")
    jsonlog.register_secret(token)
    raw = payload.get("expires_in")
    expires_in: int | None
    if raw is None:
        expires_in = None
    elif isinstance(raw, bool) or not isinstance(raw, int | float) or (isinstance(raw, float) and not raw.is_integer()):
        raise MakiniBadReply(
            f"{where}: expires_in is {_safe_text(raw, 40)!r} ({type(raw).__name__}), not a whole number of seconds; "
            "nothing was stored"
        )
    elif raw <= 0:
        raise MakiniBadReply(f"{where}: expires_in is {raw}, not a positive number of seconds; nothing was stored")
    else:
        expires_in = int(raw)
    return IssuedToken(token=token, expires_in=expires_in, reply_shape=shape)


class RateGate:
    """One pause shared by every request of a run (e.g. the doctor's worker threads).

    When Makini answers 429 with ``Retry-After``, the request that got it waits as the retry policy
    says, and every other request sharing the gate waits until the same moment before it is sent,
    instead of each thread discovering the limit for itself. Thread-safe.
    """

    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._until = 0.0
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        """Hold every request until ``seconds`` from now (never shortens a longer pause)."""
        with self._lock:
            self._until = max(self._until, self._clock() + max(0.0, seconds))
            self.pauses += 1

    def wait(self) -> None:
        """Block until the current pause (if any) is over."""
        while True:
            with self._lock:
                left = self._until - self._clock()
            if left <= 0:
                return
            self._sleep(left)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Never follow redirects: urllib would resend the Authorization header to the new location."""

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: email.message.Message,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _safe_text(value: object, limit: int = 200) -> str:
    text = str(value) if value is not None else ""
    return jsonlog.mask(text)[:limit]


class MakiniClient:
    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = 5.0,
        policy: RetryPolicy | None = None,
        deadline: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
        gate: RateGate | None = None,
        allow_loopback: bool = False,
    ) -> None:
        # The pin (see the module doc): refused here, before any request can carry a secret.
        self.base_url = pinned_base_url(
            base_url if base_url is not None else os.environ.get(ENV_API_BASE), allow_loopback=allow_loopback
        )
        self.timeout = timeout
        self.policy = policy or RetryPolicy()
        self.deadline = deadline
        self._sleep = sleep
        self._clock = clock
        self._jitter = jitter
        self._gate = gate

    # -- public API -------------------------------------------------------------------------

    def system_token(self, client_id: str, client_secret: str) -> str:
        if not client_id or not client_secret:
            raise MakiniError("OAuth client credentials are incomplete: client_id and client_secret are required")
        jsonlog.register_secret(client_secret)
        body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
        data = self._request("POST", "/link/token", json_body=body, what="system token")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise MakiniError("Makini /link/token answered without an access_token")
        jsonlog.register_secret(token)
        return token

    def exchange_link_code(self, code: str, redirect_uri: str, client_id: str, client_secret: str) -> IssuedToken:
        """A new customer's connection token: the Makini Link authorization code exchanged at ``POST /link/token``
        (``grant_type=authorization_code``, FACTS.md). Retried like every call (429, 5xx, network); a code Makini
        already consumed answers 400, raised as :class:`MakiniError`. The code, the client secret and the token
        are registered with the logger's masking before anything is sent or returned."""
        if not code or not redirect_uri:
            raise MakiniError("the Link authorization code and its redirect_uri are required")
        if not client_id or not client_secret:
            raise MakiniError("OAuth client credentials are incomplete: client_id and client_secret are required")
        jsonlog.register_secret(client_secret)
        jsonlog.register_secret(code)
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        }
        data = self._request("POST", "/link/token", json_body=body, what="Link code exchange")
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise MakiniError("Makini /link/token answered the code exchange without an access_token")
        jsonlog.register_secret(token)
        expires = data.get("expires_in") if isinstance(data, dict) else None
        return IssuedToken(token, expires if isinstance(expires, int) and not isinstance(expires, bool) else None)

    def issue_connection_token(self, system_token: str, connection_id: str) -> IssuedToken:
        """A fresh connection token (:func:`read_token_reply` says what is accepted). The body is ``{}``: the
        OAS's request schema lists no property, and its sample (``{"token": "{{TOKEN_GENERATED}}",
        "expires_in": 300}``) holds the token Makini generates, so it describes the answer; no lifetime is
        asked for. Logs ``connection_token_issued`` with the reply's shape and lifetime, never the token."""
        if not connection_id:
            raise MakiniError("connection id is empty: cannot issue a connection token")
        path = "/api/system/connections/" + urllib.parse.quote(connection_id, safe="") + "/token"
        data = self._request(
            "POST", path, bearer=system_token, json_body={}, what=f"connection token for connection {connection_id}"
        )
        issued = read_token_reply(data, connection_id)
        jsonlog.log(
            logger,
            logging.INFO,
            "connection_token_issued",
            connection_id=connection_id,
            reply_shape=issued.reply_shape,
            expires_in=issued.expires_in,
            lifetime=issued.lifetime,
        )
        return issued

    def disconnect_connection(self, system_token: str, connection_id: str) -> None:
        """``DELETE /api/system/connections/{id}``: Makini invalidates every token of the connection at once (the
        only way to revoke one: a new token leaves the old ones valid) and returns its credits; the customer must
        reconnect through Makini Link. The OAS documents a 200 with a JSON object; an empty body is accepted."""
        if not connection_id:
            raise MakiniError("connection id is empty: nothing to disconnect")
        path = "/api/system/connections/" + urllib.parse.quote(connection_id, safe="")
        self._request(
            "DELETE", path, bearer=system_token, what=f"disconnect of connection {connection_id}", allow_empty=True
        )
        jsonlog.log(logger, logging.WARNING, "connection_disconnected", connection_id=connection_id)

    def check_token(self, token: str) -> str:
        """GET /api/integrations/current with a connection token; returns its sync_status."""
        jsonlog.register_secret(token)
        data = self._request("GET", "/api/integrations/current", bearer=token, what="token check")
        payload = data.get("data") if isinstance(data, dict) else None
        status = payload.get("sync_status") if isinstance(payload, dict) else None
        if not isinstance(status, str):
            raise MakiniError("Makini /api/integrations/current answered without data.sync_status")
        return status

    def list_connections(
        self,
        system_token: str,
        *,
        max_pages: int = 1000,
        on_page: Callable[[int, int | None], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every connection, page by page (``?page=N``, following ``links.next`` / ``meta.last_page``).

        ``on_page(page, last_page)`` is called after each page (progress). More than ``max_pages``
        pages raises :class:`MakiniError` rather than returning a silently truncated list. The next
        page is always built on the pinned base URL: ``links`` from the answer are never followed.
        """
        page = 1
        while True:
            data = self._request(
                "GET", f"/api/system/connections?page={page}", bearer=system_token, what="connection list"
            )
            if not isinstance(data, dict) or not isinstance(data.get("data") or [], list):
                raise MakiniBadReply(f"Makini connection list: page {page} is not {{data: [...], links, meta}}")
            yield from data.get("data") or []
            meta = data.get("meta")
            raw_last = meta.get("last_page") if isinstance(meta, dict) else None
            try:
                last_page = int(raw_last) if raw_last is not None else None
            except (TypeError, ValueError):
                last_page = None
            if on_page is not None:
                on_page(page, last_page)
            links = data.get("links")
            has_next = bool(links.get("next")) if isinstance(links, dict) else False
            if not has_next or (last_page is not None and page >= last_page):
                return
            if page >= max_pages:
                raise MakiniError(
                    f"Makini connection list: more than {max_pages} pages; stopped rather than return a partial list"
                )
            page += 1

    # -- transport --------------------------------------------------------------------------

    def _time_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - self._clock()

    def _request(
        self,
        method: str,
        path: str,
        *,
        bearer: str | None = None,
        json_body: dict[str, Any] | None = None,
        what: str,
        allow_empty: bool = False,
    ) -> Any:
        """The decoded JSON answer (any JSON value: callers check its shape). An empty answer is refused
        (:class:`MakiniBadReply`) unless ``allow_empty``, where it reads as ``{}``."""
        url = self.base_url + path
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        payload = None
        if json_body is not None:
            payload = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if bearer is not None:
            headers["Authorization"] = "Bearer " + bearer
        waited = 0.0
        attempt = 0
        log_path = path.split("?", 1)[0]
        while True:
            left = self._time_left()
            if left is not None and left <= 0:
                raise MakiniUnavailable(
                    f"Makini {what}: no time left before the deadline; not calling {method} {log_path}"
                )
            timeout = self.timeout if left is None else max(0.05, min(self.timeout, left))
            if self._gate is not None:
                self._gate.wait()
            req = urllib.request.Request(url, data=payload, headers=headers, method=method)
            retry_after: float | None = None
            try:
                with _OPENER.open(req, timeout=timeout) as resp:
                    raw = resp.read()
                    answered = resp.status
                if not raw.strip():
                    if allow_empty:
                        return {}
                    raise MakiniBadReply(f"Makini {what}: {method} {log_path} answered HTTP {answered} with no body")
                try:
                    # Makini answers with JSON objects (docs/makini/oas3_system.json).
                    return json.loads(raw)
                except ValueError:
                    raise MakiniBadReply(
                        f"Makini {what}: {method} {log_path} answered HTTP {answered} with invalid JSON"
                    ) from None
            except urllib.error.HTTPError as err:
                status = err.code
                body = _read_error(err)
                code, etype, message, request_id = _error_fields(body, err)
                detail = f"HTTP {status}" + (f" {code}" if code else "") + (f" ({etype})" if etype else "")
                detail += (f": {message}" if message else "") + (f" [request id {request_id}]" if request_id else "")
                if status == 401:
                    raise MakiniAuthError(
                        f"Makini {what}: {method} {log_path} was refused with {detail}. "
                        "Check the OAuth client credentials or reconnect the connection.",
                        status=status,
                        code=code,
                        request_id=request_id,
                    ) from None
                if status == 429:
                    retry_after = parse_retry_after(err.headers.get("Retry-After") if err.headers else None)
                    failure: MakiniError = MakiniRateLimited(
                        f"Makini {what}: {method} {log_path} still rate limited after {attempt + 1} attempt(s), "
                        f"{waited:.1f}s waited ({detail}); Retry-After={retry_after}",
                        status=status,
                        code=code,
                        request_id=request_id,
                        retry_after=retry_after,
                    )
                elif status >= 500:
                    failure = MakiniUnavailable(
                        f"Makini {what}: {method} {log_path} failed after {attempt + 1} attempt(s) with {detail}",
                        status=status,
                        code=code,
                        request_id=request_id,
                    )
                else:
                    raise MakiniError(
                        f"Makini {what}: {method} {log_path} was rejected with {detail}",
                        status=status,
                        code=code,
                        request_id=request_id,
                    ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                reason = getattr(err, "reason", err)
                failure = MakiniUnavailable(
                    f"Makini {what}: {method} {log_path} failed after {attempt + 1} attempt(s): "
                    f"{type(reason).__name__}: {_safe_text(reason)}"
                )
            wait = next_wait(
                attempt=attempt,
                retry_after=retry_after,
                waited_so_far=waited,
                policy=self.policy,
                jitter=self._jitter(),
                time_left=None if left is None else self._time_left_after_request(),
            )
            if wait is None:
                raise failure
            if retry_after is not None and self._gate is not None:
                self._gate.pause(wait)
            jsonlog.log(
                logger,
                logging.WARNING,
                "makini_retry",
                what=what,
                method=method,
                path=log_path,
                attempt=attempt + 1,
                status=failure.status,
                wait_seconds=round(wait, 3),
            )
            self._sleep(wait)
            waited += wait
            attempt += 1

    def _time_left_after_request(self) -> float | None:
        """Time left for sleeping: the deadline minus room for one more request."""
        left = self._time_left()
        if left is None:
            return None
        return left - self.timeout


def _read_error(err: urllib.error.HTTPError) -> object:
    try:
        raw = err.read()
    except Exception:  # noqa: BLE001 - a broken error body must not hide the status
        return None
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error_fields(body: object, err: urllib.error.HTTPError) -> tuple[str | None, str | None, str | None, str | None]:
    code = etype = message = request_id = None
    if isinstance(body, dict):
        error = body.get("error")
        inner = error if isinstance(error, dict) else body
        code = inner.get("code") if isinstance(inner.get("code"), str) else None
        etype = inner.get("type") if isinstance(inner.get("type"), str) else None
        message = inner.get("message") if isinstance(inner.get("message"), str) else None
        rid = inner.get("request_id") or body.get("request_id")
        request_id = rid if isinstance(rid, str) else None
    if request_id is None and err.headers is not None:
        request_id = err.headers.get("X-Request-Id")
    return (
        _safe_text(code, 64) or None,
        _safe_text(etype, 64) or None,
        _safe_text(message) or None,
        _safe_text(request_id, 100) or None,
    )
