"""Connection-token rotation on HashiCorp Vault KV v2: the rotator's policy, its login role, its CronJob.

The rotator (``python -m rotation.vault_rotator``, see functions/rotation/README.md) runs as a daily
Kubernetes CronJob: Vault has no expiry event, so something must poll, and Kubernetes auth gives it a
Vault identity bound to its service account with no static token. Its policy grants exactly: list on the
connections folders, read+update on each rotated token's metadata, create+update on each token's data
(no read of token data), read on the OAuth client, its own token's lookup/renew/revoke
(components/vault/policies.py, TOKEN_SELF_RULES), and the tokens of an access class by one ``+`` segment
per class (see :func:`rotator_policy`). Which connection each path gets a token for, and the period, come
from the bindings ConfigMap (:func:`bindings_config_map`) the CronJob mounts, never from the custom
metadata the Vault store writes (stacks/environment/vault.py), which is informational.

List paths: KV v2 lists keys under ``<mount>/metadata/<folder>/`` (`vault kv list`: "Folders are suffixed
with /", https://developer.hashicorp.com/vault/docs/commands/kv/list). Vault's HTTP layer appends "/" to
every LIST request path before the ACL check (hashicorp/vault http/logical.go, buildLogicalRequestNoAuth),
and for LIST the ACL also accepts an exact rule without the slash (vault/acl.go AllowOperation; both forms
documented as equivalent for non-glob paths in hashicorp/vault#23874). So the "/"-terminated exact paths
below match the rotator's LIST requests, grant list on that folder only (no glob: not its subfolders),
and need no change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_vault as vault
import yaml

from components.aliases import formerly
from stacks.naming import vault_mount, vault_rotator_role_name

from .access import AuthRoleOptions, JwtRole
from .policies import hcl_rule, token_self_hcl

CONNECTIONS = "connections"


def rotator_policy(
    mount: str,
    token_paths: Sequence[str],
    oauth_client_path: str,
    classes: Sequence[str] = (),
    runtime_classes: Sequence[str] = (),
) -> str:
    """The rotator's HCL policy for ``mount``: exactly the given KV paths (tokens outside a class) and, per
    access class it rotates, the class's tokens by one ``+`` segment (the connection key), so the policy
    does not grow with the class's connections. Verified on OpenBao 2.7.2: ``list`` on
    ``metadata/connections/<class>/+/`` lists each key folder of the class and no other folder.

    A run-time class (``runtime_classes``, a subset of ``classes``) is listed once at its folder: the rotator
    finds its tokens from the ``<id>/`` keys there (their path is ``<id>/token``, bound by name), so it gets no
    ``list`` below the folder."""
    if not token_paths and not classes:
        raise ValueError("the rotator policy needs at least one token path or access class to rotate")
    stray = sorted(set(runtime_classes) - set(classes))
    if stray:
        raise ValueError(f"run-time classes {stray} are not among the rotated classes")
    rules: list[tuple[str, list[str]]] = [(f"{mount}/metadata/{CONNECTIONS}/", ["list"])]
    for c in sorted(set(classes)):
        if not c or "/" in c or "+" in c or "*" in c:
            raise ValueError(f"unsafe access class name {c!r}")
        rules.append((f"{mount}/metadata/{CONNECTIONS}/{c}/", ["list"]))
        if c not in runtime_classes:
            rules.append((f"{mount}/metadata/{CONNECTIONS}/{c}/+/", ["list"]))
        rules += [
            (f"{mount}/metadata/{CONNECTIONS}/{c}/+/token", ["read", "update"]),
            (f"{mount}/data/{CONNECTIONS}/{c}/+/token", ["create", "update"]),
        ]
    folders = sorted({p.rsplit("/", 1)[0] for p in token_paths if p.rsplit("/", 1)[0] != CONNECTIONS})
    rules += [(f"{mount}/metadata/{f}/", ["list"]) for f in folders]
    for p in sorted(token_paths):
        if not p.startswith(f"{CONNECTIONS}/"):
            raise ValueError(f"token path {p!r} is not under {CONNECTIONS}/")
        rules.append((f"{mount}/metadata/{p}", ["read", "update"]))
        rules.append((f"{mount}/data/{p}", ["create", "update"]))
    rules.append((f"{mount}/data/{oauth_client_path}", ["read"]))
    return "\n".join(hcl_rule(path, caps) for path, caps in rules) + "\n" + token_self_hcl()


#: Where the JWT variant mounts its projected service-account token (read through VAULT_JWT_FILE).
JWT_TOKEN_DIR = "/var/run/secrets/makini"
JWT_TOKEN_FILE = f"{JWT_TOKEN_DIR}/vault-token"
#: Where the bindings ConfigMap is mounted (read through ROTATION_BINDINGS_FILE, functions/rotation/bindings.py).
BINDINGS_DIR = "/etc/makini/rotation"
BINDINGS_KEY = "bindings.json"
BINDINGS_FILE = f"{BINDINGS_DIR}/{BINDINGS_KEY}"


def bindings_config_map_name(environment: str) -> str:
    return f"makini-{environment}-rotation-bindings"


def cronjob_manifest(*args: Any, **kwargs: Any) -> str:
    """:func:`cronjob_document` as YAML (for ``kubectl apply -f``)."""
    return yaml.safe_dump(cronjob_document(*args, **kwargs), sort_keys=False)


def cronjob_document(
    environment: str,
    vault_addr: str,
    image: str,
    namespace: str,
    service_account: str,
    auth_role: str,
    auth_mount: str = "kubernetes",
    oauth_client_path: str = "oauth/client",
    schedule: str = "17 3 * * *",
    auth_method: str = "kubernetes",
    jwt_audience: str | None = None,
) -> dict[str, Any]:
    """The rotator's Kubernetes CronJob (a manifest object): on ``schedule`` (UTC), never concurrent, the rotation
    bindings (:func:`bindings_config_map`) mounted read-only, Vault login with the pod's service-account token
    (``kubernetes``) or a projected token for ``jwt_audience`` (``jwt``)."""
    if auth_method not in ("kubernetes", "jwt"):
        raise ValueError(f"auth_method must be kubernetes or jwt, not {auth_method!r}")
    if auth_method == "jwt" and not jwt_audience:
        raise ValueError("the jwt auth method needs jwt_audience (the audience of the projected token)")
    env = {
        "VAULT_ADDR": vault_addr,
        "VAULT_MOUNT": vault_mount(environment),
        "VAULT_OAUTH_CLIENT_PATH": oauth_client_path,
        "VAULT_CONNECTIONS_PATH": CONNECTIONS,
        "VAULT_AUTH_METHOD": auth_method,
        "VAULT_AUTH_ROLE": auth_role,
        "VAULT_AUTH_MOUNT": auth_mount,
        "ROTATION_BINDINGS_FILE": BINDINGS_FILE,
    }
    container: dict[str, Any] = {
        "name": "rotator",
        "image": image,
        "command": ["python", "-m", "rotation.vault_rotator"],
        "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False},
    }
    pod: dict[str, Any] = {"serviceAccountName": service_account, "restartPolicy": "Never"}
    bindings_map = bindings_config_map_name(environment)
    volumes: list[dict[str, Any]] = [
        {
            "name": "rotation-bindings",
            "configMap": {"name": bindings_map, "items": [{"key": BINDINGS_KEY, "path": BINDINGS_KEY}]},
        }
    ]
    mounts: list[dict[str, Any]] = [{"name": "rotation-bindings", "mountPath": BINDINGS_DIR, "readOnly": True}]
    if auth_method == "jwt":
        env["VAULT_JWT_FILE"] = JWT_TOKEN_FILE
        # Only the projected token with Vault's audience is mounted; not the default API token.
        pod["automountServiceAccountToken"] = False
        volumes.append(
            {
                "name": "vault-token",
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "path": "vault-token",
                                "audience": jwt_audience,
                                "expirationSeconds": 600,
                            }
                        }
                    ]
                },
            }
        )
        mounts.append({"name": "vault-token", "mountPath": JWT_TOKEN_DIR, "readOnly": True})
    pod["volumes"] = volumes
    container["volumeMounts"] = mounts
    container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    pod["containers"] = [container]
    labels = _labels(environment)
    doc = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(environment),
            "namespace": namespace,
            "labels": labels,
        },
        "spec": {
            "schedule": schedule,
            # Without it the schedule is in the controller manager's local time zone (Kubernetes >= 1.27).
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": pod}}},
        },
    }
    return doc


def cronjob_name(environment: str) -> str:
    return f"makini-{environment}-token-rotator"


#: A daily rotator that has not succeeded for this long has missed a run (a day plus two hours of slack).
STALE_AFTER_SECONDS = 26 * 3600


def prometheus_rule(environment: str, namespace: str, stale_after_seconds: int = STALE_AFTER_SECONDS) -> str:
    """Alerts on the rotator's runs for the cluster's Prometheus (YAML: a Prometheus Operator ``PrometheusRule``,
    with kube-state-metrics' job and CronJob series; copy the expressions into any other rule format):

    * ``MakiniTokenRotationFailed``: a Job of the CronJob failed (the rotator exits 1 when any secret failed,
      after trying the others; the Job retries ``backoffLimit`` times first). It keeps firing while the failed
      Job object exists (``failedJobsHistoryLimit``, 1 by default): delete it once handled.
    * ``MakiniTokenRotationStale``: no successful run for ``stale_after_seconds`` (26 h: a daily schedule plus
      slack), which also catches a CronJob that stopped being scheduled (suspended, image pull failing).
    * ``MakiniTokenRotatorMissing``: the CronJob is not in the cluster (the manifest was never applied).
    """
    job = cronjob_name(environment)
    selector = f'namespace="{namespace}"'
    runbook = "docs/operations.md, 'Rotation alarms'"
    rules = [
        {
            "alert": "MakiniTokenRotationFailed",
            "expr": f'sum(kube_job_status_failed{{{selector}, job_name=~"{job}-.*"}}) > 0',
            "labels": {"severity": "critical", "environment": environment},
            "annotations": {
                "summary": f"A run of the Makini token rotator of {environment} failed",
                "description": f"A Job of CronJob {namespace}/{job} failed: read its pod's log (JSON lines, "
                f"rotation_failed names each secret and why). The current tokens stay in place. Runbook: {runbook}.",
            },
        },
        {
            "alert": "MakiniTokenRotationStale",
            "expr": f'time() - max(kube_cronjob_status_last_successful_time{{{selector}, cronjob="{job}"}}) '
            f"> {stale_after_seconds}",
            "labels": {"severity": "warning", "environment": environment},
            "annotations": {
                "summary": f"The Makini token rotator of {environment} has not succeeded for {stale_after_seconds // 3600} h",
                "description": f"CronJob {namespace}/{job} has no successful run in {stale_after_seconds // 3600} hours "
                f"(failed runs, a suspended CronJob, or pods that cannot start). Runbook: {runbook}.",
            },
        },
        {
            "alert": "MakiniTokenRotatorMissing",
            "expr": f'absent(kube_cronjob_info{{{selector}, cronjob="{job}"}})',
            "for": "1h",
            "labels": {"severity": "warning", "environment": environment},
            "annotations": {
                "summary": f"The Makini token rotator of {environment} is not deployed",
                "description": f"CronJob {namespace}/{job} does not exist: apply the stack outputs "
                "rotation.vault.bindingsConfigMap and rotation.vault.cronJob.",
            },
        },
    ]
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": job, "namespace": namespace, "labels": _labels(environment)},
        "spec": {"groups": [{"name": f"makini-{environment}-token-rotation", "rules": rules}]},
    }
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


def _labels(environment: str) -> dict[str, str]:
    return {"app.kubernetes.io/managed-by": "makini-infra", "environment": environment}


def bindings_config_map(environment: str, namespace: str, bindings_document: str) -> str:
    """The ConfigMap (YAML) the CronJob mounts: the deployment's rotation bindings (which Makini connection each
    KV path gets a token for, and the period; functions/rotation/bindings.py). It is the only source the
    rotator takes a connection from, so whoever may change ConfigMaps in ``namespace`` controls it: apply it
    with the CronJob after every ``pulumi up`` that changes a connection."""
    doc = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": bindings_config_map_name(environment),
            "namespace": namespace,
            "labels": _labels(environment),
        },
        "data": {BINDINGS_KEY: bindings_document},
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class VaultRotationArgs:
    environment: str
    mount: pulumi.Input[str]
    #: Rotated token paths outside any access class (exact rules).
    token_paths: Sequence[str]
    oauth_client_path: str = "oauth/client"
    #: Access classes whose tokens the rotator rotates (one rule set per class).
    classes: Sequence[str] = ()
    #: The run-time classes among them (listed at their folder only: :func:`rotator_policy`).
    runtime_classes: Sequence[str] = ()
    #: Kubernetes auth for the CronJob; None: no Kubernetes role (see ``jwt``).
    kubernetes_auth_mount: str | None = "kubernetes"
    namespace: str = "makini"
    service_account: str = "makini-token-rotator"
    token_ttl: int = 900
    #: A JWT/OIDC role instead (set ``kubernetes_auth_mount`` to None); None with both: no role.
    jwt: JwtRole | None = None


class VaultRotation(pulumi.ComponentResource):
    def __init__(self, name: str, args: VaultRotationArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:vault:VaultRotation.
        super().__init__("makini:vault:TokenRotation", name, None, formerly(opts, "makini:vault:VaultRotation"))
        child = pulumi.ResourceOptions(parent=self)
        policy_name = vault_rotator_role_name(args.environment)
        self.policy = vault.Policy(
            f"{name}-policy",
            name=policy_name,
            policy=pulumi.Output.from_input(args.mount).apply(
                lambda m: rotator_policy(
                    m, args.token_paths, args.oauth_client_path, args.classes, args.runtime_classes
                )
            ),
            opts=child,
        )
        if args.kubernetes_auth_mount is not None and args.jwt is not None:
            raise ValueError("the rotator logs in with one auth method: set kubernetes_auth_mount or jwt, not both")
        common = AuthRoleOptions(
            role_name=policy_name,
            token_policies=[self.policy.name],
            token_no_default_policy=True,
            token_ttl=args.token_ttl,
            token_max_ttl=args.token_ttl,
            opts=child,
        )
        self.role: vault.kubernetes.AuthBackendRole | vault.jwt.AuthBackendRole | None = None
        if args.kubernetes_auth_mount is not None:
            self.role = vault.kubernetes.AuthBackendRole(
                f"{name}-k8s-role",
                backend=args.kubernetes_auth_mount.strip("/"),
                bound_service_account_names=[args.service_account],
                bound_service_account_namespaces=[args.namespace],
                **common,
            )
        elif args.jwt is not None:
            jwt = args.jwt
            self.role = vault.jwt.AuthBackendRole(
                f"{name}-jwt-role",
                backend=jwt.mount_path.strip("/"),
                role_type="jwt",
                bound_audiences=list(jwt.bound_audiences),
                bound_subject=jwt.bound_subject,
                bound_claims={k: v if isinstance(v, str) else ",".join(v) for k, v in jwt.bound_claims.items()}
                if jwt.bound_claims
                else None,
                user_claim=jwt.user_claim,
                **common,
            )
        self.policy_name = self.policy.name
        self.role_name: pulumi.Output[str] | None = self.role.role_name if self.role is not None else None
        self.register_outputs({"policyName": self.policy.name, "roleName": self.role_name})
