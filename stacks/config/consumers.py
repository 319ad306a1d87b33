"""Consumers: the company's services that read Makini secrets, with their identity per backend."""

from __future__ import annotations

from pydantic import Field

from .base import IamRoleArn, Model


class AwsIdentity(Model):
    """How a consumer authenticates to AWS."""

    role_arn: IamRoleArn = Field(description="The consumer's existing IAM role; its read policy is attached to it.")


class Consumer(Model):
    """A service allowed to read secrets of this environment."""

    description: str = Field(default="", max_length=256, description="What the service is, for reviewers.")
    oauth_client: bool = Field(
        default=False,
        description="Also reads the OAuth client secret (only the service that runs Makini Link flows needs it).",
    )
    aws: AwsIdentity | None = Field(default=None, description="Identity on AWS (required when backends has aws).")
