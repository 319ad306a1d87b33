"""The onboarding identity on a real OpenBao server (issue 19): it stores a new customer's token in a run-time
class of its own environment, and nothing else; the class's consumers read it; it never reads it back.

The staging stack (Pulumi.staging.yaml: run-time class ``linked`` read by work-orders and asset-sync, the
``onboarding`` consumer marked as the onboarding identity) is deployed on Vault under its own name; every
identity logs in the way its workload would (a TokenReview-checked service-account token). Writes use KV v2's
check-and-set (staging's mount has ``casRequired``): ``cas: 0`` creates, ``cas: <version>`` replaces.
"""

from __future__ import annotations

import pytest

from tests.engines.vault_platform import Deployment, deploy, env_name, stack_file, vault_only, with_secrets

CONNECTION = "29000207611898"


@pytest.fixture(scope="module")
def onb(openbao, vault_platform) -> Deployment:
    config, keys = with_secrets(vault_only(stack_file("staging"), env_name("onb")), {"acme-maintainx": "tok-a"})
    return deploy(openbao, config, keys)


def login(vault_platform, d: Deployment, consumer: str) -> str:
    auth = d.config.consumers[consumer].vault.auth.kubernetes
    return vault_platform.login_kubernetes(
        f"makini-{d.environment}-{consumer}", auth.namespaces[0], auth.service_account_names[0]
    )


def put(bao, token, mount, path, token_value="tok-new", cas=0):
    body = {"data": {"token": token_value, "connection_id": path.split("/")[-2]}, "options": {"cas": cas}}
    return bao.http("POST", f"{mount}/data/{path}", body, token=token)


