"""The onboarding client: a new customer's Makini Link code in, its token stored in the governed place of every
backend of the environment, with the right class and tags (see the package doc for an example)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from functions.rotation.makini_client import IssuedToken, MakiniClient
from functions.shared import jsonlog

from . import places
from .credits import CreditDecision, CreditGovernor, Deployment
from .stores import Outcome, Place, StoreError

logger = logging.getLogger("makini.onboarding")


class OnboardingRefused(ValueError):
    """Bad input, refused before anything was exchanged or stored; the message says what and how to fix it."""


class ConnectionInAnotherClass(OnboardingRefused):
    """The connection already has a token in another run-time class: a connection is filed under one class."""


class StoreFailed(Exception):
    """The token was issued but a backend did not store it. ``issued`` holds it (its repr is redacted): call
    :meth:`Onboarding.store` again with it (stores are idempotent); the code itself cannot be exchanged twice."""

    def __init__(self, message: str, issued: IssuedToken | None) -> None:
        super().__init__(message)
        self.issued = issued


@dataclass(frozen=True)
class StoredConnection:
    connection_id: str
    access_class: str
    #: Backend -> "created" or "updated".
    outcomes: dict[str, Outcome]
    credits: CreditDecision | None = None


def token_value(token: str, connection_id: str) -> str:
    """The stored value: ``{"connection_id", "token"}`` as compact sorted JSON (the same on a retry, so the store is
    idempotent; the rotators add ``issued_at`` when they rotate it)."""
    return json.dumps({"connection_id": connection_id, "token": token}, sort_keys=True, separators=(",", ":"))


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

    # -- checks ---------------------------------------------------------------------------------

    def _check(self, connection_id: object, access_class: object) -> tuple[str, str]:
        if not isinstance(connection_id, str) or not connection_id:
            raise OnboardingRefused("connection_id is missing: pass Makini's connection key (e.g. '09000207611898')")
        if not places.CONNECTION_ID.fullmatch(connection_id):
            raise OnboardingRefused(
                f"connection_id {connection_id!r} is not a Makini connection key this store accepts: "
                f"{places.CONNECTION_ID_RULE}"
            )
        if access_class not in self.runtime_classes:
            raise OnboardingRefused(
                f"unknown run-time class {access_class!r} in {self.environment}; run-time classes: "
                f"{', '.join(sorted(self.runtime_classes))} (accessClasses.<class>.runtime in the stack file)"
            )
        assert isinstance(access_class, str)
        for other in sorted(set(self.runtime_classes) - {access_class}):
            for place in self.stores:
                if place.holds(other, connection_id):
                    raise ConnectionInAnotherClass(
                        f"connection {connection_id} is already stored in run-time class {other!r} on {place.backend}; "
                        f"a connection is filed under one class (disconnect it first to move it to {access_class!r})"
                    )
        return connection_id, access_class

    # -- the two calls --------------------------------------------------------------------------

    def store(self, connection_id: str, access_class: str, token: str) -> StoredConnection:
        """Store ``token`` for the connection in ``access_class`` on every backend; idempotent on retries."""
        connection_id, access_class = self._check(connection_id, access_class)
        if not isinstance(token, str) or not token.strip():
            raise OnboardingRefused(f"the token of connection {connection_id} must be a non-empty string")
        jsonlog.register_secret(token)
        return self._store(connection_id, access_class, token, None, None)

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
        already onboarded in this environment (the service's own records), for the credit governor."""
        connection_id, access_class = self._check(connection_id, access_class)
        decision = self.governor.admit(tier, deployment, runtime_in_use) if self.governor is not None else None
        if self.makini is None or not self.client_id or not self.client_secret:
            raise OnboardingRefused("connect needs a MakiniClient and the OAuth client (client_id, client_secret)")
        issued = self.makini.exchange_link_code(code, redirect_uri, self.client_id, self.client_secret)
        return self._store(connection_id, access_class, issued.token, issued, decision)

    def _store(
        self,
        connection_id: str,
        access_class: str,
        token: str,
        issued: IssuedToken | None,
        decision: CreditDecision | None,
    ) -> StoredConnection:
        value = token_value(token, connection_id)
        outcomes: dict[str, Outcome] = {}
        for place in self.stores:
            try:
                outcomes[place.backend] = place.store(access_class, connection_id, value)
            except StoreError as err:
                jsonlog.log(
                    logger,
                    logging.ERROR,
                    "onboarding_store_failed",
                    environment=self.environment,
                    connection_id=connection_id,
                    access_class=access_class,
                    backend=place.backend,
                    stored_on=sorted(outcomes),
                    error=str(err),
                )
                raise StoreFailed(f"{err} (stored on: {', '.join(sorted(outcomes)) or 'none'})", issued) from None
            jsonlog.log(
                logger,
                logging.INFO,
                "onboarding_stored",
                environment=self.environment,
                connection_id=connection_id,
                access_class=access_class,
                backend=place.backend,
                outcome=outcomes[place.backend],
            )
        return StoredConnection(connection_id, access_class, outcomes, decision)
