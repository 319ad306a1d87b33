"""Makini connection-token rotation: one Makini client, three runtimes.

- ``rotation.aws_lambda.handler``: AWS Secrets Manager rotation Lambda.
- ``rotation.azure_function``: Azure Functions (Python v2), an hourly timer over the deployed bindings.
- ``python -m rotation.vault_rotator``: scheduled rotator for HashiCorp Vault KV v2.

No Pulumi import here: this folder is shipped as an archive on its own (see README.md).
"""
