"""makini-infra: load the stack's config, build the environment, export its outputs."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the project root, whatever the cwd

import pulumi  # noqa: E402

from stacks.config import ConfigError, load_from_pulumi  # noqa: E402
from stacks.environment import build_environment, export_outputs  # noqa: E402

try:
    config = load_from_pulumi()
except ConfigError as err:
    # RunError ends the program with the message alone: no traceback, and no resource registered.
    raise pulumi.RunError(str(err)) from None

export_outputs(build_environment(config))