def test_stores_a_new_token_that_exactly_the_class_consumers_read(openbao, vault_platform, onb):
    token = login(vault_platform, onb, "onboarding")
    path = f"connections/linked/{CONNECTION}/token"
    status, body = put(openbao, token, onb.mount, path)
    assert status == 200, body
    assert "token" not in str(body.get("data", {})), "a write answers with version metadata only"
    # it creates, never overwrites: KV v2 asks for `update` on an existing key, even with the right version
    status, body = put(openbao, token, onb.mount, path, "tok-overwrite", cas=1)
    assert status == 403, body
    # it never reads what it stored, nor lists, nor deletes
    assert openbao.http("GET", f"{onb.mount}/data/{path}", token=token)[0] == 403
    status, meta = openbao.http("GET", f"{onb.mount}/metadata/{path}", token=token)  # versions, for check-and-set
    assert status == 200 and meta["data"]["current_version"] == 1 and "token" not in str(meta)
    assert openbao.http("GET", f"{onb.mount}/metadata/connections/standard/x/token", token=token)[0] == 403
    assert openbao.http("LIST", f"{onb.mount}/metadata/connections/linked/", token=token)[0] == 403
    assert openbao.http("DELETE", f"{onb.mount}/metadata/{path}", token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/delete/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/undelete/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("PUT", f"{onb.mount}/destroy/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/metadata/{path}", {"delete_version_after": "1s"}, token=token)[0] == 403
    readers = {}
    for consumer in ("work-orders", "asset-sync", "onboarding"):
        status, body = openbao.http("GET", f"{onb.mount}/data/{path}", token=login(vault_platform, onb, consumer))
        readers[consumer] = body["data"]["data"]["token"] if status == 200 else status
    assert readers == {"work-orders": "tok-new", "asset-sync": "tok-new", "onboarding": 403}


@pytest.mark.parametrize(
    "path",
    [
        "connections/standard/29000207611899/token",  # a declared class
        "connections/acme-maintainx/token",  # a declared explicit-list token (exists)
        "connections/29000207611899/token",  # an explicit-list place
        "connections/linked/29000207611899/m2m-key",  # not a token
        "connections/linked/a/29000207611899/token",  # deeper than one segment
        "connections/linked/29000207611899/token/x",
        "connections/linked/token",  # no connection id
        "oauth/client",
        "webhook/secret",
    ],
)
def test_cannot_write_outside_its_run_time_classes(openbao, vault_platform, onb, path):
    token = login(vault_platform, onb, "onboarding")
    assert put(openbao, token, onb.mount, path, cas=0)[0] == 403
    assert put(openbao, token, onb.mount, path, cas=1)[0] == 403


def test_cannot_write_to_another_environment(openbao, vault_platform, onb, environments):
    token = login(vault_platform, onb, "onboarding")
    for other in environments:
        assert put(openbao, token, other.mount, f"connections/linked/{CONNECTION}/token")[0] == 403
        assert put(openbao, token, other.mount, f"connections/standard/{CONNECTION}/token")[0] == 403
        assert (
            openbao.http("DELETE", f"{other.mount}/data/connections/linked/{CONNECTION}/token", token=token)[0] == 403
        )
    # and another environment's onboarding identity cannot write here
    staging = environments[0]
    theirs = login(vault_platform, staging, "onboarding")
    assert put(openbao, theirs, onb.mount, f"connections/linked/{CONNECTION}-x/token")[0] == 403


def test_never_overwrites_even_on_a_mount_without_check_and_set(openbao, vault_platform, onb):
    """The policy, not ``cas_required``, keeps a token from being replaced: the same policy on a plain KV v2 mount
    creates a new key and is refused (403) on an existing one, with or without a version to check (a KV v2
    ``PATCH`` needs the ``patch`` capability, which it does not hold)."""
    from components.vault.policies import onboarding_policy_hcl

    mount = openbao.enable_kv2("onb-plain")
    name = openbao.unique("onb-plain")
    assert openbao.http(
        "PUT", f"sys/policies/acl/{name}", {"policy": onboarding_policy_hcl("x", "o", mount, ["linked"])}
    )[0] in (200, 204)
    status, created = openbao.http("POST", "auth/token/create", {"policies": [name], "ttl": "5m"})
    token = created["auth"]["client_token"]
    a, b = f"connections/linked/{CONNECTION}/token", "connections/linked/29000207611899/token"
    assert openbao.http("POST", f"{mount}/data/{a}", {"data": {"token": "tok-a"}}, token=token)[0] == 200
    assert openbao.http("POST", f"{mount}/data/{b}", {"data": {"token": "tok-b"}}, token=token)[0] == 200
    # customer B's token at customer A's path, or a blank over it: refused, with and without check-and-set
    for body in ({"data": {"token": "tok-b"}}, {"data": {}}, {"data": {"token": "x"}, "options": {"cas": 1}}):
        assert openbao.http("POST", f"{mount}/data/{a}", body, token=token)[0] == 403
    assert openbao.http("GET", f"{mount}/data/{a}")[1]["data"]["data"] == {"token": "tok-a"}


def test_disconnect_soft_deletes_the_latest_version_an_operator_can_undelete(openbao, vault_platform, onb):
    token = login(vault_platform, onb, "onboarding")
    path = "connections/linked/29000207611897/token"
    assert put(openbao, token, onb.mount, path, "tok-gone")[0] == 200
    assert openbao.http("DELETE", f"{onb.mount}/data/{path}", token=token)[0] == 204
    reader = login(vault_platform, onb, "work-orders")
    assert openbao.http("GET", f"{onb.mount}/data/{path}", token=reader)[0] == 404  # the consumers lose it
    status, meta = openbao.http("GET", f"{onb.mount}/metadata/{path}", token=token)
    assert status == 200 and meta["data"]["versions"]["1"]["deletion_time"]  # soft: the version is kept
    assert openbao.http("DELETE", f"{onb.mount}/data/{path}", token=token)[0] == 204  # a second disconnect: no-op
    # it can neither destroy nor drop the metadata, nor bring it back, nor write a new token over it
    assert openbao.http("PUT", f"{onb.mount}/destroy/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("DELETE", f"{onb.mount}/metadata/{path}", token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/undelete/{path}", {"versions": [1]}, token=token)[0] == 403
    assert put(openbao, token, onb.mount, path, "tok-again", cas=1)[0] == 403
    # the operator's restore step (docs/operations.md): undelete the version
    assert openbao.http("POST", f"{onb.mount}/undelete/{path}", {"versions": [1]})[0] == 204
    assert openbao.http("GET", f"{onb.mount}/data/{path}", token=reader)[1]["data"]["data"]["token"] == "tok-gone"


def test_cannot_delete_a_declared_token_or_another_class(openbao, vault_platform, onb):
    token = login(vault_platform, onb, "onboarding")
    for path in ("connections/acme-maintainx/token", "connections/standard/29000207611899/token", "oauth/client"):
        assert openbao.http("DELETE", f"{onb.mount}/data/{path}", token=token)[0] == 403, path
    assert openbao.http("GET", f"{onb.mount}/data/connections/acme-maintainx/token")[0] == 200
