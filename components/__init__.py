"""Pulumi ComponentResources, one per module and one folder per backend, with their pure policy-document builders beside them."""
