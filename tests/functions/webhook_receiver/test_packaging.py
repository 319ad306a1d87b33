"""Cold start and packaging constraints of the receiver."""

from __future__ import annotations

import ast
import json
import pathlib
import subprocess
import sys

from components.aws.lambda_package import RECEIVER_LAMBDA
from components.azure.function_package import RECEIVER_PACKAGE, package_files
from tests.pyparse import parse_python

from ..archive_layout import unpack

ROOT = pathlib.Path(__file__).resolve().parents[3]
PKG = ROOT / "functions" / "webhook_receiver"


def _modules_after(code: str, cwd: pathlib.Path = ROOT, isolated: bool = False) -> dict[str, str]:
    """Module name -> its file, in a fresh interpreter after running ``code`` in ``cwd``."""
    probe = "\nimport sys, json; print(json.dumps({k: getattr(m, '__file__', None) for k, m in sys.modules.items()}))"
    # -P: the current directory is not prepended implicitly; ``cwd`` goes first explicitly (as the
    # runtimes put the archive root first), so nothing is imported from the source tree by accident.
    prefix = f"import sys; sys.path[:0] = [{str(cwd)!r}]\n" if isolated else ""
    out = subprocess.run(
        [sys.executable, *(["-P"] if isolated else []), "-c", prefix + code + probe],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_lambda_import_chain_is_stdlib_plus_boto3():
    boto = _modules_after("import boto3")
    handler = _modules_after("import functions.webhook_receiver.aws_lambda")
    extra = {m for m in set(handler) - set(boto) if m.split(".")[0] not in sys.stdlib_module_names}
    assert {m for m in extra if m != "functions" and not m.startswith("functions.")} == set(), extra
    assert "functions.shared.jsonlog" in extra and "functions.webhook_receiver.signature" in extra


def test_lambda_handler_string_works_from_the_archive(tmp_path):
    """Unpack the archive the stack deploys; the handler string webhook_receiver.aws_lambda.handler
    imports from it alone (the archive's own files, never the source tree)."""
    root = unpack(RECEIVER_LAMBDA.files(), tmp_path)
    module, _, attr = RECEIVER_LAMBDA.handler.rpartition(".")
    mods = _modules_after(
        f"import importlib; assert callable(getattr(importlib.import_module({module!r}), {attr!r}))",
        cwd=root,
        isolated=True,
    )
    ours = {name: path for name, path in mods.items() if name.split(".")[0] in ("webhook_receiver", "functions")}
    assert {"webhook_receiver.signature", "functions.shared.jsonlog"} <= set(ours)
    assert all(path and pathlib.Path(path).is_relative_to(root) for path in ours.values()), ours


def test_azure_function_app_loads_from_the_package(tmp_path):
    """The Functions host loads function_app.py from the package root: it finds the receiver's app there."""
    root = unpack(package_files(RECEIVER_PACKAGE), tmp_path)
    mods = _modules_after(
        "import function_app; assert function_app.app is not None and type(function_app.app).__name__ == 'FunctionApp'",
        cwd=root,
        isolated=True,
    )
    ours = {name: path for name, path in mods.items() if name.split(".")[0] in ("webhook_receiver", "functions")}
    assert "functions.shared.jsonlog" in ours and "webhook_receiver.azure_function" in ours
    assert all(path and pathlib.Path(path).is_relative_to(root) for path in ours.values()), ours


def test_azure_module_imports_the_sdks_lazily():
    mods = _modules_after("import functions.webhook_receiver.azure_function")
    assert not any(m == "azure.servicebus" or m.startswith(("azure.servicebus.", "azure.identity")) for m in mods)


def test_no_pulumi_import_and_only_relative_package_imports():
    for path in sorted((ROOT / "functions").rglob("*.py")):
        tree = parse_python(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert not name.split(".")[0].startswith("pulumi"), f"{path}: imports {name}"
                if path.is_relative_to(PKG) and name != "functions.shared":
                    assert not name.startswith(("functions", "webhook_receiver")), f"{path}: use relative imports"
