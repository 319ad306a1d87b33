"""Which Makini connection each secret gets a token for: decided by the deployer, never by the secret.

A rotator holds the OAuth client, so it can issue a token for *any* connection of the environment. If the
connection came from something a non-reader can edit (an AWS tag, a value's ``connection_id``, a Key Vault
tag, Vault custom metadata), whoever can edit it could point secret A at customer B, and the next rotation
would store B's valid token where A's consumers read it (a confused deputy). So the binding
secret -> connection comes from the stack's configuration, carried into the rotator by the program:

* AWS Lambda and Azure Functions: ``bindings.json`` beside this module, in the code package the program
  builds (only the deployer can change a function's code);
* Vault: the file named by ``ROTATION_BINDINGS_FILE``, a ConfigMap in the CronJob manifest the program
  generates (only whoever may apply that manifest can change it).

Every run checks every secret against it: an unbound secret is never rotated, and a tag, value or metadata
that names another connection is logged (``binding_mismatch``) and ignored.

The document (written by ``stacks/rotation.py``, :func:`bindings_document`)::

    {"format": "makini-rotation-bindings/1", "environment": "prod", "backend": "aws", "periodDays": 7,
     "bindings": {"<secret key>": "<Makini connection id>", ...},
     "runtimeClasses": {"<class>": "<secret key prefix>", ...}}

The secret key is what the backend names a secret by: the Secrets Manager name (``makini/prod/connections/
acme/token``), ``<vault name>/<secret name>`` on Key Vault, the KV path in the mount on Vault.

Run-time connections (stored by the onboarding service, without a deploy: issue 19) are bound by their
**name**, which nobody can change once the secret exists: ``runtimeClasses`` names the environment's run-time
classes (the deployer's config) and the prefix the backend files their tokens under, and :class:`RuntimeNames`
binds exactly ``<prefix><connection id>/token`` (Key Vault: ``<vault>/connections-<class>-<id>-token`` in the
class's own vault), the id checked against the connection-id rule and never guessed. A name of any other
shape, of a class that is not run-time, or with a malformed id is unbound; a run-time name whose id is a
declared connection's (bound by the deployment to another secret) is refused, so whoever may create names in a
run-time class cannot make a rotator issue a declared customer's token where the class's consumers read it. :meth:`Bindings.with_runtime_names`
chains it after the deployment's bindings (:meth:`Bindings.chain`, which refuses a secret two sources bind to
different connections); every rotator reads its bindings that way. Each :class:`Binding` says which source
made it (``via``: ``deployment`` or ``runtime-name``), which every rotator logs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from functions.shared import names

FORMAT = "makini-rotation-bindings/1"
#: The packaged file (AWS Lambda, Azure Functions): beside this module.
PACKAGED_FILE = Path(__file__).with_name("bindings.json")
#: The Vault rotator's file (a ConfigMap mounted into the CronJob's pod).
ENV_BINDINGS_FILE = "ROTATION_BINDINGS_FILE"
BACKENDS = ("aws", "azure", "vault")

#: The run-time name rules every function shares (functions/shared/names.py).
CONNECTION_ID = names.CONNECTION_ID
CLASS_NAME = names.CLASS_NAME
#: A Key Vault name (``stacks.naming.KV_VAULT_NAME``).
KEY_VAULT_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){1,22}[A-Za-z0-9]")
#: ``Binding.via``: the deployment's bindings, or a run-time token's name.
VIA_DEPLOYMENT = "deployment"
VIA_RUNTIME_NAME = "runtime-name"


class BindingError(Exception):
    """The bindings cannot be read, or do not bind a secret; the message says which and how to fix it."""


class UnboundSecret(BindingError):
    """A secret the deployed bindings do not name: it is not rotated."""


@dataclass(frozen=True)
class Binding:
    """One secret's connection, and where that came from."""

    secret: str
    connection_id: str
    source: str
    #: Which kind of source bound it: :data:`VIA_DEPLOYMENT` or :data:`VIA_RUNTIME_NAME`.
    via: str = VIA_DEPLOYMENT
    #: The run-time class whose name bound it (``via == VIA_RUNTIME_NAME``), else None.
    access_class: str | None = None


