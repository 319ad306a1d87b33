"""What the keeper does to one secret, and the sweep over a run-time class (pure of boto3: a client is passed in).

The settings (``settings.json`` in the package, rendered by the deployment) hold, per run-time class, the exact
resource policy its tokens get, and the rotation (function and rules) every run-time token gets, or none. The keeper
only decides whether a name is a run-time token of this environment, then makes the secret match the settings:

- the name must be exactly ``<prefix><class>/<id>/token`` with ``<class>`` a run-time class of the settings and
  ``<id>`` a Makini connection id (:data:`CONNECTION_ID`); anything else is ignored and logged;
- its resource policy is put (``BlockPublicPolicy``) when it differs from the class's; its rotation is configured
  (``RotateSecret`` with ``RotateImmediately=false``: no token is issued now) when it is off or differs;
- it never reads a value, and makes no call a secret does not need.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.shared import jsonlog, names

#: The connection-id rule every function shares (functions/shared/names.py).
CONNECTION_ID = names.CONNECTION_ID
#: Secrets Manager appends "-" and six characters to a secret's name in its ARN.
ARN_SUFFIX_LENGTH = 7
#: The longest secret id the keeper looks at (Secrets Manager: names up to 512, ARNs up to 2048).
MAX_SECRET_ID = 2048

logger = logging.getLogger(__name__)
logger.setLevel(logging.INFO)


class KeeperFailed(Exception):
    """Some secrets could not be brought to their class's settings (the function's Errors metric alarms)."""


def _canonical(value: Any) -> Any:
    """A policy in a form where the same grants compare equal: a one-element list is its element, lists are
    unordered, keys are sorted (Secrets Manager may return the document it stored with another layout)."""
    if isinstance(value, Mapping):
        return {k: _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        items = [_canonical(v) for v in value]
        if len(items) == 1:
            return items[0]
        return sorted(items, key=lambda v: json.dumps(v, sort_keys=True))
    return value


@dataclass(frozen=True)
class Settings:
    environment: str
    #: ``makini/<env>/connections/``
    prefix: str
    #: Run-time class -> the resource policy its tokens get.
    policies: Mapping[str, Mapping[str, Any]]
    #: The environment's rotation function, or None when it does not rotate tokens.
    rotation_arn: str | None = None
    rotation_rules: Mapping[str, Any] = field(default_factory=dict)
    #: How often the schedule sweeps (seconds): which slice of older secrets a run checks.
    sweep_interval_seconds: int = 1800

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> Settings:
        rotation = doc.get("rotation")
        prefix = str(doc["secretNamePrefix"])
        if not prefix.endswith("/connections/"):
            raise ValueError(f"settings: secretNamePrefix {prefix!r} is not an environment's connections prefix")
        return cls(
            environment=str(doc["environment"]),
            prefix=prefix,
            policies={str(k): dict(v["resourcePolicy"]) for k, v in doc["classes"].items()},
            rotation_arn=str(rotation["lambdaArn"]) if rotation else None,
            rotation_rules=dict(rotation["rules"]) if rotation else {},
            sweep_interval_seconds=int(doc.get("sweepIntervalSeconds", 1800)),
        )

    def class_of(self, name: object) -> str | None:
        """The run-time class whose token ``name`` exactly is, or None (not a run-time token of this environment)."""
        if not isinstance(name, str) or not name.startswith(self.prefix) or not name.endswith("/token"):
            return None
        access_class, sep, connection_id = name[len(self.prefix) : -len("/token")].partition("/")
        if not sep or access_class not in self.policies or not CONNECTION_ID.fullmatch(connection_id):
            return None
        return access_class

    def policy_differs(self, access_class: str, current: str | None) -> bool:
        if not current:
            return True
        try:
            return bool(_canonical(json.loads(current)) != _canonical(self.policies[access_class]))
        except ValueError:
            return True

    def rotation_differs(self, described: Mapping[str, Any]) -> bool:
        if self.rotation_arn is None:
            return False
        if not described.get("RotationEnabled") or described.get("RotationLambdaARN") != self.rotation_arn:
            return True
        current = described.get("RotationRules") or {}
        return any(current.get(k) != v for k, v in self.rotation_rules.items())


def name_in(secret_id: str) -> str:
    """The secret name a ``SecretId`` names: a name is itself; an ARN loses its prefix and random suffix."""
    if not secret_id.startswith("arn:"):
        return secret_id
    parts = secret_id.split(":", 6)
    if len(parts) != 7 or parts[2] != "secretsmanager" or parts[5] != "secret":
        return ""
    rest = parts[6]
    if len(rest) <= ARN_SUFFIX_LENGTH or rest[-ARN_SUFFIX_LENGTH] != "-":
        return ""
    return rest[:-ARN_SUFFIX_LENGTH]


def _code(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(err).__name__)
    return type(err).__name__


@dataclass
class Report:
    listed: int = 0
    ignored: int = 0
    checked: int = 0
    policies_put: int = 0
    rotations_enabled: int = 0
    failed: int = 0
    deferred: int = 0
    calls: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class Keeper:
    """Makes run-time secrets match the settings through a Secrets Manager client."""

    def __init__(self, client: Any, settings: Settings):
        self.client = client
        self.settings = settings

    # -- one secret -------------------------------------------------------------------------------------

    def _fix(self, access_class: str, arn: str, name: str, entry: Mapping[str, Any], report: Report) -> None:
        """Policy first (closes reads to all but the class's readers), then rotation."""
        report.checked += 1
        report.calls += 1
        current = self.client.get_resource_policy(SecretId=arn).get("ResourcePolicy")
        if self.settings.policy_differs(access_class, current):
            report.calls += 1
            self.client.put_resource_policy(
                SecretId=arn,
                ResourcePolicy=json.dumps(self.settings.policies[access_class], sort_keys=True),
                BlockPublicPolicy=True,
            )
            report.policies_put += 1
            jsonlog.log(logger, logging.INFO, "policy_put", secret=name, access_class=access_class)
        if self.settings.rotation_differs(entry):
            report.calls += 1
            self.client.rotate_secret(
                SecretId=arn,
                RotationLambdaARN=self.settings.rotation_arn,
                RotationRules=dict(self.settings.rotation_rules),
                RotateImmediately=False,
            )
            report.rotations_enabled += 1
            jsonlog.log(logger, logging.INFO, "rotation_enabled", secret=name, access_class=access_class)

    def keep(self, secret_id: object) -> dict[str, Any]:
        """One secret, by name or ARN (the onboarding client's invoke right after it creates one)."""
        report = Report()
        if not isinstance(secret_id, str) or not secret_id or len(secret_id) > MAX_SECRET_ID:
            jsonlog.log(logger, logging.WARNING, "ignored", reason="no secret id")
            return {"ignored": "no secret id", **report.as_dict()}
        if self.settings.class_of(name_in(secret_id)) is None:
            jsonlog.log(logger, logging.WARNING, "ignored", reason="not a run-time token", secret=secret_id[:512])
            return {"ignored": "not a run-time token of this environment", **report.as_dict()}
        try:
            described = self.client.describe_secret(SecretId=secret_id)
        except Exception as err:
            if _code(err) == "ResourceNotFoundException":
                jsonlog.log(logger, logging.WARNING, "ignored", reason="not found", secret=secret_id)
                return {"ignored": "not found", **report.as_dict()}
            raise
        report.calls += 1
        name, arn = described.get("Name"), described.get("ARN")
        access_class = self.settings.class_of(name)
        # The name Secrets Manager reports decides, not the caller's (a partial ARN may resolve elsewhere).
        if access_class is None or not isinstance(arn, str):
            jsonlog.log(logger, logging.WARNING, "ignored", reason="not a run-time token", secret=str(name)[:512])
            return {"ignored": "not a run-time token of this environment", **report.as_dict()}
        if described.get("DeletedDate") is not None:
            jsonlog.log(logger, logging.INFO, "ignored", reason="scheduled for deletion", secret=name)
            return {"ignored": "scheduled for deletion", **report.as_dict()}
        self._fix(access_class, arn, str(name), described, report)
        return report.as_dict()

    # -- the sweep --------------------------------------------------------------------------------------

    def _listed(self, report: Report) -> list[tuple[str, Mapping[str, Any]]]:
        """Every run-time token of every run-time class, by name (one ListSecrets name filter per class)."""
        out: list[tuple[str, Mapping[str, Any]]] = []
        paginator = self.client.get_paginator("list_secrets")
        for access_class in sorted(self.settings.policies):
            prefix = f"{self.settings.prefix}{access_class}/"
            pages = paginator.paginate(
                Filters=[{"Key": "name", "Values": [prefix]}], PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                report.calls += 1
                for entry in page.get("SecretList", []):
                    report.listed += 1
                    # The name filter is a case-insensitive prefix: only an exact run-time name is kept.
                    if self.settings.class_of(entry.get("Name")) != access_class:
                        report.ignored += 1
                        jsonlog.log(
                            logger, logging.WARNING, "ignored", reason="not a run-time token", secret=entry.get("Name")
                        )
                        continue
                    out.append((access_class, entry))
        return sorted(out, key=lambda e: str(e[1]["Name"]))

    def sweep(
        self,
        *,
        now: float,
        remaining_seconds: Callable[[], float],
        max_secrets: int = 500,
        margin_seconds: float = 30.0,
    ) -> dict[str, Any]:
        """Every run-time token of the environment, at most ``max_secrets`` checked (each one GetResourcePolicy,
        plus PutResourcePolicy and RotateSecret when they differ) and within the time left.

        Order: the secrets created since the last two sweeps first (the onboarding client's invoke may have
        failed), then a slice of the others that moves with each run (``now`` / the sweep interval), so every
        secret is checked at least once every ``ceil(n / max_secrets)`` runs."""
        report = Report()
        entries = self._listed(report)
        recent_after = now - 2 * self.settings.sweep_interval_seconds
        recent = [e for e in entries if _epoch(e[1].get("CreatedDate")) >= recent_after]
        older = [e for e in entries if _epoch(e[1].get("CreatedDate")) < recent_after]
        if older:
            start = (int(now // self.settings.sweep_interval_seconds) * max_secrets) % len(older)
            older = older[start:] + older[:start]
        failures: list[str] = []
        queue = recent + older
        for index, (access_class, entry) in enumerate(queue):
            if report.checked >= max_secrets or remaining_seconds() < margin_seconds:
                report.deferred = len(queue) - index
                break
            name = str(entry["Name"])
            try:
                self._fix(access_class, str(entry["ARN"]), name, entry, report)
            except Exception as err:
                report.failed += 1
                failures.append(name)
                jsonlog.log(logger, logging.ERROR, "keep_failed", secret=name, error=_code(err))
        jsonlog.log(logger, logging.INFO, "sweep_done", **report.as_dict())
        if failures:
            raise KeeperFailed(f"{len(failures)} run-time secret(s) not kept, e.g. {failures[0]}")
        return report.as_dict()


def _epoch(value: object) -> float:
    """ListSecrets' CreatedDate: a datetime (boto3) or epoch seconds; missing: the oldest."""
    if value is None:
        return 0.0
    timestamp = getattr(value, "timestamp", None)
    if callable(timestamp):
        return float(timestamp())
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
