"""Reading a stack's secrets after deployment, on whichever backend holds them (operator commands).

One small interface, :class:`StoreReader`, with one reader per backend: boto3 for AWS Secrets Manager,
azure-keyvault-secrets for Azure Key Vault, hvac for Vault KV v2. ``read(location)`` returns

* the value as text (Vault: the KV data as JSON, or its ``value`` field alone: the inverse of how the
  program writes it, see ``components/vault/store.py``);
* ``None`` when no value is stored: the secret does not exist, has no current version, or (Key Vault)
  holds only the disabled placeholder the program creates for values filled out of band;
* or raises :class:`StoreError` when the store cannot be read (access denied, not signed in,
  unreachable, SDK missing), naming the location and why and how to fix it. Never a value.

``list_names(place)`` lists the names stored in a run-time class's place (:class:`stacks.locations.RuntimeClassPlace`,
names only, never a value: AWS ``ListSecrets`` with a name-prefix filter, Key Vault the class vault's secret
properties, Vault ``LIST`` on the class's ``metadata/`` folder), or raises :class:`StoreError`.

Locations come from :func:`stacks.locations.locate`; readers never build a path themselves. The
credentials are the caller's own (the AWS default chain, ``DefaultAzureCredential``, ``VAULT_TOKEN`` /
``~/.vault-token`` or a workload JWT login), so a reader can do exactly what its caller may.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

# The one parser of a stored OAuth client (the rotators use it too): re-exported for the operator commands.
from functions.rotation.oauth_client import parse_oauth_client as parse_oauth_client
from functions.rotation.vault_rotator import ConfigError as VaultSettingsError
from functions.rotation.vault_rotator import vault_client_from_env
from functions.shared import jsonlog
from stacks.config.model import StackConfig
from stacks.locations import RuntimeClassPlace, SecretLocation

from .offline import DEFAULT_REGION


class StoreError(Exception):
    """A store could not be read. The message names where and why, never a value."""


class StoreReader(Protocol):
    backend: str

    def read(self, location: SecretLocation) -> str | None:
        """The value at ``location`` (text), None when none is stored, or :class:`StoreError`."""
        ...

    def list_names(self, place: RuntimeClassPlace) -> list[str]:
        """Every name stored under ``place`` (names only), or :class:`StoreError`."""
        ...

    def live_names(self, place: RuntimeClassPlace, names: list[str]) -> list[str]:
        """Those of ``names`` (listed under ``place``) whose current value is not deleted: the same names where a
        listing already leaves deleted secrets out (AWS, Key Vault); from each one's metadata on Vault."""
        ...


def _short(text: object, limit: int = 240) -> str:
    return jsonlog.mask(" ".join(str(text).split()))[:limit]


# --------------------------------------------------------------------------------------------------
# AWS Secrets Manager


