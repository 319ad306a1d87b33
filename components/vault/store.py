"""One environment's HashiCorp Vault store: a KV v2 mount ``makini-<env>`` and the catalog in it.

Per catalog entry:

* its metadata (``<mount>/metadata/<path>``, custom metadata: environment, connection, owner, rotation
  period, ...) is written by a ``vault.generic.Endpoint``. pulumi-vault has no metadata-only KV
  resource (``kv.SecretV2`` requires ``data_json``), and the metadata endpoint creates the key's
  metadata without a version, so entries with no value in config still exist, described, for
  out-of-band fill. The endpoint is never read back (rotation adds ``last_rotated`` to the same map
  and must not look like drift) and never deleted by Pulumi (a metadata DELETE destroys every
  version; removing an entry from config stops managing it, ``vault kv metadata delete`` removes it).
  The endpoint writes the store's keys as the whole ``custom_metadata`` map whenever one of its inputs
  changes: KV v2 replaces the map on every metadata write and the provider's generic endpoint cannot
  PATCH, so the rotator's ``last_rotated`` does not survive such an up. Nothing depends on it alone: the
  rotator counts from the current version's ``created_time``, which the engine keeps (proven on OpenBao
  in tests/functions/rotation/test_vault_rotator.py);
* when config supplies a value, a ``kv.SecretV2`` writes it once, with check-and-set 0 (written only if
  the key has no version yet, so an out-of-band value is never clobbered, even on the first ``up``: the
  up reports the conflict instead), the value a Pulumi secret, ``ignore_changes`` on it and
  ``disable_read`` (rotated values are never read into state, and never reverted).
  Check-and-set goes in ``options={"cas": "0"}``: KV v2 reads only ``options.cas``. The resource's own
  ``cas`` argument makes terraform-provider-vault send a top-level ``cas`` that KV v2 ignores ("Endpoint
  ignored these unrecognized parameters: [cas]"), so with ``cas_required`` every first write was refused
  and without it an existing value was overwritten (terraform-provider-vault#1727, #2472; proven on
  OpenBao in tests/vault/test_store_on_openbao.py).

Data shapes: the OAuth client ``{"client_id", "client_secret"}``, a connection token ``{"token",
"connection_id"}`` (as the AWS store and the rotation job use), the webhook secret ``{"value"}``.
In production the mount, its configuration, the metadata and the values are protected (mount,
metadata and values also retained on delete).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_vault as vault

from components.aliases import formerly
from stacks.naming import vault_data_path, vault_metadata_path, vault_mount


@dataclass(frozen=True)
class VaultSecretArgs:
    """One secret of the mount."""

    #: Backend-neutral catalog path, the KV path in the mount (``connections/acme-sap/token``).
    path: str
    #: Suffix for Pulumi resource names (unique within the store).
    slug: str
    #: Custom metadata (string -> string; Vault allows 64 keys, values up to 512 bytes).
    custom_metadata: Mapping[str, str] = field(default_factory=dict)
    #: The initial value (a JSON object, or a plain string stored under ``value``), a Pulumi secret.
    value: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class VaultStoreArgs:
    environment: str
    production: bool
    secrets: Sequence[VaultSecretArgs]
    max_versions: int = 10
    cas_required: bool = True
    #: Seconds after which a version is deleted; 0 keeps versions until max_versions drops them.
    delete_version_after_seconds: int = 0


def kv_data(value: str) -> str:
    """The KV v2 data object for a value: a JSON object as is, anything else under ``value``."""
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    return value if isinstance(parsed, dict) else json.dumps({"value": value})


class VaultStore(pulumi.ComponentResource):
    """KV v2 mount ``makini-<env>`` with the environment's catalog."""

    mount_path: pulumi.Output[str]
    paths: dict[str, str]

    def __init__(self, name: str, args: VaultStoreArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:vault:VaultStore.
        super().__init__("makini:vault:SecretStore", name, None, formerly(opts, "makini:vault:VaultStore"))
        prod = args.production
        guard = pulumi.ResourceOptions(parent=self, protect=prod, retain_on_delete=prod)
        mount = vault_mount(args.environment)

        self.mount = vault.Mount(
            f"{name}-mount",
            path=mount,
            type="kv",
            options={"version": "2"},
            description=f"makini-infra: the Makini secrets of {args.environment}",
            opts=guard,
        )
        self.backend_config = vault.kv.SecretBackendV2(
            f"{name}-config",
            mount=self.mount.path,
            max_versions=args.max_versions,
            cas_required=args.cas_required,
            delete_version_after=args.delete_version_after_seconds,
            opts=pulumi.ResourceOptions(parent=self, protect=prod),
        )

        self.metadata: dict[str, vault.generic.Endpoint] = {}
        self.values: dict[str, vault.kv.SecretV2] = {}
        self.paths = {}
        for s in args.secrets:
            meta = vault.generic.Endpoint(
                f"{name}-{s.slug}-metadata",
                path=vault_metadata_path(args.environment, s.path),
                data_json=json.dumps({"custom_metadata": dict(s.custom_metadata)}, sort_keys=True),
                disable_read=True,
                disable_delete=True,
                ignore_absent_fields=True,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[self.backend_config], protect=prod, retain_on_delete=prod
                ),
            )
            self.metadata[s.path] = meta
            if s.value is not None:
                data: pulumi.Input[str] = pulumi.Output.from_input(s.value).apply(kv_data)
                self.values[s.path] = vault.kv.SecretV2(
                    f"{name}-{s.slug}",
                    mount=self.mount.path,
                    name=s.path,
                    data_json=pulumi.Output.secret(data),
                    options={"cas": "0"},
                    disable_read=True,
                    delete_all_versions=False,
                    opts=pulumi.ResourceOptions(
                        parent=self,
                        depends_on=[meta],
                        protect=prod,
                        retain_on_delete=prod,
                        ignore_changes=["dataJson", "options"],
                    ),
                )
            self.paths[s.path] = vault_data_path(args.environment, s.path)

        self.mount_path = self.mount.path
        self.register_outputs({"mount": self.mount.path, "paths": self.paths})
