"""Feed the resources the real program registers (under mocks) to the policies, as the engine would.

pulumi-policy has no test helper (pulumi-policy#445); its argument classes have public constructors.
Props are the recorded inputs, camelCase, secrets unwrapped (the engine hands policies plain values);
``opts.protect`` is the option the program passed to RegisterResource.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from infra.offline import ProgramRun, RecordedResource, load_stack_file, run_program
from tests.support import base_config, run

STACKS = ("dev", "staging", "prod")


@dataclass
class Res:
    """A resource as a policy sees it (mutable copy for the failing cases)."""

    type: str
    name: str
    urn: str
    props: dict[str, Any]
    protect: bool = False
    parent: str | None = None
    custom: bool = True

    @property
    def resource_type(self) -> str:  # PolicyResource's spelling
        return self.type


@dataclass
class Report:
    violations: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, message: str, urn: str | None = None) -> None:
        self.violations.append((message, urn))

    @property
    def messages(self) -> list[str]:
        return [m for m, _ in self.violations]


def from_recorded(r: RecordedResource) -> Res:
    return Res(r.type, r.name, r.urn, copy.deepcopy(r.plain_inputs), r.protect, r.parent, r.custom)


def synthetic(typ: str, name: str, props: Mapping[str, Any], stack: str = "dev", protect: bool = False) -> Res:
    return Res(typ, name, f"urn:pulumi:{stack}::makini-infra::{typ}::{name}", dict(props), protect)


def _opts(res: Res) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=res.protect,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
        parent=res.parent,
    )


def validate_resource(policy: ResourceValidationPolicy, res: Res, config: Mapping[str, Any] | None = None) -> Report:
    report = Report()
    args = ResourceValidationArgs(res.type, res.props, res.urn, res.name, _opts(res), None, config)
    result = policy.validate(args, report)
    assert result is None, "policies are synchronous"
    return report


def validate_stack(policy: StackValidationPolicy, resources: Iterable[Res]) -> Report:
    report = Report()
    policy_resources = [PolicyResource(r.type, r.props, r.urn, r.name, _opts(r), None, None, [], {}) for r in resources]
    result = policy.validate(StackValidationArgs(policy_resources), report)
    assert result is None
    return report


def custom_resources(program: ProgramRun) -> list[Res]:
    return [from_recorded(r) for r in program.resources if r.custom]


@cache
def stack_run(stack: str) -> ProgramRun:
    """The program for a committed Pulumi.<stack>.yaml (cached: the result is plain data)."""
    source = load_stack_file(stack)
    return run_program(stack, source.config, source.secret_keys)


@cache
def webhook_run(env: str) -> ProgramRun:
    """tests/support's minimal config with AWS webhooks on (no committed stack enables them yet)."""
    cfg = base_config(env)
    cfg["makini:webhooks"] = {"enabled": True}
    return run(cfg)


def all_runs() -> dict[str, ProgramRun]:
    runs = {f"stack:{s}": stack_run(s) for s in STACKS}
    runs.update({f"webhooks:{e}": webhook_run(e) for e in ("dev", "prod")})
    return runs
