"""The key pair and self-signed certificate of a NetSuite machine-to-machine (M2M) connection.

NetSuite's M2M grant (OAuth 2.0 client credentials) authenticates with a JWT signed by a private key
whose certificate is uploaded to the integration's "OAuth 2.0 Client Credentials (M2M) Setup". NetSuite
accepts RSA keys of 3072 or 4096 bits (PS256/384/512) and EC keys on P-256, P-384 or P-521
(ES256/384/512), and certificates valid for at most two years.

Default RSA 3072: it is the key type of NetSuite's own setup example (``openssl req -x509 -newkey rsa``
with PSS), so every client that signs NetSuite M2M assertions supports it; EC keys are offered for
clients known to sign ES256. The certificate (public) is an output to upload to NetSuite; the private key
is only ever a Pulumi secret, stored by the environment's store (catalog kind ``netsuite-m2m-key``).
Backend-neutral: uses only the tls provider. NetSuite's rules (the longest validity, the renewal date)
come in through the arguments, from :mod:`stacks.netsuite`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict

import pulumi
import pulumi_tls as tls


class _KeyArguments(TypedDict, total=False):
    algorithm: str
    rsa_bits: int
    ecdsa_curve: str


#: key_algorithm -> tls.PrivateKey arguments.
KEY_ALGORITHMS: dict[str, _KeyArguments] = {
    "RSA-3072": {"algorithm": "RSA", "rsa_bits": 3072},
    "RSA-4096": {"algorithm": "RSA", "rsa_bits": 4096},
    "EC-P256": {"algorithm": "ECDSA", "ecdsa_curve": "P256"},
    "EC-P384": {"algorithm": "ECDSA", "ecdsa_curve": "P384"},
    "EC-P521": {"algorithm": "ECDSA", "ecdsa_curve": "P521"},
}


@dataclass(frozen=True)
class M2MCertificateArgs:
    environment: str
    connection: str
    #: Days the certificate is valid (1..max_validity_days).
    validity_days: int
    #: The longest validity NetSuite accepts (stacks.netsuite.MAX_CERTIFICATE_DAYS).
    max_validity_days: int
    #: The renewal date (RFC 3339) from the certificate's notAfter and the reminder days (stacks.netsuite.renew_by).
    renew_by: Callable[[str, int], str]
    #: Days before expiry that the renewal reminder is due.
    renewal_reminder_days: int = 30
    key_algorithm: str = "RSA-3072"
    organization: str = "makini-infra"


class M2MCertificate(pulumi.ComponentResource):
    """Key pair + self-signed certificate for one NetSuite M2M connection."""

    cert_pem: pulumi.Output[str]
    private_key_pem: pulumi.Output[str]
    not_after: pulumi.Output[str]
    renew_by: pulumi.Output[str]

    def __init__(self, name: str, args: M2MCertificateArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:netsuite:M2MCertificate", name, None, opts)
        if not 1 <= args.validity_days <= args.max_validity_days:
            raise ValueError(
                f"NetSuite M2M certificates are valid 1..{args.max_validity_days} days, not {args.validity_days}"
            )
        if args.key_algorithm not in KEY_ALGORITHMS:
            raise ValueError(f"key_algorithm must be one of {', '.join(KEY_ALGORITHMS)}, not {args.key_algorithm!r}")
        if not 1 <= args.renewal_reminder_days < args.validity_days:
            raise ValueError("renewal_reminder_days must be at least 1 and shorter than validity_days")
        self.key = tls.PrivateKey(
            f"{name}-key",
            **KEY_ALGORITHMS[args.key_algorithm],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.certificate = tls.SelfSignedCert(
            f"{name}-cert",
            private_key_pem=self.key.private_key_pem,
            validity_period_hours=args.validity_days * 24,
            allowed_uses=["digital_signature"],
            subject=tls.SelfSignedCertSubjectArgs(
                common_name=f"makini-{args.environment}-{args.connection}",
                organization=args.organization,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.cert_pem = self.certificate.cert_pem
        self.private_key_pem = pulumi.Output.secret(self.key.private_key_pem)
        self.not_after = self.certificate.validity_end_time
        days, renew_by = args.renewal_reminder_days, args.renew_by
        self.renew_by = self.not_after.apply(lambda end: renew_by(end, days) if end else end)
        self.register_outputs({"certPem": self.cert_pem, "notAfter": self.not_after, "renewBy": self.renew_by})
