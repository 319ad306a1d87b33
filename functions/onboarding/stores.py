"""The governed place on each backend: store a run-time connection's token, find which class holds a connection.

Each place does only what the onboarding identity's grants allow (docs/access-at-scale.md, "Run-time
connections"): create and update the class's tokens and look at their metadata; it never reads a value back.

- :class:`AwsPlace` (a boto3 Secrets Manager client): ``CreateSecret`` with the environment's KMS key and exactly
  the run-time tags, else ``PutSecretValue`` on the existing secret; both with a ``ClientRequestToken`` derived
  from the connection and the value, so a retry of the same store is a no-op for Secrets Manager;
- :class:`VaultPlace` (Vault's HTTP API with the onboarding identity's token): a KV v2 write with check-and-set,
  ``cas: 0`` when the token is new, else the current version (read from the token's metadata);
- :class:`AzurePlace` (one azure-keyvault-secrets ``SecretClient`` per run-time class vault): ``set_secret`` with
  the run-time tags; existence from the versions' properties (metadata only).
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from . import places

Outcome = Literal["created", "updated"]
#: Fixed: a retry must derive the same ClientRequestToken.
_REQUEST_NAMESPACE = uuid.UUID("0c4b7d36-3f5a-5b7e-8f1d-6d616b696e69")


class StoreError(Exception):
    """A backend refused or failed a store; the message names the backend and the secret, never the token."""


class Place(Protocol):
    """One backend's governed place."""

    backend: str

    def holds(self, access_class: str, connection_id: str) -> bool:
        """Whether a token for the connection exists in the class (metadata only)."""
        ...

    def store(self, access_class: str, connection_id: str, value: str) -> Outcome:
        """Create the token, or put a new value in place when it exists."""
        ...


def request_token(connection_id: str, value: str) -> str:
    """A Secrets Manager ClientRequestToken (a UUID) for this value of this connection: the same on a retry."""
    digest = hashlib.sha256(value.encode()).hexdigest()
    return str(uuid.uuid5(_REQUEST_NAMESPACE, f"{connection_id}|{digest}"))


def _aws_code(err: Exception) -> str | None:
    response = getattr(err, "response", None)
    return response.get("Error", {}).get("Code") if isinstance(response, dict) else None


@dataclass
class AwsPlace:
    """Secrets Manager: ``makini/<env>/connections/<class>/<id>/token``, encrypted with the environment's key."""

    client: Any
    environment: str
    kms_key_arn: str
    backend: str = "aws"

    def holds(self, access_class: str, connection_id: str) -> bool:
        name = places.aws_secret_name(self.environment, access_class, connection_id)
        try:
            described = self.client.describe_secret(SecretId=name)
        except Exception as err:
            if _aws_code(err) == "ResourceNotFoundException":
                return False
            raise StoreError(f"aws: could not look up {name}: {_aws_code(err) or type(err).__name__}") from None
        return described.get("DeletedDate") is None

    def store(self, access_class: str, connection_id: str, value: str) -> Outcome:
        name = places.aws_secret_name(self.environment, access_class, connection_id)
        token = request_token(connection_id, value)
        tags = places.tags(self.environment, access_class, connection_id)
        try:
            self.client.create_secret(
                Name=name,
                KmsKeyId=self.kms_key_arn,
                SecretString=value,
                ClientRequestToken=token,
                Description=f"Makini bearer token of run-time connection {connection_id} ({access_class}) in "
                f"{self.environment}",
                Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
            )
            return "created"
        except Exception as err:
            if _aws_code(err) != "ResourceExistsException":
                raise StoreError(f"aws: could not create {name}: {_aws_code(err) or type(err).__name__}") from None
        try:
            self.client.put_secret_value(SecretId=name, SecretString=value, ClientRequestToken=token)
        except Exception as err:
            raise StoreError(f"aws: could not update {name}: {_aws_code(err) or type(err).__name__}") from None
        return "updated"


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

    def _version(self, access_class: str, connection_id: str) -> int | None:
        path = f"{self.mount}/metadata/{places.catalog_path(access_class, connection_id)}"
        status, body = self._call("GET", path)
        if status == 404:
            return None
        if status != 200:
            raise StoreError(f"vault: could not look up {path}: HTTP {status}")
        return int(body["data"]["current_version"])

    def holds(self, access_class: str, connection_id: str) -> bool:
        return self._version(access_class, connection_id) is not None

    def store(self, access_class: str, connection_id: str, value: str) -> Outcome:
        version = self._version(access_class, connection_id)
        path = f"{self.mount}/data/{places.catalog_path(access_class, connection_id)}"
        body = {"data": json.loads(value), "options": {"cas": version or 0}}
        status, _ = self._call("POST", path, body)
        if status != 200:
            raise StoreError(f"vault: could not write {path}: HTTP {status}")
        return "created" if version is None else "updated"


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

    def holds(self, access_class: str, connection_id: str) -> bool:
        name = places.key_vault_secret_name(access_class, connection_id)
        try:
            return next(iter(self._client(access_class).list_properties_of_secret_versions(name)), None) is not None
        except Exception as err:
            if type(err).__name__ == "ResourceNotFoundError":
                return False
            raise StoreError(f"azure: could not look up {name}: {type(err).__name__}") from None

    def store(self, access_class: str, connection_id: str, value: str) -> Outcome:
        name = places.key_vault_secret_name(access_class, connection_id)
        existed = self.holds(access_class, connection_id)
        try:
            self._client(access_class).set_secret(
                name,
                value,
                tags=places.tags(self.environment, access_class, connection_id),
                content_type="application/json",
            )
        except Exception as err:
            raise StoreError(f"azure: could not set {name}: {type(err).__name__}") from None
        return "updated" if existed else "created"
