"""Access classes: named groups of connections whose tokens the same consumers read.

``makini:accessClasses`` maps a class name to the consumers that read every token filed under it;
``makini:connections[].class`` files a connection's token under one class. A class is the unit every
backend grants: a name prefix on AWS and Vault (``connections/<class>/``) and a Key Vault of its own on
Azure, so no grant grows with the number of connections (see docs/access-at-scale.md).

A class with ``runtime: true`` is a governed place for connections added at run time, without a deploy:
the environment's onboarding identity (the consumer with ``onboarding: true``) stores a new customer's token at
``connections/<class>/<makini connection id>/token`` and the class's consumers read it like any other token
of the class (see docs/access-at-scale.md, "Run-time connections"). Such a class holds no declared
connection, so the onboarding identity can never touch a token the stack file declares.

The rules that span connections, consumers and classes live in :mod:`stacks.config.class_rules`.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from .base import ConsumerName, Model, _pattern

CLASS_NAME_RULE = (
    "2-24 characters: lowercase letters, digits and single dashes, starting with a letter, not ending with a dash"
)
ClassName = Annotated[
    str,
    _pattern(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,23}", "access class name", CLASS_NAME_RULE),
]


class AccessClass(Model):
    """A class of connections: every token filed under it is read by exactly these consumers."""

    consumers: tuple[ConsumerName, ...] = Field(
        default=(), description="Services that read every token of this class (names under makini:consumers)."
    )
    description: str = Field(default="", max_length=256, description="What the class holds, for reviewers.")
    runtime: bool = Field(
        default=False,
        description="Accepts connections added at run time: the onboarding identity (the consumer with "
        "onboarding: true) stores their tokens under the class without a deploy, at "
        "connections/<class>/<makini connection id>/token. A run-time class holds no declared connection.",
    )
