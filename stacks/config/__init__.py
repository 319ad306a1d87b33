"""The stack configuration model, read once at the edge (see loader.load_from_pulumi)."""

from ..errors import ConfigError, Problem
from .loader import key_path, load_from_pulumi, load_stack_config
from .model import BACKENDS, SECRET_KEYS, StackConfig

__all__ = [
    "BACKENDS",
    "SECRET_KEYS",
    "ConfigError",
    "Problem",
    "StackConfig",
    "key_path",
    "load_from_pulumi",
    "load_stack_config",
]
