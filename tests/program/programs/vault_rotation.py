"""A Pulumi program with only the Vault rotation component (for tests/program/test_rotation_vault.py)."""

from components.vault.rotation import VaultRotation, VaultRotationArgs

VaultRotation(
    "makini-dev-vault-rotation",
    VaultRotationArgs(
        environment="dev", mount="makini-dev", token_paths=["connections/acme-sap/token", "connections/globex-mx/token"]
    ),
)
