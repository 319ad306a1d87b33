"""The workflows' stack matrix, derived from the project's ``Pulumi.<stack>.yaml`` files.

    python -m infra.ci matrix            # GitHub step outputs: preview=..., nonprod=..., prod=...

Each entry names what a job needs to reach one stack, all derived from the stack file and the bootstrap's
fixed names (bootstrap/model.py), so no repository variable maps stacks to accounts:

* ``stack``, ``environment`` (the GitHub environment, named like the stack);
* ``awsRoleArn`` / ``awsRegion`` when the stack uses AWS (``makini-infra-<stack>-deploy`` or
  ``-preview`` in the account ``aws:allowedAccountIds`` pins), ``''`` otherwise;
* ``vaultAddress`` / ``vaultRole`` when it uses Vault; ``azure`` ``'true'`` when it uses Azure (the
  client id then comes from the GitHub environment's variables);
* ``pulumiTeam``: the Pulumi Cloud team whose token the job requests.

``preview`` lists the stacks pull requests preview (non-production, no Azure); ``nonprod`` and ``prod`` the
deploy order: non-production stacks by name (dev before staging), then production stacks.
The workflows never trust this output for security: the identities' trust decides who gets in.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bootstrap.model import (
    DeliveryStack,
    StackFile,
    deploy_order,
    deploy_role_name,
    load_delivery_stack,
    preview_role_name,
)
from bootstrap.pulumi_cloud import PREVIEW_TEAM

from .access_check import stack_files
from .offline import PROJECT_ROOT, StackFileError, load_stack_file


def read_stack_files(root: Path = PROJECT_ROOT) -> list[StackFile]:
    """Every ``Pulumi.<stack>.yaml`` of the project, as the CLI would hand it over (unreadable: ``error``)."""
    out: list[StackFile] = []
    for name, path in stack_files(root).items():
        try:
            source = load_stack_file(name, path)
        except StackFileError as err:
            out.append(StackFile(name, {}, error=str(err)))
            continue
        out.append(StackFile(name, dict(source.config), frozenset(source.secret_keys)))
    return out


def delivery_stacks(root: Path = PROJECT_ROOT) -> list[DeliveryStack]:
    """Every stack of the project from its file, in deploy order (raises the program's ConfigError)."""
    return deploy_order([load_delivery_stack(f) for f in read_stack_files(root)])


def entry(stack: DeliveryStack, kind: str) -> dict[str, Any]:
    aws = "aws" in stack.backends
    role = stack.preview_role_arn() if kind == "preview" else stack.deploy_role_arn()
    vault = "vault" in stack.backends
    return {
        "stack": stack.name,
        "environment": stack.github_environment,
        "awsRoleArn": (role or "") if aws else "",
        "awsRegion": (stack.aws_region or "") if aws else "",
        "azure": "true" if "azure" in stack.backends else "",
        "vaultAddress": (stack.vault_address or "") if vault else "",
        "vaultRole": (preview_role_name(stack.name) if kind == "preview" else deploy_role_name(stack.name))
        if vault
        else "",
        "pulumiTeam": PREVIEW_TEAM if kind == "preview" else deploy_role_name(stack.name),
    }


def matrix(root: Path = PROJECT_ROOT) -> dict[str, list[dict[str, Any]]]:
    stacks = delivery_stacks(root)
    return {
        "all": [{"stack": s.name} for s in stacks],
        "preview": [entry(s, "preview") for s in stacks if s.previewable_from_pull_requests],
        "nonprod": [entry(s, "deploy") for s in stacks if not s.production],
        "prod": [entry(s, "deploy") for s in stacks if s.production],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.ci", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["matrix"])
    parser.parse_args(argv)
    for key, value in matrix().items():
        print(f"{key}={json.dumps(value, separators=(',', ':'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
