"""makini-infra: load the stack's config, build the environment, export its outputs."""

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, whatever the cwd

import pulumi  # noqa: E402
from pulumi.runtime import config as runtime_config  # noqa: E402

from stacks.config import ConfigError, StackConfig  # noqa: E402
from stacks.environment import build_environment, export_outputs  # noqa: E402
from stacks.load import load_stack_config  # noqa: E402


def load_from_pulumi() -> StackConfig:
    """Read the running program's configuration (the only place that touches Pulumi's config)."""
    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret = set(runtime_config.get_config_secret_keys_env())
    secret.update(k for k in raw if runtime_config.is_config_secret(k))
    return load_stack_config(pulumi.get_stack(), raw, secret)


try:
    config = load_from_pulumi()
except ConfigError as err:
    # RunError ends the program with the message alone: no traceback, and no resource registered.
    raise pulumi.RunError(str(err)) from None

export_outputs(build_environment(config))