class AwsSecretsReader:
    """``GetSecretValue`` (AWSCURRENT) with a boto3 Secrets Manager client (thread-safe)."""

    backend = "aws"

    def __init__(self, client: Any, region: str) -> None:
        self.client = client
        self.region = region

    def read(self, location: SecretLocation) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415 - boto3 is a dependency

        try:
            response = self.client.get_secret_value(SecretId=location.name)
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            if code == "ResourceNotFoundException":
                return None
            if code in ("AccessDeniedException", "AccessDenied"):
                raise StoreError(
                    f"{location} ({self.region}): access denied. Each secret's resource policy lets only its readers "
                    "read it: run this as an identity the stack declares as a reader (a consumer with access to it), "
                    "see docs/operations.md, 'Checking a stack against Makini'"
                ) from None
            raise StoreError(f"{location} ({self.region}): {code}: {_short(error.get('Message', ''))}") from None
        except BotoCoreError as err:
            raise StoreError(f"{location} ({self.region}): {type(err).__name__}: {_short(err)}") from None
        value = response.get("SecretString")
        if value is None and response.get("SecretBinary") is not None:
            try:
                value = bytes(response["SecretBinary"]).decode("utf-8")
            except (TypeError, UnicodeDecodeError):
                value = ""
        return value if isinstance(value, str) else None

    def list_names(self, place: RuntimeClassPlace) -> list[str]:
        """``ListSecrets`` filtered by the name prefix, every page (a secret scheduled for deletion is not listed).
        The filter is a case-insensitive prefix match, so each name is checked again here."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        names: list[str] = []
        try:
            pages = self.client.get_paginator("list_secrets").paginate(
                Filters=[{"Key": "name", "Values": [place.prefix]}], PaginationConfig={"PageSize": 100}
            )
            for page in pages:
                names += [str(s.get("Name", "")) for s in page.get("SecretList", ())]
        except ClientError as err:
            error = err.response.get("Error", {})
            code = str(error.get("Code", "ClientError"))
            if code in ("AccessDeniedException", "AccessDenied"):
                raise StoreError(
                    f"{place} ({self.region}): access denied listing names; the identity running this needs "
                    "secretsmanager:ListSecrets (names and tags only, never a value)"
                ) from None
            raise StoreError(f"{place} ({self.region}): {code}: {_short(error.get('Message', ''))}") from None
        except BotoCoreError as err:
            raise StoreError(f"{place} ({self.region}): {type(err).__name__}: {_short(err)}") from None
        return [n for n in names if n.startswith(place.prefix)]

    def live_names(self, place: RuntimeClassPlace, names: list[str]) -> list[str]:
        return list(names)  # ListSecrets leaves out a secret scheduled for deletion


def aws_reader(region: str, max_connections: int = 10) -> AwsSecretsReader:
    try:
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415
        from botocore.exceptions import BotoCoreError  # noqa: PLC0415
    except ImportError:  # pragma: no cover - boto3 is a dependency of the project
        raise StoreError("AWS: boto3 is not installed (uv sync --locked)") from None
    try:
        client = boto3.client(
            "secretsmanager",
            region_name=region,
            config=Config(retries={"mode": "adaptive", "max_attempts": 5}, max_pool_connections=max_connections),
        )
    except BotoCoreError as err:
        raise StoreError(f"AWS Secrets Manager ({region}): {type(err).__name__}: {_short(err)}") from None
    return AwsSecretsReader(client, region)


# --------------------------------------------------------------------------------------------------
# Azure Key Vault


class KeyVaultReader:
    """``get_secret`` (latest version) with one azure-keyvault-secrets ``SecretClient`` per vault."""

    backend = "azure"

    def __init__(self, client_factory: Callable[[str], Any]) -> None:
        self._factory = client_factory
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _client(self, vault_url: str) -> Any:
        with self._lock:
            if vault_url not in self._clients:
                self._clients[vault_url] = self._factory(vault_url)
            return self._clients[vault_url]

    def read(self, location: SecretLocation) -> str | None:
        from azure.core.exceptions import (  # noqa: PLC0415 - only Azure stacks need the SDK
            ClientAuthenticationError,
            HttpResponseError,
            ResourceNotFoundError,
            ServiceRequestError,
        )

        try:
            secret = self._client(location.vault_url).get_secret(location.name)
        except ResourceNotFoundError:
            return None
        except ClientAuthenticationError as err:
            raise StoreError(
                f"{location}: not signed in to Azure ({_short(err, 160)}); run `az login` or set the workload "
                "identity variables (AZURE_CLIENT_ID, AZURE_TENANT_ID, AZURE_FEDERATED_TOKEN_FILE)"
            ) from None
        except HttpResponseError as err:
            status = getattr(err, "status_code", None)
            message = _short(getattr(err, "message", None) or err, 200)
            if status == 403 and "disabled" in message.lower():
                return None  # the program's disabled placeholder: the value was never filled in
            if status == 403:
                raise StoreError(
                    f"{location}: access denied ({message}). Give the identity running this 'Key Vault Secrets User' "
                    "on the secret (declare it as a consumer), and reach the vault through its firewall or private "
                    "endpoint"
                ) from None
            raise StoreError(f"{location}: HTTP {status}: {message}") from None
        except ServiceRequestError as err:
            raise StoreError(
                f"{location}: the vault is unreachable ({_short(err, 200)}); check the network path (firewall, "
                "private endpoint) and the vault name: it is derived from the Pulumi organization (--pulumi-org) "
                "unless makini:azure.vaultName sets it"
            ) from None
        if not getattr(getattr(secret, "properties", None), "enabled", True):
            return None
        value = getattr(secret, "value", None)
        return value if isinstance(value, str) else None

    def list_names(self, place: RuntimeClassPlace) -> list[str]:
        """The class vault's secret names (``list_properties_of_secrets``: properties only, never a value; a
        deleted secret is not listed)."""
        from azure.core.exceptions import (  # noqa: PLC0415
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
        )

        try:
            names = [str(p.name) for p in self._client(place.vault_url).list_properties_of_secrets()]
        except ClientAuthenticationError as err:
            raise StoreError(f"{place}: not signed in to Azure ({_short(err, 160)}); run `az login`") from None
        except HttpResponseError as err:
            status = getattr(err, "status_code", None)
            message = _short(getattr(err, "message", None) or err, 200)
            if status == 403:
                raise StoreError(
                    f"{place}: access denied listing names ({message}); the identity running this needs "
                    "Microsoft.KeyVault/vaults/secrets/readMetadata/action on the class vault (Key Vault Reader)"
                ) from None
            raise StoreError(f"{place}: HTTP {status}: {message}") from None
        except ServiceRequestError as err:
            raise StoreError(f"{place}: the vault is unreachable ({_short(err, 200)})") from None
        return [n for n in names if n.startswith(place.prefix)]

    def live_names(self, place: RuntimeClassPlace, names: list[str]) -> list[str]:
        return list(names)  # a deleted (recoverable) secret is not listed


def key_vault_reader() -> KeyVaultReader:
    try:
        from azure.identity import DefaultAzureCredential  # noqa: PLC0415
        from azure.keyvault.secrets import SecretClient  # noqa: PLC0415
    except ImportError:
        raise StoreError(
            "Azure: azure-keyvault-secrets and azure-identity are not installed (uv sync --locked installs them)"
        ) from None
    credential = DefaultAzureCredential()
    return KeyVaultReader(lambda url: SecretClient(vault_url=url, credential=credential))


# --------------------------------------------------------------------------------------------------
# HashiCorp Vault


class VaultReader:
    """KV v2 ``read_secret_version`` (current version) with an hvac client."""

    backend = "vault"

    def __init__(self, client: Any, address: str = "") -> None:
        self.client = client
        self.address = address

    @contextlib.contextmanager
    def _errors(self, what: object, denied: str) -> Iterator[None]:
        """hvac's errors as one :class:`StoreError` naming ``what`` (``InvalidPath``, nothing there, passes)."""
        import hvac.exceptions  # noqa: PLC0415 - only Vault stacks need hvac
        import requests  # noqa: PLC0415 - hvac's transport

        where = f"{what}" + (f" at {self.address}" if self.address else "")
        try:
            yield
        except hvac.exceptions.InvalidPath:
            raise
        except hvac.exceptions.Forbidden:
            raise StoreError(f"{where}: permission denied. {denied}") from None
        except hvac.exceptions.Unauthorized:
            raise StoreError(f"{where}: the Vault token is missing, invalid or expired (vault login)") from None
        except (hvac.exceptions.VaultError, requests.RequestException) as err:
            raise StoreError(f"{where}: {type(err).__name__}: {_short(err, 200)}") from None

    def read(self, location: SecretLocation) -> str | None:
        import hvac.exceptions  # noqa: PLC0415 - only Vault stacks need hvac

        denied = (
            f"The Vault token's policy must allow read on {location.container}/data/{location.name} (declare the "
            "identity as a consumer)"
        )
        try:
            with self._errors(location, denied):
                secret = self.client.secrets.kv.v2.read_secret_version(
                    path=location.name, mount_point=location.container, raise_on_deleted_version=True
                )
        except hvac.exceptions.InvalidPath:
            return None
        data = ((secret or {}).get("data") or {}).get("data")
        if not isinstance(data, dict) or not data:
            return None
        if set(data) == {"value"} and isinstance(data["value"], str):
            return data["value"]
        return json.dumps(data)

    def list_names(self, place: RuntimeClassPlace) -> list[str]:
        """``LIST <mount>/metadata/<class prefix>``: each ``<id>/`` folder is the token ``<prefix><id><suffix>``
        (the onboarding identity may create only there). A soft-deleted token keeps its metadata and is listed."""
        import hvac.exceptions  # noqa: PLC0415

        denied = f"The Vault token's policy must allow list on {place.container}/metadata/{place.prefix}"
        try:
            with self._errors(place, denied):
                answer = self.client.secrets.kv.v2.list_secrets(path=place.prefix, mount_point=place.container)
        except hvac.exceptions.InvalidPath:
            return []  # nothing stored under the prefix yet
        keys = ((answer or {}).get("data") or {}).get("keys") or []
        return [f"{place.prefix}{k[:-1]}{place.suffix}" for k in keys if isinstance(k, str) and k.endswith("/")]

    def live_names(self, place: RuntimeClassPlace, names: list[str]) -> list[str]:
        """A soft-deleted token (the onboarding client's disconnect) keeps its metadata and is listed: read each
        one's metadata (versions and times, never a value) and keep those whose current version is live."""
        import hvac.exceptions  # noqa: PLC0415

        out = []
        for name in names:
            try:
                with self._errors(
                    f"{place} ({name})",
                    f"The Vault token's policy must allow read on {place.container}/metadata/{name}",
                ):
                    answer = self.client.secrets.kv.v2.read_secret_metadata(path=name, mount_point=place.container)
            except hvac.exceptions.InvalidPath:
                continue  # gone since the listing
            data = (answer or {}).get("data") or {}
            current = (data.get("versions") or {}).get(str(data.get("current_version"))) or {}
            if not (current.get("destroyed") or _deletion_passed(current.get("deletion_time"))):
                out.append(name)
        return out


