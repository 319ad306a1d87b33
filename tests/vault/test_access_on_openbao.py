"""Every identity's effective access on a real server equals the access matrix, across environments.

Two environments share one OpenBao, as they would share a Vault cluster: ``staging`` from
Pulumi.staging.yaml (every consumer and the rotator on Kubernetes auth) and a ``dev`` built from it
whose consumers use the other methods (JWT, AppRole, Kubernetes) and whose rotator uses JWT. Each
identity logs in the way its workload would (a TokenReview-checked service-account token, a JWT
signed by the platform's key, an AppRole secret id), then tries every operation on every secret of
both environments. Allowed = the server did not answer 403.

What each matrix cell means on Vault (stacks/access.py, ``AccessCell.on("vault")``), operation by operation:

- read: ``GET <mount>/data/<path>``; allowed when the cell reads on vault;
- write: ``PUT <mount>/data/<path>`` with cas 9999 (so it never lands); allowed when the cell writes on vault;
- metadata: ``GET <mount>/metadata/<path>``; the rotator, on the tokens it writes;
- list: ``LIST <mount>/metadata/<folder>/``; the rotator, on the folders of the tokens it writes;
- delete: ``POST <mount>/delete/<path>`` and ``DELETE <mount>/data/<path>``; never;
- destroy: ``PUT <mount>/destroy/<path>`` and ``DELETE <mount>/metadata/<path>``; never.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from stacks.access import IdentityKind, access_cells
from stacks.catalog import SystemIdentity
from tests.engines.vault_platform import Deployment, Platform, VaultLoginError

OPERATIONS = ("read", "write", "metadata", "list", "delete", "destroy")


@dataclass
class Identity:
    environment: str
    name: str  # consumer name, or a SystemIdentity value
    login: Callable[[], str]


def identities(vault_platform: Platform, d: Deployment) -> list[Identity]:
    env, cfg = d.environment, d.config
    out = []
    for name, consumer in sorted(cfg.consumers.items()):
        auth, role = consumer.vault.auth, f"makini-{env}-{name}"
        if auth.kubernetes is not None:
            k = auth.kubernetes
            login = lambda r=role, k=k: vault_platform.login_kubernetes(r, k.namespaces[0], k.service_account_names[0])  # noqa: E731
        elif auth.jwt is not None:
            j = auth.jwt
            claims = {c: v if isinstance(v, str) else v[0] for c, v in (j.bound_claims or {}).items()}
            login = lambda r=role, j=j, c=claims: vault_platform.login_jwt(
                r, j.bound_subject, j.bound_audiences[0], **c
            )  # noqa: E731
        else:
            login = lambda r=role: vault_platform.login_approle(r)  # noqa: E731
        out.append(Identity(env, name, login))
    rotator, role = cfg.vault.rotator, f"makini-{env}-rotator"
    if rotator.auth.jwt is not None:
        j = rotator.auth.jwt
        login = lambda r=role, j=j: vault_platform.login_jwt(r, j.bound_subject, j.bound_audiences[0])  # noqa: E731
    else:
        login = lambda r=role, ro=rotator: vault_platform.login_kubernetes(r, ro.namespace, ro.service_account_name)  # noqa: E731
    out.append(Identity(env, SystemIdentity.ROTATION.value, login))
    return out


def attempt(bao, token: str, op: str, mount: str, path: str) -> list[int]:
    """The statuses of the requests that make up ``op`` (see the module's table)."""
    folder = path.rsplit("/", 1)[0]
    if op == "read":
        calls = [("GET", f"{mount}/data/{path}", None)]
    elif op == "write":
        calls = [("PUT", f"{mount}/data/{path}", {"data": {"probe": "x"}, "options": {"cas": 9999}})]
    elif op == "metadata":
        calls = [("GET", f"{mount}/metadata/{path}", None)]
    elif op == "list":
        calls = [("LIST", f"{mount}/metadata/{folder}/", None)]
    elif op == "delete":
        calls = [("POST", f"{mount}/delete/{path}", {"versions": [9999]}), ("DELETE", f"{mount}/data/{path}", None)]
    else:
        calls = [("PUT", f"{mount}/destroy/{path}", {"versions": [9999]}), ("DELETE", f"{mount}/metadata/{path}", None)]
    return [bao.http(method, p, body, token=token)[0] for method, p, body in calls]


def expected(d_identity: Deployment, identity: str, target: Deployment, path: str, op: str) -> bool:
    if d_identity.environment != target.environment:
        return False  # nothing of another environment, ever
    cells = {(c.identity, c.path): c for c in access_cells(target.config)}
    cell = cells[(identity, path)]
    read, write = cell.on("vault")
    rotator_writes = cell.kind is IdentityKind.SYSTEM and identity == SystemIdentity.ROTATION.value
    if op == "read":
        return read
    if op == "write":
        return write
    if op == "metadata":
        return rotator_writes and write
    if op == "list":
        writes = [c.path for c in cells.values() if c.identity == identity and c.on("vault")[1]]
        folder = path.rsplit("/", 1)[0]
        return rotator_writes and any(p.rsplit("/", 1)[0] == folder or folder == "connections" for p in writes)
    return False  # delete, destroy


def test_every_identity_gets_exactly_the_matrix_on_the_server(openbao, vault_platform, environments):
    mismatches = []
    for home in environments:
        for who in identities(vault_platform, home):
            token = who.login()
            for target in environments:
                for secret in sorted({c.path for c in access_cells(target.config)}):
                    for op in OPERATIONS:
                        statuses = attempt(openbao, token, op, target.mount, secret)
                        allowed = any(s != 403 for s in statuses)
                        if allowed != expected(home, who.name, target, secret, op):
                            mismatches.append(f"{home.environment}/{who.name} {op} {target.mount}/{secret}: {statuses}")
    assert mismatches == []


def test_a_consumer_reads_its_secrets_with_a_real_client(openbao, vault_platform, environments):
    """What a service does: log in, read its token with hvac; the values are the stack's."""
    staging, dev = environments
    token = vault_platform.login_kubernetes(
        f"makini-{staging.environment}-work-orders", "work-orders-staging", "work-orders"
    )
    kv = openbao.client(token=token).secrets.kv.v2
    value = kv.read_secret_version(
        path="connections/acme-maintainx/token", mount_point=staging.mount, raise_on_deleted_version=True
    )
    assert value["data"]["data"]["token"] == "tok-a"
    token = vault_platform.login_approle(f"makini-{dev.environment}-asset-sync")
    kv = openbao.client(token=token).secrets.kv.v2
    value = kv.read_secret_version(
        path="connections/globex-netsuite/token", mount_point=dev.mount, raise_on_deleted_version=True
    )
    assert value["data"]["data"]["token"] == "tok-c"


def _login_cases(vault_platform: Platform, staging: Deployment, dev: Deployment) -> dict[str, Callable[[], str]]:
    stg_role, dev_role = f"makini-{staging.environment}-work-orders", f"makini-{dev.environment}-work-orders"

    def revoked_token() -> str:
        jwt = vault_platform.kubernetes_jwt("work-orders-staging", "work-orders")
        vault_platform.k8s.revoke(jwt)  # e.g. the pod was deleted: the cluster no longer vouches for it
        return vault_platform._login("auth/kubernetes/login", {"role": stg_role, "jwt": jwt})

    return {
        "another service account of the namespace": lambda: vault_platform.login_kubernetes(
            stg_role, "work-orders-staging", "asset-sync"
        ),
        "the same name in another namespace": lambda: vault_platform.login_kubernetes(
            stg_role, "work-orders-dev", "work-orders"
        ),
        "a token the cluster does not vouch for": revoked_token,
        "staging's service account on dev's role": lambda: vault_platform.login_kubernetes(
            dev_role, "work-orders-staging", "work-orders"
        ),
        "a JWT with another subject": lambda: vault_platform.login_jwt(
            dev_role, "work-orders-staging", "vault.dev", env="dev"
        ),
        "a JWT without the bound claim": lambda: vault_platform.login_jwt(dev_role, "work-orders-dev", "vault.dev"),
        "a JWT for another audience": lambda: vault_platform.login_jwt(
            dev_role, "work-orders-dev", "vault.prod", env="dev"
        ),
    }


CASES = [
    "another service account of the namespace",
    "the same name in another namespace",
    "a token the cluster does not vouch for",
    "staging's service account on dev's role",
    "a JWT with another subject",
    "a JWT without the bound claim",
    "a JWT for another audience",
]


@pytest.mark.parametrize("case", CASES)
def test_workloads_that_are_not_the_consumer_cannot_log_in_as_it(vault_platform, environments, case):
    staging, dev = environments
    with pytest.raises(VaultLoginError, match=r": (400|403) "):
        _login_cases(vault_platform, staging, dev)[case]()


def test_the_right_workload_logs_in(vault_platform, environments):
    """The positive twin of the cases above: the same calls with the bound identity succeed."""
    staging, dev = environments
    assert vault_platform.login_kubernetes(
        f"makini-{staging.environment}-work-orders", "work-orders-staging", "work-orders"
    )
    assert vault_platform.login_jwt(f"makini-{dev.environment}-work-orders", "work-orders-dev", "vault.dev", env="dev")
