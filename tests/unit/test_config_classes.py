"""Access classes in the config model: declared, referenced and refused with one clear message each."""

from __future__ import annotations

import pytest

from stacks.catalog import SystemIdentity, build_catalog
from stacks.config import ConfigError
from tests.support import azure_section, base_config, load

GUID = "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"


def classed(**classes):
    """base_config with access classes, the second connection filed under 'standard'."""
    c = base_config()
    c["makini:accessClasses"] = classes or {"standard": {"consumers": ["orders", "assets"], "description": "most"}}
    conn = c["makini:connections"][1]
    del conn["consumers"]
    conn["class"] = "standard"
    return c


def refused(c) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(c)
    return info.value


def problem(err: ConfigError, path: str):
    hits = [p for p in err.problems if p.path == path]
    assert hits, err.render()
    return hits[0]


def test_a_connection_filed_under_a_class_is_read_by_exactly_its_consumers():
    cfg = load(classed())
    assert cfg.connections[1].access_class == "standard" and cfg.connections[0].access_class is None
    catalog = build_catalog(cfg)
    token = catalog.by_path()["connections/standard/globex-mx/token"]
    assert token.access_class == "standard" and token.readers == ("assets", "orders")
    assert "connections/acme-sap/token" in catalog.by_path()  # explicit lists keep their path
    (klass,) = catalog.classes
    assert (klass.name, klass.prefix, klass.readers, klass.description) == (
        "standard",
        "connections/standard/",
        ("assets", "orders"),
        "most",
    )
    assert [c.name for c in catalog.classes_read_by("assets")] == ["standard"]
    assert [s.path for s in catalog.explicitly_readable_by("assets")] == []
    assert [s.path for s in catalog.explicitly_readable_by("orders")] == ["connections/acme-sap/token"]


def test_rotation_writes_a_class_as_a_whole_and_schedules_only_tokens_with_a_makini_id():
    c = classed()
    c["makini:connections"].append(
        {"key": "no-id", "system": "S", "tier": 1, "deployment": "cloud", "class": "standard"}
    )
    catalog = build_catalog(load(c))
    (klass,) = catalog.classes
    assert klass.writers == (SystemIdentity.ROTATION,)
    by_path = catalog.by_path()
    assert by_path["connections/standard/no-id/token"].writers == (SystemIdentity.ROTATION,)
    assert not by_path["connections/standard/no-id/token"].rotated
    assert by_path["connections/standard/globex-mx/token"].rotated
    c["makini:rotation"] = {"enabled": False}
    assert build_catalog(load(c)).classes[0].writers == ()


def test_a_class_with_no_connection_is_a_governed_place_not_an_error():
    """Issue 19 files run-time tokens under classes: a declared class may hold no declared connection yet,
    and a consumer that only reads such a class is not 'unused'."""
    c = base_config()
    c["makini:accessClasses"] = {"later": {"consumers": ["assets"]}}
    c["makini:connections"][1]["consumers"] = ["orders"]
    cfg = load(c)
    assert [k.name for k in build_catalog(cfg).classes_read_by("assets")] == ["later"]


def test_unknown_class_names_the_nearest():
    c = classed()
    c["makini:connections"][1]["class"] = "standrd"
    p = problem(refused(c), "makini:connections[1].class")
    assert "unknown access class 'standrd'; did you mean 'standard'?" in p.message
    assert "makini:accessClasses.standrd.consumers[0]" in p.fix


def test_class_and_consumers_both_set():
    c = classed()
    c["makini:connections"][1]["consumers"] = ["orders"]
    p = problem(refused(c), "makini:connections[1].consumers")
    assert "sets both class 'standard' and a consumers list" in p.message
    assert "pulumi config rm --path 'makini:connections[1].consumers'" in p.fix
    # an explicitly empty list beside a class is refused too: it says something the class overrides
    c["makini:connections"][1]["consumers"] = []
    assert problem(refused(c), "makini:connections[1].consumers")


def test_unknown_consumer_in_a_class_names_the_nearest():
    c = classed(standard={"consumers": ["orders", "asets"]})
    p = problem(refused(c), "makini:accessClasses.standard.consumers[1]")
    assert "unknown consumer 'asets' in access class 'standard'; did you mean 'assets'?" in p.message


def test_a_class_listing_a_consumer_twice():
    c = classed(standard={"consumers": ["orders", "orders"]})
    assert problem(refused(c), "makini:accessClasses.standard.consumers").message == "lists a consumer more than once"


def test_a_class_named_like_a_connection_key_is_refused():
    """connections/<key>/... would sit under the class's prefix connections/<class>/."""
    c = classed(**{"acme-sap": {"consumers": ["orders"]}, "standard": {"consumers": ["assets"]}})
    p = problem(refused(c), "makini:connections[0].key")
    assert "also the name of access class 'acme-sap'" in p.message


@pytest.mark.parametrize("name", ["A", "x", "Standard", "with_underscore", "-lead", "a" * 25, "double--dash"])
def test_class_names_follow_the_consumer_name_rules(name):
    c = classed(**{name: {"consumers": ["orders"]}})
    c["makini:connections"][1]["class"] = name
    err = refused(c)
    assert any("access class name" in p.message for p in err.problems), err.render()


def test_a_consumer_only_in_a_class_is_referenced_and_an_unlisted_one_is_still_refused():
    c = classed(standard={"consumers": ["orders"]})
    err = refused(c)
    p = problem(err, "makini:consumers.assets")
    assert "no connection or access class lists it" in p.message


def test_azure_class_vault_names_name_declared_classes_and_never_repeat():
    c = classed()
    c["makini:backends"] = ["aws", "azure"]
    for i, consumer in enumerate(c["makini:consumers"].values()):
        consumer["azure"] = {"principalId": GUID.replace("0b", f"{i}c", 1)}
    c["makini:azure"] = azure_section(
        vaultName="kv-mine-dev", classVaultNames={"standard": "KV-MINE-DEV", "gold": "kv-gold-dev"}
    )
    err = refused(c)
    assert "Key Vault name 'KV-MINE-DEV' is also used by makini:azure.vaultName" in (
        problem(err, "makini:azure.classVaultNames.standard").message
    )
    assert "not declared" in problem(err, "makini:azure.classVaultNames.gold").message


def test_role_assignment_budget_is_bounded_by_the_subscription_quota():
    c = classed()
    c["makini:backends"] = ["aws", "azure"]
    for i, consumer in enumerate(c["makini:consumers"].values()):
        consumer["azure"] = {"principalId": GUID.replace("0b", f"{i}c", 1)}
    c["makini:azure"] = azure_section(roleAssignmentBudget=4001)
    assert problem(refused(c), "makini:azure.roleAssignmentBudget")
    c["makini:azure"] = azure_section()
    assert load(c).azure.role_assignment_budget == 2000
