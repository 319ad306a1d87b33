"""The archive contract: the `rotation/` folder imports on its own, without Pulumi or optional SDKs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[3] / "functions" / "rotation"


def test_no_pulumi_or_stacks_imports_and_only_relative_intra_package_imports():
    for source in PACKAGE.glob("*.py"):
        tree = ast.parse(source.read_text(), str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                assert top not in {"pulumi", "pulumi_aws", "stacks", "components", "infra", "functions", "rotation"}, (
                    f"{source.name} imports {name}: the runtime package must stay self-contained"
                )


def test_handler_string_imports_without_azure_or_hvac():
    code = (
        "import sys\n"
        "for name in ('azure', 'azure.functions', 'hvac', 'pulumi'): sys.modules[name] = None\n"
        f"sys.path.insert(0, {str(PACKAGE.parent)!r})\n"
        "import importlib\n"
        "mod, _, attr = 'rotation.aws_lambda.handler'.rpartition('.')\n"
        "assert callable(getattr(importlib.import_module(mod), attr))\n"
        "import rotation.azure_function as af; assert af.app is None\n"
        "import rotation.vault_rotator\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
