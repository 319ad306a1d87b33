"""makini-infra: load the stack's config, build the environment, export its outputs."""

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, whatever the cwd

import pulumi  # noqa: E402
from pulumi.runtime import config as runtime_config  # noqa: E402

from stacks.config import ConfigError, StackConfig  # noqa: E402
from stacks.config.stack_file import stack_file_leaves  # noqa: E402
from stacks.environment import build_environment, check_limits, export_outputs  # noqa: E402
from stacks.load import load_stack_config  # noqa: E402

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROJECT = "makini-infra"


def load_from_pulumi() -> StackConfig:
    """Read the running program's configuration (the only place that touches Pulumi's config).

    The engine hands over every key of the stack, in every namespace (so keys nothing reads are found),
    as strings, structured values as JSON.
    """
    raw: dict[str, Any] = dict(runtime_config.get_config_env())
    raw.update(runtime_config.CONFIG.get())
    secret = set(runtime_config.get_config_secret_keys_env())
    secret.update(k for k in raw if runtime_config.is_config_secret(k))
    stack = pulumi.get_stack()
    return load_stack_config(
        stack, raw, secret, plaintext_leaves=stack_file_leaves(PROJECT_ROOT / f"Pulumi.{stack}.yaml", raw, PROJECT)
    )


try:
    config = load_from_pulumi()
    # Documents a cloud would refuse (policy sizes, role-assignment quota, ...) stop the run here, before
    # the first resource is registered: pulumi up never starts a half stack.
    check_limits(config)
except ConfigError as err:  # LimitsExceeded is one
    # RunError ends the program with the message alone: no traceback, and no resource registered.
    raise pulumi.RunError(str(err)) from None

export_outputs(build_environment(config))
