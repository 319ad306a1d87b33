"""The run-time names every function reads the same way (no Pulumi, no program import).

A run-time token's name carries its Makini connection id and its access class
(``connections/<class>/<id>/token``); the rotators bind a token by it, the keeper governs by it and the
onboarding client writes it. One rule for all three here; the program's own copies
(``stacks.naming.RUNTIME_CONNECTION_ID``, ``stacks.config.classes.ClassName``) are held to these by tests.
"""

from __future__ import annotations

import re

#: Makini's connection key as one name segment (e.g. ``09000207611898``).
CONNECTION_ID = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,63}")
#: An access class name.
CLASS_NAME = re.compile(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}")
