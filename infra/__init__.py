"""Entry points: the Pulumi program (``__main__.py``), the offline plan and its mock harness, and the operator commands."""