class BindingSource(Protocol):
    """Anything that binds secrets to connections from a source a non-reader cannot edit."""

    @property
    def source(self) -> str: ...

    def binding_for(self, secret: str) -> Binding | None:
        """The secret's binding, or None when this source does not name it."""
        ...

    def secrets(self) -> Sequence[str]:
        """Every secret this source binds (what a scheduled rotator walks)."""
        ...


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise BindingError(f"key {key[:120]!r} appears twice")
        out[key] = value
    return out


def runtime_prefix(backend: str, environment: str, access_class: str, vault: str | None = None) -> str:
    """The secret-key prefix of a run-time class's tokens on ``backend`` (what ``runtimeClasses`` must say)."""
    if backend == "aws":
        return f"makini/{environment}/connections/{access_class}/"
    if backend == "vault":
        return f"connections/{access_class}/"
    if backend == "azure":
        if vault is None:
            raise ValueError("a Key Vault run-time prefix needs the class's vault name")
        return f"{vault}/connections-{access_class}-"
    raise ValueError(f"unknown backend {backend!r}")


#: What follows the connection id in a run-time token's secret key.
RUNTIME_SUFFIX = {"aws": "/token", "vault": "/token", "azure": "-token"}


@dataclass(frozen=True)
class RuntimeNames:
    """Binds a run-time token by its name: ``<class prefix><connection id><suffix>`` (a :class:`BindingSource`).

    ``classes`` maps each run-time class of the environment to its prefix (:func:`runtime_prefix`); nothing
    else binds: not a declared class (it is not in ``classes``), not a name with a malformed id, another shape
    or a case variant. It cannot list secrets (:meth:`secrets` is empty): a rotator lists the classes' places
    and asks :meth:`binding_for` about each name it finds."""

    environment: str
    backend: str
    classes: Mapping[str, str]
    source: str = "run-time name"

    def __post_init__(self) -> None:
        if self.backend not in RUNTIME_SUFFIX:
            raise BindingError(f"{self.source}: unknown backend {self.backend!r}")
        vaults: dict[str, str] = {}
        for access_class, prefix in self.classes.items():
            if not isinstance(access_class, str) or not CLASS_NAME.fullmatch(access_class):
                raise BindingError(f"{self.source}: run-time class {str(access_class)[:80]!r} is not a class name")
            vault = None
            if self.backend == "azure":
                vault = prefix.split("/", 1)[0] if isinstance(prefix, str) and "/" in prefix else ""
                if not KEY_VAULT_NAME.fullmatch(vault):
                    raise BindingError(
                        f"{self.source}: run-time class {access_class} names no Key Vault "
                        f"('<vault>/connections-{access_class}-', got {str(prefix)[:120]!r})"
                    )
                if vault.lower() in vaults:
                    raise BindingError(
                        f"{self.source}: run-time classes {vaults[vault.lower()]} and {access_class} share the vault "
                        f"{vault}; each run-time class has its own"
                    )
                vaults[vault.lower()] = access_class
            expected = runtime_prefix(self.backend, self.environment, access_class, vault)
            if prefix != expected:
                raise BindingError(
                    f"{self.source}: run-time class {access_class} has the prefix {str(prefix)[:120]!r}, not "
                    f"{expected!r}; regenerate the bindings with pulumi up"
                )

    def binding_for(self, secret: str) -> Binding | None:
        suffix = RUNTIME_SUFFIX[self.backend]
        if not isinstance(secret, str) or not secret.endswith(suffix):
            return None
        for access_class, prefix in self.classes.items():
            if secret.startswith(prefix):
                connection_id = secret[len(prefix) : -len(suffix)]
                if len(secret) < len(prefix) + len(suffix) or not CONNECTION_ID.fullmatch(connection_id):
                    return None  # a malformed id is never guessed
                return Binding(
                    secret,
                    connection_id,
                    f"{self.source} (run-time class {access_class})",
                    via=VIA_RUNTIME_NAME,
                    access_class=access_class,
                )
        return None

    def secrets(self) -> Sequence[str]:
        return ()

    def name(self, access_class: str, connection_id: str) -> str:
        """The secret key of a run-time token (the inverse of :meth:`binding_for`)."""
        return f"{self.classes[access_class]}{connection_id}{RUNTIME_SUFFIX[self.backend]}"


