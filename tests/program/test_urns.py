"""Refactor safety: no resource of an example stack changes its URN without an alias.

Pulumi identifies a resource by its URN (stack, project, the type chain of its parents, its type, its name).
Renaming a component, its type token or a resource, or moving it to another parent, changes the URN, and
``pulumi up`` then deletes the old resource and creates a new one: for a protected production store, a
refused update at best, a new empty secret and a lost value at worst. ``pulumi.Alias`` tells the engine the
new URN is the old resource.

``tests/program/snapshots/<stack>.urns.txt`` lists every URN a released version of the stack has had. The test
runs the program under a monitor without alias specifications, so the Pulumi SDK computes each resource's own
aliases as URNs, adds the aliases every child inherits from its parent's as the engine derives them
(``inherited_child_alias``), and requires every listed URN to be a current URN or an alias of one. Regenerate after a deliberate change (new resources, a rename with its alias):

    UPDATE_SNAPSHOTS=1 uv run pytest tests/program/test_urns.py

A URN covered by an alias stays listed (``old -> new``), so removing the alias later fails here. A resource
removed on purpose drops out of the list when it is regenerated. See docs/refactoring.md.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from infra.offline import (
    AliasUrnMonitor,
    OfflineMocks,
    RecordedResource,
    load_stack_file,
    run_program,
    stack_account_id,
)
from tests.program.test_plan_snapshot import EXAMPLE_STACKS

SNAPSHOTS = Path(__file__).resolve().parent / "snapshots"
HEADER = (
    "# Every URN this stack has had; `old -> new` is kept by an alias. Regenerate: see tests/program/test_urns.py\n"
)


def inherited_child_alias(child_type: str, child_name: str, parent_name: str, parent_alias: str) -> str:
    """The engine's ``inheritedChildAlias`` (pkg/resource/deploy, and the SDKs' ``inherited_child_alias``): a
    child of an aliased parent answers to its URN under the parent's old URN; a name built from the parent's
    name (``<parent>-key``) follows the parent's old name."""
    head, old_parent_name = parent_alias.rsplit("::", 1)
    name = old_parent_name + child_name[len(parent_name) :] if child_name.startswith(parent_name) else child_name
    return f"{head}${child_type}::{name}"


def with_inherited_aliases(resources: list[RecordedResource]) -> dict[str, tuple[str, ...]]:
    """URN -> every alias: its own, as the SDK computed them, and those the engine derives from its parents'."""
    by_urn = {r.urn: r for r in resources}
    done: dict[str, tuple[str, ...]] = {}

    def aliases(r: RecordedResource) -> tuple[str, ...]:
        if r.urn not in done:
            found = dict.fromkeys(r.alias_urns)
            parent = by_urn.get(r.parent or "")
            if parent is not None:
                for parent_alias in aliases(parent):
                    found[inherited_child_alias(r.type, r.name, parent.name, parent_alias)] = None
            done[r.urn] = tuple(found)
        return done[r.urn]

    return {r.urn: aliases(r) for r in resources}


def urns_of(stack: str) -> dict[str, tuple[str, ...]]:
    """URN -> its aliases, for every resource the program registers (the stack itself included)."""
    src = load_stack_file(stack)
    mocks = OfflineMocks(region=src.config.get("aws:region") or "eu-west-1", account_id=stack_account_id(src.config))
    run = run_program(stack, src.config, src.secret_keys, mocks=mocks, monitor=AliasUrnMonitor(mocks))
    return with_inherited_aliases(run.resources)


def read_snapshot(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [
        line.split(" -> ")[0]
        for line in path.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith("#")
    ]


def render(current: dict[str, tuple[str, ...]], previous: list[str]) -> str:
    aliased = {alias: urn for urn, aliases in current.items() for alias in aliases}
    kept = sorted(f"{old} -> {aliased[old]}" for old in previous if old not in current and old in aliased)
    return HEADER + "".join(f"{line}\n" for line in sorted(current) + kept)


def uncovered(current: dict[str, tuple[str, ...]], previous: list[str]) -> list[str]:
    """Listed URNs that are neither current nor an alias of a current resource: a delete and a create."""
    aliased = {alias for aliases in current.values() for alias in aliases}
    return sorted(u for u in previous if u not in current and u not in aliased)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_no_urn_changes_without_an_alias(stack):
    path = SNAPSHOTS / f"{stack}.urns.txt"
    previous = read_snapshot(path)
    current = urns_of(stack)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        missing = uncovered(current, previous)
        assert not missing or os.environ.get("ALLOW_URN_REMOVAL"), (
            f"{stack}: regenerating would forget {len(missing)} URNs no alias covers (a delete and a create in "
            f"every deployed stack), first {missing[0]}; add pulumi.Alias(...) for a rename, or set "
            "ALLOW_URN_REMOVAL=1 when the resources are removed on purpose"
        )
        path.write_text(render(current, previous), encoding="utf-8")
        previous = read_snapshot(path)
    assert previous, f"no URN snapshot for {stack}: run UPDATE_SNAPSHOTS=1 uv run pytest {__file__}"
    missing = uncovered(current, previous)
    assert missing == [], (
        f"{stack}: {len(missing)} URNs would be deleted and recreated (renamed or moved without an alias), e.g. "
        f"{missing[0]}; add opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(...)]) with the old name, type or "
        "parent (docs/refactoring.md)"
    )
    new = sorted(set(current) - set(previous))
    assert new == [], f"{stack}: new URNs not in the snapshot ({new[0]}, ...): regenerate it (see the module doc)"


def test_children_inherit_their_components_old_urn():
    stack = "urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"
    env = "urn:pulumi:dev::p::makini:environment:Environment::makini-dev"
    store = env.replace("::makini-dev", "$makini:vault:SecretStore::makini-dev-vault")
    mount = store.replace("::makini-dev-vault", "$vault:index/mount:Mount::makini-dev-vault-mount")
    old_store = env.replace("::makini-dev", "$makini:vault:VaultStore::makini-dev-vault")

    def rec(urn: str, parent: str | None, aliases: tuple[str, ...] = ()) -> RecordedResource:
        typ, name = urn.split("::")[2].rsplit("$", 1)[-1], urn.rsplit("::", 1)[1]
        return RecordedResource(urn, typ, name, parent, False, False, False, (), (), {}, aliases)

    got = with_inherited_aliases([rec(stack, None), rec(env, stack), rec(store, env, (old_store,)), rec(mount, store)])
    assert got[mount] == (old_store.replace("::makini-dev-vault", "$vault:index/mount:Mount::makini-dev-vault-mount"),)
    assert got[env] == ()


def test_a_rename_without_an_alias_is_caught():
    current = {"urn:pulumi:dev::makini-infra::makini:aws:SecretStore::makini-dev-aws": ()}
    assert uncovered(current, ["urn:pulumi:dev::makini-infra::makini:aws:Store::makini-dev-aws"])
    aliased = {
        "urn:pulumi:dev::makini-infra::makini:aws:SecretStore::makini-dev-aws": (
            "urn:pulumi:dev::makini-infra::makini:aws:Store::makini-dev-aws",
        )
    }
    assert uncovered(aliased, ["urn:pulumi:dev::makini-infra::makini:aws:Store::makini-dev-aws"]) == []
    assert "makini:aws:Store::makini-dev-aws -> " in render(
        aliased, ["urn:pulumi:dev::makini-infra::makini:aws:Store::makini-dev-aws"]
    )
