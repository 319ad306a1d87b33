"""Adoption: a ``pulumi import --file`` document for the stores a team already has under makini-infra's names.

A stack whose ``makini/<env>/...`` secrets (or KMS alias, or Vault mount) already exist cannot ``pulumi up``:
each create fails with "already exists". ``python -m infra.plan <stack> --import-file FILE`` writes the import
document that adopts them instead, with the program's own resource names, types and parents (taken from the
offline plan's run, so they are exactly what ``pulumi up`` will register) and the IDs found in the cloud:

* AWS (read with your credentials: ``secretsmanager:ListSecrets``, ``kms:DescribeKey``): each Secrets Manager
  secret named ``makini/<env>/<path>`` (import ID: its ARN), the KMS alias ``alias/makini/<env>`` (its name)
  and the key it points at (its key id);
* Vault (``VAULT_ADDR`` and ``VAULT_TOKEN``): the KV v2 mount ``makini-<env>`` (its path) and each secret
  under it (``<mount>/data/<path>``).

The components above them are listed as ``"component": true`` without an ID (``pulumi import`` creates them,
Pulumi 3.94 or later), so every imported resource gets the URN the program gives it. Only what exists is
listed; what does not is created by the next ``pulumi up``. Values are never read. docs/adoption.md says what
happens to values, policies and rotation.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.config import StackConfig
from stacks.naming import aws_secret_name, vault_mount

from .offline import ProgramRun, RecordedResource

AWS_SECRET = "aws:secretsmanager/secret:Secret"
KMS_KEY = "aws:kms/key:Key"
KMS_ALIAS = "aws:kms/alias:Alias"
VAULT_MOUNT = "vault:index/mount:Mount"
VAULT_SECRET = "vault:kv/secretV2:SecretV2"


@dataclass
class Existing:
    """What already exists in the clouds, by the names the program uses."""

    #: Secrets Manager secret name -> ARN.
    aws_secrets: dict[str, str] = field(default_factory=dict)
    #: KMS alias name -> the key id it points at.
    kms_aliases: dict[str, str] = field(default_factory=dict)
    #: Vault KV v2 mount paths (without a trailing slash).
    vault_mounts: set[str] = field(default_factory=set)
    #: Vault secrets as ``<mount>/data/<path>``.
    vault_secrets: set[str] = field(default_factory=set)


def _import_id(r: RecordedResource, existing: Existing) -> str | None:
    """The provider's import ID of a program resource that already exists, or None."""
    i = r.plain_inputs
    if r.type == AWS_SECRET:
        return existing.aws_secrets.get(str(i.get("name")))
    if r.type == KMS_ALIAS:
        return str(i["name"]) if i.get("name") in existing.kms_aliases else None
    if r.type == VAULT_MOUNT:
        return str(i["path"]) if i.get("path") in existing.vault_mounts else None
    if r.type == VAULT_SECRET:
        path = f"{i.get('mount')}/data/{i.get('name')}"
        return path if path in existing.vault_secrets else None
    return None


def _kms_key_id(run: ProgramRun, existing: Existing) -> dict[str, str]:
    """Program KMS key URN -> the id of the existing key its alias points at (the key has no name of its own)."""
    by_urn = {r.urn: r for r in run.resources}
    out = {}
    for alias in run.of_type(KMS_ALIAS):
        key_id = existing.kms_aliases.get(str(alias.plain_inputs.get("name")))
        if key_id is None:
            continue
        keys = [r for r in run.of_type(KMS_KEY) if r.parent == alias.parent and r.urn in by_urn]
        if len(keys) == 1:
            out[keys[0].urn] = key_id
    return out


def import_document(run: ProgramRun, existing: Existing) -> dict[str, Any]:
    """The ``pulumi import --file`` document: every program resource that exists, with its component parents."""
    by_urn = {r.urn: r for r in run.resources}
    key_ids = _kms_key_id(run, existing)
    found = []
    for r in sorted(run.resources, key=lambda r: r.urn):
        rid = key_ids.get(r.urn) if r.type == KMS_KEY else _import_id(r, existing)
        if rid is not None:
            found.append((r, rid))
    components: dict[str, RecordedResource] = {}
    for r, _ in found:
        parent = by_urn.get(r.parent or "")
        while parent is not None and not parent.custom and parent.type != "pulumi:pulumi:Stack":
            components[parent.urn] = parent
            parent = by_urn.get(parent.parent or "")

    def entry(r: RecordedResource, rid: str | None) -> dict[str, Any]:
        e: dict[str, Any] = {"type": r.type, "name": r.name, "logicalName": r.name}
        if rid is None:
            e["component"] = True
        else:
            e["id"] = rid
        parent = by_urn.get(r.parent or "")
        if parent is not None and parent.type != "pulumi:pulumi:Stack":
            e["parent"] = parent.name
        return e

    ordered = sorted(components.values(), key=lambda c: c.urn.count("$"))  # parents before children
    return {"resources": [entry(c, None) for c in ordered] + [entry(r, rid) for r, rid in found]}


