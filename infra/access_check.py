"""Check that no workload identity is granted in two environments.

    python -m infra.access_check [--dir DIR]

A stack only sees its own configuration, so this runs over every ``Pulumi.<stack>.yaml`` of the
project (or of DIR) at once: each is validated like ``pulumi up`` would, then the identities of all
stacks are compared (:func:`stacks.access.cross_environment_conflicts`). An identity in two stacks is
refused unless both set ``makini:access.allowSharedIdentities: true``.

Exit codes: 0 no conflict; 2 a conflict, an invalid stack configuration or an unreadable stack file
(each named on stderr, with the fix); 1 anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from stacks.access import cross_environment_conflicts
from stacks.config import ConfigError, StackConfig
from stacks.load import load_stack_config

from .offline import PROJECT_ROOT, StackFileError, load_stack_file

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def stack_files(directory: Path) -> dict[str, Path]:
    return {p.name[len("Pulumi.") : -len(".yaml")]: p for p in sorted(directory.glob("Pulumi.*.yaml"))}


def load_all(directory: Path) -> tuple[dict[str, StackConfig], list[str]]:
    """Every stack config of ``directory``; the errors of the ones that cannot be loaded, rendered."""
    configs: dict[str, StackConfig] = {}
    errors: list[str] = []
    for stack, path in stack_files(directory).items():
        try:
            source = load_stack_file(stack, path)
            configs[stack] = load_stack_config(stack, source.config, source.secret_keys)
        except ConfigError as err:
            errors.append(str(err))
        except StackFileError as err:
            errors.append(f"makini-infra: {err}")
    return configs, errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.access_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=PROJECT_ROOT, help="folder holding the Pulumi.<stack>.yaml files")
    args = parser.parse_args(argv)
    configs, errors = load_all(args.dir)
    for e in errors:
        print(e, file=sys.stderr)
    if not configs and not errors:
        print(f"makini-infra: no Pulumi.<stack>.yaml in {args.dir}", file=sys.stderr)
        return EXIT_INVALID
    problems = cross_environment_conflicts(configs)
    if problems:
        n = len(problems)
        print(
            f"makini-infra: {n} identit{'y is' if n == 1 else 'ies are'} granted in more than one environment:",
            file=sys.stderr,
        )
        for p in problems:
            print(f"  {p.path}:\n    {p.message}\n    fix: {p.fix}", file=sys.stderr)
    if errors or problems:
        return EXIT_INVALID
    print(
        f"makini-infra: {len(configs)} stacks ({', '.join(sorted(configs))}): every identity belongs to one environment"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
