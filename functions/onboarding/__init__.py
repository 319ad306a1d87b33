"""Onboarding: store a new customer's Makini connection token in the environment's governed place, at run time.

Plain Python (no Pulumi); for the service that runs Makini Link (the stack's onboarding identity,
``makini:consumers.<name>.onboarding: true``). See docs/access-at-scale.md, "Run-time connections"::

    import boto3
    from functions.onboarding import AlreadyStored, AwsPlace, CreditGovernor, Onboarding, StoreFailed, VaultPlace
    from functions.rotation.makini_client import MakiniClient

    onboarding = Onboarding(
        environment="prod",
        runtime_classes=["linked"],                       # accessClasses.<class>.runtime in the stack file
        stores=[
            AwsPlace(boto3.client("secretsmanager"), "prod", kms_key_arn,    # the stack output aws.kmsKeyArn
                     recovery_window_days=30),                           # >= makini:aws.recoveryWindowDays
            VaultPlace("https://vault:8200", vault_token, "makini-prod"),
        ],
        governor=CreditGovernor(pool=400, declared=120),  # the plan's credits: pool, declared connections' use
        makini=MakiniClient(),
        client_id=client_id, client_secret=client_secret, # the OAuth client (the identity reads oauth/client)
    )
    try:
        stored = onboarding.connect(code, redirect_uri, "09000207611898", "linked", tier=1, deployment="cloud",
                                    runtime_in_use=customers_tiers)  # (tier, deployment) of those in use
    except StoreFailed as failed:       # a backend did not store it: retry with the token it holds
        onboarding.store("09000207611898", "linked", failed.issued.token, retry=failed)
    except AlreadyStored:               # a reconnect: never an overwrite (the rotation or an operator replaces it)
        ...
    onboarding.disconnect("09000207611898", "linked", in_makini=True)  # the customer left (Makini too)

``connect`` refuses before anything is exchanged: a missing or malformed connection id, an unknown class, a
connection already stored in another class or already stored in this one (:class:`AlreadyStored`), a connection the
credit pool cannot pay for. ``store`` stores a token the service already holds; both create and never overwrite,
and a retry with ``retry=`` writes only the backends that did not store. ``disconnect`` schedules the token's
deletion on every backend (recoverable by an operator; a no-op the second time). No token is ever logged.
"""

from __future__ import annotations

from .client import (
    AlreadyStored,
    ConnectionInAnotherClass,
    Disconnected,
    DisconnectFailed,
    Onboarding,
    OnboardingRefused,
    StoredConnection,
    StoreFailed,
)
from .credits import CreditGovernor, CreditPrices, CreditsExhausted
from .stores import AwsPlace, AzurePlace, StoreError, VaultPlace

__all__ = [
    "AlreadyStored",
    "AwsPlace",
    "AzurePlace",
    "ConnectionInAnotherClass",
    "DisconnectFailed",
    "Disconnected",
    "CreditGovernor",
    "CreditPrices",
    "CreditsExhausted",
    "Onboarding",
    "OnboardingRefused",
    "StoreError",
    "StoreFailed",
    "StoredConnection",
    "VaultPlace",
]
