"""How a service fetches and caches its Makini connection tokens, on each backend, with refresh on 401.

Copy this file into your service. It imports no Pulumi and no makini-infra code; each backend's SDK is
imported only by the fetcher that needs it (boto3, azure-keyvault-secrets with azure-identity, hvac).

Every store holds a connection token as ``{"token": ..., "connection_id": ...}`` (Vault: that JSON under the
key ``value``). Tokens rotate (automatically, or by hand after a compromise): a cached token can stop working
at any time, and Makini answers 401. ``call_with_token`` then reads the secret again, once, and retries.

    cache = TokenCache(aws_fetcher(secret_arns, class_prefixes))
    response = call_with_token(cache, "connections/acme-maintainx/token", lambda t: get(url, t), lambda r: r.status == 401)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
Fetch = Callable[[str], str]

#: Keep a token this long before reading the store again (rotation writes a new one well before the old fails).
DEFAULT_TTL_SECONDS = 300.0


def token_of(secret_value: str) -> str:
    """The bearer token in a stored connection secret."""
    return str(json.loads(secret_value)["token"])


class TokenCache:
    """Tokens by catalog path (``connections/<key>/token``), read once per ``ttl`` seconds; thread-safe."""

    def __init__(self, fetch: Fetch, ttl: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic):
        self._fetch, self._ttl, self._clock = fetch, ttl, clock
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def get(self, path: str) -> str:
        with self._lock:
            cached = self._tokens.get(path)
            if cached is not None and self._clock() < cached[1]:
                return cached[0]
        return self.refresh(path)

    def refresh(self, path: str) -> str:
        """Read the token from the store now (after a 401: it may have been rotated since it was cached)."""
        token = self._fetch(path)
        with self._lock:
            self._tokens[path] = (token, self._clock() + self._ttl)
        return token


def call_with_token(cache: TokenCache, path: str, call: Callable[[str], T], unauthorized: Callable[[T], bool]) -> T:
    """``call(token)``; on a 401, read the token again and retry once (a second 401 is the caller's to report:
    the customer must reconnect, or the token was revoked)."""
    result = call(cache.get(path))
    if unauthorized(result):
        result = call(cache.refresh(path))
    return result


# -- AWS Secrets Manager (boto3) ----------------------------------------------------------------------------


def aws_secret_id(path: str, secret_arns: Mapping[str, str], class_prefixes: Mapping[str, str]) -> str:
    """The SecretId of a catalog path: its ARN (view ``aws.secretArns``), or for a class token its name
    (``<class prefix><connection>/token``, the prefixes from view ``aws.classArnPatterns``)."""
    if path in secret_arns:
        return secret_arns[path]
    parts = path.split("/")
    if len(parts) == 4 and parts[0] == "connections" and parts[1] in class_prefixes:
        return f"{class_prefixes[parts[1]]}{parts[2]}/{parts[3]}"
    raise KeyError(f"{path} is not among this service's secrets (see its consumer view)")


def aws_fetcher(secret_arns: Mapping[str, str], class_prefixes: Mapping[str, str], client: Any | None = None) -> Fetch:
    if client is None:
        import boto3

        client = boto3.client("secretsmanager")

    def fetch(path: str) -> str:
        value = client.get_secret_value(SecretId=aws_secret_id(path, secret_arns, class_prefixes))["SecretString"]
        return token_of(value)

    return fetch


# -- Azure Key Vault (azure-keyvault-secrets) ---------------------------------------------------------------


def azure_fetcher(secret_uris: Mapping[str, str], client_for: Callable[[str], Any] | None = None) -> Fetch:
    """``secret_uris``: catalog path -> versionless secret URI (view ``azure.secretUris``; a class's tokens are in
    the stack output ``azureSecretUris``). ``client_for(vault_url)`` makes a ``SecretClient``."""
    clients: dict[str, Any] = {}

    def default_client(vault_url: str) -> Any:
        from azure.identity import DefaultAzureCredential
        from azure.keyvault.secrets import SecretClient

        return SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())

    make = client_for or default_client

    def fetch(path: str) -> str:
        vault_url, name = secret_uris[path].rstrip("/").split("/secrets/", 1)
        if vault_url not in clients:
            clients[vault_url] = make(vault_url)
        return token_of(clients[vault_url].get_secret(name).value)

    return fetch


# -- HashiCorp Vault / OpenBao (hvac) -----------------------------------------------------------------------


def vault_kubernetes_login(client: Any, role: str, mount: str = "kubernetes") -> None:
    """Log in as the pod's service account (view ``vault.authRole`` and ``vault.authMount``)."""
    with open("/var/run/secrets/kubernetes.io/serviceaccount/token", encoding="utf-8") as f:
        client.auth.kubernetes.login(role=role, jwt=f.read(), mount_point=mount)


def vault_fetcher(client: Any, mount: str) -> Fetch:
    """``client``: a logged-in ``hvac.Client``; ``mount``: view ``vault.mount``. Paths are catalog paths."""

    def fetch(path: str) -> str:
        read = client.secrets.kv.v2.read_secret_version(path=path, mount_point=mount, raise_on_deleted_version=True)
        return token_of(read["data"]["data"]["value"])

    return fetch
