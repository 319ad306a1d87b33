"""Apply the program's Vault resources to a real server the way terraform-provider-vault does.

pulumi-vault is a bridge over terraform-provider-vault: each resource's create is that provider's Go
code calling Vault's HTTP API. There is no Pulumi CLI here, so this module stands in for the engine
and the provider: it takes the resources the program registered (``infra.offline.run_program``, the
same recording the offline plan prints) and sends, per resource, the request the provider's create
sends, with the field names the provider writes. One function per resource type; each names its source
in the provider (hashicorp/terraform-provider-vault, ``vault/resource_*.go``) and its documentation
page (registry: ``hashicorp/vault`` resources; pulumi: ``vault.<module>.<Resource>``).

What it reproduces, because the findings depend on it:

* the provider sends every schema field it reads with ``d.Get``, present or not: ``kv.SecretV2`` always
  sends a top-level ``cas`` (0 when unset) and an ``options`` map (empty when unset), and the map's
  values are strings (``TypeMap`` without ``Elem``), so ``options={"cas": "0"}`` arrives as ``"0"``;
* ``vault.generic.Endpoint`` writes ``data_json`` verbatim with ``PUT`` (``client.Logical().Write``);
* auth roles send the token fields only when set (``updateTokenFields`` with ``GetOk``), except
  ``token_no_default_policy`` (``GetOkExists``: sent when set, even false);
* JWT ``bound_claims`` values are split on commas into lists (``disable_bound_claims_parsing`` unset).

It does not reproduce reads, refresh, diffs or deletes: a create, and the ``pulumi up`` of a changed
input (the same write again: every resource here updates with the create function).
Numbers arrive from the Pulumi engine as floats (``10.0``) and are sent as the integers the provider's
``TypeInt`` fields hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Server(Protocol):
    def http(
        self, method: str, path: str, body: Any = None, *, token: str | None = "root", timeout: float = 10.0
    ) -> tuple[int, dict[str, Any]]: ...


class Resource(Protocol):
    type: str
    name: str
    plain_inputs: dict[str, Any]


class ProviderError(RuntimeError):
    """The server refused a request, as the provider would report it (``pulumi up`` fails here)."""

    def __init__(self, resource: str, method: str, path: str, status: int, errors: list[str]):
        self.status, self.errors, self.path = status, errors, path
        super().__init__(f"{resource}: {method} /v1/{path}: {status} {'; '.join(errors)}")


@dataclass
class Applied:
    """What was sent, in order: ``(resource name, method, path, body)``, and how writes are retried."""

    calls: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    #: ``util.RetryWrite`` with ``DefaultRequestOpts``: a 400 is retried every 0.5 s, 60 times (a fresh KV v2
    #: mount answers 400 "Upgrading from non-versioned to versioned data" for a moment). Tests that expect a
    #: lasting 400 (a check-and-set refusal) shorten the delay; the number of tries stays the provider's.
    retry_delay: float = 0.5
    retry_tries: int = 60


def _int(value: Any) -> int:
    return int(value)


def _send(
    server: Server,
    applied: Applied,
    resource: str,
    method: str,
    path: str,
    body: dict[str, Any],
    *,
    retry: bool = False,
) -> None:
    """One ``client.Logical().Write``; with ``retry`` the provider's ``util.RetryWrite`` (400s retried)."""
    tries = 1 + (applied.retry_tries if retry else 0)
    for attempt in range(tries):
        applied.calls.append((resource, method, path, body))
        status, answer = server.http(method, path, body)
        if status < 400:
            return
        if not (status == 400 and attempt + 1 < tries):
            raise ProviderError(resource, method, path, status, list(answer.get("errors") or []))
        time.sleep(applied.retry_delay)


# -- one function per resource type -----------------------------------------------------------------


