"""What one stack is and how it is built: the pure config model, catalog and rules, and the composition (``environment/``)."""
