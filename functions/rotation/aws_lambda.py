"""AWS Secrets Manager rotation Lambda for Makini connection tokens.

Handler: ``rotation.aws_lambda.handler``. Secrets Manager calls it four times per rotation with
``{"Step": ..., "SecretId": <arn>, "ClientRequestToken": <version id>}``:

- ``createSecret``: obtain a system token (``POST /link/token``, client credentials from the secret
  named by ``OAUTH_CLIENT_SECRET_ARN``), issue a fresh connection token
  (``POST /api/system/connections/{id}/token``) and store it as the ``AWSPENDING`` version.
  Idempotent: if that version already has a value, nothing is issued.
- ``setSecret``: nothing to do. For a database the rotator would now set the new password in the
  database; Makini already knows the new token because Makini issued it in ``createSecret``.
- ``testSecret``: ``GET /api/integrations/current`` with the pending token; 401 or
  ``sync_status == "fail"`` fails the step and *discards* the pending version (its ``AWSPENDING`` label is
  removed), so the next attempt issues a fresh token instead of retrying a bad one forever (a stuck
  ``AWSPENDING`` would also make every ``RotateSecret`` fail). A transient failure (5xx, 429, network)
  keeps it: the retry tests the same token again.
- ``finishSecret``: check the pending version holds a valid value for the bound connection, then move
  ``AWSCURRENT`` to it (Secrets Manager moves ``AWSPREVIOUS``).

A token Makini issued that is never promoted (refused lifetime, failed test, failed write) stays valid at
Makini until the connection is disconnected: each one is logged as ``token_left_live``, so operators can
count the live tokens of a connection (docs/operations.md, "Revoking").

The old token is not revoked: it stays valid at Makini, so readers holding ``AWSCURRENT`` keep
working whatever step fails, and a failed rotation leaves only an unused ``AWSPENDING`` version.

Which connection a secret gets a token for comes from the deployment's bindings (``bindings.json`` in this
package, see bindings.py) or, for a run-time token (issue 19: stored by the onboarding service, rotation
enabled on it without a deploy), from its name ``makini/<env>/connections/<run-time class>/<id>/token``, checked
at every step: an unbound secret is refused before anything is read, and a tag or value naming another
connection is logged (``binding_mismatch``) and ignored. Each step's log says which source bound the secret
(``bound_by``: ``deployment`` or ``runtime-name``).

Value format (JSON): ``{"token": "...", "connection_id": "...", "issued_at": "<ISO 8601 UTC>"}``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from functions.shared import jsonlog

from .backoff import RetryPolicy
from .bindings import Binding, BindingError, Bindings, claimed_connection
from .makini_client import ENV_API_BASE, MakiniAuthError, MakiniClient, MakiniHostRefused, pinned_base_url
from .oauth_client import parse_oauth_client
from .token_lifetime import aws_rotation_period_seconds, check_token_lifetime

CONNECTION_TAG = "makini:connection-id"
ENV_OAUTH_SECRET = "OAUTH_CLIENT_SECRET_ARN"
SAFETY_MARGIN_SECONDS = 5.0  # stop calling Makini this long before the Lambda's own timeout
BAD_SYNC_STATUSES = frozenset({"fail"})  # "fail" = authentication error (FACTS.md)

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)  # the Lambda runtime's root handler prints the JSON lines


class RotationError(Exception):
    """A rotation step cannot proceed; the message says what is wrong and how to fix it."""


# Injection points for tests (and for callers embedding the handler).
_secrets_client_factory: Callable[[], Any] | None = None
_makini_client_factory: Callable[..., MakiniClient] | None = None
_bindings_loader: Callable[[], Bindings] | None = None


def _bindings() -> Bindings:
    """The deployment's bindings, then the run-time tokens' names (bindings.py, ``RuntimeNames``)."""
    bindings = _bindings_loader() if _bindings_loader is not None else Bindings.packaged("aws")
    return bindings.with_runtime_names()


def _secrets_client() -> Any:
    if _secrets_client_factory is not None:
        return _secrets_client_factory()
    import boto3  # noqa: PLC0415 - Lambda runtime provides boto3

    return boto3.client("secretsmanager")


def _makini_client(context: Any) -> MakiniClient:
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = time.monotonic() + remaining() / 1000.0 - SAFETY_MARGIN_SECONDS
    if _makini_client_factory is not None:
        return _makini_client_factory(deadline=deadline)
    return MakiniClient(os.environ.get(ENV_API_BASE), deadline=deadline, policy=RetryPolicy())


def _error_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return code if isinstance(code, str) else None
    return None


def handler(event: dict[str, Any], context: Any) -> None:
    try:
        arn = event["SecretId"]
        token = event["ClientRequestToken"]
        step = event["Step"]
    except (KeyError, TypeError):
        raise RotationError(
            "event must carry SecretId, ClientRequestToken and Step (this handler is meant to be "
            "invoked by Secrets Manager rotation)"
        ) from None
    steps = {
        "createSecret": create_secret,
        "setSecret": set_secret,
        "testSecret": test_secret,
        "finishSecret": finish_secret,
    }
    if step not in steps:
        raise RotationError(f"unknown Step {step!r}; expected one of {sorted(steps)}")
    try:  # the host pin, before any secret is read (makini_client's module doc)
        pinned_base_url(os.environ.get(ENV_API_BASE))
    except MakiniHostRefused:
        jsonlog.log(logger, logging.ERROR, "rotation_refused", reason="makini_host_refused", secret=arn, step=step)
        raise

    sm = _secrets_client()
    meta = sm.describe_secret(SecretId=arn)
    try:  # the deployer's binding, checked before anything else (bindings.py)
        binding = _bindings().require(str(meta.get("Name") or arn))
    except BindingError:
        jsonlog.log(logger, logging.ERROR, "rotation_refused", reason="not_bound", secret=arn, step=step)
        raise
    if not meta.get("RotationEnabled"):
        jsonlog.log(logger, logging.ERROR, "rotation_refused", reason="rotation_disabled", secret=arn, step=step)
        raise RotationError(f"secret {arn} does not have rotation enabled; enable rotation before invoking {step}")
    versions = meta.get("VersionIdsToStages", {})
    if token not in versions:
        jsonlog.log(
            logger,
            logging.ERROR,
            "rotation_refused",
            reason="unknown_version",
            secret=arn,
            step=step,
            client_request_token=token,
        )
        raise RotationError(f"secret version {token} has no stage for rotation of secret {arn}")
    if "AWSCURRENT" in versions[token]:
        jsonlog.log(logger, logging.INFO, "rotation_already_current", secret=arn, step=step, client_request_token=token)
        return
    if "AWSPENDING" not in versions[token]:
        jsonlog.log(
            logger,
            logging.ERROR,
            "rotation_refused",
            reason="not_pending",
            secret=arn,
            step=step,
            client_request_token=token,
        )
        raise RotationError(f"secret version {token} not set as AWSPENDING for rotation of secret {arn}")

    jsonlog.log(
        logger,
        logging.INFO,
        "rotation_step_start",
        secret=arn,
        step=step,
        client_request_token=token,
        connection_id=binding.connection_id,
        bound_by=binding.via,
        binding_source=binding.source,
    )
    steps[step](sm, arn, token, meta, context, binding)
    jsonlog.log(logger, logging.INFO, "rotation_step_done", secret=arn, step=step, client_request_token=token)


# -- steps ----------------------------------------------------------------------------------


def create_secret(sm: Any, arn: str, token: str, meta: dict[str, Any], context: Any, binding: Binding) -> None:
    try:
        current_raw = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT").get("SecretString")
    except Exception as err:  # a secret created without a value yet (filled by this rotation)
        if _error_code(err) != "ResourceNotFoundException":
            raise
        current_raw = None
    try:
        pending = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except Exception as err:  # botocore ClientError
        if _error_code(err) != "ResourceNotFoundException":
            raise
    else:
        # A retry of this step: keep a usable pending value (retry-safe), discard one that cannot be promoted.
        try:
            _pending_value(pending.get("SecretString"), arn, binding)
        except RotationError as bad:
            _discard_pending(sm, arn, token, reason=str(bad))
            raise RotationError(
                f"createSecret for {arn}: {bad}. The pending version was discarded; the next rotation issues a "
                "fresh token."
            ) from None
        jsonlog.log(logger, logging.INFO, "pending_exists", secret=arn, client_request_token=token)
        return

    connection_id = binding.connection_id
    _log_mismatches(arn, meta, current_raw, binding)
    makini = _makini_client(context)  # pinned: refuses a foreign MAKINI_API_BASE before the secret is read
    client_id, client_secret = _oauth_client(sm)
    system_token = makini.system_token(client_id, client_secret)
    issued = makini.issue_connection_token(system_token, connection_id)
    period, period_source = aws_rotation_period_seconds(meta.get("RotationRules"))
    try:
        check_token_lifetime(
            issued.expires_in,
            period,
            where=f"createSecret for {arn} (connection {connection_id})",
            period_source=period_source,
        )
    except Exception:
        jsonlog.log(
            logger,
            logging.ERROR,
            "rotation_refused",
            reason="token_expires_too_soon",
            secret=arn,
            client_request_token=token,
            expires_in=issued.expires_in,
            period_seconds=period,
        )
        _token_left_live(arn, connection_id, token, "its lifetime is shorter than the rotation period")
        raise
    value = json.dumps(
        {
            "token": issued.token,
            "connection_id": connection_id,
            "issued_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        }
    )
    try:
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretString=value, VersionStages=["AWSPENDING"])
    except Exception:
        _token_left_live(arn, connection_id, token, "storing it as AWSPENDING failed")
        raise
    jsonlog.log(
        logger,
        logging.INFO,
        "pending_created",
        secret=arn,
        client_request_token=token,
        connection_id=connection_id,
        expires_in=issued.expires_in,
    )


def set_secret(sm: Any, arn: str, token: str, meta: dict[str, Any], context: Any, binding: Binding) -> None:
    """No-op: Makini issued the token in createSecret, so there is no downstream system to update.

    (For a database, setSecret would set the new password in the database. Makini is the issuer
    here, and the old token stays valid until the connection is deleted, so nothing can be set
    and nothing breaks between createSecret and finishSecret.)
    """
    jsonlog.log(
        logger,
        logging.INFO,
        "set_secret_noop",
        secret=arn,
        client_request_token=token,
        reason="Makini issued the token in createSecret",
    )


def test_secret(sm: Any, arn: str, token: str, meta: dict[str, Any], context: Any, binding: Binding) -> None:
    makini = _makini_client(context)
    pending = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    try:
        value = _pending_value(pending.get("SecretString"), arn, binding)
    except RotationError as bad:
        _discard_pending(sm, arn, token, reason=str(bad))
        raise
    try:
        status = makini.check_token(value["token"])
    except MakiniAuthError as err:  # 401: this token is invalid, expired or revoked: never retry it
        _discard_pending(sm, arn, token, reason=f"Makini refused the pending token ({err.status})")
        _token_left_live(arn, binding.connection_id, token, "Makini refused it in testSecret", live=False)
        raise
    if status in BAD_SYNC_STATUSES:
        jsonlog.log(
            logger, logging.ERROR, "pending_test_failed", secret=arn, client_request_token=token, sync_status=status
        )
        _discard_pending(sm, arn, token, reason=f"sync_status={status}")
        _token_left_live(arn, binding.connection_id, token, f"testSecret found sync_status={status}")
        raise RotationError(
            f"testSecret for {arn} (connection {binding.connection_id}): Makini reports sync_status={status!r} "
            "(authentication error: invalid platform credentials) for the pending token; the customer must "
            "reconnect. AWSCURRENT is unchanged; the pending version was discarded."
        )
    jsonlog.log(logger, logging.INFO, "pending_test_ok", secret=arn, client_request_token=token, sync_status=status)


def finish_secret(sm: Any, arn: str, token: str, meta: dict[str, Any], context: Any, binding: Binding) -> None:
    # Never promote a version without a usable value: a pending version with no value (createSecret never
    # completed) or one for another connection stays where it is, and the step fails.
    try:
        pending = sm.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    except Exception as err:
        if _error_code(err) != "ResourceNotFoundException":
            raise
        raise RotationError(
            f"finishSecret for {arn}: the pending version {token} has no value (createSecret did not complete); "
            "AWSCURRENT is unchanged"
        ) from None
    _pending_value(pending.get("SecretString"), arn, binding)
    current_version = None
    for version, stages in meta.get("VersionIdsToStages", {}).items():
        if "AWSCURRENT" in stages:
            if version == token:
                jsonlog.log(logger, logging.INFO, "already_current", secret=arn, client_request_token=token)
                return
            current_version = version
            break
    sm.update_secret_version_stage(
        SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token, RemoveFromVersionId=current_version
    )
    jsonlog.log(
        logger, logging.INFO, "current_moved", secret=arn, client_request_token=token, previous_version=current_version
    )


# -- helpers --------------------------------------------------------------------------------


def _parse_value(raw: str | None, arn: str, stage: str) -> dict[str, Any]:
    try:
        value = json.loads(raw or "")
    except ValueError:
        raise RotationError(
            f'{stage} value of {arn} is not JSON; expected {{"token", "connection_id", "issued_at"}}'
        ) from None
    if not isinstance(value, dict) or not isinstance(value.get("token"), str) or not value["token"]:
        raise RotationError(f'{stage} value of {arn} has no "token" string')
    return value


def _pending_value(raw: str | None, arn: str, binding: Binding) -> dict[str, Any]:
    """The pending value, if it can be promoted: JSON with a token, for the bound connection."""
    value = _parse_value(raw, arn, "AWSPENDING")
    if value.get("connection_id") != binding.connection_id:
        raise RotationError(
            f"the pending value of {arn} is for connection {value.get('connection_id')!r}, but the deployed binding "
            f"is {binding.connection_id} ({binding.source}); it is not promoted"
        )
    return value


def _discard_pending(sm: Any, arn: str, token: str, *, reason: str) -> None:
    """Remove AWSPENDING from a version that cannot be promoted, so the next rotation starts a fresh version
    (the documented way out of a stuck rotation: RotateSecret refuses to start while AWSPENDING is on a version
    other than AWSCURRENT). The version keeps no label and Secrets Manager deprecates it."""
    sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSPENDING", RemoveFromVersionId=token)
    jsonlog.log(logger, logging.WARNING, "pending_discarded", secret=arn, client_request_token=token, reason=reason)


def _token_left_live(arn: str, connection_id: str, token: str, why: str, *, live: bool = True) -> None:
    """One more token Makini issued that no store holds as current: it stays valid at Makini until the connection
    is disconnected (``live``), unless Makini already refuses it. Counted by operators (docs/operations.md)."""
    jsonlog.log(
        logger,
        logging.WARNING,
        "token_left_live" if live else "token_discarded_dead",
        secret=arn,
        connection_id=connection_id,
        client_request_token=token,
        reason=why,
    )


def _log_mismatches(arn: str, meta: dict[str, Any], current_raw: str | None, binding: Binding) -> None:
    """A tag or current value naming another connection than the binding: logged, never used (it means
    someone edited them outside the stack, or the value predates a change of makiniId)."""
    tag = next((t.get("Value") for t in meta.get("Tags", []) or [] if t.get("Key") == CONNECTION_TAG), None)
    for where, claimed in (
        (f"tag {CONNECTION_TAG}", tag),
        ("current value's connection_id", claimed_connection(current_raw)),
    ):
        if claimed and claimed != binding.connection_id:
            jsonlog.log(
                logger,
                logging.WARNING,
                "binding_mismatch",
                secret=arn,
                where=where,
                claimed=claimed,
                connection_id=binding.connection_id,
                bound_by=binding.via,
                binding_source=binding.source,
            )


def _oauth_client(sm: Any) -> tuple[str, str]:
    source = os.environ.get(ENV_OAUTH_SECRET)
    if not source:
        raise RotationError(f"environment variable {ENV_OAUTH_SECRET} is not set; point it at the OAuth client secret")
    raw = sm.get_secret_value(SecretId=source, VersionStage="AWSCURRENT").get("SecretString")
    parsed = parse_oauth_client(raw)
    if parsed is None:
        raise RotationError(
            f'secret {source} (from {ENV_OAUTH_SECRET}) must hold JSON {{"client_id": ..., "client_secret": ...}}, '
            "both non-empty strings"
        )
    return parsed
