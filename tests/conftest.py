"""Shared test setup.

Hypothesis runs without per-example deadlines (below). Pulumi's Python SDK needs an event loop per test
(pulumi/pulumi#4101, #6465, #6561): each test gets a fresh one, closed afterwards, so no task leaks from
one program run into the next.
"""

import asyncio

import pytest
from hypothesis import settings

# Hypothesis's per-example deadline (200 ms by default) measures wall time. On a shared 2-core machine
# an example that starts openssl or node can take longer for reasons that have nothing to do with the
# code (test_openssl_signatures_verify_and_bit_flips_do_not failed so under load): a flaky test. No test
# here is about speed (benchmarks live in bench/), so the suite runs without the deadline; every other
# Hypothesis setting keeps its default, and tests set their own max_examples.
settings.register_profile("makini-suite", deadline=None)
settings.load_profile("makini-suite")


@pytest.fixture(autouse=True)
def _fresh_event_loop():
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(scope="session")
def openbao():
    """A real OpenBao server for the whole test session (one per xdist worker), stopped at the end.

    See tests/engines/openbao.py: ``openbao.client()`` (root hvac client), ``openbao.client(token=...)``,
    ``openbao.http(method, path, body, token=...)``, ``openbao.unique(prefix)`` for names no other test
    uses. Tests share the server and isolate themselves by mount, policy and role names."""
    from tests.engines.openbao import running_openbao

    with running_openbao() as server:
        yield server


@pytest.fixture(scope="session")
def vault_platform(openbao):
    """The auth backends of a platform team on the session's OpenBao (tests/engines/vault_platform.py):
    Kubernetes auth (a fake TokenReview endpoint), JWT auth (a local RSA key), AppRole; and logins."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.engines.vault_platform import Platform
    from tests.fakes.kubernetes import FakeKubernetes

    with FakeKubernetes() as k8s:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        p = Platform(openbao, k8s, key)
        p.setup()
        yield p