# --------------------------------------------------------------------------------------------------
# Reading what exists (names and IDs only; never a value)


def aws_existing(cfg: StackConfig, client_for: Callable[[str], Any]) -> Existing:
    """Secrets named ``makini/<env>/...`` and the alias ``alias/makini/<env>``; ``client_for("kms")`` etc."""
    prefix = aws_secret_name(cfg.environment, "")
    sm = client_for("secretsmanager")
    secrets: dict[str, str] = {}
    for page in sm.get_paginator("list_secrets").paginate(Filters=[{"Key": "name", "Values": [prefix]}]):
        for s in page["SecretList"]:
            if s["Name"].startswith(prefix):
                secrets[s["Name"]] = s["ARN"]
    kms = client_for("kms")
    aliases: dict[str, str] = {}
    alias = f"alias/makini/{cfg.environment}"
    with contextlib.suppress(kms.exceptions.NotFoundException):
        aliases[alias] = kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"]
    return Existing(aws_secrets=secrets, kms_aliases=aliases)


def vault_existing(cfg: StackConfig, client: Any, paths: Iterable[str]) -> Existing:
    """The mount ``makini-<env>`` and which of ``paths`` (catalog paths) hold a secret under it."""
    mount = vault_mount(cfg.environment)
    mounts = {m.rstrip("/") for m in client.sys.list_mounted_secrets_engines()["data"]}
    found: set[str] = set()
    if mount in mounts:
        for path in paths:
            try:
                client.secrets.kv.v2.read_secret_metadata(path=path, mount_point=mount)
            except Exception as err:  # noqa: BLE001 - hvac's InvalidPath (404) means "not there"
                if type(err).__name__ != "InvalidPath":
                    raise
                continue
            found.add(f"{mount}/data/{path}")
    return Existing(vault_mounts={mount} & mounts, vault_secrets=found)


def merge(parts: Iterable[Existing]) -> Existing:
    out = Existing()
    for p in parts:
        out.aws_secrets.update(p.aws_secrets)
        out.kms_aliases.update(p.kms_aliases)
        out.vault_mounts |= p.vault_mounts
        out.vault_secrets |= p.vault_secrets
    return out


def summary(doc: Mapping[str, Any]) -> str:
    counts: dict[str, int] = {}
    for r in doc["resources"]:
        if not r.get("component"):
            counts[r["type"]] = counts.get(r["type"], 0) + 1
    listed = ", ".join(f"{n} {t}" for t, n in sorted(counts.items())) or "nothing (no existing store found)"
    return f"to adopt: {listed}"


class AdoptionError(Exception):
    """What the import file needs is missing (credentials, an address): exit 2, naming the fix."""


def discover(
    cfg: StackConfig,
    source_config: Mapping[str, Any],
    run: ProgramRun,
    environ: Mapping[str, str],
    aws_client_for: Callable[[str], Any] | None = None,
    vault_client: Any | None = None,
) -> Existing:
    """Read what exists on every backend of the stack that adoption covers (AWS, Vault)."""
    parts = []
    if "aws" in cfg.backends:
        if aws_client_for is None:
            import boto3  # deferred: only the import file needs it

            region = source_config.get("aws:region")
            session = boto3.session.Session(region_name=str(region) if region else None)
            aws_client_for = session.client
        parts.append(aws_existing(cfg, aws_client_for))
    if "vault" in cfg.backends:
        if vault_client is None:
            if not environ.get("VAULT_ADDR") or not environ.get("VAULT_TOKEN"):
                raise AdoptionError(
                    "the stack uses Vault: set VAULT_ADDR and VAULT_TOKEN (a token that may list the secret "
                    f"mounts and read the metadata under {vault_mount(cfg.environment)}/) to find what exists"
                )
            import hvac  # deferred: only the import file needs it

            vault_client = hvac.Client(url=environ["VAULT_ADDR"], token=environ["VAULT_TOKEN"], timeout=10)
        paths = [str(r.plain_inputs["name"]) for r in run.of_type(VAULT_SECRET)]
        parts.append(vault_existing(cfg, vault_client, paths))
    return merge(parts)
