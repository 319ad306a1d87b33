"""NetSuite machine-to-machine (M2M) connections: the integration record rules and certificate dates.

Pure. The rule refuses any integration record but NetSuite's M2M setup (FACTS.md): only "Client
Credentials (Machine To Machine) Grant" checked, scopes RESTlets and REST Web Services, "Authorization
Code Grant" and "Authorization Flow" unchecked, and a certificate valid at most two years (NetSuite
refuses longer ones). Messages use the labels of NetSuite's integration record so an administrator can
compare them one by one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from .config.connections import Connection
from .errors import Problem

#: NetSuite accepts M2M certificates valid for at most two years.
MAX_CERTIFICATE_DAYS = 730
CLIENT_CREDENTIALS = "Client Credentials (Machine To Machine) Grant"
AUTHORIZATION_CODE = "Authorization Code Grant"
AUTHORIZATION_FLOW = "Authorization Flow"
#: The scopes M2M needs, as the integration record labels them.
REQUIRED_SCOPES = ("RESTlets", "REST Web Services")
#: Scope spellings accepted in config (labels, any case, or the OAuth scope values) -> the record's label.
_SCOPE_LABELS = {
    "restlets": "RESTlets",
    "rest web services": "REST Web Services",
    "rest_webservices": "REST Web Services",
    "suiteanalytics connect": "SuiteAnalytics Connect",
    "suite_analytics": "SuiteAnalytics Connect",
    "netsuite ai connector service": "NetSuite AI Connector Service",
    "mcp": "NetSuite AI Connector Service",
}


def scope_label(scope: str) -> str | None:
    """The integration record's label for a configured scope (exactly as the record spells it), or None."""
    return scope if scope in _SCOPE_LABELS.values() else None


def scope_suggestion(scope: str) -> str | None:
    """The label a mis-cased or OAuth-style spelling means (``restlets`` -> ``RESTlets``), or None."""
    return _SCOPE_LABELS.get(re.sub(r"\s+", " ", scope.strip()).lower())


def is_netsuite(system: str) -> bool:
    return "netsuite" in re.sub(r"[\s_-]+", "", system).lower()


