"""One environment's Azure Key Vault store: a resource group (or an existing one), a Key Vault with RBAC
authorisation and a closed firewall, optional private endpoints and audit logs, and one secret per
catalog entry. Each access class gets a Key Vault of its own with the same settings (firewall, private
endpoints, audit logs, protection) holding exactly the class's tokens, so its readers are granted the
vault, not each secret (role assignments are a subscription-wide quota).

Secrets with no value in config. Key Vault's ARM API refuses a secret without a value ("An invalid
value was provided for 'value'", Azure/azure-quickstart-templates#6235), although the SDK marks it
optional. Leaving those entries out would leave nothing for per-secret role assignments, tags or
expiry to attach to, so every catalog entry is created: an entry without a value gets the fixed,
non-secret placeholder :data:`PLACEHOLDER_VALUE` in a *disabled* version, which Key Vault refuses to
return to anyone ("Operation get is not allowed on a disabled secret"). The real value is written out
of band (``az keyvault secret set``, which adds a new, enabled version) or by rotation.

Values are never reverted. Azure-native updates a secret with a full PUT, and every PUT carries the
value, so even a tag change would write the config's initial value (or the placeholder) back over a
rotated one. The ARM secret is therefore create-only: changes to ``properties`` and ``tags`` are
ignored after creation; Key Vault's data plane (rotation, operators) owns the secret from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_azure_native as azure_native

from components.aliases import formerly
from stacks.naming import resource_group_name, stable_hash

#: What a catalog entry without a configured value holds, in a disabled version nobody can read.
PLACEHOLDER_VALUE = "unset: written out of band or by rotation (makini-infra)"
#: Ignore everything an ARM PUT would rewrite (see the module doc).
SECRET_IGNORE_CHANGES = ["properties", "tags"]


@dataclass(frozen=True)
class KeyVaultSecretArgs:
    """One secret of the vault."""

    #: Backend-neutral catalog path, e.g. ``connections/acme-sap/token``.
    path: str
    #: The Key Vault secret name (see :func:`stacks.naming.key_vault_secret_name`).
    secret_name: str
    #: Suffix for Pulumi resource names (unique within the store).
    slug: str
    content_type: str
    #: The initial value, a Pulumi secret; None: a disabled placeholder version (see the module doc).
    value: pulumi.Input[str] | None = None
    #: Expiry (``exp``) in seconds since the epoch; set by the rotation policy, None for no expiry.
    expires: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: The access class whose vault holds it; None: the environment's vault.
    access_class: str | None = None


@dataclass(frozen=True)
class KeyVaultStoreArgs:
    environment: str
    production: bool
    location: str
    vault_name: str
    secrets: Sequence[KeyVaultSecretArgs]
    soft_delete_retention_days: int
    purge_protection: bool
    #: An existing resource group to use; None creates ``resource_group_name`` (``rg-makini-<env>``).
    existing_resource_group_name: str | None = None
    resource_group_name: str = ""
    allowed_ip_ranges: Sequence[str] = ()
    allowed_subnet_ids: Sequence[str] = ()
    private_endpoint_subnet_ids: Sequence[str] = ()
    log_analytics_workspace_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    #: Access class -> the name of its own Key Vault (see :func:`stacks.naming.class_key_vault_name`).
    class_vaults: Mapping[str, str] = field(default_factory=dict)


class KeyVaultStore(pulumi.ComponentResource):
    """Key Vault ``<vault_name>`` for one environment, with one secret per catalog entry.

    In production the resource group, vault and secrets are protected and retained on delete; the
    private endpoints and diagnostic setting are protected.
    """

    vault_uri: pulumi.Output[str]
    secret_ids: dict[str, pulumi.Output[str]]
    secret_names: dict[str, str]

    def __init__(self, name: str, args: KeyVaultStoreArgs, opts: pulumi.ResourceOptions | None = None):
        # Named like its counterparts on the other backends; formerly makini:azure:KeyVaultStore.
        super().__init__("makini:azure:SecretStore", name, None, formerly(opts, "makini:azure:KeyVaultStore"))
        prod = args.production
        guard = pulumi.ResourceOptions(parent=self, protect=prod, retain_on_delete=prod)
        client = azure_native.authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        if args.existing_resource_group_name:
            self.resource_group = None
            rg_name: pulumi.Input[str] = args.existing_resource_group_name
        else:
            self.resource_group = azure_native.resources.ResourceGroup(
                f"{name}-rg",
                resource_group_name=args.resource_group_name or resource_group_name(args.environment),
                location=args.location,
                tags=dict(args.tags),
                opts=guard,
            )
            rg_name = self.resource_group.name

        self._client = client
        self._rg_name = rg_name
        self.private_endpoints: list[azure_native.network.PrivateEndpoint] = []
        self.diagnostics = None
        self.vault = self._vault(name, args.vault_name, args, guard)
        self.vault_uri = self.vault.properties.apply(lambda p: p.vault_uri)
        self.class_vaults: dict[str, azure_native.keyvault.Vault] = {
            klass: self._vault(f"{name}-{klass}", vault_name, args, guard)
            for klass, vault_name in sorted(args.class_vaults.items())
        }
        self.class_vault_uris = {k: v.properties.apply(lambda p: p.vault_uri) for k, v in self.class_vaults.items()}

        self.secrets: dict[str, azure_native.keyvault.Secret] = {}
        self.secret_ids = {}
        self.secret_names = {}
        for s in args.secrets:
            has_value = s.value is not None
            vault = self.vault if s.access_class is None else self.class_vaults[s.access_class]
            secret = azure_native.keyvault.Secret(
                f"{name}-{s.slug}",
                secret_name=s.secret_name,
                vault_name=vault.name,
                resource_group_name=rg_name,
                properties=azure_native.keyvault.SecretPropertiesArgs(
                    value=pulumi.Output.secret(s.value) if has_value else PLACEHOLDER_VALUE,
                    content_type=s.content_type,
                    attributes=azure_native.keyvault.SecretAttributesArgs(enabled=has_value, expires=s.expires),
                ),
                tags={**args.tags, **s.tags},
                opts=pulumi.ResourceOptions(
                    parent=self,
                    protect=prod,
                    retain_on_delete=prod,
                    ignore_changes=SECRET_IGNORE_CHANGES,
                ),
            )
            self.secrets[s.path] = secret
            self.secret_ids[s.path] = secret.id
            self.secret_names[s.path] = s.secret_name

        self.vault_name = self.vault.name
        self.register_outputs(
            {
                "vaultName": self.vault.name,
                "vaultUri": self.vault_uri,
                "classVaultNames": {k: v.name for k, v in self.class_vaults.items()},
                "secretIds": self.secret_ids,
            }
        )

    def _vault(
        self, name: str, vault_name: str, args: KeyVaultStoreArgs, guard: pulumi.ResourceOptions
    ) -> azure_native.keyvault.Vault:
        """One Key Vault with the store's settings, its private endpoints and its audit log setting."""
        prod, rg_name = args.production, self._rg_name
        private = bool(args.private_endpoint_subnet_ids)
        vault = azure_native.keyvault.Vault(
            f"{name}-vault",
            vault_name=vault_name,
            resource_group_name=rg_name,
            location=args.location,
            properties=azure_native.keyvault.VaultPropertiesArgs(
                tenant_id=self._client.tenant_id,
                sku=azure_native.keyvault.SkuArgs(family="A", name=azure_native.keyvault.SkuName.STANDARD),
                enable_rbac_authorization=True,
                access_policies=[],
                enable_soft_delete=True,
                soft_delete_retention_in_days=args.soft_delete_retention_days,
                # Key Vault refuses `false` once purge protection is on; None leaves it off.
                enable_purge_protection=True if args.purge_protection else None,
                enabled_for_deployment=False,
                enabled_for_disk_encryption=False,
                enabled_for_template_deployment=False,
                public_network_access="Disabled" if private else "Enabled",
                network_acls=azure_native.keyvault.NetworkRuleSetArgs(
                    default_action=azure_native.keyvault.NetworkRuleAction.DENY,
                    bypass=azure_native.keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
                    ip_rules=[azure_native.keyvault.IPRuleArgs(value=ip) for ip in args.allowed_ip_ranges],
                    virtual_network_rules=[
                        azure_native.keyvault.VirtualNetworkRuleArgs(id=subnet) for subnet in args.allowed_subnet_ids
                    ],
                ),
            ),
            tags=dict(args.tags),
            opts=guard,
        )
        for subnet in args.private_endpoint_subnet_ids:
            suffix = stable_hash(subnet.lower(), 6)
            self.private_endpoints.append(
                azure_native.network.PrivateEndpoint(
                    f"{name}-pe-{suffix}",
                    private_endpoint_name=f"pe-{vault_name}-{suffix}",
                    resource_group_name=rg_name,
                    location=args.location,
                    subnet=azure_native.network.SubnetArgs(id=subnet),
                    private_link_service_connections=[
                        azure_native.network.PrivateLinkServiceConnectionArgs(
                            name=f"{vault_name}-vault",
                            private_link_service_id=vault.id,
                            group_ids=["vault"],
                        )
                    ],
                    tags=dict(args.tags),
                    opts=pulumi.ResourceOptions(parent=self, protect=prod),
                )
            )
        if args.log_analytics_workspace_id:
            diagnostics = azure_native.monitor.DiagnosticSetting(
                f"{name}-audit",
                name="makini-audit",
                resource_uri=vault.id,
                workspace_id=args.log_analytics_workspace_id,
                logs=[azure_native.monitor.DiagnosticsLogSettingsArgs(category="AuditEvent", enabled=True)],
                opts=pulumi.ResourceOptions(parent=self, protect=prod),
            )
            if self.diagnostics is None:
                self.diagnostics = diagnostics
        return vault
