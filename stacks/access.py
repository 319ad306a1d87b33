"""The access matrix and the cross-environment identity check (pure: no Pulumi).

The matrix answers, from the same declaration every backend is built from (the catalog), which
identity may do what to which secret of an environment: consumers (services named in config) only
read; the stack's own system identities (webhook receiver, rotation) read and write exactly what their
job needs. The backends' policies are generated from the catalog too; the tests prove those policies
grant what this matrix says and nothing else.

Who is who: :func:`consumer_identities` names the workload identities a consumer is granted as, so
that two consumers of one stack never share one (:func:`shared_identity_problems`, a config rule) and
one identity is not granted in two environments. A stack only sees its own configuration, so the
latter is checked over several stacks at once by :func:`cross_environment_conflicts` (run by
``python -m infra.access_check`` over every ``Pulumi.*.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .catalog import DOCTOR_READS, Catalog, CatalogSecret, SystemIdentity, build_catalog
from .config.consumers import Consumer, consumer_path
from .config.model import StackConfig
from .errors import Problem


class IdentityKind(StrEnum):
    CONSUMER = "consumer"
    SYSTEM = "system"


#: Backends on which each system identity exists: the webhook receiver runs on AWS (Lambda) and Azure
#: (Function App); Vault has no receiver. The rotation job runs on every backend.
SYSTEM_BACKENDS: dict[SystemIdentity, frozenset[str]] = {
    SystemIdentity.WEBHOOK_RECEIVER: frozenset({"aws", "azure"}),
    SystemIdentity.ROTATION: frozenset({"aws", "azure", "vault"}),
}

#: Whether the rotation job reads the value of a secret it writes, per backend, as each engine enforces it:
#: AWS: its role has GetSecretValue on the tokens (createSecret reads AWSCURRENT, testSecret AWSPENDING);
#: Azure: the custom rotator role (get, set) on each rotated token (it reads the current version's tags and value);
#: Vault: its policy grants create/update on the tokens' data and read/update on their metadata only, so
#: reading a token value is refused (403, proven on OpenBao in tests/vault/test_access_on_openbao.py).
WRITER_READS_VALUE: dict[str, bool] = {"aws": True, "azure": True, "vault": False}


@dataclass(frozen=True)
class BackendAccess:
    """What one backend's engine lets an identity do with one secret, where backends differ."""

    backend: str
    read: bool
    write: bool


class _Grant:
    """Read/write on every backend of the stack, and per backend where they differ."""

    read: bool
    write: bool
    by_backend: tuple[BackendAccess, ...]

    def on(self, backend: str) -> tuple[bool, bool]:
        """(read, write) as the given backend's engine enforces it."""
        for b in self.by_backend:
            if b.backend == backend:
                return b.read, b.write
        return self.read, self.write

    @property
    def allowed(self) -> bool:
        return self.read or self.write

    @staticmethod
    def _words(read: bool, write: bool) -> str:
        return "read, write" if read and write else "read" if read else "write" if write else "-"

    @property
    def access(self) -> str:
        if not self.by_backend:
            return self._words(self.read, self.write)
        groups: dict[str, list[str]] = {}
        for b in self.by_backend:
            groups.setdefault(self._words(b.read, b.write), []).append(b.backend)
        return "; ".join(f"{words} on {', '.join(backends)}" for words, backends in groups.items() if words != "-")

    def as_cell(self) -> dict[str, Any]:
        cell: dict[str, Any] = {"read": self.read, "write": self.write}
        if self.by_backend:
            cell["backends"] = {b.backend: {"read": b.read, "write": b.write} for b in self.by_backend}
        return cell


@dataclass(frozen=True)
class AccessCell(_Grant):
    """One (identity, secret) pair of one environment.

    ``read``/``write``: allowed on at least one of the stack's backends. ``by_backend`` is set only when
    the backends differ (a system identity: the receiver exists on AWS and Azure only, the Vault rotator
    never reads the values it writes); :meth:`on` answers for one backend."""

    environment: str
    identity: str
    kind: IdentityKind
    path: str
    read: bool
    write: bool
    by_backend: tuple[BackendAccess, ...] = ()


