"""Modules every function ships beside its own package (``functions/shared/`` in each archive)."""
