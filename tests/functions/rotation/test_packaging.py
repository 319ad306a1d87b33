"""The archive contract: the `rotation/` package imports from its archive alone, without Pulumi or optional SDKs."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from components.aws.lambda_package import ROTATION_LAMBDA
from components.packaging import runtime_files
from tests.pyparse import parse_python

from ..archive_layout import unpack

PACKAGE = Path(__file__).resolve().parents[3] / "functions" / "rotation"


def test_no_pulumi_or_stacks_imports_and_only_relative_intra_package_imports():
    for source in PACKAGE.glob("*.py"):
        tree = parse_python(source.read_text(), str(source))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if name == "functions.shared":  # the shared modules every archive ships
                    continue
                assert top not in {"pulumi", "pulumi_aws", "stacks", "components", "infra", "functions", "rotation"}, (
                    f"{source.name} imports {name}: the runtime package must stay self-contained"
                )


def test_handler_strings_import_from_the_archive_without_azure_or_hvac(tmp_path):
    """The Lambda archive, plus the two other entry points (what the rotator image and the Function
    package add): each imports from these files alone, with the optional SDKs absent."""
    files = ROTATION_LAMBDA.files() | runtime_files("rotation", ("azure_function.py", "vault_rotator.py"))
    root = unpack(files, tmp_path)
    code = (
        "import sys\n"
        f"sys.path[:0] = [{str(root)!r}]\n"
        "for name in ('azure', 'azure.functions', 'hvac', 'pulumi'): sys.modules[name] = None\n"
        "import importlib\n"
        f"mod, _, attr = {ROTATION_LAMBDA.handler!r}.rpartition('.')\n"
        "assert callable(getattr(importlib.import_module(mod), attr))\n"
        "import rotation.azure_function as af; assert af.app is None\n"
        "import rotation.vault_rotator\n"
        f"ours = [m.__file__ for n, m in sys.modules.items() if n.split('.')[0] in ('rotation', 'functions')]\n"
        f"assert ours and all(f.startswith({str(root)!r}) for f in ours), ours\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-P", "-c", code], cwd=root, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
