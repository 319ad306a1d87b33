"""Packaging runtime code from ``functions/`` for Lambda and Azure Functions: exactly the named modules.

Shared by every component that ships code, so "the archive holds the handler and nothing else" is
one rule in one place: tests, READMEs, caches and the other cloud's handlers never ride along.

An archive holds the function's package at its root (``<package>/``, so the handler string is
``<package>.<module>.<function>``) and, under ``functions/shared/``, the shared modules it imports
(``from functions.shared import jsonlog``), laid out as in the source tree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"
#: The webhook receiver's platform-independent modules, which both its handlers (the Lambda and the
#: Azure Function) import: one list for both packages.
RECEIVER_CORE_MODULES = (
    "errors.py",
    "js_stringify.py",
    "logs.py",
    "payload.py",
    "request.py",
    "responses.py",
    "settings.py",
    "signature.py",
)


def module_files(source: Path, prefix: str, modules: Sequence[str]) -> dict[str, Path]:
    """Archive path -> file: ``source/<module>`` under ``<prefix>/``, for exactly ``modules``.

    ``source`` is a folder of ``functions/`` (e.g. ``FUNCTIONS_DIR / "rotation"``) and ``prefix`` the
    package name the handler string imports. Raises FileNotFoundError naming the missing module, so a
    renamed file fails the preview, not the first invocation.
    """
    files = {}
    for module in modules:
        path = source / module
        if not path.is_file():
            raise FileNotFoundError(f"{prefix}: runtime module {path} is missing; the function cannot be packaged")
        files[f"{prefix}/{module}"] = path
    return files


def runtime_files(
    package: str, modules: Sequence[str], shared: Sequence[str] = (), source_root: Path = FUNCTIONS_DIR
) -> dict[str, Path]:
    """Archive path -> file: ``<package>/<module>`` for exactly ``modules``, and, when the package imports
    shared modules, ``functions/shared/<module>`` for exactly ``shared`` with the two package ``__init__``
    files that make ``functions.shared`` importable."""
    files = module_files(source_root / package, package, modules)
    if shared:
        files.update(module_files(source_root, "functions", ("__init__.py",)))
        files.update(module_files(source_root / "shared", "functions/shared", ("__init__.py", *shared)))
    return files


def archive(files: Mapping[str, Path | str]) -> pulumi.AssetArchive:
    """A zip of files (Path) and generated text (str), in a stable order."""
    return pulumi.AssetArchive(
        {
            name: pulumi.FileAsset(str(c)) if isinstance(c, Path) else pulumi.StringAsset(c)
            for name, c in sorted(files.items())
        }
    )
