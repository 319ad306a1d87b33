"""Run-time connections in the config model and the catalog (issue 19): one onboarding identity per environment,
classes that accept connections added at run time, and each rule refused with one clear message."""

from __future__ import annotations

import pytest

from stacks.catalog import SystemIdentity, build_catalog, runtime_token_path
from tests.support import load, runtime_config
from tests.unit.test_config_classes import problem, refused


def test_the_onboarding_identity_creates_in_every_run_time_class_and_reads_none():
    c = runtime_config()
    c["makini:rotation"] = {"connectionTokenDays": 7}
    catalog = build_catalog(load(c))
    linked, standard = catalog.classes
    assert (linked.name, linked.runtime, linked.creators, linked.readers) == (
        "linked",
        True,
        ("onboarding",),
        ("assets", "orders"),
    )
    assert (standard.runtime, standard.creators) == (False, ())
    assert linked.writers == (SystemIdentity.ROTATION,)  # rotation covers run-time tokens like any class token
    assert catalog.onboarding_identity == "onboarding"
    assert catalog.runtime_classes == (linked,)
    assert catalog.classes_created_by("onboarding") == (linked,)
    assert catalog.classes_read_by("onboarding") == ()
    assert catalog.in_class("linked") == ()  # the catalog never knows a run-time token
    assert runtime_token_path("linked", "29000207611898") == "connections/linked/29000207611898/token"


def test_without_run_time_classes_there_is_no_onboarding_identity():
    c = runtime_config()
    del c["makini:consumers"]["onboarding"]
    c["makini:accessClasses"]["linked"]["runtime"] = False
    catalog = build_catalog(load(c))
    assert catalog.onboarding_identity is None and catalog.runtime_classes == ()


def test_one_onboarding_identity_per_environment():
    c = runtime_config()
    c["makini:consumers"]["orders"]["onboarding"] = True
    p = problem(refused(c), 'makini:consumers["orders"].onboarding')
    assert "'onboarding', 'orders'" in p.message and "one" in p.message


def test_the_onboarding_identity_never_reads_what_it_stores():
    c = runtime_config()
    c["makini:accessClasses"]["linked"]["consumers"].append("onboarding")
    p = problem(refused(c), "makini:accessClasses.linked.consumers[2]")
    assert "must not read" in p.message and "remove 'onboarding'" in p.fix


def test_a_run_time_class_needs_an_onboarding_identity_and_the_reverse():
    c = runtime_config()
    del c["makini:consumers"]["onboarding"]["onboarding"]
    assert (
        "no consumer is the onboarding identity" in problem(refused(c), "makini:accessClasses.linked.runtime").message
    )
    c = runtime_config()
    del c["makini:accessClasses"]["linked"]["runtime"]
    p = problem(refused(c), 'makini:consumers["onboarding"].onboarding')
    assert "no access class accepts" in p.message and "runtime' true" in p.fix


def test_a_declared_connection_cannot_sit_in_a_run_time_class():
    c = runtime_config()
    c["makini:connections"][1]["class"] = "linked"
    p = problem(refused(c), "makini:connections[1].class")
    assert "run time only" in p.message


def test_onboarding_is_a_boolean():
    c = runtime_config()
    c["makini:consumers"]["onboarding"]["onboarding"] = "yes please"
    err = refused(c)
    assert any("onboarding" in p.path for p in err.problems), err.render()


@pytest.mark.parametrize("good", ["29000207611898", "a", "conn-42", "x" * 64])
def test_a_run_time_connection_id_is_its_own_name_on_every_backend(good):
    from stacks.naming import RUNTIME_CONNECTION_ID, key_vault_secret_name

    assert RUNTIME_CONNECTION_ID.fullmatch(good)
    # The id survives as one readable segment of the Key Vault name: the name gives the id back.
    assert key_vault_secret_name(runtime_token_path("linked", good)) == f"connections-linked-{good}-token"


@pytest.mark.parametrize("bad", ["", "A1", "a/b", "-a", "a-", "a--b", "a_b", "x" * 65, "a.b"])
def test_a_run_time_connection_id_is_refused_when_a_backend_would_rename_it(bad):
    from stacks.naming import RUNTIME_CONNECTION_ID

    assert not RUNTIME_CONNECTION_ID.fullmatch(bad)


def test_an_onboarding_identity_that_reads_nothing_is_not_an_idle_consumer():
    c = runtime_config()
    c["makini:consumers"]["onboarding"]["oauthClient"] = False  # e.g. it gets the Link token from elsewhere
    assert load(c).consumers["onboarding"].onboarding
