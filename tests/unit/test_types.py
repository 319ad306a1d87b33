"""The type gate runs with the tests: mypy, strict, over the project's code (see [tool.mypy] in pyproject.toml).

The provider SDKs pulumi_aws and pulumi_azure_native are skipped (their classes are Any): analysing them
takes minutes and gigabytes, which a gate run on every commit cannot afford; pulumi itself, pulumi_vault,
pulumi_tls, pydantic and the Azure Functions SDK are checked against. The two Pulumi program files
bootstrap/__main__.py and policy/__main__.py share a module name, so each is checked on its own.
Tests are not type-checked: running them is their check.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MYPY = [sys.executable, "-m", "mypy", "--no-error-summary", "--hide-error-context"]


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MYPY, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_mypy_finds_nothing():
    for args in ((), ("bootstrap/__main__.py",), ("policy/__main__.py",)):
        result = _mypy(*args)
        assert result.returncode == 0, f"mypy {' '.join(args)}:\n{result.stdout}{result.stderr}"


def test_the_gate_can_fail(tmp_path):
    """The same configuration refuses an untyped function and a wrong argument type."""
    bad = tmp_path / "bad.py"
    bad.write_text("def untyped(x):\n    return x\n\n\ndef typed(x: int) -> int:\n    return x\n\n\ntyped('1')\n")
    result = _mypy(str(bad))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "no-untyped-def" in result.stdout and "arg-type" in result.stdout, result.stdout
