"""Every request the receiver refuses, as a typed error carrying its HTTP status.

A :class:`WebhookError`'s ``reason`` never contains request data, secrets or signatures, so it is safe
to log and to answer with (see :mod:`.responses`). Statuses are :class:`http.HTTPStatus` members
(integers), never 500: what cannot be handled is a 503 so Makini retries.
"""

from __future__ import annotations

from http import HTTPStatus


class WebhookError(Exception):
    """A request the receiver refuses. ``reason`` never contains request data."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "unavailable"

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason or self.code)
        self.reason = reason or self.code


class MalformedRequest(WebhookError):
    status = HTTPStatus.BAD_REQUEST
    code = "malformed"


class SignatureMissing(WebhookError):
    status = HTTPStatus.UNAUTHORIZED
    code = "signature_missing"


class SignatureInvalid(WebhookError):
    status = HTTPStatus.UNAUTHORIZED
    code = "signature_invalid"


class SourceNotAllowed(WebhookError):
    status = HTTPStatus.FORBIDDEN
    code = "source_not_allowed"


class MethodNotAllowed(WebhookError):
    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"


class InProgress(WebhookError):
    """The same webhook is being queued by another delivery right now: retry later."""

    status = HTTPStatus.CONFLICT
    code = "in_progress"


class PayloadTooLarge(WebhookError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class Unavailable(WebhookError):
    """A dependency (secret, queue, dedupe table) cannot be reached: 503 so Makini retries."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "unavailable"


class ConfigurationError(Unavailable):
    """The function's settings are wrong; 503 so deliveries are retried once it is fixed."""

    code = "misconfigured"
