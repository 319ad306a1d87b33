"""Load a stack's configuration and check it whole: the entry the program and every tool use.

:func:`stacks.config.loader.read_stack_config` validates the keys and sections against the model;
:func:`stacks.checks.cross_checks` then runs every rule over the validated model. Either way one
:class:`ConfigError` lists every problem, each with its key path and fix, before any resource is
registered. Pure: the Pulumi program hands in the configuration Pulumi gave it (``infra/__main__.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from .checks import cross_checks
from .config.loader import read_stack_config
from .config.model import StackConfig
from .config.namespaces import account_ids
from .errors import ConfigError, Problem


def load_stack_config(
    stack: str,
    raw: Mapping[str, str],
    secret_keys: Collection[str] = (),
    *,
    plaintext_leaves: Collection[str] = (),
    file_problems: Sequence[Problem] = (),
) -> StackConfig:
    """Validate a stack's flat Pulumi configuration. Raises :class:`ConfigError` listing every problem.

    ``plaintext_leaves`` and ``file_problems`` come from reading the stack file itself, where there is one
    (:mod:`stacks.config.stack_file`): plain values beside secure ones, keys written twice.
    """
    try:
        cfg, problems = read_stack_config(stack, raw, secret_keys, plaintext_leaves)
    except ConfigError as err:
        if not file_problems:
            raise
        raise ConfigError(stack, [*file_problems, *err.problems]) from None
    problems = [*file_problems, *problems, *cross_checks(cfg, account_ids(raw))]
    if problems:
        raise ConfigError(stack, problems)
    return cfg
