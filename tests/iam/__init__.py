"""Policy evaluators written from the clouds' published documentation, for access proofs that do not
trust the program's own model: :mod:`tests.iam.aws_policy` (IAM, resource, boundary, KMS key and trust
policies) and :mod:`tests.iam.azure_rbac` (role definitions, assignments, scopes, deny assignments).
See ``tests/iam/README.md``."""
