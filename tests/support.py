"""Helpers for tests that build stack configurations and run the program under mocks.

``base_config()`` is a minimal valid configuration as Python values (what a Pulumi.<stack>.yaml holds
under ``config:``); tests change a copy and hand it to ``load`` (validation only) or ``run`` (the whole
program under mocks, via infra.offline, the same harness the offline plan uses).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from infra.offline import ProgramRun, run_program
from stacks.config import StackConfig
from stacks.load import load_stack_config

ACCOUNT = "111111111111"

#: ``makini:vault.rotator`` for test stacks whose connection tokens rotate on Vault (required there).
VAULT_ROTATOR = {
    "auth": {"kubernetes": {"mountPath": "kubernetes"}},
    "namespace": "makini",
    "serviceAccountName": "makini-token-rotator",
    "image": "ghcr.io/example/makini-rotator@sha256:" + "0" * 64,
    "vaultAddress": "https://vault.example.internal:8200",
}


def base_config(env: str = "dev") -> dict[str, Any]:
    return copy.deepcopy(
        {
            "aws:region": "eu-west-1",
            "makini:environment": env,
            "makini:tags": {"owner": "platform-team", "costCenter": "cc-1"},
            "makini:backends": ["aws"],
            "makini:oauth": {"clientId": f"mk_{env}_client"},
            "makini:connections": [
                {
                    "key": "acme-sap",
                    "system": "SAP S/4HANA",
                    "tier": 3,
                    "deployment": "cloud",
                    "makiniId": "0900001",
                    "consumers": ["orders"],
                },
                {
                    "key": "globex-mx",
                    "system": "MaintainX",
                    "tier": 1,
                    "deployment": "cloud",
                    "makiniId": "0900002",
                    "consumers": ["orders", "assets"],
                },
            ],
            "makini:consumers": {
                "orders": {"aws": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/orders-{env}"}},
                "assets": {"aws": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/assets-{env}"}},
            },
            "makini:credits": {"pool": 10},
        }
    )


def runtime_config(env: str = "dev", backends: tuple[str, ...] = ("aws",)) -> dict[str, Any]:
    """base_config with run-time connections (issue 19): an onboarding identity ``onboarding`` (which also reads
    the OAuth client, as the service running Makini Link does) and a run-time class ``linked`` read by
    ``assets`` and ``orders``; ``standard`` holds the second declared connection."""
    c = base_config(env)
    c["makini:backends"] = list(backends)
    c["makini:consumers"]["onboarding"] = {
        "oauthClient": True,
        "onboarding": True,
        "aws": {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/onboarding-{env}"},
    }
    c["makini:accessClasses"] = {
        "standard": {"consumers": ["orders", "assets"]},
        "linked": {"consumers": ["assets", "orders"], "runtime": True, "description": "Makini Link"},
    }
    conn = c["makini:connections"][1]
    del conn["consumers"]
    conn["class"] = "standard"
    return c


#: The Function Apps' VNet integration subnet the Azure test stacks use (the vault's firewall denies by default).
AZURE_FUNCTIONS_SUBNET = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-net/providers/Microsoft.Network/"
    "virtualNetworks/vnet-test/subnets/snet-functions"
)


def azure_section(**settings: Any) -> dict[str, Any]:
    """``makini:azure`` with the given settings, plus a functions subnet that can reach the vault: in the
    private endpoints' virtual network when there are any, else allowed through the firewall."""
    out: dict[str, Any] = {"location": "westeurope", **settings}
    if "functionsSubnetId" in out:
        return out
    endpoints = out.get("privateEndpointSubnetIds") or []
    if endpoints:
        out["functionsSubnetId"] = endpoints[0].rsplit("/subnets/", 1)[0] + "/subnets/snet-functions"
    else:
        out["functionsSubnetId"] = AZURE_FUNCTIONS_SUBNET
        out["allowedSubnetIds"] = [*out.get("allowedSubnetIds", []), AZURE_FUNCTIONS_SUBNET]
    return out


