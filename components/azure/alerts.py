"""An environment's Azure alert channel: an action group that e-mails the on-call address (common alert
schema), shared by the webhook receiver's alerts and the token rotation's (which use the receiver's group
when the stack has one)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_azure_native as azure_native


def email_action_group(
    name: str,
    *,
    group_name: str,
    short_name: str,
    resource_group_name: pulumi.Input[str],
    email: str | None,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> azure_native.monitor.ActionGroup:
    """``{name}-alerts``: an enabled global action group e-mailing ``email`` (none: no receiver yet)."""
    return azure_native.monitor.ActionGroup(
        f"{name}-alerts",
        action_group_name=group_name,
        group_short_name=short_name,
        resource_group_name=resource_group_name,
        location="Global",
        enabled=True,
        email_receivers=[
            azure_native.monitor.MicrosoftCommonEmailReceiverArgs(
                name="oncall-email", email_address=email, use_common_alert_schema=True
            )
        ]
        if email
        else [],
        tags=dict(tags),
        opts=opts,
    )
