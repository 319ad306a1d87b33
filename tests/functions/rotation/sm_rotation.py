"""What AWS Secrets Manager does around a rotation Lambda, written from its documentation, over moto's store.

moto holds the secret, its versions and their staging labels (PutSecretValue, UpdateSecretVersionStage,
GetSecretValue, DescribeSecret are its public API). What moto's own ``RotateSecret`` does around the
function is not AWS's: it needs a container to invoke a real Lambda, and it moves AWSCURRENT itself
after the steps even when one failed, which hides a broken ``finishSecret``. :class:`RotationDriver`
plays the service instead, as the Secrets Manager User Guide describes rotation by Lambda function
("How rotation works", "Lambda rotation functions", "Troubleshoot rotation"):

1. A rotation starts on a secret with rotation enabled. When the *service* retries one that failed ("If
   rotation fails, Secrets Manager retries the entire rotation process multiple times", DescribeSecret's
   ``NextRotationDate``), a version still carrying ``AWSPENDING`` without ``AWSCURRENT`` is reattempted with
   the same ``ClientRequestToken`` (:meth:`RotationDriver.rotate`); otherwise a new version id is created and
   labelled ``AWSPENDING``, with no value yet. A caller's ``RotateSecret`` (:meth:`RotationDriver.rotate_secret`,
   what ``infra.rotate --now`` sends) is refused while such a version exists: "If the AWSPENDING staging
   label is present but not attached to the same version as AWSCURRENT, then any later invocation of
   RotateSecret assumes that a previous rotation request is still in progress and returns an error"
   (API reference, RotateSecret), until someone removes the label (UpdateSecretVersionStage).
2. The function is invoked once per step, in order, with the same token: ``createSecret``,
   ``setSecret``, ``testSecret``, ``finishSecret``. A step that raises is invoked again with the same
   event (Lambda's and the service's retries: every step must be idempotent), up to ``step_attempts``.
3. A step that still fails ends the attempt: nothing more is invoked, labels stay as the function left
   them: ``AWSCURRENT`` on the old version, ``AWSPENDING`` on the new one.
4. The rotation is complete only when ``AWSCURRENT`` is on the new version after ``finishSecret``; the
   function moves it (``UpdateSecretVersionStage``), and ``AWSPREVIOUS`` follows to the version that
   was current (Secrets Manager moves ``AWSPREVIOUS`` automatically when ``AWSCURRENT`` moves). A
   ``finishSecret`` that returns without moving it leaves the rotation pending: reported as failed.

The one thing done below moto's public API: creating the version id labelled ``AWSPENDING`` with no
value (step 1). No public call creates a version without a value; the service does it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")


@dataclass
class Attempt:
    """One RotateSecret: the token used, the steps invoked (with retries), and how it ended."""

    token: str
    reattempt: bool
    invoked: list[str] = field(default_factory=list)
    failed_step: str | None = None
    error: BaseException | None = None
    completed: bool = False


class RotationNotEnabled(Exception):
    pass


class InvalidRequestException(Exception):
    """RotateSecret's error while a previous rotation is incomplete (botocore's code, with a response dict)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.response = {"Error": {"Code": "InvalidRequestException", "Message": message}}


class RotationDriver:
    def __init__(
        self,
        sm: Any,
        secret_id: str,
        invoke: Callable[[dict], Any],
        *,
        region: str,
        step_attempts: int = 2,
    ) -> None:
        self.sm, self.secret_id, self.invoke = sm, secret_id, invoke
        self.region = region
        self.step_attempts = step_attempts
        self.attempts: list[Attempt] = []

    # -- the service ---------------------------------------------------------------------------

    def stages(self) -> dict[str, list[str]]:
        return self.sm.describe_secret(SecretId=self.secret_id)["VersionIdsToStages"]

    def label(self, stage: str) -> str | None:
        return next((v for v, stages in self.stages().items() if stage in stages), None)

    def _pending_incomplete(self) -> str | None:
        for version, stages in self.stages().items():
            if "AWSPENDING" in stages and "AWSCURRENT" not in stages:
                return version
        return None

    def begin(self) -> tuple[str, bool]:
        """Step 1: the token of this rotation, and whether it reattempts an incomplete one."""
        meta = self.sm.describe_secret(SecretId=self.secret_id)
        if not meta.get("RotationEnabled"):
            raise RotationNotEnabled(f"rotation is not enabled on {self.secret_id}")
        pending = self._pending_incomplete()
        if pending is not None:
            return pending, True
        token = str(uuid.uuid4())
        self._label_new_version_pending(meta["ARN"], token)
        return token, False

    def run(self, token: str, reattempt: bool = False) -> Attempt:
        """Steps 2-4 for ``token``."""
        attempt = Attempt(token, reattempt)
        self.attempts.append(attempt)
        arn = self.sm.describe_secret(SecretId=self.secret_id)["ARN"]
        for step in STEPS:
            for _ in range(self.step_attempts):
                attempt.invoked.append(step)
                try:
                    self.invoke({"Step": step, "SecretId": arn, "ClientRequestToken": token})
                    attempt.error = None
                    break
                except Exception as err:  # noqa: BLE001 - the service records any function error
                    attempt.error = err
            if attempt.error is not None:
                attempt.failed_step = step
                return attempt
        attempt.completed = "AWSCURRENT" in self.stages().get(token, [])
        if not attempt.completed:
            attempt.failed_step = "finishSecret"
        return attempt

    def rotate(self) -> Attempt:
        """The service's own (scheduled or retried) rotation: begin (or reattempt) and run the four steps."""
        token, reattempt = self.begin()
        return self.run(token, reattempt)

    def rotate_secret(self, **params: Any) -> dict[str, Any]:
        """A caller's ``RotateSecret`` (e.g. ``RotateImmediately``): refused while an incomplete rotation holds
        ``AWSPENDING``; else a new rotation, run to its end. Answers like the API (ARN, Name, VersionId)."""
        pending = self._pending_incomplete()
        if pending is not None:
            raise InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.")
        attempt = self.rotate()
        meta = self.sm.describe_secret(SecretId=self.secret_id)
        return {"ARN": meta["ARN"], "Name": meta["Name"], "VersionId": attempt.token, "attempt": attempt}

    # -- below moto's public API ---------------------------------------------------------------

    def _label_new_version_pending(self, arn: str, token: str) -> None:
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][self.region].secrets[arn]
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = {"createdate": 0, "version_id": token, "version_stages": ["AWSPENDING"]}
