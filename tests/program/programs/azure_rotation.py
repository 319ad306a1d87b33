"""A Pulumi program with only the Key Vault rotation component (for tests/program/test_rotation_azure.py)."""

import pulumi

from components.azure.rotation import KeyVaultRotation, KeyVaultRotationArgs

GROUP = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-makini-dev"
VAULT = f"{GROUP}/providers/Microsoft.KeyVault/vaults/kv-makini-dev"
TOKENS = {n: f"{VAULT}/secrets/{n}" for n in ("connections-acme-sap-token", "connections-globex-mx-token")}

rotation = KeyVaultRotation(
    "makini-dev-azure-rotation",
    KeyVaultRotationArgs(
        environment="dev",
        location="westeurope",
        resource_group_name="rg-makini-dev",
        vault_id=VAULT,
        vault_uri="https://kv-makini-dev.vault.azure.net/",
        token_secret_ids=TOKENS,
        oauth_client_secret_name="oauth-client",
        oauth_client_secret_id=f"{VAULT}/secrets/oauth-client",
        bindings_document='{"format":"makini-rotation-bindings/1","environment":"dev","backend":"azure","periodDays":21,'
        '"bindings":{"kv-makini-dev/connections-acme-sap-token":"0900001"}}',
        tags={"environment": "dev"},
    ),
)
pulumi.export("principalId", rotation.principal_id)
