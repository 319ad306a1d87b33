"""The governed place on each backend: create a run-time connection's token (never overwrite one), tell whether a
connection has a token in a class, schedule a disconnected customer's token for deletion.

Each place does only what the onboarding identity's grants allow (docs/access-at-scale.md, "Run-time
connections"): create the class's tokens, look at their metadata and soft-delete them; it never reads a value
back and never writes over an existing token.

Every store carries a **request id**: a random UUID the client draws once per token (:func:`new_request_id`) and
hands back in :class:`~functions.onboarding.client.StoreFailed`, so a retry reuses it. Random, not derived from the
token: it is visible to anyone who may describe the secret, and a digest of the token (even keyed with a value the
retry also holds) would let a guess of the token be checked against it. Where the backend shows it without a
value, a retry recognises its own earlier write by it:

- :class:`AwsPlace` (a boto3 Secrets Manager client): ``CreateSecret`` with the environment's KMS key, exactly
  the run-time tags and the request id as ``ClientRequestToken``, which becomes the version id ``DescribeSecret``
  lists (recognisable); Secrets Manager itself ignores a repeated create with the same token and value.
  Never ``PutSecretValue`` (the onboarding policy denies it). ``DeleteSecret`` with the recovery window;
- :class:`VaultPlace` (Vault's HTTP API with the onboarding identity's token): a KV v2 write with ``cas: 0`` and
  a policy with ``create`` but no ``update``, so Vault refuses any write on an existing token. A version carries no
  metadata of the writer's, so Vault cannot tell a retry's own earlier write from another's: a retry knows from
  :class:`StoreFailed` which backends stored. ``DELETE`` of the data path soft-deletes the latest version;
- :class:`AzurePlace` (one azure-keyvault-secrets ``SecretClient`` per run-time class vault): Key Vault's RBAC
  cannot split a create from an overwrite (``setSecret`` is both), so the place looks first (``readMetadata``)
  and refuses an existing token itself: **the cloud does not enforce it**, and two stores racing for the same
  new name can both write. The request id is a tag of the version (``makini:request-id``), so a retry
  recognises its own write. ``begin_delete_secret`` soft-deletes (purge protection keeps it recoverable).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from . import places

_log = logging.getLogger(__name__)

#: ``created``: this call wrote the token; ``unchanged``: this request's earlier write was already there (a retry).
Outcome = Literal["created", "unchanged"]
#: ``scheduled``: deletion scheduled now; ``already-deleted``: it was (a second disconnect); ``absent``: no token.
Removal = Literal["scheduled", "already-deleted", "absent"]
#: What a look at a token's metadata tells: none, this request's own write, someone else's, a soft-deleted one.
Presence = Literal["absent", "ours", "present", "deleted"]


class StoreError(Exception):
    """A backend refused or failed a call; the message names the backend and the secret, never the token."""


class TokenExists(StoreError):
    """The connection already has a token on this backend (live, or deleted but recoverable) that this request did
    not write: the place never overwrites it."""

    def __init__(self, backend: str, name: str, *, deleted: bool = False) -> None:
        state = "is scheduled for deletion (a disconnected connection, recoverable)" if deleted else "already exists"
        super().__init__(f"{backend}: {name} {state}")
        self.backend = backend
        self.name = name
        self.deleted = deleted


def new_request_id() -> str:
    """A fresh request id (a random UUID, the shape Secrets Manager's ``ClientRequestToken`` takes)."""
    return str(uuid.uuid4())


class Place(Protocol):
    """One backend's governed place."""

    backend: str

    def look(self, access_class: str, connection_id: str, request_id: str | None = None) -> Presence:
        """Whether the connection has a token in the class (metadata only), and whether this request wrote it."""
        ...

    def store(self, access_class: str, connection_id: str, value: str, request_id: str) -> Outcome:
        """Create the token; :class:`TokenExists` when one exists that this request did not write."""
        ...

    def delete(self, access_class: str, connection_id: str) -> Removal:
        """Schedule the token's deletion (recoverable); a no-op when it is already deleted or absent."""
        ...


def _passed(deletion_time: object) -> bool:
    """Whether a KV v2 version's ``deletion_time`` (RFC 3339, empty when none) has come: a mount's
    ``delete_version_after`` stamps a future one on every live version."""
    if not isinstance(deletion_time, str) or not deletion_time:
        return False
    # seconds precision is enough (Vault writes nanoseconds, which fromisoformat does not read)
    stamp = datetime.fromisoformat(deletion_time[:19] + "+00:00")
    return stamp <= datetime.now(UTC)


def _aws_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


@dataclass
class AwsPlace:
    """Secrets Manager: ``makini/<env>/connections/<class>/<id>/token``, encrypted with the environment's key.

    ``recovery_window_days``: the window a disconnect schedules; the onboarding policy refuses one shorter than
    the stack's (``makini:aws.recoveryWindowDays``, 30 in production, 7 elsewhere), so the default is the longest.
    """

    client: Any
    environment: str
    kms_key_arn: str
    recovery_window_days: int = 30
    backend: str = "aws"
    #: The environment's keeper (stack output ``awsKeeperFunctionName``): invoked (asynchronously, with the new
    #: secret's ARN only) right after a create, so the token gets its class's resource policy and rotation now
    #: rather than at the keeper's next sweep. None: the sweep alone does it.
    keeper: str | None = None
    #: A boto3 Lambda client for the keeper's invoke (default: ``boto3.client("lambda")``).
    keeper_client: Any = None

    def __post_init__(self) -> None:
        if not 7 <= self.recovery_window_days <= 30:
            raise ValueError(
                f"recovery_window_days={self.recovery_window_days}: Secrets Manager takes 7 to 30 days, and the "
                "onboarding policy at least the stack's (makini:aws.recoveryWindowDays)"
            )

    def _name(self, access_class: str, connection_id: str) -> str:
        return places.aws_secret_name(self.environment, access_class, connection_id)

    def look(self, access_class: str, connection_id: str, request_id: str | None = None) -> Presence:
        name = self._name(access_class, connection_id)
        try:
            described = self.client.describe_secret(SecretId=name)
        except Exception as err:
            if _aws_code(err) == "ResourceNotFoundException":
                return "absent"
            raise StoreError(f"aws: could not look up {name}: {_aws_code(err) or type(err).__name__}") from None
        if described.get("DeletedDate") is not None:
            return "deleted"
        return "ours" if request_id is not None and request_id in described.get("VersionIdsToStages", {}) else "present"

    def store(self, access_class: str, connection_id: str, value: str, request_id: str) -> Outcome:
        name = self._name(access_class, connection_id)
        tags = places.tags(self.environment, access_class, connection_id)
        try:
            created = self.client.create_secret(
                Name=name,
                KmsKeyId=self.kms_key_arn,
                SecretString=value,
                ClientRequestToken=request_id,
                Description=f"Makini bearer token of run-time connection {connection_id} ({access_class}) in "
                f"{self.environment}",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
            self._keep(created.get("ARN", name))
            return "created"
        except Exception as err:
            # an existing name: ResourceExistsException; one scheduled for deletion: InvalidRequestException
            if _aws_code(err) not in ("ResourceExistsException", "InvalidRequestException"):
                raise StoreError(f"aws: could not create {name}: {_aws_code(err) or type(err).__name__}") from None
            code = _aws_code(err)
        presence = self.look(access_class, connection_id, request_id)
        if presence == "ours":
            return "unchanged"
        if presence in ("present", "deleted"):
            raise TokenExists(self.backend, name, deleted=presence == "deleted")
        raise StoreError(f"aws: could not create {name}: {code}")

    def _keep(self, secret_id: str) -> None:
        """Ask the keeper to govern the new secret now; a failed invoke only delays it to the next sweep."""
        if self.keeper is None:
            return
        try:
            client = self.keeper_client
            if client is None:
                import boto3  # noqa: PLC0415 - only services that name a keeper need the Lambda client

                client = self.keeper_client = boto3.client("lambda")
            client.invoke(
                FunctionName=self.keeper, InvocationType="Event", Payload=json.dumps({"secretId": secret_id}).encode()
            )
        except Exception as err:
            _log.warning(
                "aws: keeper %s not invoked for %s (%s): its next sweep keeps it",
                self.keeper,
                secret_id,
                _aws_code(err) or type(err).__name__,
            )

    def delete(self, access_class: str, connection_id: str) -> Removal:
        name = self._name(access_class, connection_id)
        presence = self.look(access_class, connection_id)
        if presence in ("absent", "deleted"):
            return "absent" if presence == "absent" else "already-deleted"
        try:
            self.client.delete_secret(SecretId=name, RecoveryWindowInDays=self.recovery_window_days)
        except Exception as err:
            if _aws_code(err) == "ResourceNotFoundException":
                return "absent"
            if _aws_code(err) == "InvalidRequestException" and self.look(access_class, connection_id) == "deleted":
                return "already-deleted"
            hint = (
                f" (a recovery window of {self.recovery_window_days} days: the onboarding policy refuses one shorter "
                "than the stack's makini:aws.recoveryWindowDays)"
                if _aws_code(err) == "AccessDeniedException"
                else ""
            )
            raise StoreError(f"aws: could not delete {name}: {_aws_code(err) or type(err).__name__}{hint}") from None
        return "scheduled"


@dataclass
class VaultPlace:
    """KV v2 at ``<mount>/data/connections/<class>/<id>/token``, with the onboarding identity's Vault token."""

    address: str
    token: str
    mount: str
    backend: str = "vault"
    timeout: float = 10.0

    def _call(self, method: str, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.address.rstrip('/')}/v1/{path}", data=data, method=method)
        request.add_header("X-Vault-Token", self.token)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (the configured Vault)
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as err:
            raw, status = err.read(), err.code
        except OSError as err:
            raise StoreError(f"vault: {self.address} unreachable ({type(err).__name__})") from None
        return status, (json.loads(raw) if raw.strip() else {})

    def look(self, access_class: str, connection_id: str, request_id: str | None = None) -> Presence:
        """From the token's metadata: absent, or the current version live or deleted (a version carries nothing of
        the writer's, so this request's own write is never recognised: ``ours`` is not an answer here)."""
        path = f"{self.mount}/metadata/{places.catalog_path(access_class, connection_id)}"
        status, body = self._call("GET", path)
        if status == 404:
            return "absent"
        if status != 200:
            raise StoreError(f"vault: could not look up {path}: HTTP {status}")
        data = body["data"]
        current = data.get("versions", {}).get(str(data.get("current_version")), {})
        return "deleted" if current.get("destroyed") or _passed(current.get("deletion_time")) else "present"

    def store(self, access_class: str, connection_id: str, value: str, request_id: str) -> Outcome:
        path = f"{self.mount}/data/{places.catalog_path(access_class, connection_id)}"
        # cas 0: only when the key does not exist; the policy (create, no update) refuses an existing key anyway
        status, _ = self._call("POST", path, {"data": json.loads(value), "options": {"cas": 0}})
        if status == 200:
            return "created"
        presence = self.look(access_class, connection_id)
        if presence != "absent":
            raise TokenExists(self.backend, path, deleted=presence == "deleted")
        raise StoreError(f"vault: could not write {path}: HTTP {status}")

    def delete(self, access_class: str, connection_id: str) -> Removal:
        """Soft-delete the latest version (``DELETE`` on the data path): an operator can undelete it."""
        presence = self.look(access_class, connection_id)
        if presence in ("absent", "deleted"):
            return "absent" if presence == "absent" else "already-deleted"
        path = f"{self.mount}/data/{places.catalog_path(access_class, connection_id)}"
        status, _ = self._call("DELETE", path)
        if status not in (200, 204):
            raise StoreError(f"vault: could not delete {path}: HTTP {status}")
        return "scheduled"


@dataclass
class AzurePlace:
    """Key Vault: ``connections-<class>-<id>-token`` in each run-time class's own vault (one client per class)."""

    clients: Mapping[str, Any]
    environment: str
    backend: str = "azure"

    def _client(self, access_class: str) -> Any:
        try:
            return self.clients[access_class]
        except KeyError:
            raise StoreError(f"azure: no Key Vault client for run-time class {access_class}") from None

    def look(self, access_class: str, connection_id: str, request_id: str | None = None) -> Presence:
        """From the versions' properties (``readMetadata``, never a value): the newest version's request-id tag
        says whether this request wrote it. A soft-deleted secret lists no versions (``absent`` here; its name
        stays taken, which :meth:`store` reports)."""
        name = places.key_vault_secret_name(access_class, connection_id)
        try:
            versions = list(self._client(access_class).list_properties_of_secret_versions(name))
        except StoreError:
            raise
        except Exception as err:
            if type(err).__name__ == "ResourceNotFoundError":
                return "absent"
            raise StoreError(f"azure: could not look up {name}: {type(err).__name__}") from None
        if not versions:
            return "absent"
        newest = max(versions, key=lambda p: (p.created_on is not None, p.created_on))
        tag = (newest.tags or {}).get(places.TAG_REQUEST_ID)
        return "ours" if request_id is not None and tag == request_id else "present"

    def store(self, access_class: str, connection_id: str, value: str, request_id: str) -> Outcome:
        name = places.key_vault_secret_name(access_class, connection_id)
        presence = self.look(access_class, connection_id, request_id)
        if presence == "ours":
            return "unchanged"
        if presence != "absent":
            raise TokenExists(self.backend, f"{name} in the {access_class} vault")
        try:
            self._client(access_class).set_secret(
                name,
                value,
                tags={**places.tags(self.environment, access_class, connection_id), places.TAG_REQUEST_ID: request_id},
                content_type="application/json",
            )
        except Exception as err:
            if type(err).__name__ == "ResourceExistsError":  # 409: deleted but recoverable, the name is taken
                raise TokenExists(self.backend, f"{name} in the {access_class} vault", deleted=True) from None
            raise StoreError(f"azure: could not set {name}: {type(err).__name__}") from None
        return "created"

    def delete(self, access_class: str, connection_id: str) -> Removal:
        """Soft delete (``secrets/delete``): recoverable for the vault's retention; never purged. Not waited for (the
        poller needs ``deletedSecrets`` rights the role does not hold); a second call finds no live secret."""
        name = places.key_vault_secret_name(access_class, connection_id)
        if self.look(access_class, connection_id) == "absent":
            return "absent"
        try:
            self._client(access_class).begin_delete_secret(name)
        except Exception as err:
            if type(err).__name__ == "ResourceNotFoundError":
                return "already-deleted"
            raise StoreError(f"azure: could not delete {name}: {type(err).__name__}") from None
        return "scheduled"
