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
