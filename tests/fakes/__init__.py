"""Local fakes of external services (Makini API, ...) for tests: 127.0.0.1 only, self-stopping."""
