"""Azure: the Key Vault store, consumer RBAC, the webhook endpoint and token rotation (Function Apps)."""
