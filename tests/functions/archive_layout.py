"""Unpack a function's archive file list into a folder, to import its handler exactly as the cloud does."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path


def unpack(files: Mapping[str, Path | str], into: Path) -> Path:
    """Write every archive entry (a file to copy, or generated text) under ``into``; return ``into``."""
    for name, content in files.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            target.write_text(content)
    return into
