"""Check that no workload identity is granted in two environments.

    python -m infra.access_check [--dir DIR]

A stack only sees its own configuration, so this runs over every ``Pulumi.<stack>.yaml`` of the
project (or of DIR) at once: each is validated like ``pulumi up`` would, then the identities of all
stacks are compared (:func:`stacks.access.cross_environment_conflicts`). An identity in two stacks is
refused unless both set ``makini:access.allowSharedIdentities: true``. Two stacks with the same
environment name in one place (an AWS account of ``aws:allowedAccountIds``, an Azure subscription of
``azure-native:subscriptionId``, a Vault at ``vault:address``; a stack that pins none counts as
anywhere) are refused too: their resources and secrets would have the same names.

Exit codes: 0 no conflict; 2 a conflict, an invalid stack configuration or an unreadable stack file
(each named on stderr, with the fix; the other stacks are still checked); 1 a stack could not be checked
for another reason.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path

from stacks.access import cross_environment_conflicts
from stacks.config import ConfigError, Problem, StackConfig
from stacks.config.namespaces import account_ids

from .cli import make_parser, unexpected
from .offline import PROJECT_ROOT, StackFileError, StackSource, load_stack_file

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def stack_files(directory: Path) -> dict[str, Path]:
    return {p.name[len("Pulumi.") : -len(".yaml")]: p for p in sorted(directory.glob("Pulumi.*.yaml"))}


def load_all(directory: Path) -> tuple[dict[str, StackConfig], list[str]]:
    """Every stack config of ``directory``; the errors of the ones that cannot be loaded, rendered."""
    configs, _, errors, _ = _load_all(directory)
    return configs, errors


def _load_all(directory: Path) -> tuple[dict[str, StackConfig], dict[str, StackSource], list[str], int]:
    configs: dict[str, StackConfig] = {}
    sources: dict[str, StackSource] = {}
    errors: list[str] = []
    failed = 0
    for stack, path in stack_files(directory).items():
        try:
            source = load_stack_file(stack, path)
            configs[stack] = source.load()
            sources[stack] = source
        except ConfigError as err:
            errors.append(str(err))
        except StackFileError as err:
            errors.append(f"makini-infra: {err}")
        except Exception as err:  # noqa: BLE001 - one line per stack, and go on to the others
            errors.append(f"makini-infra: stack '{stack}' could not be checked: {unexpected(err)}")
            failed += 1
    return configs, sources, errors, failed


def placements(cfg: StackConfig, raw: Mapping[str, str]) -> dict[str, frozenset[str] | None]:
    """Backend -> where the stack deploys it (None: not pinned, so anywhere)."""
    where: dict[str, frozenset[str] | None] = {}
    for backend in cfg.backends:
        if backend == "aws":
            where[backend] = frozenset(account_ids(raw)) or None
        else:
            key = {"azure": "azure-native:subscriptionId", "vault": "vault:address"}[backend]
            value = raw.get(key)
            where[backend] = frozenset({value.lower().rstrip("/")}) if value else None
    return where


_PLACE = {"aws": "AWS account", "azure": "Azure subscription", "vault": "Vault"}
_PIN = {"aws": "aws:allowedAccountIds", "azure": "azure-native:subscriptionId", "vault": "vault:address"}


def environment_collisions(stacks: Mapping[str, tuple[StackConfig, Mapping[str, str]]]) -> list[Problem]:
    """Two stacks with one environment name in one place (their resource and secret names would meet)."""
    problems = []
    names = sorted(stacks)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            cfg_a, raw_a = stacks[a]
            cfg_b, raw_b = stacks[b]
            if cfg_a.environment != cfg_b.environment:
                continue
            where_a, where_b = placements(cfg_a, raw_a), placements(cfg_b, raw_b)
            for backend in sorted(set(where_a) & set(where_b)):
                pa, pb = where_a[backend], where_b[backend]
                if pa is not None and pb is not None and not pa & pb:
                    continue
                place = (
                    f"{_PLACE[backend]} {', '.join(sorted(pa & pb))}"
                    if pa is not None and pb is not None
                    else f"possibly one {_PLACE[backend]} ({_PIN[backend]} is not set in "
                    + " and ".join(s for s, p in ((a, pa), (b, pb)) if p is None)
                    + ")"
                )
                problems.append(
                    Problem(
                        f"{a}, {b}: makini:environment",
                        f"stacks '{a}' and '{b}' both deploy environment '{cfg_a.environment}' on {backend}, in "
                        f"{place}: their stores, roles and secrets would have the same names",
                        f"give one of them its own name: pulumi config set makini:environment <name> --stack {b}"
                        + (f" (or pin {_PIN[backend]} in each)" if pa is None or pb is None else ""),
                    )
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = make_parser("python -m infra.access_check", __doc__ or "")
    parser.add_argument("--dir", type=Path, default=PROJECT_ROOT, help="folder holding the Pulumi.<stack>.yaml files")
    args = parser.parse_args(argv)
    configs, sources, errors, failed = _load_all(args.dir)
    for e in errors:
        print(e, file=sys.stderr)
    if not configs and not errors:
        print(f"makini-infra: no Pulumi.<stack>.yaml in {args.dir}", file=sys.stderr)
        return EXIT_INVALID
    collisions = environment_collisions({s: (configs[s], sources[s].config) for s in configs})
    for p in collisions:
        print(f"makini-infra: {p.path}: {p.message}\n    fix: {p.fix}", file=sys.stderr)
    problems = cross_environment_conflicts(configs)
    if problems:
        n = len(problems)
        print(
            f"makini-infra: {n} identit{'y is' if n == 1 else 'ies are'} granted in more than one environment:",
            file=sys.stderr,
        )
        for p in problems:
            print(f"  {p.path}:\n    {p.message}\n    fix: {p.fix}", file=sys.stderr)
    if errors and failed == len(errors) and not problems and not collisions:
        return EXIT_FAILED
    if errors or problems or collisions:
        return EXIT_INVALID
    print(
        f"makini-infra: {len(configs)} stacks ({', '.join(sorted(configs))}): every identity belongs to one environment"
    )
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
