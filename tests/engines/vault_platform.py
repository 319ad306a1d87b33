"""Vault on a real OpenBao server: the platform's auth backends, and deployments of real stacks.

:class:`Platform` (the ``vault_platform`` session fixture in tests/conftest.py): on the session's OpenBao (tests/engines/openbao.py) the auth backends a platform
team runs, which the program only adds roles to: Kubernetes auth at ``kubernetes`` backed by a fake
TokenReview endpoint on 127.0.0.1 (tests/fakes/kubernetes.py), JWT auth at ``jwt`` trusting a locally
generated RSA key, AppRole at ``approle``. It logs workloads in the way each method's clients do.

``deploy(config, secrets)``: runs the real program under the offline harness (infra/offline.py) and
applies its Vault resources to the server with the provider's HTTP calls (tests/engines/vault_provider.py),
as ``pulumi up`` would; returns the :class:`Deployment`. Environment names must be unique per server:
use ``env_name(prefix)`` for stacks a test changes.
"""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt as pyjwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from infra.offline import ProgramRun, run_program
from stacks.config import StackConfig
from stacks.load import load_stack_config
from tests.engines import vault_provider
from tests.engines.openbao import OpenBao
from tests.fakes.kubernetes import FakeKubernetes

ROOT = Path(__file__).resolve().parents[2]
JWT_ISSUER = "https://ci.example.test"

_env_counter = itertools.count(1)


def env_name(prefix: str) -> str:
    """A fresh environment name (2-12 lowercase letters, digits, dashes) for this server."""
    return f"{prefix[:6]}{next(_env_counter)}"


class VaultLoginError(AssertionError):
    pass


@dataclass
class Platform:
    bao: OpenBao
    k8s: FakeKubernetes
    jwt_key: rsa.RSAPrivateKey

    def setup(self) -> None:
        root = self.bao.client()
        root.sys.enable_auth_method("kubernetes", path="kubernetes")
        root.write(
            "auth/kubernetes/config",
            kubernetes_host=self.k8s.url,
            token_reviewer_jwt=self.k8s.reviewer_jwt,
            kubernetes_ca_cert=self.k8s.ca_cert_pem,
            disable_local_ca_jwt=True,
        )
        root.sys.enable_auth_method("jwt", path="jwt")
        public = self.jwt_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        root.write("auth/jwt/config", jwt_validation_pubkeys=[public.decode()], bound_issuer=JWT_ISSUER)
        root.sys.enable_auth_method("approle", path="approle")

    # -- logins, as each method's clients do them ---------------------------------------------------

    def _login(self, path: str, body: dict[str, Any]) -> str:
        status, answer = self.bao.http("POST", path, body, token=None)
        if status != 200:
            raise VaultLoginError(f"POST /v1/{path}: {status} {answer.get('errors')}")
        return answer["auth"]["client_token"]

    def kubernetes_jwt(self, namespace: str, service_account: str) -> str:
        return self.k8s.service_account_token(namespace, service_account)

    def login_kubernetes(self, role: str, namespace: str, service_account: str, mount: str = "kubernetes") -> str:
        jwt = self.kubernetes_jwt(namespace, service_account)
        return self._login(f"auth/{mount}/login", {"role": role, "jwt": jwt})

    def workload_jwt(self, subject: str, audience: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": JWT_ISSUER, "sub": subject, "aud": audience, "iat": now, "nbf": now - 5, "exp": now + 300}
        payload.update(claims)
        return pyjwt.encode(payload, self.jwt_key, algorithm="RS256")

    def login_jwt(self, role: str, subject: str, audience: str, mount: str = "jwt", **claims: Any) -> str:
        return self._login(f"auth/{mount}/login", {"role": role, "jwt": self.workload_jwt(subject, audience, **claims)})

    def login_approle(self, role: str, mount: str = "approle") -> str:
        """What the platform hands an AppRole workload: its role id, and a secret id made for it."""
        root = self.bao.client()
        role_id = root.read(f"auth/{mount}/role/{role}/role-id")["data"]["role_id"]
        secret_id = root.write(f"auth/{mount}/role/{role}/secret-id")["data"]["secret_id"]
        return self._login(f"auth/{mount}/login", {"role_id": role_id, "secret_id": secret_id})


# -- stacks ---------------------------------------------------------------------------------------


def stack_file(stack: str) -> dict[str, Any]:
    """``config:`` of Pulumi.<stack>.yaml as Python values (keys namespaced as the CLI passes them)."""
    raw = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k if ":" in k else f"makini:{k}": v for k, v in raw.items()}