def mount(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.Mount`` = ``vault_mount`` (resource_mount.go ``createMount``): ``client.Sys().Mount`` =
    ``POST /v1/sys/mounts/<path>`` with an ``api.MountInput``: type, description, config (lease TTLs as
    ``"<n>s"``, force_no_cache), local, options, seal_wrap, external_entropy_access."""
    i = r.plain_inputs
    body = {
        "type": i["type"],
        "description": i.get("description", ""),
        "config": {
            "default_lease_ttl": f"{_int(i.get('defaultLeaseTtlSeconds', 0))}s",
            "max_lease_ttl": f"{_int(i.get('maxLeaseTtlSeconds', 0))}s",
            "force_no_cache": bool(i.get("forceNoCache", False)),
        },
        "local": bool(i.get("local", False)),
        "options": dict(i.get("options") or {}),
        "seal_wrap": bool(i.get("sealWrap", False)),
        "external_entropy_access": bool(i.get("externalEntropyAccess", False)),
    }
    _send(server, applied, r.name, "POST", f"sys/mounts/{i['path']}", body)


def kv_secret_backend_v2(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.kv.SecretBackendV2`` = ``vault_kv_secret_backend_v2`` (resource_kv_secret_backend_v2.go):
    ``util.RetryWrite`` of ``PUT /v1/<mount>/config`` with max_versions, cas_required, delete_version_after
    (seconds, TypeInt), each sent as ``d.Get`` returns it (0 / false when unset)."""
    i = r.plain_inputs
    body = {
        "max_versions": _int(i.get("maxVersions", 0)),
        "cas_required": bool(i.get("casRequired", False)),
        "delete_version_after": _int(i.get("deleteVersionAfter", 0)),
    }
    _send(server, applied, r.name, "PUT", f"{i['mount']}/config", body, retry=True)


def generic_endpoint(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.generic.Endpoint`` = ``vault_generic_endpoint`` (resource_generic_endpoint.go
    ``genericEndpointResourceWrite``): ``client.Logical().Write(path, data_json)`` = ``PUT /v1/<path>``
    with the parsed ``data_json`` as the body, nothing added."""
    i = r.plain_inputs
    _send(server, applied, r.name, "PUT", i["path"], json.loads(i["dataJson"]))


def kv_secret_v2(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.kv.SecretV2`` = ``vault_kv_secret_v2`` (resource_kv_secret_v2.go ``kvSecretV2Write``):
    ``util.RetryWrite`` of ``PUT /v1/<mount>/data/<name>`` with ``{"data": <data_json>, "cas": d.Get("cas"), "options":
    d.Get("options")}``: ``cas`` at the top level (0 when unset), ``options`` a string map ({} when
    unset). With ``custom_metadata`` set, a second ``PUT /v1/<mount>/metadata/<name>`` with max_versions,
    cas_required, delete_version_after and ``custom_metadata`` (from the block's ``data``)."""
    i = r.plain_inputs
    body = {
        "data": json.loads(i["dataJson"]),
        "cas": _int(i.get("cas", 0)),
        "options": {k: str(v) for k, v in (i.get("options") or {}).items()},
    }
    _send(server, applied, r.name, "PUT", f"{i['mount']}/data/{i['name']}", body, retry=True)
    meta = i.get("customMetadata")
    if meta:
        fields = {
            "maxVersions": "max_versions",
            "casRequired": "cas_required",
            "deleteVersionAfter": "delete_version_after",
        }
        body = {vault: meta[pulumi] for pulumi, vault in fields.items() if meta.get(pulumi)}
        if meta.get("data"):
            body["custom_metadata"] = dict(meta["data"])
        _send(server, applied, r.name, "PUT", f"{i['mount']}/metadata/{i['name']}", body)


def policy(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.Policy`` = ``vault_policy`` (resource_policy.go ``policyWrite``): ``client.Sys().PutPolicy``
    = ``PUT /v1/sys/policies/acl/<name>`` with ``{"policy": <HCL>}``."""
    i = r.plain_inputs
    _send(server, applied, r.name, "PUT", f"sys/policies/acl/{i['name']}", {"policy": i["policy"]})


#: updateTokenFields (auth_token.go), create: Pulumi input -> Vault field, sent when set (GetOk).
_TOKEN_FIELDS = {
    "tokenBoundCidrs": "token_bound_cidrs",
    "tokenPolicies": "token_policies",
    "tokenExplicitMaxTtl": "token_explicit_max_ttl",
    "tokenMaxTtl": "token_max_ttl",
    "tokenPeriod": "token_period",
    "tokenType": "token_type",
    "tokenTtl": "token_ttl",
    "tokenNumUses": "token_num_uses",
}


def _token_fields(i: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pulumi, vault in _TOKEN_FIELDS.items():
        value = i.get(pulumi)
        if value:  # GetOk: zero values are not sent
            out[vault] = _int(value) if isinstance(value, float) else value
    if "tokenNoDefaultPolicy" in i:  # GetOkExists: sent when set, even false
        out["token_no_default_policy"] = bool(i["tokenNoDefaultPolicy"])
    return out


def jwt_auth_backend_role(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.jwt.AuthBackendRole`` = ``vault_jwt_auth_backend_role`` (resource_jwt_auth_backend_role.go
    ``jwtAuthBackendRoleDataToWrite``): ``PUT /v1/auth/<backend>/role/<role_name>`` with the token
    fields, bound_audiences, user_claim, user_claim_json_pointer, role_type, bound_subject, bound_claims
    (each value split on commas into a list), and the leeways (0 when unset)."""
    i = r.plain_inputs
    body = _token_fields(i)
    body["bound_audiences"] = list(i.get("boundAudiences") or [])
    body["user_claim"] = i.get("userClaim", "")
    body["user_claim_json_pointer"] = bool(i.get("userClaimJsonPointer", False))
    if i.get("roleType"):
        body["role_type"] = i["roleType"]
    if "boundSubject" in i:
        body["bound_subject"] = i["boundSubject"]
    body["bound_claims"] = {
        k: [part.strip() for part in str(v).split(",")] for k, v in (i.get("boundClaims") or {}).items()
    }
    for leeway in ("clock_skew_leeway", "expiration_leeway", "not_before_leeway"):
        body[leeway] = 0
    body["verbose_oidc_logging"] = False
    _send(server, applied, r.name, "PUT", f"auth/{i['backend'].strip('/')}/role/{i['roleName']}", body)


def kubernetes_auth_backend_role(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.kubernetes.AuthBackendRole`` = ``vault_kubernetes_auth_backend_role``
    (resource_kubernetes_auth_backend_role.go ``kubernetesAuthBackendRoleUpdateFields``):
    ``PUT /v1/auth/<backend>/role/<role_name>`` with the token fields,
    bound_service_account_names, bound_service_account_namespaces,
    bound_service_account_namespace_selector (always, "" when unset), audience and alias_name_source
    when set."""
    i = r.plain_inputs
    body = _token_fields(i)
    body["bound_service_account_names"] = list(i["boundServiceAccountNames"])
    body["bound_service_account_namespaces"] = list(i.get("boundServiceAccountNamespaces") or [])
    body["bound_service_account_namespace_selector"] = i.get("boundServiceAccountNamespaceSelector", "")
    for pulumi, vault in (("audience", "audience"), ("aliasNameSource", "alias_name_source")):
        if i.get(pulumi):
            body[vault] = i[pulumi]
    _send(server, applied, r.name, "PUT", f"auth/{i['backend'].strip('/')}/role/{i['roleName']}", body)


def approle_auth_backend_role(server: Server, applied: Applied, r: Resource) -> None:
    """``vault.approle.AuthBackendRole`` = ``vault_approle_auth_backend_role``
    (resource_approle_auth_backend_role.go ``approleAuthBackendRoleUpdateFields``, create): ``PUT
    /v1/auth/<backend>/role/<role_name>`` with the token fields, bind_secret_id, secret_id_num_uses,
    secret_id_ttl, secret_id_bound_cidrs and local_secret_ids when set; then ``role-id`` if one is given."""
    i = r.plain_inputs
    body = _token_fields(i)
    for pulumi, vault in (
        ("bindSecretId", "bind_secret_id"),
        ("secretIdNumUses", "secret_id_num_uses"),
        ("secretIdTtl", "secret_id_ttl"),
        ("secretIdBoundCidrs", "secret_id_bound_cidrs"),
        ("localSecretIds", "local_secret_ids"),
    ):
        if pulumi in i and i[pulumi] is not None:
            value = i[pulumi]
            body[vault] = _int(value) if isinstance(value, float) else value
    path = f"auth/{i['backend'].strip('/')}/role/{i['roleName']}"
    _send(server, applied, r.name, "PUT", path, body)
    if i.get("roleId"):
        _send(server, applied, r.name, "PUT", f"{path}/role-id", {"role_id": i["roleId"]})


APPLY: dict[str, Callable[[Server, Applied, Resource], None]] = {
    "vault:index/mount:Mount": mount,
    "vault:kv/secretBackendV2:SecretBackendV2": kv_secret_backend_v2,
    "vault:generic/endpoint:Endpoint": generic_endpoint,
    "vault:kv/secretV2:SecretV2": kv_secret_v2,
    "vault:index/policy:Policy": policy,
    "vault:jwt/authBackendRole:AuthBackendRole": jwt_auth_backend_role,
    "vault:kubernetes/authBackendRole:AuthBackendRole": kubernetes_auth_backend_role,
    "vault:appRole/authBackendRole:AuthBackendRole": approle_auth_backend_role,
}

#: The order the engine would create them in (dependencies: mount, its config, metadata, values, policies,
#: roles naming the policies). Within a type the program's registration order is kept.
ORDER = list(APPLY)


def vault_resources(resources: Iterable[Resource]) -> list[Resource]:
    """The Vault resources of a run, in creation order; refuses a type this translator does not know."""
    out = [r for r in resources if r.type.startswith("vault:")]
    unknown = sorted({r.type for r in out} - set(APPLY))
    if unknown:
        raise NotImplementedError(
            f"no translation for {unknown}: add one function per type to tests/engines/vault_provider.py"
        )
    return sorted(out, key=lambda r: ORDER.index(r.type))


def apply(
    server: Server, resources: Iterable[Resource], *, only: Iterable[str] | None = None, retry_delay: float = 0.5
) -> Applied:
    """Create every Vault resource of a program run on ``server`` (``only``: just these types).
    Raises :class:`ProviderError` at the first refusal, as ``pulumi up`` stops on a failed create (after
    the provider's retries of a 400: pass a short ``retry_delay`` where a lasting 400 is expected)."""
    applied = Applied(retry_delay=retry_delay)
    wanted = set(only) if only is not None else None
    for r in vault_resources(resources):
        if wanted is None or r.type in wanted:
            APPLY[r.type](server, applied, r)
    return applied
