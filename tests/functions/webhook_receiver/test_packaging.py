"""Cold start and packaging constraints of the receiver."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[3]
PKG = ROOT / "functions" / "webhook_receiver"


def _modules_after(code: str, cwd: pathlib.Path = ROOT) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_lambda_import_chain_is_stdlib_plus_boto3():
    boto = _modules_after("import boto3")
    handler = _modules_after("import functions.webhook_receiver.aws_lambda")
    extra = {m for m in handler - boto if m.split(".")[0] not in sys.stdlib_module_names}
    assert extra <= {
        "functions",
        "functions.webhook_receiver",
        "functions.webhook_receiver.aws_lambda",
        "functions.webhook_receiver.core",
    }, extra


def test_lambda_handler_string_works_from_the_archive_layout():
    """The archive holds `webhook_receiver/`; the handler is webhook_receiver.aws_lambda.handler."""
    mods = _modules_after("import webhook_receiver.aws_lambda as m; assert callable(m.handler)", cwd=PKG.parent)
    assert "webhook_receiver.core" in mods


def test_azure_module_imports_the_sdks_lazily():
    mods = _modules_after("import functions.webhook_receiver.azure_function")
    assert not any(m == "azure.servicebus" or m.startswith(("azure.servicebus.", "azure.identity")) for m in mods)


def test_no_pulumi_import_and_only_relative_package_imports():
    for path in sorted((ROOT / "functions").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert not name.split(".")[0].startswith("pulumi"), f"{path}: imports {name}"
                if path.is_relative_to(PKG):
                    assert not name.startswith(("functions", "webhook_receiver")), f"{path}: use relative imports"
