"""Connections (one Makini connection each, one bearer token each) and the credit budget."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from pydantic import Field

from ..errors import Problem
from .base import ConnectionKey, ConsumerName, Model, PositiveInt
from .classes import ClassName


class NetSuiteM2M(Model):
    """The NetSuite integration record's settings for a machine-to-machine (M2M) connection.

    Stated in NetSuite's own words so a reviewer can compare them with the integration record.
    The rotation issue validates them (only the client-credentials grant, scopes RESTlets and
    REST Web Services).
    """

    client_credentials_grant: bool = Field(
        default=True, description="'Client Credentials (Machine To Machine) Grant' checked."
    )
    authorization_code_grant: bool = Field(default=False, description="'Authorization Code Grant' checked.")
    authorization_flow: bool = Field(default=False, description="'Authorization Flow' checked (TBA).")
    scopes: tuple[str, ...] = Field(
        default=("RESTlets", "REST Web Services"), description="Scopes checked on the integration record."
    )
    certificate_validity_days: int = Field(
        default=730, ge=1, le=3650, description="Validity of the generated M2M certificate (at most two years)."
    )
    renewal_reminder_days: int = Field(
        default=30, ge=1, le=730, description="Days before the certificate expires that the renewal reminder fires."
    )
    signer: ConsumerName | None = Field(
        default=None,
        description="The consumer (a name under makini:consumers) that signs NetSuite requests with the M2M key "
        "(the service that hands it to Makini or calls NetSuite): the one identity that reads the key. Required.",
    )
    certificate_not_after: datetime | None = Field(
        default=None,
        description="The deployed certificate's notAfter (stack output netsuiteCertificateNotAfter, key <key>, "
        "RFC 3339), recorded after pulumi up so python -m infra.due can date the renewal reminder offline.",
    )
    key_algorithm: Literal["RSA-3072", "RSA-4096", "EC-P256", "EC-P384", "EC-P521"] = Field(
        default="RSA-3072",
        description="Key pair of the M2M certificate (NetSuite accepts RSA 3072/4096 and EC P-256/384/521).",
    )


class Connection(Model):
    """One customer connection in Makini (a customer's SAP, NetSuite, ...)."""

    key: ConnectionKey = Field(description="Stable name of the connection in this project; part of every secret path.")
    system: str = Field(min_length=1, max_length=100, description="The connected system, e.g. 'SAP S/4HANA'.")
    tier: Literal[1, 2, 3] = Field(description="Makini pricing tier: 1 simple, 2 mid-complexity ERP, 3 complex (SAP).")
    deployment: Literal["cloud", "on_prem"] = Field(
        description="Where the customer's system runs; on_prem costs more credits."
    )
    access_class: ClassName | None = Field(
        default=None,
        alias="class",
        description="The access class this connection's token is filed under (a name under makini:accessClasses): "
        "exactly that class's consumers read it. Mutually exclusive with consumers.",
    )
    consumers: tuple[ConsumerName, ...] = Field(
        default=(),
        description="Services allowed to read this connection's token (names under makini:consumers), for stacks "
        "without access classes; a few dozen at most per consumer (AWS policy size), else use class.",
    )
    makini_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Makini's id for the connection (used by automated token rotation).",
    )
    netsuite: NetSuiteM2M | None = Field(
        default=None, description="NetSuite M2M integration record settings (NetSuite connections only)."
    )


class Credits(Model):
    """Makini connection credits: the pool this environment may use and the price table."""

    pool: int = Field(ge=0, le=10_000_000, description="Credits available to this environment.")
    tier1: PositiveInt = Field(default=1, description="Credits per Tier 1 cloud connection.")
    tier2: PositiveInt = Field(default=2, description="Credits per Tier 2 cloud connection.")
    tier3: PositiveInt = Field(default=4, description="Credits per Tier 3 cloud connection.")
    on_prem_multiplier: PositiveInt = Field(default=2, description="Multiplier for on-premises deployments.")


# --------------------------------------------------------------------------------------------------
# Rules about the connections section (stacks.checks runs them in the order of the error list)


def connection_key_problems(connections: Sequence[Connection]) -> list[Problem]:
    """Every connection has its own key."""
    problems = []
    seen: dict[str, int] = {}
    for i, conn in enumerate(connections):
        if conn.key in seen:
            problems.append(
                Problem(
                    f"makini:connections[{i}].key",
                    f"duplicate connection key '{conn.key}' (also makini:connections[{seen[conn.key]}].key); "
                    "every connection needs its own key",
                    "rename one of them, or remove the duplicate entry",
                )
            )
        else:
            seen[conn.key] = i
    return problems
