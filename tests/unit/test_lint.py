"""The lint gate runs with the tests: ruff's rule sets (see [tool.ruff]) and its formatter fail the suite."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency (uv sync installs it)"
    result = subprocess.run(
        [ruff, "check", "--output-format", "concise", "."], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean():
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is a dev dependency (uv sync installs it)"
    result = subprocess.run([ruff, "format", "--check", "."], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, "run `uv run ruff format .`:\n" + result.stdout + result.stderr


def test_the_gate_can_fail(tmp_path):
    """The same command flags a late-bound loop variable and an unused import."""
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    (tmp_path / "bad.py").write_text(
        "import os\nfns = [lambda: i for i in range(3)]\nfor i in range(3):\n    fns.append(lambda: i)\n"
    )
    result = subprocess.run(
        [ruff, "check", "--select", "F,E9,B", "--output-format", "concise", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1 and "F401" in result.stdout and "B023" in result.stdout
