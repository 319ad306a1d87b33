"""Shared test setup.

Pulumi's Python SDK needs an event loop per test (pulumi/pulumi#4101, #6465, #6561): each test gets a
fresh one, closed afterwards, so no task leaks from one program run into the next.
"""

import asyncio

import pytest


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
