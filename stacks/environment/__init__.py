"""Composition: one environment, built from its validated config on every backend it uses.

The only place in ``stacks/`` that imports Pulumi and the components. The environment component
materialises the pure catalog on each backend (one module per backend beside this one) and gathers the
stack outputs, which name where secrets live and never hold a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import pulumi

from components.netsuite.certificate import M2MCertificate, M2MCertificateArgs

from .. import clock
from ..access import matrix_dict
from ..catalog import Catalog, build_catalog, netsuite_m2m_key_path
from ..config.model import StackConfig
from ..credits import CreditReport, credit_report
from ..netsuite import MAX_CERTIFICATE_DAYS, renew_by
from ..outputs import consumer_output
from ..rotation import rotation_outputs
from .aws import AwsBackend
from .azure import AzureBackend
from .common import MANAGED_BY, BackendComposition, Context, common_tags, secret_tags, secret_value
from .preflight import Target, preflight, refuse_if_exceeded
from .vault import VaultBackend

__all__ = [
    "BACKENDS",
    "MANAGED_BY",
    "BackendComposition",
    "Environment",
    "EnvironmentArgs",
    "build_environment",
    "check_limits",
    "common_tags",
    "export_outputs",
    "secret_tags",
    "secret_value",
]


#: Each backend's composition, in the order they are built and their outputs appear.
BACKENDS: dict[str, Callable[[Context], BackendComposition]] = {
    "aws": AwsBackend,
    "azure": AzureBackend,
    "vault": VaultBackend,
}


@dataclass(frozen=True)
class EnvironmentArgs:
    config: StackConfig
    #: "Today" for the rotation calendar and reminder dates (default: the current UTC date).
    today: date | None = None


class Environment(pulumi.ComponentResource):
    """Everything makini-infra manages for one environment, grouped under one component."""

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("makini:environment:Environment", name, None, opts)
        cfg = self.config = args.config
        self.today = args.today or clock.utc_today()
        self.catalog: Catalog = build_catalog(cfg)
        self.credits: CreditReport = credit_report(cfg.connections, cfg.credits)
        # NetSuite M2M key pairs first: every store keeps their private keys.
        self.netsuite_certificates = self._netsuite_certificates(name)
        generated = {netsuite_m2m_key_path(k): c.private_key_pem for k, c in self.netsuite_certificates.items()}
        ctx = Context(name=name, config=cfg, catalog=self.catalog, generated=generated, today=self.today, parent=self)
        self.backends: dict[str, BackendComposition] = {
            backend: build(ctx) for backend, build in BACKENDS.items() if backend in cfg.backends
        }
        self.register_outputs({})

    def _netsuite_certificates(self, name: str) -> dict[str, M2MCertificate]:
        cfg = self.config
        return {
            conn.key: M2MCertificate(
                f"{name}-netsuite-{conn.key}",
                M2MCertificateArgs(
                    environment=cfg.environment,
                    connection=conn.key,
                    validity_days=conn.netsuite.certificate_validity_days,
                    max_validity_days=MAX_CERTIFICATE_DAYS,
                    renew_by=renew_by,
                    renewal_reminder_days=conn.netsuite.renewal_reminder_days,
                    key_algorithm=conn.netsuite.key_algorithm,
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
            for conn in cfg.connections
            if conn.netsuite is not None
        }

    def outputs(self) -> dict[str, object]:
        """Stack outputs (documented in stacks/outputs.py): where each secret lives, who may read it, how it
        rotates; never a value, and never a date that depends on the day the program runs."""
        out: dict[str, object] = {
            "environment": self.config.environment,
            "production": self.config.production,
            "backends": list(self.config.backends),
            "creditsUsed": self.credits.used,
            "creditsFree": self.credits.free,
            "accessMatrix": matrix_dict(self.config, self.catalog),
            **rotation_outputs(self.config, self.catalog),
        }
        if self.netsuite_certificates:
            # Upload the PEM to the integration record's M2M setup; renew before renewBy.
            certs = sorted(self.netsuite_certificates.items())
            out["netsuiteCertificatePems"] = {key: c.cert_pem for key, c in certs}
            out["netsuiteCertificateNotAfter"] = {key: c.not_after for key, c in certs}
            out["netsuiteCertificateRenewBy"] = {key: c.renew_by for key, c in certs}
        for consumer in sorted(self.config.consumers):
            out[consumer_output(consumer)] = {
                "consumer": consumer,
                "environment": self.config.environment,
                **{backend: composition.consumer_view(consumer) for backend, composition in self.backends.items()},
            }
        for composition in self.backends.values():
            out.update(composition.outputs())
            out.update(composition.rotation_outputs() or {})
            out.update(composition.webhook_outputs() or {})
        return out


def check_limits(cfg: StackConfig) -> None:
    """Refuse the stack (:class:`stacks.errors.LimitsExceeded`) before anything is registered when a
    document it would send exceeds a cloud's documented limit (see :mod:`stacks.environment.preflight`)."""
    aws_config = pulumi.Config("aws")
    raw = {"aws:region": aws_config.get("region"), "aws:allowedAccountIds": aws_config.get_object("allowedAccountIds")}
    target = Target.from_config({k: v for k, v in raw.items() if v is not None})
    result = preflight(cfg, build_catalog(cfg), target, pulumi.get_project(), pulumi.get_organization())
    refuse_if_exceeded(pulumi.get_stack(), result)


def build_environment(cfg: StackConfig) -> Environment:
    return Environment(f"makini-{cfg.environment}", EnvironmentArgs(config=cfg))


def export_outputs(env: Environment) -> None:
    for key, value in env.outputs().items():
        pulumi.export(key, value)
