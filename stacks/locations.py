"""Where each catalog secret lives on each backend: the one answer operator commands ask. Pure.

The program materialises the catalog with the names of :mod:`stacks.naming`; commands that read or
write a secret after deployment (``infra.doctor``, ``infra.rotate``) resolve it here, from the catalog
entry, never by building a path themselves, so a change of layout (e.g. tokens filed by access class)
is made once. ``tests/unit/test_locations.py`` checks every location against the names the program
itself gives the resources in the offline plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import CatalogSecret, runtime_token_secret
from .config.model import Backend, StackConfig
from .naming import (
    RUNTIME_CONNECTION_ID,
    aws_secret_name,
    class_key_vault_name,
    key_vault_name,
    key_vault_secret_name,
    key_vault_url,
    vault_mount,
)

BACKEND_TITLES: dict[str, str] = {"aws": "AWS Secrets Manager", "azure": "Azure Key Vault", "vault": "Vault"}


def _vault_url(place: object, backend: str, container: str) -> str:
    if backend != "azure":
        raise ValueError(f"{place} is not in a Key Vault")
    return key_vault_url(container)


@dataclass(frozen=True)
class SecretLocation:
    """One secret's place in one backend's store; names only, never a value.

    ``container``: the Key Vault name on Azure, the KV v2 mount on Vault, empty on AWS (the region comes
    from the provider configuration, ``aws:region``). ``name``: the Secrets Manager secret name, the Key
    Vault secret name, or the KV path inside the mount.
    """

    backend: Backend
    container: str
    name: str
    #: The catalog path the location was derived from (``connections/<key>/token``).
    path: str

    @property
    def vault_url(self) -> str:
        """The Key Vault URL (Azure locations only)."""
        return _vault_url(self, self.backend, self.container)

    def __str__(self) -> str:
        if self.backend == "aws":
            return f"AWS Secrets Manager secret {self.name}"
        if self.backend == "azure":
            return f"Key Vault {self.container} secret {self.name}"
        return f"Vault KV {self.container}/{self.name}"


def locate(
    cfg: StackConfig, secret: CatalogSecret, backend: Backend, *, project: str, organization: str | None = None
) -> SecretLocation:
    """Where ``secret`` of ``cfg``'s catalog lives on ``backend``.

    ``project`` and ``organization`` are the Pulumi project and organization the stack is deployed
    under: the derived Key Vault name depends on them (unless ``makini:azure.vaultName`` sets it).
    """
    if backend not in cfg.backends:
        raise ValueError(f"stack {cfg.environment!r} does not use the {backend} backend (backends: {cfg.backends})")
    if backend == "aws":
        return SecretLocation("aws", "", aws_secret_name(cfg.environment, secret.path), secret.path)
    if backend == "azure":
        if secret.access_class is not None:  # a class's tokens live in the class's own vault
            named = cfg.azure.class_vault_names.get(secret.access_class) if cfg.azure is not None else None
            vault = class_key_vault_name(cfg.environment, secret.access_class, project, organization, named)
        else:
            override = cfg.azure.vault_name if cfg.azure is not None else None
            vault = key_vault_name(cfg.environment, project, organization, override)
        return SecretLocation("azure", vault, key_vault_secret_name(secret.path), secret.path)
    return SecretLocation("vault", vault_mount(cfg.environment), secret.path, secret.path)


@dataclass(frozen=True)
class RuntimeClassPlace:
    """Where one run-time class's tokens live on one backend: every name ``prefix + <connection id> + suffix``
    in ``container`` (names only, never a value). Derived from :func:`locate` of a token at
    :func:`stacks.catalog.runtime_token_path`, so the names are the ones the program grants and the onboarding
    client writes (``tests/unit/test_locations.py`` holds them to ``functions.onboarding.places``).
    """

    backend: Backend
    access_class: str
    container: str
    prefix: str
    suffix: str

    def name_of(self, connection_id: str) -> str:
        return f"{self.prefix}{connection_id}{self.suffix}"

    def connection_of(self, name: str) -> str | None:
        """The connection id a stored name gives back, or None when the name is not a token of the class."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        middle = name[len(self.prefix) : len(name) - len(self.suffix)]
        return middle if RUNTIME_CONNECTION_ID.fullmatch(middle) else None

    @property
    def vault_url(self) -> str:
        """The class vault's URL (Azure only)."""
        return _vault_url(self, self.backend, self.container)

    def __str__(self) -> str:
        if self.backend == "aws":
            return f"AWS Secrets Manager secrets {self.prefix}*{self.suffix}"
        if self.backend == "azure":
            return f"Key Vault {self.container} secrets {self.prefix}*{self.suffix}"
        return f"Vault KV {self.container}/{self.prefix}*{self.suffix}"


_PROBE_ID = "0"


def locate_runtime_class(
    cfg: StackConfig, access_class: str, backend: Backend, *, project: str, organization: str | None = None
) -> RuntimeClassPlace:
    """The place of run-time class ``access_class``'s tokens on ``backend`` (see :class:`RuntimeClassPlace`)."""
    if access_class not in cfg.access_classes or not cfg.access_classes[access_class].runtime:
        raise ValueError(f"stack {cfg.environment!r} has no run-time class {access_class!r}")
    loc = locate(
        cfg, runtime_token_secret(access_class, _PROBE_ID), backend, project=project, organization=organization
    )
    # the id is one segment of the name on every backend: split the probe's name around it
    marker = {"aws": "/", "azure": "-", "vault": "/"}[backend]
    before, _, after = loc.name.rpartition(f"{marker}{_PROBE_ID}{marker}")
    return RuntimeClassPlace(backend, access_class, loc.container, before + marker, marker + after)