def _deletion_passed(deletion_time: object) -> bool:
    """Whether a KV v2 version's ``deletion_time`` (RFC 3339, empty when none) has come (a mount's
    ``delete_version_after`` stamps a future one on every live version)."""
    if not isinstance(deletion_time, str) or not deletion_time:
        return False
    try:  # seconds are enough (Vault writes nanoseconds, which fromisoformat does not read)
        stamp = datetime.fromisoformat(deletion_time[:19] + "+00:00")
    except ValueError:
        return False
    return stamp <= datetime.now(UTC)


def vault_address(cfg: StackConfig, provider_config: Mapping[str, str], env: Mapping[str, str]) -> str | None:
    """VAULT_ADDR, else the stack's ``vault:address`` provider setting, else the rotator's address."""
    rotator = cfg.vault.rotator if cfg.vault is not None else None
    return (
        env.get("VAULT_ADDR")
        or provider_config.get("vault:address")
        or (rotator.vault_address if rotator is not None else None)
    )


def vault_reader(address: str, env: Mapping[str, str]) -> VaultReader:
    """An hvac client for ``address``: VAULT_TOKEN (or ``~/.vault-token``), or a Kubernetes / JWT login
    (VAULT_AUTH_METHOD, VAULT_AUTH_ROLE, VAULT_JWT_FILE, VAULT_AUTH_MOUNT; the rotator's variables)."""
    try:
        import hvac  # noqa: PLC0415, F401
        import hvac.exceptions  # noqa: PLC0415
        import requests  # noqa: PLC0415
    except ImportError:
        raise StoreError("Vault: hvac is not installed (uv sync --locked installs it)") from None
    settings = {**env, "VAULT_ADDR": address}
    if (settings.get("VAULT_AUTH_METHOD") or "token").lower() == "token" and not settings.get("VAULT_TOKEN"):
        token_file = Path(env.get("HOME") or Path.home()) / ".vault-token"
        with contextlib.suppress(OSError):  # `vault login` keeps the token there
            settings["VAULT_TOKEN"] = token_file.read_text(encoding="utf-8").strip()
    try:
        return VaultReader(vault_client_from_env(settings), address)
    except VaultSettingsError as err:
        raise StoreError(f"Vault at {address}: {err}") from None
    except (hvac.exceptions.VaultError, requests.RequestException) as err:
        raise StoreError(f"Vault at {address}: login failed: {type(err).__name__}: {_short(err, 200)}") from None


# --------------------------------------------------------------------------------------------------


ReaderFactory = Callable[[str, StackConfig, Mapping[str, str], Mapping[str, str]], StoreReader]


def default_reader(
    backend: str, cfg: StackConfig, provider_config: Mapping[str, str], env: Mapping[str, str]
) -> StoreReader:
    """The reader for ``backend`` with the caller's own credentials; :class:`StoreError` if none can be made.

    ``provider_config``: the stack file's provider settings (``aws:region``, ``vault:address``);
    ``env``: the process environment (VAULT_ADDR, VAULT_TOKEN, ...)."""
    if backend == "aws":
        return aws_reader(provider_config.get("aws:region") or env.get("AWS_REGION") or DEFAULT_REGION)
    if backend == "azure":
        return key_vault_reader()
    if backend == "vault":
        address = vault_address(cfg, provider_config, env)
        if not address:
            raise StoreError(
                "Vault: no address; set VAULT_ADDR (or vault:address in the stack file, or "
                "makini:vault.rotator.vaultAddress)"
            )
        return vault_reader(address, env)
    raise StoreError(f"unknown backend {backend!r}")