@dataclass(frozen=True)
class ClassGrant(_Grant):
    """One (identity, access class) pair: the identity's access to every token filed under the class."""

    environment: str
    identity: str
    kind: IdentityKind
    access_class: str
    prefix: str
    read: bool
    write: bool
    by_backend: tuple[BackendAccess, ...] = ()


def _per_backend(
    cfg: StackConfig, system: SystemIdentity, writes: bool, reads: bool
) -> tuple[bool, bool, tuple[BackendAccess, ...]]:
    """(read, write, by_backend) of a system identity that writes ``writes`` and reads ``reads`` by its job."""
    per_backend = []
    for backend in cfg.backends:
        present = backend in SYSTEM_BACKENDS[system]
        write = present and writes
        read = present and (reads or (write and WRITER_READS_VALUE[backend]))
        per_backend.append(BackendAccess(backend, read, write))
    read = any(b.read for b in per_backend)
    write = any(b.write for b in per_backend)
    uniform = all((b.read, b.write) == (read, write) for b in per_backend)
    return read, write, () if uniform else tuple(per_backend)


def _system_cell(cfg: StackConfig, system: SystemIdentity, s: CatalogSecret) -> AccessCell:
    read, write, by_backend = _per_backend(cfg, system, system in s.writers, system in s.system_readers)
    return AccessCell(cfg.environment, system.value, IdentityKind.SYSTEM, s.path, read, write, by_backend)


def _cells(cfg: StackConfig, secrets: tuple[CatalogSecret, ...]) -> tuple[AccessCell, ...]:
    cells: list[AccessCell] = []
    for consumer in sorted(cfg.consumers):
        for s in secrets:
            cells.append(
                AccessCell(cfg.environment, consumer, IdentityKind.CONSUMER, s.path, consumer in s.readers, False)
            )
    for system in SystemIdentity:
        for s in secrets:
            cells.append(_system_cell(cfg, system, s))
    return tuple(cells)


def access_cells(cfg: StackConfig, catalog: Catalog | None = None) -> tuple[AccessCell, ...]:
    """Every (identity, secret) cell of the environment, class tokens included: each consumer and each system
    identity x every secret. It grows as identities x connections; the plan and the stack outputs use the
    compact form (:func:`explicit_cells` + :func:`class_grants`, :func:`matrix_dict`), proofs and tests this one.
    """
    return _cells(cfg, (catalog or build_catalog(cfg)).secrets)


def explicit_cells(cfg: StackConfig, catalog: Catalog | None = None) -> tuple[AccessCell, ...]:
    """Every (identity, secret) cell for the secrets outside any access class (granted one by one)."""
    return _cells(cfg, (catalog or build_catalog(cfg)).explicit_secrets)


def class_grants(cfg: StackConfig, catalog: Catalog | None = None) -> tuple[ClassGrant, ...]:
    """Every (identity, access class) pair: what each identity may do with all the tokens of each class."""
    catalog = catalog or build_catalog(cfg)
    out = []
    for consumer in sorted(cfg.consumers):
        for c in catalog.classes:
            # The onboarding identity creates a run-time class's tokens (never overwrites one) and schedules a
            # disconnected customer's for deletion; it never reads them.
            out.append(
                ClassGrant(
                    cfg.environment,
                    consumer,
                    IdentityKind.CONSUMER,
                    c.name,
                    c.prefix,
                    consumer in c.readers,
                    consumer in c.creators,
                )
            )
    for system in SystemIdentity:
        for c in catalog.classes:
            read, write, by_backend = _per_backend(cfg, system, system in c.writers, False)
            out.append(
                ClassGrant(
                    cfg.environment, system.value, IdentityKind.SYSTEM, c.name, c.prefix, read, write, by_backend
                )
            )
    return tuple(out)


