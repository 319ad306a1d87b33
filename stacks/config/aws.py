"""AWS settings (Secrets Manager + KMS). Account and region come from the AWS provider configuration."""

from __future__ import annotations

from pydantic import Field

from .base import IamPrincipalArn, Model


class AwsSettings(Model):
    """Settings for the AWS secret store of this environment."""

    recovery_window_days: int | None = Field(
        default=None,
        ge=7,
        le=30,
        description="Days a deleted secret stays recoverable (7-30). Default: 30 in production, 7 elsewhere.",
    )
    kms_deletion_window_days: int = Field(
        default=30, ge=7, le=30, description="Days a scheduled KMS key deletion waits (7-30)."
    )
    key_admin_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals that administer the environment's KMS key (no decrypt); the account root always can.",
    )
    deployer_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals that run `pulumi up` for this environment (e.g. the CI deploy role from "
        "bootstrap/): they may write secret values and configure rotation. The identity running the "
        "deployment is added automatically when it is a user or a role without a path; list roles with a "
        "path here.",
    )
    operator_arns: tuple[IamPrincipalArn, ...] = Field(
        default=(),
        description="Principals allowed to write secret values out of band (never to read them).",
    )
