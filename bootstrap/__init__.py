"""The CI identities of makini-infra: a separate Pulumi project (``makini-infra-bootstrap``), run by an
administrator, and the pure builders it and the tests share. See ``bootstrap/__main__.py``."""
