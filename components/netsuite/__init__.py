"""NetSuite machine-to-machine: the key pair and certificate of an M2M connection (tls provider only)."""
