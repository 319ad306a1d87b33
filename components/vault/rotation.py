"""Connection-token rotation on HashiCorp Vault KV v2: the rotator's policy, its login role, its CronJob.

The rotator (``python -m rotation.vault_rotator``, see functions/rotation/README.md) runs as a daily
Kubernetes CronJob: Vault has no expiry event, so something must poll, and Kubernetes auth gives it a
Vault identity bound to its service account with no static token. Its policy grants exactly: list on the
connections folders, read+update on each rotated token's metadata, create+update on each token's data
(no read of token data), read on the OAuth client. The custom metadata it reads (makini_connection_id,
rotation_period_days, environment) is set by the Vault store (stacks/environment.py).
List paths end with "/" because Vault appends it to LIST requests before matching policies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_vault as vault
import yaml

CONNECTIONS = "connections"


def rotator_policy(mount: str, token_paths: Sequence[str], oauth_client_path: str) -> str:
    """The rotator's HCL policy for ``mount`` with exactly the given KV paths."""
    rules: list[tuple[str, list[str]]] = [(f"{mount}/metadata/{CONNECTIONS}/", ["list"])]
    folders = sorted({p.rsplit("/", 1)[0] for p in token_paths if p.rsplit("/", 1)[0] != CONNECTIONS})
    rules += [(f"{mount}/metadata/{f}/", ["list"]) for f in folders]
    for p in sorted(token_paths):
        if not p.startswith(f"{CONNECTIONS}/"):
            raise ValueError(f"token path {p!r} is not under {CONNECTIONS}/")
        rules.append((f"{mount}/metadata/{p}", ["read", "update"]))
        rules.append((f"{mount}/data/{p}", ["create", "update"]))
    rules.append((f"{mount}/data/{oauth_client_path}", ["read"]))
    return "\n".join(
        f'path "{path}" {{\n  capabilities = [{", ".join(chr(34) + c + chr(34) for c in caps)}]\n}}\n' for path, caps in rules
    )


def cronjob_manifest(
    environment: str,
    vault_addr: str,
    image: str,
    namespace: str,
    service_account: str,
    auth_role: str,
    auth_mount: str = "kubernetes",
    oauth_client_path: str = "oauth/client",
    schedule: str = "17 3 * * *",
) -> str:
    """The rotator's Kubernetes CronJob (YAML): daily, never concurrent, Vault Kubernetes login."""
    env = {
        "VAULT_ADDR": vault_addr,
        "VAULT_MOUNT": f"makini-{environment}",
        "VAULT_OAUTH_CLIENT_PATH": oauth_client_path,
        "VAULT_CONNECTIONS_PATH": CONNECTIONS,
        "VAULT_AUTH_METHOD": "kubernetes",
        "VAULT_AUTH_ROLE": auth_role,
        "VAULT_AUTH_MOUNT": auth_mount,
    }
    doc = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": f"makini-{environment}-token-rotator", "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": "makini-infra", "environment": environment}},
        "spec": {
            "schedule": schedule,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 3600,
            "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": {
                "serviceAccountName": service_account,
                "restartPolicy": "Never",
                "containers": [{
                    "name": "rotator",
                    "image": image,
                    "command": ["python", "-m", "rotation.vault_rotator"],
                    "env": [{"name": k, "value": v} for k, v in env.items()],
                    "securityContext": {"runAsNonRoot": True, "readOnlyRootFilesystem": True,
                                        "allowPrivilegeEscalation": False},
                }],
            }}}},
        },
    }
    return yaml.safe_dump(doc, sort_keys=False)


@dataclass(frozen=True)
class VaultRotationArgs:
    environment: str
    mount: pulumi.Input[str]
    token_paths: Sequence[str]
    oauth_client_path: str = "oauth/client"
    #: Kubernetes auth for the CronJob; None: no role (e.g. a CI job logs in with its own JWT role).
    kubernetes_auth_mount: str | None = "kubernetes"
    namespace: str = "makini"
    service_account: str = "makini-token-rotator"
    token_ttl: int = 900


class VaultRotation(pulumi.ComponentResource):
    def __init__(self, name: str, args: VaultRotationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:vault:VaultRotation", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        policy_name = f"makini-{args.environment}-rotator"
        self.policy = vault.Policy(
            f"{name}-policy",
            name=policy_name,
            policy=pulumi.Output.from_input(args.mount).apply(
                lambda m: rotator_policy(m, args.token_paths, args.oauth_client_path)
            ),
            opts=child,
        )
        self.role = None
        if args.kubernetes_auth_mount is not None:
            self.role = vault.kubernetes.AuthBackendRole(
                f"{name}-k8s-role",
                backend=args.kubernetes_auth_mount,
                role_name=policy_name,
                bound_service_account_names=[args.service_account],
                bound_service_account_namespaces=[args.namespace],
                token_policies=[self.policy.name],
                token_ttl=args.token_ttl,
                token_max_ttl=args.token_ttl,
                opts=child,
            )
        self.policy_name = self.policy.name
        self.register_outputs({"policyName": self.policy.name})
