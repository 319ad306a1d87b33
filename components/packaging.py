"""Packaging runtime code from ``functions/`` for Lambda and Azure Functions: exactly the named modules.

Shared by every component that ships code, so "the archive holds the handler and nothing else" is
one rule in one place: tests, READMEs, caches and the other cloud's handlers never ride along.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

FUNCTIONS_DIR = Path(__file__).resolve().parents[1] / "functions"


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


def archive(files: Mapping[str, Path | str]) -> pulumi.AssetArchive:
    """A zip of files (Path) and generated text (str), in a stable order."""
    return pulumi.AssetArchive(
        {
            name: pulumi.FileAsset(str(c)) if isinstance(c, Path) else pulumi.StringAsset(c)
            for name, c in sorted(files.items())
        }
    )
