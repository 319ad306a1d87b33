"""Rules over a whole stack's configuration, and the one ordered list that runs every rule.

A rule about one section lives beside that section (``stacks/config/<section>.py``; the top-level keys'
rules in ``stacks/config/model.py``) and takes that section and the plain facts it needs. The rules here
span sections, or need what is built from the config: the catalog (Key Vault secret names, the Vault
rotator), the credits, NetSuite's rules, the access model (identities shared by two consumers).

:func:`cross_checks` runs them all in one fixed order, the order of the error list; each rule returns
:class:`Problem` s with the exact key path and a fix, and :func:`stacks.load.load_stack_config` raises
them together as one :class:`ConfigError` before any resource is registered.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from datetime import date
from pathlib import Path

from . import clock
from .access import shared_identity_problems
from .catalog import RESERVED_CONSUMER_NAMES, SystemIdentity, build_catalog, connection_token_path
from .config.aws import account_problems, break_glass_problems
from .config.azure import azure_network_problems, azure_production_problems, function_dependencies_problems
from .config.connections import connection_key_problems
from .config.consumers import (
    aws_identity_problems,
    azure_principal_problems,
    consumer_path,
    identity_per_backend_problems,
    reserved_name_problems,
    vault_auth_problems,
    webhook_queue_problems,
)
from .config.model import StackConfig, backend_section_problems, connection_token_problems, production_problems
from .config.rotation import TOKEN_LIFETIME_DAYS, rotation_date_problems, rotation_problems
from .config.tags import tag_problems
from .config.vault import version_retention_problems
from .config.webhooks import webhook_problems
from .credits import credit_report
from .errors import Problem
from .naming import key_vault_name_collisions
from .netsuite import netsuite_problems

#: The project root: makini:azure.functionDependenciesDir is relative to it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def cross_checks(cfg: StackConfig, accounts: Collection[str] = (), today: date | None = None) -> list[Problem]:
    """Every rule over a validated config, in the order their problems are reported.

    ``accounts`` are the AWS accounts the stack pins (``aws:allowedAccountIds``; ARNs elsewhere are
    refused unless listed as cross-account); ``today`` (UTC) bounds the rotation dates.
    """
    today = today or clock.utc_today()
    return [
        *webhook_queue_problems(cfg.consumers, cfg.webhooks.enabled),
        *production_problems(cfg),
        *connection_key_problems(cfg.connections),
        *_class_problems(cfg),
        *_runtime_problems(cfg),
        *_consumer_references(cfg),
        *reserved_name_problems(cfg.consumers, RESERVED_CONSUMER_NAMES),
        *identity_per_backend_problems(cfg.consumers, cfg.backends),
        *aws_identity_problems(cfg.consumers, accounts),
        *(_arn_accounts(cfg, accounts) if "aws" in cfg.backends else []),
        *break_glass_problems(
            cfg.aws, [c.aws.role_arn for c in cfg.consumers.values() if c.aws is not None and c.aws.role_arn]
        ),
        *azure_principal_problems(cfg.consumers),
        *vault_auth_problems(cfg.consumers),
        *shared_identity_problems(cfg.consumers),
        *backend_section_problems(cfg),
        *connection_token_problems(cfg),
        *_credit_budget(cfg),
        *webhook_problems(cfg.webhooks, production=cfg.production, backends=cfg.backends),
        *azure_production_problems(cfg.azure, cfg.production),
        *azure_network_problems(cfg.azure),
        *_class_vault_problems(cfg),
        *tag_problems(cfg.tags.extra, cfg.backends),
        *_key_vault_secret_names(cfg),
        *(version_retention_problems(cfg.vault, vault_version_needs(cfg)) if "vault" in cfg.backends else []),
        *netsuite_problems(cfg.connections),
        *rotation_problems(cfg.rotation),
        *rotation_date_problems(cfg.rotation, today),
        *_vault_rotator(cfg),
        *_azure_functions_network(cfg),
        *function_dependencies_problems(cfg.azure, PROJECT_ROOT, _function_packages(cfg)),
    ]


def vault_version_needs(cfg: StackConfig) -> list[tuple[int, str]]:
    """How long (seconds) each kind of secret in the Vault store must stay readable after it is written,
    and why: the OAuth client's and the webhook secret's maximum ages (the latter plus its grace window),
    Makini's token lifetime, each NetSuite certificate's validity. Checked against deleteVersionAfter by
    :func:`stacks.config.vault.version_retention_problems`."""
    day = 86400
    r = cfg.rotation
    needs = [
        (
            r.oauth_client_secret_max_age_days * day,
            f"the OAuth client stays current up to its maximum age (makini:rotation.oauthClientSecretMaxAgeDays = "
            f"{r.oauth_client_secret_max_age_days} days)",
        ),
        (
            r.webhook_secret_max_age_days * day + cfg.webhooks.grace_seconds,
            f"the webhook secret stays current up to its maximum age (makini:rotation.webhookSecretMaxAgeDays = "
            f"{r.webhook_secret_max_age_days} days), then is still accepted for makini:webhooks.graceSeconds "
            f"({cfg.webhooks.grace_seconds} s)",
        ),
    ]
    if cfg.connections:
        needs.append(
            (
                TOKEN_LIFETIME_DAYS * day,
                f"a connection token stays current until its successor is written, at most Makini's "
                f"{TOKEN_LIFETIME_DAYS}-day token lifetime",
            )
        )
    for i, conn in enumerate(cfg.connections):
        if conn.netsuite is not None:
            days = conn.netsuite.certificate_validity_days
            needs.append(
                (
                    days * day,
                    f"the NetSuite M2M key of {conn.key} is written once and used for its certificate's validity "
                    f"(makini:connections[{i}].netsuite.certificateValidityDays = {days} days)",
                )
            )
    return needs


def _rotates_on_azure(cfg: StackConfig) -> bool:
    return cfg.rotation.connection_token_days is not None and any(c.makini_id for c in cfg.connections)


def _function_packages(cfg: StackConfig) -> list[str]:
    """The Azure Function packages the stack builds (each needs its vendored dependencies)."""
    if "azure" not in cfg.backends:
        return []
    return [
        p for p, built in (("webhook_receiver", cfg.webhooks.enabled), ("rotation", _rotates_on_azure(cfg))) if built
    ]


def _arn_accounts(cfg: StackConfig, accounts: Collection[str]) -> list[Problem]:
    """Every ARN of the stack in its pinned accounts (consumer roles always; others unless cross-account)."""
    arns: list[tuple[str, str]] = []
    attached: list[str] = []
    aws = cfg.aws
    if aws is not None:
        for key, values in (
            ("keyAdminArns", aws.key_admin_arns),
            ("deployerArns", aws.deployer_arns),
            ("operatorArns", aws.operator_arns),
            ("breakGlassArns", aws.break_glass_arns),
            ("driftArns", aws.drift_arns),
        ):
            arns += [(f"makini:aws.{key}[{i}]", arn) for i, arn in enumerate(values)]
    for name, consumer in sorted(cfg.consumers.items()):
        if consumer.aws is not None and consumer.aws.role_arn is not None:
            path = consumer_path(name, "aws", "roleArn")
            arns.append((path, consumer.aws.role_arn))
            attached.append(path)
    domain = cfg.webhooks.aws.custom_domain
    if domain is not None:
        arns.append(("makini:webhooks.aws.customDomain.certificateArn", domain.certificate_arn))
    return account_problems(arns, accounts, aws, attached)


def _consumer_references(cfg: StackConfig) -> list[Problem]:
    """Connections name declared consumers, once each; every consumer reads something."""
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
    for access_class in cfg.access_classes.values():
        referenced.update(access_class.consumers)
    # The onboarding identity stores tokens (its own rules are in _runtime_problems), even if it reads nothing.
    referenced.update(n for n, c in cfg.consumers.items() if c.onboarding)
    declared_names = sorted(cfg.consumers)
    for i, conn in enumerate(cfg.connections):
        ns = conn.netsuite
        if ns is None:
            continue
        where = f"makini:connections[{i}].netsuite.signer"
        if ns.signer is None:
            problems.append(
                Problem(
                    where,
                    f"is not set, so no identity may read the NetSuite M2M key of connection '{conn.key}': name the "
                    "consumer that signs NetSuite requests with it (the service that hands it to Makini or calls "
                    "NetSuite)",
                    f"pulumi config set --path '{where}' <consumer>   # one of: {', '.join(declared_names) or '(none)'}",
                )
            )
        elif ns.signer not in cfg.consumers:
            problems.append(
                Problem(
                    where,
                    f"unknown consumer '{ns.signer}'. Declared consumers: {', '.join(declared_names) or '(none)'}",
                    f"declare it under makini:consumers, or set {where} to one of them",
                )
            )
        else:
            referenced.add(ns.signer)
    idle = [
        n
        for n, c in sorted(cfg.consumers.items())
        if n not in referenced and not c.oauth_client and not c.webhook_queue
    ]
    if not cfg.connections and idle:
        return [
            *problems,
            Problem(
                "makini:connections",
                f"{'is empty' if 'connections' in cfg.model_fields_set else 'is not set'}: this environment has no "
                f"customer connection, so consumer{'s' if len(idle) > 1 else ''} {', '.join(idle)} could read nothing",
                "declare the connections under makini:connections (key, system, tier, deployment, consumers), or "
                "remove the consumers until there are connections for them",
            ),
        ]
    for i, conn in enumerate(cfg.connections):
        if not conn.consumers and "consumers" in conn.model_fields_set and conn.access_class is None:
            problems.append(
                Problem(
                    f"makini:connections[{i}].consumers",
                    f"is an empty list, so no service could read the token of connection '{conn.key}'",
                    "list the consumers that call this connection, e.g. consumers: [orders]  (or remove the key "
                    "if no service reads it yet: only the stack's own rotation identity then touches the token)",
                )
            )
    for name, consumer in sorted(cfg.consumers.items()):
        if name not in referenced and not consumer.oauth_client and not consumer.webhook_queue:
            problems.append(
                Problem(
                    f"makini:consumers.{name}" if name.isidentifier() else f'makini:consumers["{name}"]',
                    f"consumer '{name}' is declared but no connection or access class lists it, so it could read "
                    "nothing",
                    "add it to the consumers of the connections it calls (or of their access class), or remove it",
                )
            )
    return problems


def _class_path(name: str, *rest: str) -> str:
    """``makini:accessClasses.standard.consumers`` (Pulumi's --path syntax; class names are identifiers or
    quoted)."""
    head = f"makini:accessClasses.{name}" if name.isidentifier() else f'makini:accessClasses["{name}"]'
    return head + "".join(f".{r}" for r in rest)


def _suggest_name(name: str, choices: list[str]) -> str:
    near = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean '{near[0]}'?" if near else ""


def _class_problems(cfg: StackConfig) -> list[Problem]:
    """Connections name a declared class (and not a consumer list too); classes name declared consumers;
    no class name is also a connection key (their secret paths would share a prefix)."""
    problems: list[Problem] = []
    classes = sorted(cfg.access_classes)
    consumers = sorted(cfg.consumers)
    for i, conn in enumerate(cfg.connections):
        if conn.access_class is None:
            continue
        if conn.access_class not in cfg.access_classes:
            problems.append(
                Problem(
                    f"makini:connections[{i}].class",
                    f"unknown access class '{conn.access_class}'{_suggest_name(conn.access_class, classes)} "
                    f"Declared classes: {', '.join(classes) or '(none)'}",
                    f"declare it: pulumi config set --path "
                    f"'makini:accessClasses.{conn.access_class}.consumers[0]' <consumer>",
                )
            )
        if "consumers" in conn.model_fields_set:
            problems.append(
                Problem(
                    f"makini:connections[{i}].consumers",
                    f"connection '{conn.key}' sets both class '{conn.access_class}' and a consumers list; its token "
                    "is read by exactly its class's consumers, so a list beside it would be ignored",
                    f"pulumi config rm --path 'makini:connections[{i}].consumers'   # or remove "
                    f"makini:connections[{i}].class to keep an explicit list",
                )
            )
    for name in classes:
        cls = cfg.access_classes[name]
        for j, consumer in enumerate(cls.consumers):
            if consumer not in cfg.consumers:
                problems.append(
                    Problem(
                        _class_path(name, f"consumers[{j}]"),
                        f"unknown consumer '{consumer}' in access class '{name}'{_suggest_name(consumer, consumers)} "
                        f"Declared consumers: {', '.join(consumers) or '(none)'}",
                        "declare it under makini:consumers, or remove it from the class",
                    )
                )
        if len(set(cls.consumers)) != len(cls.consumers):
            problems.append(
                Problem(_class_path(name, "consumers"), "lists a consumer more than once", "remove the repeat")
            )
    folded = {name.lower(): name for name in classes}
    for i, conn in enumerate(cfg.connections):
        clash = folded.get(conn.key.lower())
        if clash is not None:
            problems.append(
                Problem(
                    f"makini:connections[{i}].key",
                    f"connection key '{conn.key}' is also the name of access class '{clash}': its secrets "
                    f"(connections/{conn.key}/...) would sit under the class's prefix connections/{clash}/, which "
                    "the class's consumers read",
                    "rename the connection key or the class",
                )
            )
    return problems


def _runtime_problems(cfg: StackConfig) -> list[Problem]:
    """Run-time connections: at most one onboarding identity per environment, present exactly when a class
    accepts run-time connections; it never reads what it stores; a run-time class holds no declared connection
    (so the onboarding identity can never touch a token the stack file declares)."""
    problems: list[Problem] = []
    onboarding = sorted(n for n, c in cfg.consumers.items() if c.onboarding)
    runtime = sorted(n for n, c in cfg.access_classes.items() if c.runtime)
    if len(onboarding) > 1:
        problems.append(
            Problem(
                consumer_path(onboarding[1], "onboarding"),
                f"consumers {', '.join(repr(n) for n in onboarding)} are all marked as the onboarding identity; an "
                "environment has one (every grant to store tokens at run time goes to it)",
                "keep onboarding: true on the one service that runs the Makini Link flow: pulumi config rm --path "
                f"'{consumer_path(onboarding[1], 'onboarding')}'",
            )
        )
    if onboarding and not runtime:
        problems.append(
            Problem(
                consumer_path(onboarding[0], "onboarding"),
                f"consumer '{onboarding[0]}' is the onboarding identity, but no access class accepts connections added "
                "at run time, so it could store nothing",
                "mark the class new customers go to: pulumi config set --path "
                "'makini:accessClasses.<class>.runtime' true",
            )
        )
    if runtime and not onboarding:
        problems.append(
            Problem(
                _class_path(runtime[0], "runtime"),
                f"access class '{runtime[0]}' accepts connections added at run time, but no consumer is the "
                "onboarding identity that stores them",
                "mark the service that runs the Makini Link flow: pulumi config set --path "
                "'makini:consumers.<name>.onboarding' true",
            )
        )
    for name in onboarding:
        for klass in runtime:
            if name in cfg.access_classes[klass].consumers:
                j = cfg.access_classes[klass].consumers.index(name)
                problems.append(
                    Problem(
                        _class_path(klass, f"consumers[{j}]"),
                        f"consumer '{name}' stores new customers' tokens in run-time access class '{klass}' and would "
                        "also read them: the identity that stores tokens must not read them (a leak of it would "
                        "expose every customer of the class)",
                        f"read the class's tokens with another consumer: remove '{name}' from "
                        f"{_class_path(klass, 'consumers')}",
                    )
                )
    for i, conn in enumerate(cfg.connections):
        declared = cfg.access_classes.get(conn.access_class) if conn.access_class else None
        if declared is not None and declared.runtime:
            problems.append(
                Problem(
                    f"makini:connections[{i}].class",
                    f"connection '{conn.key}' is declared in access class '{conn.access_class}', which holds "
                    "connections added at run time only (runtime: true): the onboarding identity writes there, so a "
                    "declared token must live elsewhere",
                    "file the connection under another class with the same consumers, or remove runtime from the class",
                )
            )
    return problems


def _class_vault_problems(cfg: StackConfig) -> list[Problem]:
    """``makini:azure.classVaultNames`` names declared classes, and no two vaults of the stack share a name."""
    az = cfg.azure
    if az is None:
        return []
    problems: list[Problem] = []
    classes = sorted(cfg.access_classes)
    for name in sorted(az.class_vault_names):
        if name not in cfg.access_classes:
            problems.append(
                Problem(
                    f"makini:azure.classVaultNames.{name}",
                    f"names a Key Vault for access class '{name}', which is not declared{_suggest_name(name, classes)} "
                    f"Declared classes: {', '.join(classes) or '(none)'}",
                    f"pulumi config rm --path 'makini:azure.classVaultNames.{name}'",
                )
            )
    seen: dict[str, str] = {}
    if az.vault_name:
        seen[az.vault_name.lower()] = "makini:azure.vaultName"
    for name, vault in sorted(az.class_vault_names.items()):
        key = f"makini:azure.classVaultNames.{name}"
        first = seen.setdefault(vault.lower(), key)
        if first != key:
            problems.append(
                Problem(
                    key,
                    f"Key Vault name '{vault}' is also used by {first}; every vault of the stack needs its own "
                    "(Key Vault names are global and case-insensitive)",
                    f"pulumi config set --path '{key}' <another-name>",
                )
            )
    return problems


def _credit_budget(cfg: StackConfig) -> list[Problem]:
    """The connections fit in the credit pool."""
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


def _key_vault_secret_names(cfg: StackConfig) -> list[Problem]:
    """Connection keys whose Key Vault secret names would be the same (Key Vault ignores case)."""
    if "azure" not in cfg.backends:
        return []
    # Tokens of a class live in the class's own vault; explicit-list tokens in the environment's vault.
    index = {connection_token_path(c.key, c.access_class): i for i, c in reversed(list(enumerate(cfg.connections)))}
    by_vault: dict[str | None, list[str]] = {}
    for c in cfg.connections:
        by_vault.setdefault(c.access_class, []).append(connection_token_path(c.key, c.access_class))
    problems = []
    collisions = [hit for paths in by_vault.values() for hit in key_vault_name_collisions(paths)]
    for first, second, name in collisions:
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


def _vault_rotator(cfg: StackConfig) -> list[Problem]:
    """Connection tokens rotating on Vault need the rotator's identity (and it must bind one workload)."""
    if "vault" not in cfg.backends:
        return []
    rotator = cfg.vault.rotator if cfg.vault is not None else None
    if rotator is None:
        catalog = build_catalog(cfg)
        rotated = [s.path for s in catalog.secrets if SystemIdentity.ROTATION in s.writers]
        rotated += [c.prefix + "*" for c in catalog.classes_written_by(SystemIdentity.ROTATION)]
        if not rotated:
            return []
        return [
            Problem(
                "makini:vault.rotator",
                f"connection tokens rotate on Vault ({len(rotated)} paths or classes, e.g. {rotated[0]}), but no "
                "rotator "
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
    if _rotates_on_azure(cfg):
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
