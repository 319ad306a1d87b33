"""The onboarding client: a new customer's Makini Link code in, its token stored in the governed place of every
backend of the environment, with the right class and tags (see the package doc for an example)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from functions.rotation.makini_client import IssuedToken, MakiniClient, MakiniError
from functions.shared import jsonlog

from . import places
from .credits import CreditDecision, CreditGovernor, Deployment
from .stores import Outcome, Place, Removal, StoreError, TokenExists, new_request_id

logger = logging.getLogger("makini.onboarding")


class OnboardingRefused(ValueError):
    """Bad input, refused before anything was exchanged, stored or deleted; the message says what and how to fix."""


class ConnectionInAnotherClass(OnboardingRefused):
    """The connection already has a token in another run-time class: a connection is filed under one class."""


class AlreadyStored(OnboardingRefused):
    """The connection already has a token in the class on a backend, which this store did not write: onboarding
    creates and never overwrites (an identity that could would put one customer's token at another's name, or
    blank every token). A customer who reconnected gets a fresh token by rotation, or an operator replaces it."""

    def __init__(self, message: str, *, connection_id: str, access_class: str, backend: str) -> None:
        super().__init__(message)
        self.connection_id = connection_id
        self.access_class = access_class
        self.backend = backend


class StoreFailed(Exception):
    """The token was issued but a backend did not store it. ``issued`` holds it (its repr is redacted; ``None``
    for :meth:`Onboarding.store`, whose caller holds the token), ``stored_on`` the backends that did store it and
    ``request_id`` the store's id: retry with ``Onboarding.store(..., retry=this)``, which writes only the other
    backends and recognises its own earlier write where the backend shows it. The code cannot be exchanged twice."""

    def __init__(
        self,
        message: str,
        issued: IssuedToken | None,
        *,
        connection_id: str = "",
        access_class: str = "",
        request_id: str = "",
        stored_on: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(message)
        self.issued = issued
        self.connection_id = connection_id
        self.access_class = access_class
        self.request_id = request_id
        self.stored_on = stored_on


class DisconnectFailed(Exception):
    """A backend did not schedule the deletion (``done``: the backends that did); a disconnect is idempotent, so
    call :meth:`Onboarding.disconnect` again."""

    def __init__(self, message: str, done: frozenset[str]) -> None:
        super().__init__(message)
        self.done = done


@dataclass(frozen=True)
class StoredConnection:
    connection_id: str
    access_class: str
    #: Backend -> "created" or "unchanged" (a retry: this store's earlier write was there, or StoreFailed said so).
    outcomes: dict[str, Outcome]
    credits: CreditDecision | None = None
    request_id: str = ""


@dataclass(frozen=True)
class Disconnected:
    connection_id: str
    access_class: str
    #: Backend -> "scheduled", "already-deleted" or "absent" (nothing stored there).
    outcomes: dict[str, Removal]
    #: Whether Makini disconnected the connection too (``in_makini=True``).
    makini: bool = False


def token_value(token: str, connection_id: str) -> str:
    """The stored value: ``{"connection_id", "token"}`` as compact sorted JSON (the rotators add ``issued_at``
    when they rotate it)."""
    return json.dumps({"connection_id": connection_id, "token": token}, sort_keys=True, separators=(",", ":"))


def _how_to_replace(backend: str) -> str:
    where = {
        "aws": "or an operator replaces it (docs/operations.md, 'A run-time connection')",
        "vault": "or an operator writes a new version (docs/operations.md, 'A run-time connection')",
        "azure": "or an operator sets a new version (docs/operations.md, 'A run-time connection')",
    }.get(backend, "or an operator replaces it (docs/operations.md)")
    return (
        "onboarding creates and never overwrites a token. A customer who reconnected: the rotation issues a fresh "
        f"token for this connection (the rotator takes the connection from the name), {where}"
    )


@dataclass
class Onboarding:
    """Stores run-time connections' tokens of one environment in its run-time classes, on each backend's place."""

    environment: str
    runtime_classes: Sequence[str]
    stores: Sequence[Place]
    governor: CreditGovernor | None = None
    makini: MakiniClient | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.stores:
            raise OnboardingRefused(
                "no backend to store in: give at least one place (AwsPlace, VaultPlace, AzurePlace)"
            )
        bad = [c for c in self.runtime_classes if not places.CLASS_NAME.fullmatch(c)]
        if bad or not self.runtime_classes:
            raise OnboardingRefused(f"run-time classes must be class names, got {list(self.runtime_classes)!r}")
        backends = [p.backend for p in self.stores]
        if len(set(backends)) != len(backends):
            raise OnboardingRefused(f"one place per backend, got {backends}")

    # -- checks ---------------------------------------------------------------------------------

    def _check_names(self, connection_id: object, access_class: object) -> tuple[str, str]:
        if not isinstance(connection_id, str) or not connection_id:
            raise OnboardingRefused("connection_id is missing: pass Makini's connection key (e.g. '09000207611898')")
        if not places.CONNECTION_ID.fullmatch(connection_id):
            raise OnboardingRefused(
                f"connection_id {connection_id!r} is not a Makini connection key this store accepts: "
                f"{places.CONNECTION_ID_RULE}"
            )
        if not isinstance(access_class, str) or access_class not in self.runtime_classes:
            raise OnboardingRefused(
                f"unknown run-time class {access_class!r} in {self.environment}; run-time classes: "
                f"{', '.join(sorted(self.runtime_classes))} (accessClasses.<class>.runtime in the stack file; a "
                "declared class's tokens are the deployment's, never onboarding's)"
            )
        return connection_id, access_class

    def _check(self, connection_id: object, access_class: object) -> tuple[str, str]:
        """Names first, then on every backend: not in another run-time class, and not already in this one (unless
        this request wrote it: a retry)."""
        connection_id, access_class = self._check_names(connection_id, access_class)
        for other in sorted(set(self.runtime_classes) - {access_class}):
            for place in self.stores:
                if place.look(other, connection_id) in ("present", "ours"):
                    raise ConnectionInAnotherClass(
                        f"connection {connection_id} is already stored in run-time class {other!r} on {place.backend}; "
                        f"a connection is filed under one class (disconnect it first to move it to {access_class!r})"
                    )
        return connection_id, access_class

    def _refuse_existing(
        self, connection_id: str, access_class: str, request_id: str | None, skip: frozenset[str]
    ) -> frozenset[str]:
        """Refuse when a backend holds a token this request did not write; the backends where it recognises its own
        earlier write (a retry whose answer was lost) are returned, to be left alone."""
        ours: set[str] = set()
        for place in self.stores:
            if place.backend in skip:
                continue
            presence = place.look(access_class, connection_id, request_id)
            if presence in ("present", "deleted"):
                raise self._already(
                    connection_id,
                    access_class,
                    place.backend,
                    deleted=presence == "deleted",
                    retry=request_id is not None,
                )
            if presence == "ours":
                ours.add(place.backend)
        return frozenset(ours)

    def _already(
        self,
        connection_id: str,
        access_class: str,
        backend: str,
        *,
        deleted: bool,
        retry: bool = False,
        stored_on: Iterable[str] = (),
    ) -> AlreadyStored:
        if deleted:
            detail = (
                "is disconnected: its token is scheduled for deletion and recoverable; an operator restores it "
                "(docs/operations.md, 'A run-time connection') or, after the recovery window, it can be stored again"
            )
        else:
            detail = f"already has a token there that this store did not write; {_how_to_replace(backend)}"
            if retry and backend == "vault":
                detail += (
                    ". If this retries a store whose answer from Vault was lost, the token there may be this one: "
                    "Vault keeps nothing of the writer's to tell (an operator compares it)"
                )
        if stored := sorted(stored_on):
            detail += f" (this store wrote it on: {', '.join(stored)})"
        return AlreadyStored(
            f"connection {connection_id} in run-time class {access_class!r} of {self.environment} on {backend} {detail}",
            connection_id=connection_id,
            access_class=access_class,
            backend=backend,
        )

    # -- the calls ------------------------------------------------------------------------------

    def store(
        self, connection_id: str, access_class: str, token: str, *, retry: StoreFailed | None = None
    ) -> StoredConnection:
        """Store ``token`` for the connection in ``access_class`` on every backend; never over an existing token.

        ``retry``: the :class:`StoreFailed` of an earlier attempt with this token: only the backends it did not
        store on are written, with its request id (so a write whose answer was lost is recognised where the
        backend shows it: AWS, Azure)."""
        if retry is not None and (retry.connection_id, retry.access_class) != (connection_id, access_class):
            if retry.connection_id == connection_id:
                raise ConnectionInAnotherClass(
                    f"connection {connection_id} was being stored in run-time class {retry.access_class!r} "
                    f"(stored on: {', '.join(sorted(retry.stored_on)) or 'none'}); retry in that class, or disconnect "
                    f"it there first to move it to {access_class!r}"
                )
            raise OnboardingRefused(
                f"retry= is the failed store of connection {retry.connection_id!r}, not of {connection_id!r}"
            )
        connection_id, access_class = self._check_names(connection_id, access_class)
        if not isinstance(token, str) or not token.strip():
            raise OnboardingRefused(
                f"the token of connection {connection_id} must be a non-empty string (got {type(token).__name__}): "
                "pass the access_token Makini issued, as text"
            )
        self._check(connection_id, access_class)
        jsonlog.register_secret(token)
        request_id = retry.request_id if retry is not None and retry.request_id else new_request_id()
        done = retry.stored_on if retry is not None else frozenset()
        done |= self._refuse_existing(connection_id, access_class, request_id if retry is not None else None, done)
        return self._store(connection_id, access_class, token, None, None, request_id, done, retry is not None)

    def connect(
        self,
        code: str,
        redirect_uri: str,
        connection_id: str,
        access_class: str,
        *,
        tier: int,
        deployment: Deployment,
        runtime_in_use: Iterable[tuple[int, Deployment]] = (),
    ) -> StoredConnection:
        """Admit the connection against the credit pool, exchange the Link ``code`` at ``POST /link/token`` and
        store the token on every backend. ``runtime_in_use``: (tier, deployment) of every run-time connection
        already onboarded in this environment (the service's own records), for the credit governor. Refused before
        the code is exchanged when the connection already has a token in the class (:class:`AlreadyStored`)."""
        connection_id, access_class = self._check(connection_id, access_class)
        self._refuse_existing(connection_id, access_class, None, frozenset())
        decision = self.governor.admit(tier, deployment, runtime_in_use) if self.governor is not None else None
        if self.makini is None or not self.client_id or not self.client_secret:
            raise OnboardingRefused("connect needs a MakiniClient and the OAuth client (client_id, client_secret)")
        issued = self.makini.exchange_link_code(code, redirect_uri, self.client_id, self.client_secret)
        return self._store(
            connection_id, access_class, issued.token, issued, decision, new_request_id(), frozenset(), False
        )

    def disconnect(self, connection_id: str, access_class: str, *, in_makini: bool = False) -> Disconnected:
        """The inverse for a disconnected customer: schedule the deletion of the connection's token in
        ``access_class`` on every backend, recoverable by an operator within the recovery window (AWS: the stack's
        window; Azure: soft delete, never purged; Vault: the latest version soft-deleted, never destroyed).
        Idempotent: a second call is a no-op. ``in_makini=True`` (the customer asked to disconnect): first
        ``DELETE /api/system/connections/{id}`` at Makini, which invalidates every token of the connection and
        returns its credits; nothing is deleted if Makini refuses."""
        connection_id, access_class = self._check_names(connection_id, access_class)
        disconnected = False
        if in_makini:
            if self.makini is None or not self.client_id or not self.client_secret:
                raise OnboardingRefused(
                    "disconnect(in_makini=True) needs a MakiniClient and the OAuth client (client_id, client_secret)"
                )
            try:
                self.makini.disconnect_connection(
                    self.makini.system_token(self.client_id, self.client_secret), connection_id
                )
            except MakiniError as err:
                if err.status != 404:  # 404: Makini no longer knows the connection (a second disconnect)
                    raise
            disconnected = True
        outcomes: dict[str, Removal] = {}
        for place in self.stores:
            try:
                outcomes[place.backend] = place.delete(access_class, connection_id)
            except StoreError as err:
                self._log(
                    logging.ERROR,
                    "onboarding_disconnect_failed",
                    connection_id,
                    access_class,
                    place.backend,
                    done_on=sorted(outcomes),
                    error=str(err),
                )
                raise DisconnectFailed(
                    f"{err} (deletion scheduled on: {', '.join(sorted(outcomes)) or 'none'}; call disconnect again)",
                    frozenset(outcomes),
                ) from None
            self._log(
                logging.WARNING,
                "onboarding_disconnected",
                connection_id,
                access_class,
                place.backend,
                outcome=outcomes[place.backend],
            )
        return Disconnected(connection_id, access_class, outcomes, disconnected)

    def _store(
        self,
        connection_id: str,
        access_class: str,
        token: str,
        issued: IssuedToken | None,
        decision: CreditDecision | None,
        request_id: str,
        done: frozenset[str],
        retrying: bool,
    ) -> StoredConnection:
        value = token_value(token, connection_id)
        outcomes: dict[str, Outcome] = {b: "unchanged" for b in sorted(done)}
        for place in self.stores:
            if place.backend in done:
                continue
            try:
                outcomes[place.backend] = place.store(access_class, connection_id, value, request_id)
            except TokenExists as err:
                raise self._already(
                    connection_id,
                    access_class,
                    place.backend,
                    deleted=err.deleted,
                    retry=retrying,
                    stored_on=[b for b, o in outcomes.items() if o == "created"],
                ) from None
            except StoreError as err:
                stored = frozenset(outcomes)
                self._log(
                    logging.ERROR,
                    "onboarding_store_failed",
                    connection_id,
                    access_class,
                    place.backend,
                    stored_on=sorted(stored),
                    error=str(err),
                )
                raise StoreFailed(
                    f"{err} (stored on: {', '.join(sorted(stored)) or 'none'}; retry with store(..., retry=<this "
                    "error>))",
                    issued,
                    connection_id=connection_id,
                    access_class=access_class,
                    request_id=request_id,
                    stored_on=stored,
                ) from None
            self._log(
                logging.INFO,
                "onboarding_stored",
                connection_id,
                access_class,
                place.backend,
                outcome=outcomes[place.backend],
            )
        return StoredConnection(connection_id, access_class, outcomes, decision, request_id)

    def _log(
        self, level: int, event: str, connection_id: str, access_class: str, backend: str, **fields: object
    ) -> None:
        """One JSON log line about a connection on a backend (names and outcomes only, never a token)."""
        jsonlog.log(
            logger,
            level,
            event,
            environment=self.environment,
            connection_id=connection_id,
            access_class=access_class,
            backend=backend,
            **fields,
        )
