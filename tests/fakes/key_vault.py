"""An in-memory double of azure-keyvault-secrets' ``SecretClient`` at the SDK boundary.

It offers only what the code under test calls (``get_secret``, ``set_secret``,
``update_secret_properties``, ``list_properties_of_secret_versions``, ``list_properties_of_secrets``,
``begin_delete_secret``) with the SDK's shapes: ``KeyVaultSecret``-like objects with
``.value`` and ``.properties`` (name, version, tags, expires_on, content_type, enabled, created_on: Key
Vault stamps each version's creation time itself, here from ``clock``), and the SDK's exceptions: ``ResourceNotFoundError`` for an unknown name, and an
``HttpResponseError`` with status 403 for a disabled version ("Operation get is not allowed on a
disabled secret.", what Key Vault answers for the program's disabled placeholder) or for a name the
caller has no role on (``denied``). Deletion is Key Vault's soft delete (soft delete is always on; purge
protection keeps it for the retention): a deleted secret leaves the live names (reads and listings answer not
found) but keeps its name taken, so ``set_secret`` answers 409 Conflict ("Secret ... is currently in a deleted but
recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.",
``ResourceExistsError`` in the SDK) until an operator recovers it (``recover``, here for the tests). No Azure engine installs here; the behaviour follows the SDK's and
Key Vault's documentation.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError


@dataclass
class Props:
    name: str
    version: str | None
    tags: dict | None
    expires_on: datetime | None
    content_type: str | None
    enabled: bool = True
    created_on: datetime | None = None


@dataclass
class Secret:
    value: str
    properties: Props


@dataclass
class FakeSecretClient:
    """Only what azure-keyvault-secrets' SecretClient offers and the callers use."""

    vault_url: str
    versions: dict[str, list[Secret]] = field(default_factory=dict)
    writes: list[dict] = field(default_factory=list)
    #: update_secret_properties calls (attributes only, never a value).
    updates: list[dict] = field(default_factory=list)
    #: Secret names the caller holds no role on (Key Vault answers 403 Forbidden).
    denied: set[str] = field(default_factory=set)
    reads: int = 0
    #: Soft-deleted secrets: name -> their versions (recoverable; this double offers no purge).
    deleted: dict[str, list[Secret]] = field(default_factory=dict)
    #: list_properties_of_secrets calls, and whether the caller may list the vault at all.
    lists: int = 0
    list_denied: bool = False
    #: When Key Vault "stamps" a new version (created_on); tests move it to let periods pass.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: Calls that cost a round trip to Key Vault besides reads and writes: pages of the secrets' listing
    #: (Key Vault answers at most 25 secrets a page), and listings of one secret's versions.
    list_pages: int = 0
    version_lists: int = 0

    def get_secret(self, name, version=None, **kwargs):
        self.reads += 1
        if name in self.denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/getSecret/action'"
            )
        history = self.versions.get(name)
        if not history:
            raise ResourceNotFoundError(f"Secret not found: {name}")
        secret = history[-1] if version is None else next(s for s in history if s.properties.version == version)
        if not secret.properties.enabled:
            raise _forbidden("Operation get is not allowed on a disabled secret.")
        return secret

    def set_secret(
        self, name, value, *, enabled=None, tags=None, content_type=None, not_before=None, expires_on=None, **kwargs
    ):
        assert isinstance(value, str)
        if name in self.denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/setSecret/action'"
            )
        if name in self.deleted:
            raise ResourceExistsError(
                message=f"Secret {name} is currently in a deleted but recoverable state, and its name cannot be "
                "reused; in this state, the secret can only be recovered or purged."
            )
        props = Props(
            name, uuid.uuid4().hex, dict(tags or {}), expires_on, content_type, enabled is not False, self.clock()
        )
        secret = Secret(value, props)
        self.versions.setdefault(name, []).append(secret)
        self.writes.append({"name": name, "tags": tags, "expires_on": expires_on, "content_type": content_type})
        return secret

    def update_secret_properties(self, name, version=None, *, enabled=None, tags=None, expires_on=None, **kwargs):
        """Key Vault's PATCH of one version's attributes (no value): ``tags`` replaces the version's tags, as the
        REST API does; a version that does not exist is 404."""
        if name in self.denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/update/action'"
            )
        history = self.versions.get(name) or []
        matches = [s for s in history if version is None or s.properties.version == version]
        if not matches:
            raise ResourceNotFoundError(f"Secret not found: {name}/{version}")
        props = matches[-1].properties
        if tags is not None:
            props.tags = dict(tags)
        if expires_on is not None:
            props.expires_on = expires_on
        if enabled is not None:
            props.enabled = enabled
        self.updates.append({"name": name, "version": props.version, "tags": tags, "expires_on": expires_on})
        return props

    def list_properties_of_secret_versions(self, name, **kwargs):
        """Every version's properties (no values), as the SDK's pager yields them; an unknown name yields none
        (Key Vault answers an empty list), a name without a role is 403."""
        if name in self.denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/readMetadata/action'"
            )
        self.version_lists += 1
        return iter([s.properties for s in self.versions.get(name, [])])

    def list_properties_of_secrets(self, **kwargs):
        """Every secret of the vault with its current version's attributes and tags, no value and no version
        (Key Vault's Get Secrets: "only the base secret identifier and its attributes are provided", at most 25
        a page; the SDK's pager fetches the pages as it is iterated). 403 without readMetadata on the vault."""
        if self.list_denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/readMetadata/action'"
            )
        self.lists += 1
        page = min(int(kwargs.get("max_page_size") or 25), 25)

        def pages():
            for i, name in enumerate(sorted(n for n, h in self.versions.items() if h)):
                if i % page == 0:
                    self.list_pages += 1
                p = self.versions[name][-1].properties
                yield Props(
                    name,
                    None,
                    dict(p.tags or {}),
                    p.expires_on,
                    p.content_type,
                    p.enabled,
                    p.created_on,
                )

        return pages()

    def begin_delete_secret(self, name, **kwargs):
        """Key Vault's DELETE of a secret (all its versions; ``secrets/delete``): a soft delete. The SDK returns a
        poller at once; an unknown (or already deleted) name is 404."""
        if name in self.denied:
            raise _forbidden(
                "Caller is not authorized to perform action on resource. Action: "
                "'Microsoft.KeyVault/vaults/secrets/delete'"
            )
        if not self.versions.get(name):
            raise ResourceNotFoundError(f"Secret not found: {name}")
        self.deleted[name] = self.versions.pop(name)
        return _DonePoller(name)

    def recover(self, name: str) -> None:
        """The operator's ``az keyvault secret recover`` (not a method the code under test calls)."""
        self.versions[name] = self.deleted.pop(name)


@dataclass
class _DonePoller:
    name: str

    def result(self, timeout=None):
        return self.name

    def wait(self, timeout=None) -> None:
        return None


def _forbidden(message: str) -> HttpResponseError:
    err = HttpResponseError(message=message)
    err.status_code = 403
    return err
