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
    # a customer who reconnects gets a new token: the onboarding identity replaces it (check-and-set)
    status, _ = put(openbao, token, onb.mount, path, "tok-reconnected", cas=1)
    assert status == 200
    # it never reads what it stored, nor lists, nor deletes
    assert openbao.http("GET", f"{onb.mount}/data/{path}", token=token)[0] == 403
    status, meta = openbao.http("GET", f"{onb.mount}/metadata/{path}", token=token)  # versions, for check-and-set
    assert status == 200 and meta["data"]["current_version"] == 2 and "token" not in str(meta)
    assert openbao.http("GET", f"{onb.mount}/metadata/connections/standard/x/token", token=token)[0] == 403
    assert openbao.http("LIST", f"{onb.mount}/metadata/connections/linked/", token=token)[0] == 403
    assert openbao.http("DELETE", f"{onb.mount}/data/{path}", token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/delete/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("PUT", f"{onb.mount}/destroy/{path}", {"versions": [1]}, token=token)[0] == 403
    assert openbao.http("POST", f"{onb.mount}/metadata/{path}", {"delete_version_after": "1s"}, token=token)[0] == 403
    readers = {}
    for consumer in ("work-orders", "asset-sync", "onboarding"):
        status, body = openbao.http("GET", f"{onb.mount}/data/{path}", token=login(vault_platform, onb, consumer))
        readers[consumer] = body["data"]["data"]["token"] if status == 200 else status
    assert readers == {"work-orders": "tok-reconnected", "asset-sync": "tok-reconnected", "onboarding": 403}


@pytest.mark.parametrize(
    "path",
    [
        "connections/standard/29000207611899/token",  # a declared class
        "connections/acme-maintainx/token",  # a declared explicit-list token (exists)
        "connections/29000207611899/token",  # an explicit-list place
        "connections/linked/29000207611899/m2m-key",  # not a token
        "connections/linked/a/29000207611899/token",  # deeper than one segment
        "connections/linked/29000207611899/token/x",
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
    # and another environment's onboarding identity cannot write here
    staging = environments[0]
    theirs = login(vault_platform, staging, "onboarding")
    assert put(openbao, theirs, onb.mount, f"connections/linked/{CONNECTION}-x/token")[0] == 403
