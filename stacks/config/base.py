"""Shared pieces of the stack configuration model.

Every section is an immutable pydantic model that accepts the camelCase keys a Pulumi stack file uses
and refuses any other key, so a typo is an error (with the nearest valid key suggested), never a silent
default.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

NAMESPACE = "makini"


class Model(BaseModel):
    """Base for every config section: frozen, camelCase keys only, unknown keys refused."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=False,
        str_strip_whitespace=False,
        validate_default=True,
        # No NaN or infinity, and no string longer than any cloud takes (an IAM ARN is at most 2,048).
        allow_inf_nan=False,
        str_max_length=4096,
    )


def _pattern(regex: str, what: str, allowed: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{what} {value!r} is not valid: {allowed}")
        return value

    return AfterValidator(check)


ENV_NAME_RULE = (
    "2-12 characters: lowercase letters, digits and single dashes, starting with a letter, not ending with a dash"
)
EnvName = Annotated[
    str,
    _pattern(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,11}", "environment name", ENV_NAME_RULE),
]

CONSUMER_NAME_RULE = (
    "2-32 characters: lowercase letters, digits and single dashes, starting with a letter, not ending with a dash"
)
ConsumerName = Annotated[
    str,
    _pattern(r"[a-z](?:[a-z0-9]|-(?=[a-z0-9])){1,31}", "consumer name", CONSUMER_NAME_RULE),
]

CONNECTION_KEY_RULE = "1-64 characters: letters, digits, '.', '_' and '-', starting with a letter or digit"
ConnectionKey = Annotated[
    str,
    _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", "connection key", CONNECTION_KEY_RULE),
]

TAG_VALUE_RULE = "1-128 characters: letters, digits, spaces and _ . : / = + - @"
TagValue = Annotated[
    str,
    _pattern(r"[\w .:/=+\-@]{1,128}", "tag value", TAG_VALUE_RULE),
]

IAM_ROLE_ARN_RULE = "an IAM role ARN such as arn:aws:iam::123456789012:role/orders-api (no wildcards)"
IamRoleArn = Annotated[
    str,
    _pattern(
        r"arn:aws(?:-us-gov|-cn)?:iam::\d{12}:role/[\w+=,.@/-]{1,512}",
        "IAM role ARN",
        IAM_ROLE_ARN_RULE,
    ),
]

IAM_PRINCIPAL_ARN_RULE = "an IAM role or user ARN such as arn:aws:iam::123456789012:role/platform-admin (no wildcards)"
IamPrincipalArn = Annotated[
    str,
    _pattern(
        r"arn:aws(?:-us-gov|-cn)?:iam::\d{12}:(?:role|user)/[\w+=,.@/-]{1,512}",
        "IAM principal ARN",
        IAM_PRINCIPAL_ARN_RULE,
    ),
]

PositiveInt = Annotated[int, Field(ge=1, le=1000)]