#: The values a stack supplies as Pulumi secrets (the store writes them once).
SECRETS = {
    "makini:oauthClientSecret": "oauth-client-secret-for-tests",
    "makini:webhookSecret": "webhook-secret-for-tests",
}


def with_secrets(config: Mapping[str, Any], tokens: Mapping[str, str] | None = None) -> tuple[dict[str, Any], set[str]]:
    out = copy.deepcopy(dict(config))
    out.update(SECRETS)
    keys = set(SECRETS)
    if tokens:
        out["makini:connectionTokens"] = dict(tokens)
        keys.add("makini:connectionTokens")
    return out, keys


def flat(config: Mapping[str, Any]) -> dict[str, str]:
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


@dataclass
class Deployment:
    environment: str
    mount: str
    config: StackConfig
    run: ProgramRun
    applied: vault_provider.Applied = field(default_factory=vault_provider.Applied)

    def bindings_file(self, folder: Path) -> Path:
        """The rotation bindings as the CronJob's pod sees them: ``bindings.json`` of the ConfigMap the program
        generated (stack output ``vaultRotatorBindingsConfigMap``), written where ROTATION_BINDINGS_FILE points."""
        config_map = self.run.outputs["vaultRotatorBindingsConfigMap"]
        path = folder / f"{self.environment}-bindings.json"
        path.write_text(config_map["data"]["bindings.json"], encoding="utf-8")
        return path


def program_run(config: Mapping[str, Any], secret_keys: set[str]) -> tuple[StackConfig, ProgramRun]:
    stack = str(config["makini:environment"])
    cfg = load_stack_config(stack, flat(config), secret_keys)
    return cfg, run_program(stack, flat(config), secret_keys)


def deploy(bao: OpenBao, config: Mapping[str, Any], secret_keys: set[str]) -> Deployment:
    """``pulumi up`` of the stack's Vault resources on ``bao`` (raises ProviderError where it would fail)."""
    cfg, run = program_run(config, secret_keys)
    applied = vault_provider.apply(bao, run.resources)
    return Deployment(cfg.environment, f"makini-{cfg.environment}", cfg, run, applied)


def vault_only(config: Mapping[str, Any], environment: str) -> dict[str, Any]:
    """A copy of a stack on Vault alone, renamed (the program on one backend: faster, same Vault resources)."""
    out = copy.deepcopy(dict(config))
    out["makini:environment"] = environment
    out["makini:backends"] = ["vault"]
    for key in ("makini:azure", "makini:aws", "aws:allowedAccountIds"):
        out.pop(key, None)
    for consumer in out.get("makini:consumers", {}).values():
        consumer.pop("aws", None)
        consumer.pop("azure", None)
    out.pop("makini:webhooks", None)  # receivers run on AWS or Azure; the webhook secret stays in the catalog
    return out


def dev_config(environment: str) -> dict:
    """The staging stack's shape with dev's identities on the other auth methods."""
    config = vault_only(stack_file("staging"), environment)
    consumers = config["makini:consumers"]
    consumers["work-orders"]["vault"] = {
        "auth": {
            "jwt": {"boundAudiences": ["vault.dev"], "boundSubject": "work-orders-dev", "boundClaims": {"env": "dev"}}
        }
    }
    consumers["asset-sync"]["vault"] = {
        "auth": {
            "approle": {"secretIdTtl": 600, "secretIdBoundCidrs": ["127.0.0.1/32"], "tokenBoundCidrs": ["127.0.0.1/32"]}
        }
    }
    consumers["onboarding"]["vault"] = {
        "auth": {"kubernetes": {"serviceAccountNames": ["onboarding"], "namespaces": ["onboarding-dev"]}}
    }
    config["makini:vault"] = copy.deepcopy(config["makini:vault"])
    config["makini:vault"]["rotator"]["auth"] = {
        "jwt": {
            "boundAudiences": ["vault.dev"],
            "boundSubject": "system:serviceaccount:makini-dev:makini-token-rotator",
        }
    }
    config["makini:vault"]["rotator"]["namespace"] = "makini-dev"
    return config
