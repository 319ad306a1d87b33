"""Aliases for components whose type token changed: the engine moves their state (and their children's)
instead of deleting and recreating them. See docs/refactoring.md; tests/program/test_urns.py checks every
example stack's old URNs stay covered."""

from __future__ import annotations

import pulumi


def formerly(opts: pulumi.ResourceOptions | None, *old_types: str) -> pulumi.ResourceOptions:
    """``opts`` plus an alias per type token the component had before (its children inherit them)."""
    aliases: list[pulumi.Input[str | pulumi.Alias]] = [pulumi.Alias(type_=t) for t in old_types]
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases))