def matrix_rows(cfg: StackConfig, catalog: Catalog | None = None) -> tuple[tuple[str, ...], ...]:
    """Rows for the plan: the allowed cells only (identity, kind, environment, secret, access).

    A class is one row per identity that may use it (``connections/<class>/* (class <class>: N tokens)``),
    never one row per token, so the table does not grow with the number of connections.
    """
    catalog = catalog or build_catalog(cfg)
    runtime = {c.name for c in catalog.runtime_classes}
    counts = {c.name: 0 for c in catalog.classes}
    for s in catalog.secrets:
        if s.access_class is not None:
            counts[s.access_class] += 1
    grants: dict[str, list[ClassGrant]] = {}
    for g in class_grants(cfg, catalog):
        if g.allowed:
            grants.setdefault(g.identity, []).append(g)
    cells: dict[str, list[AccessCell]] = {}
    for c in explicit_cells(cfg, catalog):
        cells.setdefault(c.identity, [])
        if c.allowed:
            cells[c.identity].append(c)
    rows: list[tuple[str, ...]] = []
    for identity, allowed in cells.items():
        rows += [(c.identity, c.kind.value, c.environment, c.path, c.access) for c in allowed]
        for g in grants.get(identity, []):
            n = counts[g.access_class]
            what = (
                f"{g.prefix}* (run-time class {g.access_class}: tokens stored at run time)"
                if g.access_class in runtime
                else f"{g.prefix}* (class {g.access_class}: {n} token{'' if n == 1 else 's'})"
            )
            rows.append((g.identity, g.kind.value, g.environment, what, g.access))
    return tuple(rows)


def matrix_dict(cfg: StackConfig, catalog: Catalog | None = None) -> dict[str, Any]:
    """The whole matrix as JSON-able data, per class where it can be.

    ``{"environment", "classes": {class: {description, prefix, readers, writers, connections}},
    "identities": {identity: {kind, secrets: {path: cell}, classes: {class: cell}}}}``, a cell being
    ``{read, write}`` plus ``backends`` -> {backend: {read, write}} where the stack's backends enforce
    different things. ``secrets`` holds every secret outside a class (allowed or not); a class token's cell
    is its class's entry (:func:`matrix_cell` resolves any path).
    """
    catalog = catalog or build_catalog(cfg)
    members: dict[str, list[str]] = {c.name: [] for c in catalog.classes}
    for s in catalog.secrets:
        if s.access_class is not None and s.connection is not None:
            members[s.access_class].append(s.connection)
    identities: dict[str, dict[str, Any]] = {}
    for c in explicit_cells(cfg, catalog):
        entry = identities.setdefault(c.identity, {"kind": c.kind.value, "secrets": {}, "classes": {}})
        entry["secrets"][c.path] = c.as_cell()
    for g in class_grants(cfg, catalog):
        entry = identities.setdefault(g.identity, {"kind": g.kind.value, "secrets": {}, "classes": {}})
        entry["classes"][g.access_class] = g.as_cell()
    classes = {
        c.name: {
            "description": c.description,
            "prefix": c.prefix,
            "readers": list(c.readers),
            "writers": [w.value for w in c.writers],
            "connections": sorted(members[c.name]),
            # Run-time classes (issue 19): tokens stored without a deploy by the onboarding identity.
            "runtime": c.runtime,
            "creators": list(c.creators),
        }
        for c in catalog.classes
    }
    return {"environment": cfg.environment, "classes": classes, "identities": identities}


def matrix_cell(matrix: Mapping[str, Any], identity: str, path: str) -> dict[str, Any]:
    """The cell (``{read, write}``, plus ``backends`` where they differ) of one identity on one catalog path,
    from :func:`matrix_dict`'s data: class tokens resolve through their class; a path the environment does not
    hold is denied."""
    entry = matrix["identities"][identity]
    if path in entry["secrets"]:
        return dict(entry["secrets"][path])
    for name, klass in matrix.get("classes", {}).items():
        prefix = klass["prefix"]
        if path.startswith(prefix):
            key, _, leaf = path[len(prefix) :].partition("/")
            if leaf == "token" and key in klass["connections"]:
                return dict(entry["classes"][name])
    return {"read": False, "write": False}


