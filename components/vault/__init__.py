"""HashiCorp Vault: the KV v2 store, consumer policies and auth roles, and the token rotator's identity."""
