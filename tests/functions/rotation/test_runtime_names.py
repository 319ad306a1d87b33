"""Run-time tokens are bound by their name (functions/rotation/bindings.py, ``RuntimeNames``), on each backend.

The property tests try names the onboarding identity (or anyone) could give a secret: only exactly
``<run-time class prefix><connection id><suffix>`` with a well-formed id binds, and to that id; a declared
class, a malformed id, another environment, another shape or a case variant never does. The round trips run
the real program and read the bindings it ships with the runtime loader.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from rotation.bindings import (
    CLASS_NAME,
    CONNECTION_ID,
    KEY_VAULT_NAME,
    RUNTIME_SUFFIX,
    VIA_DEPLOYMENT,
    VIA_RUNTIME_NAME,
    BindingError,
    Bindings,
    RuntimeNames,
    UnboundSecret,
    runtime_prefix,
)

from components.aws.lambda_package import BINDINGS_FILE
from functions.onboarding import places
from stacks import naming
from stacks.catalog import runtime_token_path
from stacks.rotation import bindings_document, rotation_bindings
from stacks.rotation import runtime_prefix as program_prefix
from tests.support import load, run, runtime_config

CLASSES_SOURCE = (Path(__file__).resolve().parents[3] / "stacks" / "config" / "classes.py").read_text(encoding="utf-8")
ENV = "prod"
RUNTIME = ("linked", "link-eu")
DECLARED = ("standard",)
VAULTS = {"linked": "kvc-prod-linked-1a2b3c", "link-eu": "kvc-prod-link-eu-9f8e7d"}


def names(backend: str) -> RuntimeNames:
    return RuntimeNames(ENV, backend, {c: runtime_prefix(backend, ENV, c, VAULTS.get(c)) for c in RUNTIME})


def key(backend: str, access_class: str, connection_id: str, vault: str | None = None) -> str:
    """The secret key a backend gives the token of ``connection_id`` in ``access_class`` (written out here)."""
    if backend == "aws":
        return f"makini/{ENV}/connections/{access_class}/{connection_id}/token"
    if backend == "vault":
        return f"connections/{access_class}/{connection_id}/token"
    return (
        f"{vault or VAULTS.get(access_class, 'kvc-prod-other-000000')}/connections-{access_class}-{connection_id}-token"
    )


BACKENDS = ("aws", "azure", "vault")
ids = st.from_regex(CONNECTION_ID, fullmatch=True)
texts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-/_.*?+ ABC", max_size=80)


def test_the_rules_are_the_programs_and_the_onboarding_clients():
    assert CONNECTION_ID.pattern == naming.RUNTIME_CONNECTION_ID.pattern == places.CONNECTION_ID.pattern
    assert CLASS_NAME.pattern == places.CLASS_NAME.pattern
    assert KEY_VAULT_NAME.pattern == naming.KV_VAULT_NAME.pattern
    assert f'_pattern(r"{CLASS_NAME.pattern}"' in CLASSES_SOURCE  # stacks.config.classes.ClassName


@pytest.mark.parametrize("backend", BACKENDS)
@given(access_class=st.sampled_from(RUNTIME), connection_id=ids)
@settings(max_examples=60, deadline=None)
def test_a_run_time_name_binds_exactly_its_id(backend, access_class, connection_id):
    secret = key(backend, access_class, connection_id)
    b = names(backend).binding_for(secret)
    assert b is not None and b.connection_id == connection_id and b.access_class == access_class
    assert b.via == VIA_RUNTIME_NAME and b.secret == secret
    assert names(backend).name(access_class, connection_id) == secret


@pytest.mark.parametrize("backend", BACKENDS)
@given(access_class=st.sampled_from(DECLARED + ("linkedx", "other")), connection_id=ids)
@settings(max_examples=40, deadline=None)
def test_a_class_that_is_not_run_time_never_binds_by_name(backend, access_class, connection_id):
    assert names(backend).binding_for(key(backend, access_class, connection_id)) is None


@pytest.mark.parametrize("backend", BACKENDS)
@given(access_class=st.sampled_from(RUNTIME), middle=texts)
@settings(max_examples=150, deadline=None)
@example(access_class="linked", middle="")
@example(access_class="linked", middle="a/b")
@example(access_class="linked", middle="*")
@example(access_class="linked", middle="acme-")
@example(access_class="linked", middle="-acme")
@example(access_class="linked", middle="ac--me")
@example(access_class="linked", middle="ACME")
@example(access_class="linked", middle="a" * 65)
def test_a_malformed_id_never_binds(backend, access_class, middle):
    assume(not CONNECTION_ID.fullmatch(middle))
    assert names(backend).binding_for(key(backend, access_class, middle)) is None


@pytest.mark.parametrize("backend", BACKENDS)
@given(secret=texts, connection_id=ids, access_class=st.sampled_from(RUNTIME))
@settings(max_examples=150, deadline=None)
def test_any_name_binds_only_if_it_is_exactly_a_run_time_tokens_name(backend, secret, connection_id, access_class):
    n = names(backend)
    for candidate in (
        secret,
        key(backend, access_class, connection_id) + secret,
        secret + key(backend, access_class, connection_id),
    ):
        b = n.binding_for(candidate)
        if b is not None:  # then the name is exactly the one the backend gives that class and id
            assert candidate == key(backend, b.access_class, b.connection_id)
            assert CONNECTION_ID.fullmatch(b.connection_id) and b.access_class in RUNTIME


@pytest.mark.parametrize(
    "secret",
    [
        "makini/staging/connections/linked/0900001/token",  # another environment
        "makini/prod/connections/linked/0900001/m2m-key",
        "makini/prod/connections/linked/0900001/token/x",
        "makini/prod/connections/linked/0900001/TOKEN",
        "MAKINI/prod/connections/linked/0900001/token",
        "makini/prod/connections/linked/sub/0900001/token",
        "makini/prod/connections/0900001/token",
        "makini/prod/connections/standard/0900001/token",
        "makini/prod/connections/linked//token",
    ],
)
def test_names_close_to_a_run_time_name_do_not_bind_on_aws(secret):
    assert names("aws").binding_for(secret) is None


def test_a_key_vault_name_binds_only_in_its_class_vault():
    n = names("azure")
    assert n.binding_for("kvc-prod-linked-1a2b3c/connections-linked-0900001-token").connection_id == "0900001"
    # the same secret name in another vault (the environment's, or the other run-time class's) is not bound
    assert n.binding_for("kv-mk-prod-123456/connections-linked-0900001-token") is None
    assert n.binding_for("kvc-prod-link-eu-9f8e7d/connections-linked-0900001-token") is None
    # an id with dashes is the whole middle: the class is known from the vault
    assert n.binding_for("kvc-prod-link-eu-9f8e7d/connections-link-eu-a-b-token").connection_id == "a-b"


@pytest.mark.parametrize(
    ("backend", "runtime", "message"),
    [
        ("aws", {"linked": "makini/prod/"}, "not 'makini/prod/connections/linked/'"),  # a widened prefix
        ("aws", {"linked": "makini/staging/connections/linked/"}, "not 'makini/prod/connections/linked/'"),
        ("vault", {"linked": "connections/"}, "not 'connections/linked/'"),
        ("vault", {"Linked": "connections/Linked/"}, "is not a class name"),
        ("azure", {"linked": "connections-linked-"}, "names no Key Vault"),
        ("azure", {"linked": "kvc-x/connections-"}, "not 'kvc-x/connections-linked-'"),
        ("azure", {"a-b": "kvc-same/connections-a-b-", "ab": "kvc-same/connections-ab-"}, "share the vault"),
        ("aws", ["linked"], "runtimeClasses is not an object"),
    ],
)
def test_a_document_whose_run_time_prefixes_are_not_the_classes_is_refused(backend, runtime, message):
    doc = json.loads(bindings_document(ENV, backend, 7, {}))
    doc["runtimeClasses"] = runtime
    with pytest.raises(BindingError, match=message):
        Bindings.parse(json.dumps(doc), source="package", backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_deployments_bindings_come_first_and_the_source_is_said(backend):
    declared = {"aws": "makini/prod/connections/acme/token", "vault": "connections/acme/token"}.get(
        backend, "kv-mk-prod-123456/connections-acme-token"
    )
    text = bindings_document(
        ENV,
        backend,
        7,
        {declared: "0900001"},
        {c: program_prefix(backend, ENV, c, VAULTS.get(c)) for c in RUNTIME},
    )
    b = Bindings.parse(text, source="bindings.json", backend=backend).with_runtime_names()
    assert b.require(declared).via == VIA_DEPLOYMENT and b.require(declared).source == "bindings.json"
    runtime = b.require(key(backend, "linked", "0900002"))
    assert (runtime.via, runtime.connection_id, runtime.access_class) == (VIA_RUNTIME_NAME, "0900002", "linked")
    assert "bindings.json" in runtime.source
    assert b.secrets() == [declared]  # a name source lists nothing: the rotators list the classes' places
    with pytest.raises(UnboundSecret, match="run-time classes"):
        b.require(key(backend, "standard", "0900002"))
    assert b.with_runtime_names() is b  # chained once


def test_without_run_time_classes_the_document_is_unchanged_and_binds_no_name():
    text = bindings_document(ENV, "aws", 7, {"makini/prod/connections/a/token": "1"})
    assert "runtimeClasses" not in text
    b = Bindings.parse(text, source="t", backend="aws").with_runtime_names()
    assert b.binding_for(key("aws", "linked", "0900002")) is None


@pytest.mark.parametrize("backend", BACKENDS)
@given(access_class=st.from_regex(CLASS_NAME, fullmatch=True), connection_id=ids)
@settings(max_examples=60, deadline=None)
def test_the_program_and_the_rotators_name_run_time_tokens_alike(backend, access_class, connection_id):
    vault = "kvc-prod-x-1a2b3c"
    prefix = program_prefix(backend, ENV, access_class, vault)
    assert prefix == runtime_prefix(backend, ENV, access_class, vault)
    path = runtime_token_path(access_class, connection_id)
    expected = {
        "aws": naming.aws_secret_name(ENV, path),
        "vault": path,
        "azure": f"{vault}/{naming.key_vault_secret_name(path)}",
    }[backend]
    assert prefix + connection_id + RUNTIME_SUFFIX[backend] == expected


def _bindings_in_the_program(result, backend):
    if backend == "aws":
        [fn] = [
            f for f in result.of_type("aws:lambda/function:Function") if f.plain_inputs["name"].endswith("-rotation")
        ]
        return fn.inputs["code"].assets[BINDINGS_FILE].text
    config_map = result.outputs["vaultRotatorBindingsConfigMap"]
    return config_map["data"]["bindings.json"]


def test_the_program_ships_the_run_time_classes_on_aws():
    config = runtime_config("dev", ("aws",))
    result = run(config)
    b = Bindings.parse(_bindings_in_the_program(result, "aws"), source="archive", backend="aws")
    assert b.runtime_classes == {"linked": "makini/dev/connections/linked/"}  # not the declared class standard
    cfg = load(config)
    assert b.entries == {f"makini/dev/{p}": c for p, c in rotation_bindings(cfg).items()} and b.entries
    assert (
        b.with_runtime_names().require("makini/dev/connections/linked/29000207611898/token").connection_id
        == "29000207611898"
    )
    assert cfg.rotation.connection_token_days == b.period_days


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_run_time_name_never_claims_a_declared_connection(backend):
    """The onboarding identity may create any id in its class; an id the deployment binds to a declared token (e.g.
    a restricted class's customer) must not make the rotator issue that customer's token where the run-time
    class's consumers read it: refused, loudly."""
    declared = {"aws": "makini/prod/connections/restricted/acme/token", "vault": "connections/restricted/acme/token"}
    secret = declared.get(backend, "kvc-prod-restricted-0a0b0c/connections-restricted-acme-token")
    text = bindings_document(
        ENV, backend, 7, {secret: "0900001"}, {c: program_prefix(backend, ENV, c, VAULTS.get(c)) for c in RUNTIME}
    )
    b = Bindings.parse(text, source="bindings.json", backend=backend).with_runtime_names()
    assert b.require(secret).connection_id == "0900001"
    with pytest.raises(BindingError, match=f"0900001 is a declared connection .*{secret}"):
        b.require(key(backend, "linked", "0900001"))
    assert b.require(key(backend, "linked", "0900002")).connection_id == "0900002"