# --------------------------------------------------------------------------------------------------
# Workload identities, and the same identity held by two consumers of one stack


@dataclass(frozen=True)
class Identity:
    """One workload identity a consumer is granted as, comparable across consumers and stacks."""

    backend: str
    key: tuple[str, ...]
    label: str
    path: str


def _claim_value(value: str | tuple[str, ...]) -> str:
    return ",".join([value] if isinstance(value, str) else value)


def consumer_identities(name: str, consumer: Consumer) -> list[Identity]:
    """The external identities of a consumer (roles the stack creates and AppRoles are its own: not listed)."""
    out: list[Identity] = []
    if consumer.aws is not None and consumer.aws.role_arn is not None:
        arn = consumer.aws.role_arn
        # IAM role names are unique case-insensitively.
        out.append(Identity("aws", ("aws", arn.lower()), f"AWS role {arn}", consumer_path(name, "aws", "roleArn")))
    if consumer.azure is not None:
        pid = consumer.azure.principal_id
        out.append(
            Identity(
                "azure", ("azure", pid.lower()), f"Azure principal {pid}", consumer_path(name, "azure", "principalId")
            )
        )
    if consumer.vault is not None:
        jwt, k8s = consumer.vault.auth.jwt, consumer.vault.auth.kubernetes
        if jwt is not None:
            claims = tuple(sorted((k, _claim_value(v)) for k, v in (jwt.bound_claims or {}).items()))
            out.append(
                Identity(
                    "vault",
                    ("vault-jwt", jwt.mount_path.strip("/"), jwt.bound_subject or "", repr(claims)),
                    f"Vault JWT subject '{jwt.bound_subject or '*'}'"
                    + (f" with claims {dict(claims)}" if claims else "")
                    + f" on auth/{jwt.mount_path.strip('/')}",
                    consumer_path(name, "vault", "auth", "jwt"),
                )
            )
        if k8s is not None:
            for ns in k8s.namespaces:
                for sa in k8s.service_account_names:
                    out.append(
                        Identity(
                            "vault",
                            ("vault-k8s", k8s.mount_path.strip("/"), ns, sa),
                            f"Kubernetes service account {ns}/{sa} on auth/{k8s.mount_path.strip('/')}",
                            consumer_path(name, "vault", "auth", "kubernetes"),
                        )
                    )
    return out


def shared_identity_problems(consumers: Mapping[str, Consumer]) -> list[Problem]:
    """No two consumers of a stack are the same workload (their grants would merge). A config rule."""
    problems = []
    owner: dict[tuple[str, ...], str] = {}
    for name, consumer in sorted(consumers.items()):
        for ident in consumer_identities(name, consumer):
            first = owner.setdefault(ident.key, name)
            if first != name:
                problems.append(
                    Problem(
                        ident.path,
                        f"consumers '{first}' and '{name}' use the same identity ({ident.label}); each consumer "
                        "needs its own, or each would hold the other's grants",
                        f"give '{name}' its own identity, or merge it into '{first}' and list '{first}' on "
                        f"the connections '{name}' reads",
                    )
                )
    return problems


# --------------------------------------------------------------------------------------------------
# The same identity granted in two environments