def flatten(config: Mapping[str, Any]) -> dict[str, str]:
    """Python values -> the flat strings Pulumi hands a program (structured values JSON-encoded)."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def load(config: Mapping[str, Any], secret_keys: Collection[str] = (), stack: str | None = None) -> StackConfig:
    stack = stack or str(config.get("makini:environment", "dev"))
    return load_stack_config(stack, flatten(config), secret_keys)


def run(config: Mapping[str, Any], secret_keys: Iterable[str] = (), stack: str | None = None) -> ProgramRun:
    stack = stack or str(config.get("makini:environment", "dev"))
    return run_program(stack, flatten(config), secret_keys)


# --------------------------------------------------------------------------------------------------
# Generated stacks at scale (the scale test, bench/program_scale.py, bench/scale_stacks.py)

#: Access classes of the generated stacks, and who reads each (the issue's shape: one consumer reads every
#: token, the others subsets, one reads the OAuth client, one consumes the webhook queue).
SCALE_CLASSES: dict[str, list[str]] = {
    "standard": ["reporting", "sync", "support", "analytics"],
    "premium": ["reporting", "sync", "billing", "analytics", "audit"],
    "eu": ["reporting", "eu-sync", "support", "analytics"],
    "restricted": ["reporting", "restricted-ops", "audit"],
}
SCALE_CONSUMERS = [
    "reporting",
    "sync",
    "eu-sync",
    "restricted-ops",
    "billing",
    "support",
    "analytics",
    "audit",
    "onboarding",
    "queue-worker",
]
#: Connections outside any class (explicit consumer lists) in every generated stack.
SCALE_EXPLICIT = 5


def _guid(i: int) -> str:
    return f"{i:08x}-0000-4000-8000-{i:012x}"


def scale_config(n: int, backends: Iterable[str] = ("aws", "azure", "vault"), env: str = "dev") -> dict[str, Any]:
    """A stack of ``n`` connections and 10 consumers on ``backends``: the first connections have explicit
    consumer lists, the rest are spread over four access classes."""
    backends = list(backends)
    c = base_config(env)
    c["aws:allowedAccountIds"] = [ACCOUNT]
    c["makini:backends"] = backends
    consumers: dict[str, Any] = {}
    for i, name in enumerate(SCALE_CONSUMERS):
        consumer: dict[str, Any] = {"description": f"generated consumer {name}"}
        if name == "onboarding":
            consumer["oauthClient"] = True
        if name == "queue-worker":
            consumer["webhookQueue"] = True
        if "aws" in backends:
            consumer["aws"] = {"roleArn": f"arn:aws:iam::{ACCOUNT}:role/{name}-{env}"}
        if "azure" in backends:
            consumer["azure"] = {"principalId": _guid(i + 1)}
        if "vault" in backends:
            consumer["vault"] = {"auth": {"kubernetes": {"serviceAccountNames": [name], "namespaces": [f"{name}-ns"]}}}
        consumers[name] = consumer
    c["makini:consumers"] = consumers
    c["makini:accessClasses"] = {
        k: {"consumers": v, "description": f"generated class {k}"} for k, v in SCALE_CLASSES.items()
    }
    classes = list(SCALE_CLASSES)
    connections = []
    for i in range(n):
        conn: dict[str, Any] = {
            "key": f"customer-{i:05d}",
            "system": "MaintainX",
            "tier": 1,
            "deployment": "cloud",
            "makiniId": str(900000 + i),
        }
        if i < min(SCALE_EXPLICIT, n):
            conn["consumers"] = ["reporting", "sync"] if i % 2 else ["reporting"]
        else:
            conn["class"] = classes[i % len(classes)]
        connections.append(conn)
    c["makini:connections"] = connections
    c["makini:credits"] = {"pool": 10 * max(n, 1)}
    if "azure" in backends:
        c["makini:azure"] = azure_section()
        c["makini:webhooks"] = {"enabled": True, "azure": {"planSku": "EP1"}}
    else:
        c["makini:webhooks"] = {"enabled": True}
    if "vault" in backends:
        c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    return c


def tokens(by_path: Mapping[str, Any]) -> dict[str, Any]:
    """Connection key -> value, from an output keyed by catalog path (``awsSecretArns``, ``vaultPaths``, ...):
    the connection tokens only (``connections/<key>/token``, ``connections/<class>/<key>/token``)."""
    return {p.split("/")[-2]: v for p, v in by_path.items() if p.startswith("connections/") and p.endswith("/token")}
