"""The test suite, mirroring the rooms: unit (pure modules, config), program (under mocks), functions, e2e, policy."""
