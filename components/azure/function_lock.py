"""The Azure Functions' third-party dependencies, locked from the program's own ``uv.lock``.

A Function App package ships ``requirements.txt`` and (with ``makini:azure.functionDependenciesDir``) the
installed packages. Both come from the lock the program and its tests use, so the apps run exactly the
versions the test suite ran:

* :func:`locked_requirements` resolves the closure of a package's top-level imports (``azure-functions``,
  ``azure-identity``, ...) in ``uv.lock`` for the Functions runtime (CPython on Linux, the app's Python
  version): one exact version per package, every artifact hash the lock holds for it;
* :func:`requirements_text` renders it for ``pip install --require-hashes --no-deps`` (pip refuses any
  file whose hash is not listed, and installs nothing the list does not name);
* :func:`check_installed` proves a dependencies folder holds exactly those distributions, by their
  ``*.dist-info/METADATA`` (name and version), nothing missing, nothing extra, nothing at another version.

Pure: reads files, imports no Pulumi.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
UV_LOCK = ROOT / "uv.lock"


class LockError(ValueError):
    """The lock cannot pin a Function's dependencies, or a dependencies folder does not hold them."""


def normalize(name: str) -> str:
    """PEP 503 name normalisation (``Azure_Core`` -> ``azure-core``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockedPackage:
    name: str
    version: str
    #: ``sha256:<hex>`` of every wheel and sdist the lock lists for this version (pip accepts any of them).
    hashes: tuple[str, ...]


def marker_environment(python_version: str) -> dict[str, str]:
    """PEP 508 marker variables of the Functions host: CPython on x86-64 Linux, ``python_version`` (``3.11``)."""
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{python_version}.0",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{python_version}.0",
        "python_version": python_version,
        "sys_platform": "linux",
    }


def _applies(marker: str | None, env: Mapping[str, str], extras: Iterable[str] = ("",)) -> bool:
    if not marker:
        return True
    m = Marker(marker)
    return any(m.evaluate({**env, "extra": e}) for e in extras)


def _load(lock_path: Path) -> list[dict[str, Any]]:
    try:
        return list(tomllib.loads(lock_path.read_text())["package"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as err:
        raise LockError(f"{lock_path}: not a readable uv.lock ({err})") from None


def _pick(
    candidates: list[dict[str, Any]], name: str, env: Mapping[str, str], full_versions: Iterable[str]
) -> dict[str, Any]:
    """The one locked version of ``name`` for the runtime; the same for every patch release of its Python."""
    chosen = set()
    for full in full_versions:
        at = {**env, "python_full_version": full}
        fit = [
            p
            for p in candidates
            if not p.get("resolution-markers") or any(_applies(m, at) for m in p["resolution-markers"])
        ]
        if len(fit) != 1:
            raise LockError(f"uv.lock has {len(fit)} versions of {name} for Python {full} on Linux (expected one)")
        chosen.add(fit[0]["version"])
    if len(chosen) != 1:
        raise LockError(f"uv.lock pins {name} to {sorted(chosen)} across Python {env['python_version']}.x")
    return next(p for p in candidates if p["version"] in chosen)


def locked_requirements(
    roots: Iterable[str], python_version: str, lock_path: Path = UV_LOCK
) -> tuple[LockedPackage, ...]:
    """The closure of ``roots`` in ``uv.lock`` for the Functions runtime, sorted by name."""
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in _load(lock_path):
        by_name.setdefault(normalize(p["name"]), []).append(p)
    env = marker_environment(python_version)
    full_versions = (f"{python_version}.0", f"{python_version}.99")
    out: dict[str, LockedPackage] = {}
    todo: list[tuple[str, tuple[str, ...]]] = [(normalize(r), ("",)) for r in roots]
    extras_of: dict[str, set[str]] = {}
    while todo:
        name, extras = todo.pop()
        if name not in by_name:
            raise LockError(f"{name} is not in uv.lock: add it to pyproject.toml (dev group) and run uv lock")
        new_extras = set(extras) - extras_of.get(name, set())
        if name in out and not new_extras:
            continue
        extras_of.setdefault(name, set()).update(extras)
        package = _pick(by_name[name], name, env, full_versions)
        hashes = [a["hash"] for a in [*package.get("wheels", []), package.get("sdist") or {}] if a.get("hash")]
        if not hashes:
            raise LockError(f"uv.lock lists no artifact hash for {name} {package['version']}")
        out[name] = LockedPackage(name, package["version"], tuple(sorted(hashes)))
        deps = list(package.get("dependencies", []))
        for extra in extras_of[name] - {""}:
            deps += package.get("optional-dependencies", {}).get(extra, [])
        for dep in deps:
            if _applies(dep.get("marker"), env, extras_of[name]):
                todo.append((normalize(dep["name"]), ("", *dep.get("extra", ()))))
    return tuple(out[n] for n in sorted(out))


def requirements_text(packages: Iterable[LockedPackage], header: str = "") -> str:
    """``name==version --hash=...`` lines, for ``pip install --require-hashes --no-deps -r``."""
    lines = [f"# {line}" for line in header.splitlines()]
    for p in packages:
        lines.append(f"{p.name}=={p.version} \\")
        lines += [f"    --hash={h} \\" for h in p.hashes[:-1]]
        lines.append(f"    --hash={p.hashes[-1]}")
    return "\n".join(lines) + "\n"


_META = re.compile(r"^(Name|Version):\s*(.+?)\s*$", re.M)


def installed_distributions(root: Path) -> dict[str, str]:
    """Normalised name -> version of every distribution installed in ``root`` (``pip install --target``)."""
    out: dict[str, str] = {}
    for meta in sorted(root.glob("*.dist-info/METADATA")):
        fields = dict(_META.findall(meta.read_text(errors="replace")))
        if "Name" not in fields or "Version" not in fields:
            raise LockError(f"{meta}: no Name or Version")
        name = normalize(fields["Name"])
        if name in out:
            raise LockError(f"{root}: {name} is installed twice ({out[name]} and {fields['Version']})")
        out[name] = fields["Version"]
    return out


def check_installed(root: Path, packages: Iterable[LockedPackage]) -> None:
    """Refuse a dependencies folder that does not hold exactly the locked distributions."""
    want = {p.name: p.version for p in packages}
    have = installed_distributions(root)
    problems = [f"{n} missing (locked {v})" for n, v in sorted(want.items()) if n not in have]
    problems += [f"{n} {have[n]} installed, {v} locked" for n, v in sorted(want.items()) if n in have and have[n] != v]
    problems += [f"{n} {v} installed but not locked" for n, v in sorted(have.items()) if n not in want]
    if problems:
        raise LockError(
            f"the Function dependencies folder {root} does not hold exactly the locked versions: "
            + "; ".join(problems)
            + " (rebuild it with pip install --require-hashes --no-deps --target, see docs/azure-functions.md)"
        )
