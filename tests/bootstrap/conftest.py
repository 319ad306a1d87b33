"""The example bootstrap stacks (bootstrap/Pulumi.<name>.yaml), validated like the program validates them."""

from __future__ import annotations

from functools import cache

from bootstrap.model import BOOTSTRAP_DIR, Bootstrap, load_bootstrap, pinned_account
from infra.ci import read_stack_files
from infra.offline import load_stack_file

EXAMPLES = ("dev", "staging", "prod")
REPO = "acme/makini-infra"
REPO_ID = "704215839"


@cache
def example(name: str) -> Bootstrap:
    source = load_stack_file(name, BOOTSTRAP_DIR / f"Pulumi.{name}.yaml", project="makini-infra-bootstrap")
    return load_bootstrap(name, source.config, read_stack_files(), aws_account_id=pinned_account(source.config))


@cache
def raw_example(name: str) -> dict[str, str]:
    source = load_stack_file(name, BOOTSTRAP_DIR / f"Pulumi.{name}.yaml", project="makini-infra-bootstrap")
    return dict(source.config)
