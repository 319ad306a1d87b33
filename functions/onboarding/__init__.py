"""Onboarding: store a new customer's Makini connection token in the environment's governed place, at run time.

Plain Python (no Pulumi); for the service that runs Makini Link (the stack's onboarding identity,
``makini:consumers.<name>.onboarding: true``). See docs/access-at-scale.md, "Run-time connections"::

    import boto3
    from functions.onboarding import AwsPlace, CreditGovernor, Onboarding, VaultPlace
    from functions.rotation.makini_client import MakiniClient

    onboarding = Onboarding(
        environment="prod",
        runtime_classes=["linked"],                       # accessClasses.<class>.runtime in the stack file
        stores=[
            AwsPlace(boto3.client("secretsmanager"), "prod", kms_key_arn),   # the stack output aws.kmsKeyArn
            VaultPlace("https://vault:8200", vault_token, "makini-prod"),
        ],
        governor=CreditGovernor(pool=400, declared=120),  # the plan's credits: pool, declared connections' use
        makini=MakiniClient(),
        client_id=client_id, client_secret=client_secret, # the OAuth client (the identity reads oauth/client)
    )
    stored = onboarding.connect(code, redirect_uri, "09000207611898", "linked", tier=1, deployment="cloud",
                                runtime_in_use=[(2, "cloud"), ...])

``connect`` refuses before anything is exchanged: a missing or malformed connection id, an unknown class, a
connection already stored in another class, a connection the credit pool cannot pay for. ``store`` stores a
token the service already holds (a retry after :class:`StoreFailed`); both are idempotent and never log a token.
"""

from __future__ import annotations

from .client import ConnectionInAnotherClass, Onboarding, OnboardingRefused, StoredConnection, StoreFailed
from .credits import CreditGovernor, CreditPrices, CreditsExhausted
from .stores import AwsPlace, AzurePlace, StoreError, VaultPlace

__all__ = [
    "AwsPlace",
    "AzurePlace",
    "ConnectionInAnotherClass",
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