def cross_environment_conflicts(configs: Mapping[str, StackConfig]) -> list[Problem]:
    """Identities granted in more than one environment (stack name -> config).

    Refused unless both stacks set ``makini:access.allowSharedIdentities: true``: a workload that
    holds such an identity could read every one of those environments, so a leak in dev reaches prod.
    """
    seen: dict[tuple[str, ...], list[tuple[str, str, str, str]]] = {}
    for stack, cfg in sorted(configs.items()):
        for name, consumer in sorted(cfg.consumers.items()):
            for ident in consumer_identities(name, consumer):
                if ident.backend not in cfg.backends:
                    continue
                seen.setdefault(ident.key, []).append((stack, name, ident.label, ident.path))
    problems = []
    for uses in seen.values():
        stacks = sorted({u[0] for u in uses})
        if len(stacks) < 2:
            continue
        strict = [s for s in stacks if not configs[s].access.allow_shared_identities]
        if not strict:
            continue
        label = uses[0][2]
        who = ", ".join(f"consumer '{n}' in {s}" for s, n, _, _ in uses)
        problems.append(
            Problem(
                "; ".join(f"Pulumi.{s}.yaml {p}" for s, _, _, p in uses),
                f"{label} is granted in {len(stacks)} environments ({who}); whoever holds it can read the "
                f"secrets of {' and '.join(stacks)}",
                "give each environment's consumer its own identity (e.g. a role per environment), or, if "
                "this is intended, set allowSharedIdentities in every one of them: "
                + "; ".join(
                    f"pulumi config set --stack {s} --path 'makini:access.allowSharedIdentities' true" for s in strict
                ),
            )
        )
    return problems


# --------------------------------------------------------------------------------------------------
# Beyond the matrix: the principals that deploy, operate, check and break glass (AWS)


def administration(cfg: StackConfig, catalog: Catalog | None = None) -> dict[str, Any]:
    """What each secret's AWS resource policy lets the principals outside the matrix do (``makini:aws.*``).

    The identity running ``pulumi up`` is a deployer too (when its ARN can be derived). Paths are the
    catalog's; ``initialVersion``: only the version the deployment wrote (pulumi-aws reads it back).
    """
    catalog = catalog or build_catalog(cfg)
    aws = cfg.aws
    if "aws" not in cfg.backends:
        return {}
    every = [s.path for s in catalog.secrets]
    written = [s.path for s in catalog.secrets if s.written_by_deployment]
    doctor = [s.path for s in catalog.secrets if s.kind in DOCTOR_READS]
    delete = "never (production)" if cfg.production else "only within the recovery window"
    return {
        "deployers": {
            "principals": ["the identity running pulumi up", *(aws.deployer_arns if aws else ())],
            "write": every,
            "readInitialVersion": written,
            "administer": "policy, tags, restore",
            "delete": delete,
        },
        "operators": {"principals": list(aws.operator_arns if aws else ()), "write": every},
        "drift": {
            "principals": list(aws.drift_arns if aws else ()),
            "read": doctor,
            "readInitialVersion": written,
        },
        "breakGlass": {
            "principals": list(aws.break_glass_arns if aws else ()),
            "administer": "policy, tags, restore",
            "delete": "any, without the recovery window included",
            "replicate": True,
        },
    }


def administration_notes(cfg: StackConfig, catalog: Catalog | None = None) -> list[str]:
    """The plan's sentences for :func:`administration` (AWS)."""
    data = administration(cfg, catalog)
    if not data:
        return []

    def who(key: str) -> str:
        return ", ".join(data[key]["principals"]) or "none named"

    written = data["deployers"]["readInitialVersion"]
    back = f"; read back only the initial version they wrote, of {', '.join(written)}" if written else ""
    return [
        f"AWS deployers ({who('deployers')}): write every secret, its policy and tags{back}; delete "
        f"{data['deployers']['delete']}; never without the recovery window, never replicate.",
        f"AWS operators ({who('operators')}): write values only, never read.",
        f"AWS drift check ({who('drift')}): reads the OAuth client and the connection tokens"
        + (f", and the initial version of {', '.join(written)}" if written else "")
        + "; never writes.",
        f"AWS break-glass ({who('breakGlass')}): the only ones who may delete without the recovery window, "
        "replicate, delete in production, or purge the webhook queues; they read no value.",
    ]
