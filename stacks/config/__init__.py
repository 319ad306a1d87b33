"""The stack configuration model: one module per section, each with its own rules (the whole-stack
rules and the loading entry are one level up: stacks.checks, stacks.load)."""

from ..errors import ConfigError, Problem
from .loader import key_path, read_stack_config
from .model import BACKENDS, SECRET_KEYS, StackConfig

__all__ = [
    "BACKENDS",
    "SECRET_KEYS",
    "ConfigError",
    "Problem",
    "StackConfig",
    "key_path",
    "read_stack_config",
]
