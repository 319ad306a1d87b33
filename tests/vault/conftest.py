"""Vault tests on a real OpenBao server (tests/engines/openbao.py, vault_platform.py)."""

from __future__ import annotations

import pytest

from tests.engines.vault_platform import Deployment, deploy, dev_config, env_name, stack_file, vault_only, with_secrets


@pytest.fixture(scope="session")
def environments(openbao, vault_platform) -> list[Deployment]:
    """staging (Pulumi.staging.yaml on Vault, Kubernetes auth) and dev (its shape on JWT, AppRole and
    Kubernetes auth, the rotator on JWT), deployed once per session on the same server. Read-only for tests."""
    staging, keys = with_secrets(vault_only(stack_file("staging"), env_name("stg")), {"acme-maintainx": "tok-a"})
    dev, dev_keys = with_secrets(dev_config(env_name("dev")), {"acme-maintainx": "tok-b", "globex-netsuite": "tok-c"})
    return [deploy(openbao, staging, keys), deploy(openbao, dev, dev_keys)]
