"""The keeper's archive: its handler imports from the packaged files alone (no Pulumi, nothing of the program),
and reads the settings the deployment writes beside it."""

from __future__ import annotations

import json
import subprocess
import sys

from components.aws.keeper_policies import KEEPER_SETTINGS_FILE, keeper_settings
from components.aws.lambda_package import KEEPER_LAMBDA
from tests.functions.archive_layout import unpack


def test_the_handler_runs_from_the_archive_alone(tmp_path):
    settings = keeper_settings(
        environment="dev",
        policies={"linked": {"Version": "2012-10-17", "Statement": []}},
        rotation_function_arn=None,
        period_days=None,
        rotation_window=None,
    )
    root = unpack({**KEEPER_LAMBDA.files(), KEEPER_SETTINGS_FILE: json.dumps(settings)}, tmp_path)
    code = (
        "import sys, json\n"
        f"sys.path[:] = [{str(root)!r}] + [p for p in sys.path if 'site-packages' in p or 'lib/python' in p]\n"
        "for name in ('pulumi', 'stacks', 'components', 'infra'): sys.modules[name] = None\n"
        "import importlib\n"
        f"mod, _, attr = {KEEPER_LAMBDA.handler!r}.rpartition('.')\n"
        "m = importlib.import_module(mod)\n"
        "print(json.dumps(getattr(m, attr)({'unexpected': 1}, None)))\n"
        "m._client = lambda: object()\n"
        "print(json.dumps(sorted(m.keeper().settings.policies)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert json.loads(lines[0]) == {"ignored": "unknown event"}
    assert json.loads(lines[1]) == ["linked"]
    assert sorted(KEEPER_LAMBDA.files()) == sorted(
        [
            "keeper/__init__.py",
            "keeper/aws_lambda.py",
            "keeper/governance.py",
            "functions/__init__.py",
            "functions/shared/__init__.py",
            "functions/shared/jsonlog.py",
            "functions/shared/names.py",
        ]
    )