def renew_by(not_after: str, reminder_days: int) -> str:
    """The renewal reminder date: ``not_after`` (RFC 3339) minus ``reminder_days``, RFC 3339 UTC with Z."""
    end = datetime.fromisoformat(not_after.replace("Z", "+00:00"))
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end.astimezone(UTC) - timedelta(days=reminder_days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def netsuite_problems(connections: Sequence[Connection]) -> list[Problem]:
    """Each connection's NetSuite integration record against NetSuite's M2M setup (see the module doc)."""
    problems: list[Problem] = []
    for i, conn in enumerate(connections):
        ns = conn.netsuite
        if ns is None:
            continue
        path = f"makini:connections[{i}].netsuite"
        fix_path = f"pulumi config set --path '{path}"
        if not is_netsuite(conn.system):
            problems.append(
                Problem(
                    path,
                    f"connection '{conn.key}' has NetSuite M2M settings but its system is '{conn.system}'; "
                    "the netsuite block describes a NetSuite integration record",
                    f"pulumi config rm --path '{path}'   # or set makini:connections[{i}].system to 'Oracle NetSuite'",
                )
            )
            continue
        if ns.certificate_not_after is not None and ns.certificate_not_after.tzinfo is None:
            problems.append(
                Problem(
                    f"{path}.certificateNotAfter",
                    "has no time zone; copy it from the stack output netsuiteCertificateNotAfter (key "
                    f"{conn.key}) as is (RFC 3339, e.g. 2028-11-30T10:00:00Z)",
                    f"{fix_path}.certificateNotAfter' <notAfter>",
                )
            )
        if not ns.client_credentials_grant:
            problems.append(
                Problem(
                    f"{path}.clientCredentialsGrant",
                    f"On the integration record, check '{CLIENT_CREDENTIALS}': machine-to-machine connections "
                    "authenticate with it (and only with it)",
                    f"{fix_path}.clientCredentialsGrant' true",
                )
            )
        if ns.authorization_code_grant:
            problems.append(
                Problem(
                    f"{path}.authorizationCodeGrant",
                    f"On the integration record, uncheck '{AUTHORIZATION_CODE}'; for machine-to-machine only "
                    f"'{CLIENT_CREDENTIALS}' may be checked",
                    f"uncheck it in NetSuite, then {fix_path}.authorizationCodeGrant' false",
                )
            )
        if ns.authorization_flow:
            problems.append(
                Problem(
                    f"{path}.authorizationFlow",
                    f"On the integration record, uncheck '{AUTHORIZATION_FLOW}' (Token-based Authentication); "
                    f"for machine-to-machine only '{CLIENT_CREDENTIALS}' may be checked",
                    f"uncheck it in NetSuite, then {fix_path}.authorizationFlow' false",
                )
            )
        labels: list[str] = []
        for j, scope in enumerate(ns.scopes):
            label = scope_label(scope)
            if label is None and (meant := scope_suggestion(scope)) is not None:
                problems.append(
                    Problem(
                        f"{path}.scopes[{j}]",
                        f"'{scope}' is not spelled as on the integration record; did you mean '{meant}'?",
                        f"pulumi config set --path '{path}.scopes[{j}]' '{meant}'",
                    )
                )
            elif label is None:
                problems.append(
                    Problem(
                        f"{path}.scopes[{j}]",
                        f"'{scope}' is not a scope of a NetSuite integration record; machine-to-machine "
                        f"needs exactly {' and '.join(REQUIRED_SCOPES)}",
                        f"pulumi config rm --path '{path}.scopes[{j}]'",
                    )
                )
            elif label in labels:
                problems.append(
                    Problem(
                        f"{path}.scopes[{j}]",
                        f"scope '{label}' is listed twice",
                        f"pulumi config rm --path '{path}.scopes[{j}]'",
                    )
                )
            else:
                if label not in REQUIRED_SCOPES:
                    problems.append(
                        Problem(
                            f"{path}.scopes[{j}]",
                            f"On the integration record, under Scope, uncheck '{label}'; machine-to-machine "
                            f"needs exactly {' and '.join(REQUIRED_SCOPES)}",
                            f"uncheck it in NetSuite, then pulumi config rm --path '{path}.scopes[{j}]'",
                        )
                    )
                labels.append(label)
        for required in REQUIRED_SCOPES:
            if required not in labels:
                problems.append(
                    Problem(
                        f"{path}.scopes",
                        f"On the integration record, under Scope, check '{required}'; machine-to-machine needs "
                        f"exactly {' and '.join(REQUIRED_SCOPES)}",
                        f"check it in NetSuite, then pulumi config set --path '{path}.scopes[{len(ns.scopes)}]' '{required}'",
                    )
                )
        if ns.certificate_validity_days > MAX_CERTIFICATE_DAYS:
            problems.append(
                Problem(
                    f"{path}.certificateValidityDays",
                    f"is {ns.certificate_validity_days}, but NetSuite accepts machine-to-machine certificates valid "
                    f"for at most two years ({MAX_CERTIFICATE_DAYS} days)",
                    f"{fix_path}.certificateValidityDays' {MAX_CERTIFICATE_DAYS}",
                )
            )
        if ns.renewal_reminder_days >= min(ns.certificate_validity_days, MAX_CERTIFICATE_DAYS):
            problems.append(
                Problem(
                    f"{path}.renewalReminderDays",
                    f"is {ns.renewal_reminder_days} days, not shorter than the certificate's "
                    f"{ns.certificate_validity_days}-day validity: the reminder would be due at once",
                    f"{fix_path}.renewalReminderDays' 30",
                )
            )
    return problems