@dataclass(frozen=True)
class Bindings:
    """The deployed bindings of one environment on one backend (a :class:`BindingSource`)."""

    environment: str
    backend: str
    entries: Mapping[str, str]
    source: str
    #: The rotation period of the environment (days), or None when the document does not say.
    period_days: int | None = None
    #: The environment's run-time classes -> the secret-key prefix of their tokens (``runtimeClasses``).
    runtime_classes: Mapping[str, str] = field(default_factory=dict)
    _extra: tuple[BindingSource, ...] = field(default=(), repr=False)

    @classmethod
    def parse(cls, text: str, *, source: str, backend: str) -> Bindings:
        """Read a bindings document; refuse anything but the format above, for this backend."""
        where = f"rotation bindings {source}"
        try:
            doc = json.loads(text, object_pairs_hook=_no_duplicates)
        except BindingError as err:
            raise BindingError(f"{where}: {err}; regenerate it with pulumi up") from None
        except json.JSONDecodeError as err:
            raise BindingError(f"{where} is not JSON ({err.msg}); regenerate it with pulumi up") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise BindingError(f"{where} is not a {FORMAT} document; regenerate it with pulumi up")
        if doc.get("backend") != backend:
            raise BindingError(
                f"{where} is for backend {doc.get('backend')!r}, but this rotator runs on {backend}: "
                "the package or ConfigMap is not this backend's"
            )
        environment = doc.get("environment")
        if not isinstance(environment, str) or not environment:
            raise BindingError(f"{where} names no environment")
        period = doc.get("periodDays")
        if period is not None and (isinstance(period, bool) or not isinstance(period, int) or period < 1):
            raise BindingError(f"{where}: periodDays {period!r} is not a whole number of days >= 1")
        raw = doc.get("bindings")
        if not isinstance(raw, dict):
            raise BindingError(f"{where} has no bindings object")
        for key, value in raw.items():
            if not key or not isinstance(value, str) or not value:
                raise BindingError(
                    f"{where}: {key[:120]!r} is not bound to a Makini connection id (a non-empty string)"
                )
        runtime = doc.get("runtimeClasses", {})
        if not isinstance(runtime, dict):
            raise BindingError(f"{where}: runtimeClasses is not an object (class -> prefix)")
        RuntimeNames(environment, backend, runtime, source=where)  # refuses a malformed or widened prefix
        return cls(
            environment=environment,
            backend=backend,
            entries=dict(raw),
            source=source,
            period_days=period,
            runtime_classes=dict(runtime),
        )

    @classmethod
    def load(cls, path: Path | str, *, backend: str) -> Bindings:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as err:
            raise BindingError(
                f"cannot read the rotation bindings {path}: {err.strerror or err}; nothing is rotated without them "
                "(they come with the deployment: the function package, or the CronJob's ConfigMap)"
            ) from None
        return cls.parse(text, source=str(path), backend=backend)

    @classmethod
    def packaged(cls, backend: str) -> Bindings:
        """The bindings shipped in this function's package (AWS Lambda, Azure Functions)."""
        return cls.load(PACKAGED_FILE, backend=backend)

    def chain(self, *sources: BindingSource) -> Bindings:
        """These bindings, then each of ``sources`` for secrets they do not name (issue 19's run-time
        connections); a secret bound to two different connections is refused by :meth:`binding_for`."""
        return Bindings(
            self.environment,
            self.backend,
            self.entries,
            self.source,
            self.period_days,
            self.runtime_classes,
            (*self._extra, *sources),
        )

    def runtime_names(self) -> RuntimeNames:
        """The run-time names this document declares (its ``runtimeClasses``; none: binds nothing)."""
        return RuntimeNames(
            self.environment, self.backend, self.runtime_classes, source=f"run-time name ({self.source})"
        )

    def with_runtime_names(self) -> Bindings:
        """These bindings, then the run-time tokens' names (what every rotator checks secrets against)."""
        if not self.runtime_classes or any(isinstance(e, RuntimeNames) for e in self._extra):
            return self
        return self.chain(self.runtime_names())

    # -- BindingSource ---------------------------------------------------------------------------------

    def binding_for(self, secret: str) -> Binding | None:
        found = [Binding(secret, self.entries[secret], self.source)] if secret in self.entries else []
        for extra in self._extra:
            other = extra.binding_for(secret)
            if other is not None:
                found.append(other)
        if found and found[0].via != VIA_DEPLOYMENT:
            declared = self._declared_secret_of(found[0].connection_id)
            if declared is not None and declared != secret:
                raise BindingError(
                    f"secret {secret} names connection {found[0].connection_id} ({found[0].source}), but "
                    f"{found[0].connection_id} is a declared connection of {self.environment}, bound to {declared} "
                    f"({self.source}); refusing to issue its token anywhere else (delete {secret}: a run-time token "
                    "may not take a declared connection's id)"
                )
        ids = {b.connection_id for b in found}
        if len(ids) > 1:
            raise BindingError(
                f"secret {secret} is bound to different connections ("
                + ", ".join(f"{b.connection_id} by {b.source}" for b in found)
                + "); refusing to rotate it until the sources agree"
            )
        return found[0] if found else None

    def _declared_secret_of(self, connection_id: str) -> str | None:
        """The secret the deployment binds ``connection_id`` to (None: not a declared connection)."""
        if "_by_connection" not in self.__dict__:
            # A frozen dataclass: the reverse index is cached beside the fields (the entries never change).
            object.__setattr__(self, "_by_connection", {c: s for s, c in sorted(self.entries.items())})
        index: dict[str, str] = self.__dict__["_by_connection"]
        return index.get(connection_id)

    def secrets(self) -> Sequence[str]:
        names = set(self.entries)
        for extra in self._extra:
            names.update(extra.secrets())
        return sorted(names)

    # -- the check every rotator makes -----------------------------------------------------------------

    def require(self, secret: str) -> Binding:
        """The secret's binding, or :class:`UnboundSecret` (nothing is issued for an unbound secret)."""
        binding = self.binding_for(secret)
        if binding is None:
            raise UnboundSecret(
                f"secret {secret} is not in the deployed rotation bindings of {self.environment} ({self.source}) "
                "and is not named as a run-time token of one of its run-time classes "
                f"({', '.join(sorted(self.runtime_classes)) or 'none'}): it is not rotated. If it should be, declare "
                "its connection with a makiniId in the stack and run pulumi up, or store it at "
                "connections/<run-time class>/<connection id>/token (the bindings come with the deployment and the "
                "name, never from the secret's tags or value)"
            )
        return binding

    def __contains__(self, secret: object) -> bool:
        return isinstance(secret, str) and self.binding_for(secret) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self.secrets())

    def __len__(self) -> int:
        return len(self.secrets())


def claimed_connection(raw_value: str | None) -> str | None:
    """The ``connection_id`` a secret's current value claims (for the mismatch log only; never decides)."""
    try:
        value = json.loads(raw_value or "")
    except ValueError:
        return None
    claimed = value.get("connection_id") if isinstance(value, dict) else None
    return claimed if isinstance(claimed, str) and claimed else None
