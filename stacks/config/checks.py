"""Rules that span several keys of a stack's configuration.

Each rule returns :class:`Problem` s with the exact key path and a fix; the loader raises them together
as one :class:`ConfigError` before any resource is registered. Later capabilities add their rules to
``RULES``.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..credits import credit_report
from ..errors import Problem
from ..naming import key_vault_name_collisions
from ..netsuite import netsuite_problems
from .azure import PRODUCTION_RETENTION
from .consumers import Consumer
from .model import PRODUCTION_NAMES, StackConfig

Rule = Callable[[StackConfig], list[Problem]]


def _production(cfg: StackConfig) -> list[Problem]:
    if cfg.environment in PRODUCTION_NAMES and not cfg.production:
        return [
            Problem(
                "makini:production",
                f"environment '{cfg.environment}' is a production environment and cannot be unprotected",
                "pulumi config rm makini:production",
            )
        ]
    return []


def _connection_keys(cfg: StackConfig) -> list[Problem]:
    problems = []
    seen: dict[str, int] = {}
    for i, conn in enumerate(cfg.connections):
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


def _consumer_references(cfg: StackConfig) -> list[Problem]:
    problems = []
    declared = sorted(cfg.consumers)
    referenced: set[str] = set()
    for i, conn in enumerate(cfg.connections):
        for j, name in enumerate(conn.consumers):
            referenced.add(name)
            if name not in cfg.consumers:
                near = difflib.get_close_matches(name, declared, n=1, cutoff=0.6)
                hint = f"; did you mean '{near[0]}'?" if near else ""
                problems.append(
                    Problem(
                        f"makini:connections[{i}].consumers[{j}]",
                        f"unknown consumer '{name}'{hint} Declared consumers: {', '.join(declared) or '(none)'}",
                        f"declare it under makini:consumers, e.g. pulumi config set --path "
                        f"'makini:consumers.{name}.aws.roleArn' arn:aws:iam::<account>:role/<role>",
                    )
                )
        if len(set(conn.consumers)) != len(conn.consumers):
            problems.append(
                Problem(f"makini:connections[{i}].consumers", "lists a consumer more than once", "remove the repeat")
            )
    for name, consumer in sorted(cfg.consumers.items()):
        if name not in referenced and not consumer.oauth_client and not consumer.webhook_queue:
            problems.append(
                Problem(
                    f"makini:consumers.{name}" if name.isidentifier() else f'makini:consumers["{name}"]',
                    f"consumer '{name}' is declared but no connection lists it, so it could read nothing",
                    "add it to the consumers of the connections it calls, or remove it",
                )
            )
    return problems


def _consumer_path(name: str, *rest: str) -> str:
    """``makini:consumers["asset-sync"].aws.roleArn`` (Pulumi's --path syntax)."""
    head = f'makini:consumers["{name}"]'
    return head + "".join(f".{r}" for r in rest)


_IDENTITY_FIX = {
    "aws": "pulumi config set --path '{p}.aws.roleArn' arn:aws:iam::<account>:role/<role>\n"
    "(or let the stack create the role: set '{p}.aws.createRole.trustPolicy' to a trust policy document)",
    "azure": "pulumi config set --path '{p}.azure.principalId' <object-id-of-its-service-principal>",
    "vault": "give it one auth method, e.g. pulumi config set --path '{p}.vault.auth.kubernetes.serviceAccountNames[0]' "
    "<service-account> and pulumi config set --path '{p}.vault.auth.kubernetes.namespaces[0]' <namespace> "
    "(or vault.auth.jwt / vault.auth.approle)",
}


def _consumer_identities(cfg: StackConfig) -> list[Problem]:
    """Every consumer has an identity on every backend the stack uses."""
    problems = []
    for backend in cfg.backends:
        for name, consumer in sorted(cfg.consumers.items()):
            if getattr(consumer, backend) is None:
                path = _consumer_path(name)
                problems.append(
                    Problem(
                        f"{path}.{backend}",
                        f"backends includes {backend} but consumer '{name}' has no {backend.upper() if backend == 'aws' else backend.capitalize()} identity",
                        _IDENTITY_FIX[backend].format(p=path),
                    )
                )
    return problems


_ASSUME_ACTIONS = frozenset(
    {
        "sts:assumerole",
        "sts:assumerolewithwebidentity",
        "sts:assumerolewithsaml",
        "sts:tagsession",
        "sts:setsourceidentity",
        "sts:setcontext",
    }
)


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def trust_policy_problems(document: Any) -> list[str]:
    """What is wrong with a role trust policy: shape, wildcard principals, non-assume actions."""
    if not isinstance(document, Mapping) or "Statement" not in document:
        return ["is not an IAM policy document (a mapping with Version and Statement)"]
    found: list[str] = []
    statements = _as_list(document["Statement"])
    if not statements:
        return ["has no statements, so nobody could assume the role"]
    for i, st in enumerate(statements):
        if not isinstance(st, Mapping):
            found.append(f"Statement[{i}] is not a mapping")
            continue
        if "NotPrincipal" in st:
            found.append(f"Statement[{i}] uses NotPrincipal, which trusts every principal but the ones named")
        principal = st.get("Principal")
        if st.get("Effect") == "Allow" and principal is None and "NotPrincipal" not in st:
            found.append(f"Statement[{i}] has no Principal")
        values = (
            [principal]
            if isinstance(principal, str)
            else [v for vs in (principal or {}).values() for v in _as_list(vs)]
            if isinstance(principal, Mapping)
            else []
        )
        if principal is not None and not isinstance(principal, str | Mapping):
            found.append(f"Statement[{i}].Principal must be a mapping such as {{AWS: <role ARN>}}")
        if st.get("Effect") == "Allow" and any("*" in str(v) for v in values):
            found.append(f"Statement[{i}] trusts a wildcard principal ('*'), so anyone could assume the role")
        for action in _as_list(st.get("Action", [])):
            if str(action).lower() not in _ASSUME_ACTIONS:
                found.append(f"Statement[{i}] allows '{action}'; a trust policy may only allow sts:AssumeRole* actions")
    return found


def _aws_identity_shape(cfg: StackConfig) -> list[Problem]:
    problems = []
    for name, consumer in sorted(cfg.consumers.items()):
        aws = consumer.aws
        if aws is None:
            continue
        path = _consumer_path(name, "aws")
        if (aws.role_arn is None) == (aws.create_role is None):
            problems.append(
                Problem(
                    path,
                    f"consumer '{name}' must set exactly one of roleArn (an existing role) or createRole "
                    f"(the stack creates the role); it sets {'both' if aws.role_arn else 'neither'}",
                    f"keep one: pulumi config rm --path '{path}.createRole'  or  pulumi config rm --path '{path}.roleArn'"
                    if aws.role_arn
                    else f"pulumi config set --path '{path}.roleArn' arn:aws:iam::<account>:role/<role>",
                )
            )
        if aws.create_role is not None:
            for what in trust_policy_problems(aws.create_role.trust_policy):
                problems.append(
                    Problem(
                        f"{path}.createRole.trustPolicy",
                        f"the trust policy of consumer '{name}' {what}"
                        if what.startswith(("is", "has"))
                        else f"the trust policy of consumer '{name}': {what}",
                        "name the exact principals that run the consumer (e.g. Principal: {AWS: "
                        "arn:aws:iam::<account>:role/<ci-role>} or {Federated: <OIDC provider ARN>} with "
                        "conditions) and allow only sts:AssumeRole / sts:AssumeRoleWithWebIdentity",
                    )
                )
    return problems


_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _azure_principals(cfg: StackConfig) -> list[Problem]:
    problems = []
    for name, consumer in sorted(cfg.consumers.items()):
        if consumer.azure is not None and not _GUID.fullmatch(consumer.azure.principal_id):
            path = _consumer_path(name, "azure", "principalId")
            problems.append(
                Problem(
                    path,
                    f"Azure principal id of consumer '{name}' must be an object id (a GUID such as "
                    "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b), not a name or an application (client) id URI",
                    f"az ad sp show --id <app-id> --query id -o tsv, then pulumi config set --path '{path}' <object-id>",
                )
            )
    return problems


def _valid_cidr(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _vault_auth(cfg: StackConfig) -> list[Problem]:
    problems = []
    for name, consumer in sorted(cfg.consumers.items()):
        vault = consumer.vault
        if vault is None:
            continue
        path = _consumer_path(name, "vault")
        methods = vault.auth.methods()
        if len(methods) != 1:
            problems.append(
                Problem(
                    f"{path}.auth",
                    f"consumer '{name}' must use exactly one Vault auth method (jwt, kubernetes or approle); "
                    f"it sets {', '.join(methods) if methods else 'none'}",
                    f"keep one of them under {path}.auth",
                )
            )
        if vault.token_ttl > vault.token_max_ttl:
            problems.append(
                Problem(
                    f"{path}.tokenTtl",
                    f"consumer '{name}': tokenTtl ({vault.token_ttl}s) is longer than tokenMaxTtl ({vault.token_max_ttl}s)",
                    f"pulumi config set --path '{path}.tokenTtl' {min(900, vault.token_max_ttl)}",
                )
            )
        jwt = vault.auth.jwt
        if jwt is not None:
            if jwt.bound_subject is None and not jwt.bound_claims:
                problems.append(
                    Problem(
                        f"{path}.auth.jwt",
                        f"the JWT role of consumer '{name}' binds no subject or claims, so any token for the "
                        "audience (any job or pod of the issuer) could log in as it",
                        f"pulumi config set --path '{path}.auth.jwt.boundSubject' <sub-claim-of-the-workload>",
                    )
                )
            wild = [v for v in (jwt.bound_subject, *jwt.bound_audiences) if v and "*" in v]
            if wild:
                problems.append(
                    Problem(
                        f"{path}.auth.jwt",
                        f"the JWT role of consumer '{name}' uses a wildcard ({', '.join(wild)}); subjects and "
                        "audiences are matched exactly",
                        "name the exact subject and audience of the workload",
                    )
                )
        k8s = vault.auth.kubernetes
        if k8s is not None:
            for field, values in (("serviceAccountNames", k8s.service_account_names), ("namespaces", k8s.namespaces)):
                if any("*" in v for v in values):
                    problems.append(
                        Problem(
                            f"{path}.auth.kubernetes.{field}",
                            f"the Kubernetes role of consumer '{name}' allows a wildcard in {field}, so other "
                            "workloads could log in as it",
                            f"list the exact {field} of the consumer's pods",
                        )
                    )
        approle = vault.auth.approle
        if approle is not None:
            if not approle.token_bound_cidrs and not approle.secret_id_bound_cidrs:
                problems.append(
                    Problem(
                        f"{path}.auth.approle",
                        f"the AppRole of consumer '{name}' is not bound to any network, so a leaked secret id "
                        "works from anywhere",
                        f"pulumi config set --path '{path}.auth.approle.secretIdBoundCidrs[0]' <cidr-of-the-consumer>",
                    )
                )
            for field, values in (
                ("tokenBoundCidrs", approle.token_bound_cidrs),
                ("secretIdBoundCidrs", approle.secret_id_bound_cidrs),
            ):
                for j, cidr in enumerate(values):
                    if not _valid_cidr(cidr):
                        problems.append(
                            Problem(
                                f"{path}.auth.approle.{field}[{j}]",
                                f"consumer '{name}': '{cidr}' is not an IP address or CIDR",
                                f"pulumi config set --path '{path}.auth.approle.{field}[{j}]' 10.0.0.0/24",
                            )
                        )
    return problems


@dataclass(frozen=True)
class Identity:
    """One workload identity a consumer is granted as, comparable across consumers and stacks."""

    backend: str
    key: tuple[str, ...]
    label: str
    path: str


def consumer_identities(name: str, consumer: Consumer) -> list[Identity]:
    """The external identities of a consumer (roles the stack creates and AppRoles are its own: not listed)."""
    out: list[Identity] = []
    if consumer.aws is not None and consumer.aws.role_arn is not None:
        arn = consumer.aws.role_arn
        # IAM role names are unique case-insensitively.
        out.append(Identity("aws", ("aws", arn.lower()), f"AWS role {arn}", _consumer_path(name, "aws", "roleArn")))
    if consumer.azure is not None:
        pid = consumer.azure.principal_id
        out.append(
            Identity(
                "azure", ("azure", pid.lower()), f"Azure principal {pid}", _consumer_path(name, "azure", "principalId")
            )
        )
    if consumer.vault is not None:
        jwt, k8s = consumer.vault.auth.jwt, consumer.vault.auth.kubernetes
        if jwt is not None:
            claims = tuple(sorted((k, ",".join(_as_list(v))) for k, v in (jwt.bound_claims or {}).items()))
            out.append(
                Identity(
                    "vault",
                    ("vault-jwt", jwt.mount_path.strip("/"), jwt.bound_subject or "", repr(claims)),
                    f"Vault JWT subject '{jwt.bound_subject or '*'}'"
                    + (f" with claims {dict(claims)}" if claims else "")
                    + f" on auth/{jwt.mount_path.strip('/')}",
                    _consumer_path(name, "vault", "auth", "jwt"),
                )
            )
        if k8s is not None:
            for ns in k8s.namespaces:
                for sa in k8s.service_account_names:
                    out.append(
                        Identity(
                            "vault",
                            ("vault-k8s", k8s.mount_path.strip("/"), ns, sa),
                            f"Kubernetes service account {ns}/{sa} on auth/{k8s.mount_path.strip('/')}",
                            _consumer_path(name, "vault", "auth", "kubernetes"),
                        )
                    )
    return out


def _shared_identities(cfg: StackConfig) -> list[Problem]:
    """No two consumers of a stack are the same workload (their grants would merge)."""
    problems = []
    owner: dict[tuple[str, ...], str] = {}
    for name, consumer in sorted(cfg.consumers.items()):
        for ident in consumer_identities(name, consumer):
            first = owner.setdefault(ident.key, name)
            if first != name:
                problems.append(
                    Problem(
                        ident.path,
                        f"consumers '{first}' and '{name}' use the same identity ({ident.label}); each consumer "
                        "needs its own, or each would hold the other's grants",
                        f"give '{name}' its own identity, or merge it into '{first}' and list '{first}' on "
                        f"the connections '{name}' reads",
                    )
                )
    return problems


def _backend_sections(cfg: StackConfig) -> list[Problem]:
    problems = []
    if "azure" in cfg.backends and cfg.azure is None:
        problems.append(
            Problem(
                "makini:azure",
                "backends includes azure, but the azure section is missing (it needs at least location)",
                "pulumi config set --path 'makini:azure.location' westeurope",
            )
        )
    for section in ("aws", "azure", "vault"):
        if getattr(cfg, section) is not None and section not in cfg.backends:
            problems.append(
                Problem(
                    f"makini:{section}",
                    f"settings for {section} are given, but '{section}' is not in makini:backends",
                    f"add {section} to makini:backends, or remove the makini:{section} section",
                )
            )
    return problems


def _connection_tokens(cfg: StackConfig) -> list[Problem]:
    keys = [c.key for c in cfg.connections]
    problems = []
    for key in sorted(cfg.connection_tokens):
        if key not in keys:
            near = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            problems.append(
                Problem(
                    f"makini:connectionTokens.{key}",
                    f"token for unknown connection '{key}'{hint}",
                    f"pulumi config rm --path 'makini:connectionTokens.{key}'",
                )
            )
    return problems


def _credit_budget(cfg: StackConfig) -> list[Problem]:
    report = credit_report(cfg.connections, cfg.credits)
    if not report.over_budget:
        return []
    biggest = ", ".join(f"{r.key} ({r.credits})" for r in report.biggest(3))
    return [
        Problem(
            "makini:credits.pool",
            f"connections need {report.used} credits but the pool has {report.pool} "
            f"({report.used - report.pool} over). Biggest consumers of credits: {biggest}",
            "raise makini:credits.pool to match your Makini plan, or remove or downgrade connections",
        )
    ]


def _webhooks(cfg: StackConfig) -> list[Problem]:
    """Webhook endpoint rules that depend on other keys (the section's own rules are in webhooks.py)."""
    w = cfg.webhooks
    problems: list[Problem] = []
    if w.allow_any_source and cfg.production:
        problems.append(
            Problem(
                "makini:webhooks.allowAnySource",
                "production endpoints accept Makini's source addresses only; the allow list cannot be switched off",
                "pulumi config rm --path 'makini:webhooks.allowAnySource'",
            )
        )
    if w.enabled and not {"aws", "azure"} & set(cfg.backends):
        problems.append(
            Problem(
                "makini:webhooks.enabled",
                "webhook endpoints run on aws or azure, but makini:backends lists neither",
                "add aws or azure to makini:backends, or pulumi config set --path 'makini:webhooks.enabled' false",
            )
        )
    return problems


def _azure_production(cfg: StackConfig) -> list[Problem]:
    """Production Key Vaults keep deleted secrets 90 days and can never be purged early."""
    az = cfg.azure
    if az is None or not cfg.production:
        return []
    problems = []
    if az.soft_delete_retention_days is not None and az.soft_delete_retention_days != PRODUCTION_RETENTION:
        problems.append(
            Problem(
                "makini:azure.softDeleteRetentionDays",
                f"is {az.soft_delete_retention_days}, but production keeps soft-deleted secrets "
                f"{PRODUCTION_RETENTION} days (other environments may use 7-90)",
                "pulumi config rm --path 'makini:azure.softDeleteRetentionDays'",
            )
        )
    if az.purge_protection is False:
        problems.append(
            Problem(
                "makini:azure.purgeProtection",
                "purge protection cannot be switched off in production (a purged vault or secret is gone for good)",
                "pulumi config rm --path 'makini:azure.purgeProtection'",
            )
        )
    return problems


def _azure_network(cfg: StackConfig) -> list[Problem]:
    """Firewall allow lists are ignored when public access is off: refuse them rather than mislead."""
    az = cfg.azure
    if az is None or not az.private_endpoint_subnet_ids:
        return []
    problems = []
    for key, values in (("allowedIpRanges", az.allowed_ip_ranges), ("allowedSubnetIds", az.allowed_subnet_ids)):
        if values:
            problems.append(
                Problem(
                    f"makini:azure.{key}",
                    f"has no effect: makini:azure.privateEndpointSubnetIds is set, so the vault's public network "
                    f"access is off and {key} would never be consulted",
                    f"pulumi config rm --path 'makini:azure.{key}'   # or remove privateEndpointSubnetIds",
                )
            )
    return problems


def _key_vault_secret_names(cfg: StackConfig) -> list[Problem]:
    """Connection keys whose Key Vault secret names would be the same (Key Vault ignores case)."""
    if "azure" not in cfg.backends:
        return []
    from ..catalog import connection_token_path

    index = {connection_token_path(c.key): i for i, c in reversed(list(enumerate(cfg.connections)))}
    problems = []
    for first, second, name in key_vault_name_collisions(connection_token_path(c.key) for c in cfg.connections):
        i, j = index[first], index[second]
        a, b = cfg.connections[i].key, cfg.connections[j].key
        problems.append(
            Problem(
                f"makini:connections[{j}].key",
                f"connection keys '{a}' (makini:connections[{i}].key) and '{b}' map to the same Key Vault "
                f"secret name '{name}' (Key Vault secret names hold only letters, digits and dashes, and ignore case)",
                "rename one of them, e.g. to a lowercase key of letters, digits and single dashes",
            )
        )
    return problems


def _vault_versions(cfg: StackConfig) -> list[Problem]:
    """KV v2 deletes even the current version after deleteVersionAfter: it must outlive a rotation period."""
    vault = cfg.vault
    days = getattr(cfg.rotation, "connection_token_days", None)
    if vault is None or days is None:
        return []
    seconds = vault.delete_version_after_seconds
    if 0 < seconds <= days * 86400:
        return [
            Problem(
                "makini:vault.deleteVersionAfter",
                f"is {vault.delete_version_after}, not longer than the {days}-day rotation period "
                "(makini:rotation.connectionTokenDays): the current token would be deleted before it is rotated",
                f"pulumi config set --path 'makini:vault.deleteVersionAfter' {days * 2 * 24}h   # or 0s",
            )
        ]
    return []


def _rotation(cfg: StackConfig) -> list[Problem]:
    """Rotation rules that span keys: reminders before the maximum ages, a window inside the period."""
    r = cfg.rotation
    problems: list[Problem] = []
    for key, max_age in (
        ("webhookSecretMaxAgeDays", r.webhook_secret_max_age_days),
        ("oauthClientSecretMaxAgeDays", r.oauth_client_secret_max_age_days),
    ):
        if r.reminder_days_before >= max_age:
            problems.append(
                Problem(
                    "makini:rotation.reminderDaysBefore",
                    f"is {r.reminder_days_before} days, not shorter than makini:rotation.{key} ({max_age}); "
                    "the reminder would fire before the secret is issued",
                    f"pulumi config set --path 'makini:rotation.reminderDaysBefore' {max(1, min(14, max_age - 1))}",
                )
            )
    if r.rotation_window is not None and r.connection_token_days is not None:
        hours = int(r.rotation_window[:-1])
        if hours >= r.connection_token_days * 24:
            problems.append(
                Problem(
                    "makini:rotation.rotationWindow",
                    f"a {r.rotation_window} window does not fit in a {r.connection_token_days}-day schedule "
                    "(Secrets Manager refuses a window that reaches the next rotation)",
                    "pulumi config set --path 'makini:rotation.rotationWindow' 3h",
                )
            )
    return problems


def _webhook_queue_consumers(cfg: StackConfig) -> list[Problem]:
    if cfg.webhooks.enabled:
        return []
    return [
        Problem(
            f'makini:consumers["{name}"].webhookQueue',
            f"consumer '{name}' consumes the webhook queue, but this environment has no webhook endpoint",
            "pulumi config set --path 'makini:webhooks.enabled' true   # or remove webhookQueue",
        )
        for name, c in sorted(cfg.consumers.items())
        if c.webhook_queue
    ]


def _vault_rotator(cfg: StackConfig) -> list[Problem]:
    """Connection tokens rotating on Vault need the rotator's identity (and it must bind one workload)."""
    from ..catalog import SystemIdentity, build_catalog  # noqa: PLC0415 (the catalog imports the model)

    if "vault" not in cfg.backends:
        return []
    rotator = cfg.vault.rotator if cfg.vault is not None else None
    if rotator is None:
        rotated = [s.path for s in build_catalog(cfg).secrets if SystemIdentity.ROTATION in s.writers]
        if not rotated:
            return []
        return [
            Problem(
                "makini:vault.rotator",
                f"connection tokens rotate on Vault ({len(rotated)} of them, e.g. {rotated[0]}), but no rotator "
                "identity is configured: the rotator CronJob needs its own Vault role bound to its Kubernetes "
                "service account (or to a JWT subject)",
                "pulumi config set --path 'makini:vault.rotator.auth.kubernetes.mountPath' kubernetes; "
                "pulumi config set --path 'makini:vault.rotator.namespace' <namespace>; "
                "pulumi config set --path 'makini:vault.rotator.serviceAccountName' makini-token-rotator; "
                "pulumi config set --path 'makini:vault.rotator.image' <image@sha256:digest>; "
                "pulumi config set --path 'makini:vault.rotator.vaultAddress' https://<vault>:8200 "
                "(or set makini:rotation.enabled false)",
            )
        ]
    jwt = rotator.auth.jwt
    if jwt is None:
        return []
    problems = []
    if jwt.bound_subject is None and not jwt.bound_claims:
        problems.append(
            Problem(
                "makini:vault.rotator.auth.jwt",
                "the rotator's JWT role binds no subject or claims, so any token for the audience could log in "
                "as the rotator (and write every connection token)",
                f"pulumi config set --path 'makini:vault.rotator.auth.jwt.boundSubject' "
                f"system:serviceaccount:{rotator.namespace}:{rotator.service_account_name}",
            )
        )
    wild = [v for v in (jwt.bound_subject, *jwt.bound_audiences) if v and "*" in v]
    if wild:
        problems.append(
            Problem(
                "makini:vault.rotator.auth.jwt",
                f"the rotator's JWT role uses a wildcard ({', '.join(wild)}); subjects and audiences are matched exactly",
                "name the exact subject and audience of the rotator's token",
            )
        )
    return problems


RULES: list[Rule] = [
    _webhook_queue_consumers,
    _production,
    _connection_keys,
    _consumer_references,
    _consumer_identities,
    _aws_identity_shape,
    _azure_principals,
    _vault_auth,
    _shared_identities,
    _backend_sections,
    _connection_tokens,
    _credit_budget,
    _webhooks,
    _azure_production,
    _azure_network,
    _key_vault_secret_names,
    _vault_versions,
    netsuite_problems,
    _rotation,
    _vault_rotator,
]


def cross_checks(cfg: StackConfig) -> list[Problem]:
    problems: list[Problem] = []
    for rule in RULES:
        problems.extend(rule(cfg))
    return problems


def _vnet_of(subnet_id: str) -> str:
    return subnet_id.lower().rsplit("/subnets/", 1)[0]


def _azure_functions_network(cfg: StackConfig) -> list[Problem]:
    """Azure Function Apps (webhook receiver, rotation) must be able to reach the vault, whose firewall denies
    by default: Key Vault references and the rotation SDK calls come from the app's VNet integration subnet,
    which must be allowed through the firewall or sit in the virtual network of a private endpoint."""
    az = cfg.azure
    if az is None or "azure" not in cfg.backends:
        return []
    users = []
    if cfg.webhooks.enabled:
        users.append("the webhook receiver (makini:webhooks.enabled)")
    if cfg.rotation.connection_token_days is not None and any(c.makini_id for c in cfg.connections):
        users.append("connection-token rotation (makini:rotation)")
    if not users:
        return []
    who = " and ".join(users)
    example = (
        "/subscriptions/<subscription-guid>/resourceGroups/<group>/providers/Microsoft.Network/"
        "virtualNetworks/<vnet>/subnets/<functions-subnet>"
    )
    problems = []
    subnet = az.functions_subnet_id
    if subnet is None:
        where = (
            "a subnet in the virtual network of makini:azure.privateEndpointSubnetIds"
            if az.private_endpoint_subnet_ids
            else "a subnet that is also listed in makini:azure.allowedSubnetIds"
        )
        problems.append(
            Problem(
                "makini:azure.functionsSubnetId",
                f"{who} runs as Azure Function Apps that read the Key Vault, but the vault's firewall denies by "
                "default and the apps have no VNet integration subnet, so Key Vault references and SDK calls "
                "would be refused",
                f"pulumi config set --path 'makini:azure.functionsSubnetId' {example}  ({where}, delegated to "
                "Microsoft.Web/serverFarms)",
            )
        )
    elif az.private_endpoint_subnet_ids:
        if not any(_vnet_of(pe) == _vnet_of(subnet) for pe in az.private_endpoint_subnet_ids):
            problems.append(
                Problem(
                    "makini:azure.functionsSubnetId",
                    f"the vault is reachable only through private endpoints (makini:azure.privateEndpointSubnetIds), "
                    f"none of them in the virtual network of functionsSubnetId, so {who} cannot be shown to reach "
                    "it (peered networks and their private DNS are not visible to this check)",
                    "use a functions subnet in the virtual network of one of makini:azure.privateEndpointSubnetIds, "
                    "or add a private endpoint subnet in the functions' virtual network to privateEndpointSubnetIds",
                )
            )
    elif subnet.lower() not in {s.lower() for s in az.allowed_subnet_ids}:
        problems.append(
            Problem(
                "makini:azure.allowedSubnetIds",
                f"does not list makini:azure.functionsSubnetId ({subnet}), so the vault's firewall (default Deny) "
                f"refuses {who}",
                f"pulumi config set --path 'makini:azure.allowedSubnetIds[{len(az.allowed_subnet_ids)}]' {subnet}  "
                "(the subnet also needs the Microsoft.KeyVault service endpoint)",
            )
        )
    if cfg.webhooks.azure.plan_sku == "Y1":
        problems.append(
            Problem(
                "makini:webhooks.azure.planSku",
                f"is Y1 (Linux Consumption), which has no VNet integration, so {who} could not reach the vault "
                "(the rotation app uses the same plan SKU)",
                "pulumi config set --path 'makini:webhooks.azure.planSku' EP1   # or B1/S1/P1v3",
            )
        )
    return problems


RULES.append(_azure_functions_network)
