"""makini-infra's security baseline as Pulumi policies (CrossGuard), importable without side effects.

Nothing here constructs a ``PolicyPack`` (that starts a gRPC server and blocks): ``__main__.py`` does,
for ``pulumi preview --policy-pack policy``. Tests import this module and call each policy's
``validate`` with arguments built from the resources of the real program run under mocks.

Property names are the providers' own, camelCase, as the engine hands them to a policy
(``kmsKeyId``, ``recoveryWindowInDays``, ``properties.enableRbacAuthorization``...). The module imports
nothing from the project, so the pack runs from its own virtualenv.

How the pack knows an environment is production, following the stack model: a resource of a production
stack carries the tag ``makini:production: "true"`` (the program tags every taggable resource so, whether
the stack is production by name or by ``makini:production: true``); otherwise its ``environment`` tag, else
the stack name in its URN (``urn:pulumi:<stack>::...``), is production when it is ``prod``, ``production``
or ``prd``, the names the config model always treats as production. A ``makini:production`` tag other than
``"true"`` or ``"false"`` is itself a violation (``production-tag-readable``), so a typo cannot turn the
production rules off.

This pack is loaded from the checkout that runs ``pulumi preview``/``up``, so a branch could carry a weaker
copy. What enforces it regardless is the server-side policy group: bootstrap/ (``pulumiCloud``) creates the
Pulumi Cloud policy group ``makini-infra`` in preventative mode with the *published* ``makini-baseline``
pack for every stack of the project, so Pulumi Cloud runs the published version on every update; the
copy here is what a pull request changes and reviewers read, and ``pulumi policy publish`` after merge
makes it the enforced one (docs/operations.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PRODUCTION_NAMES = frozenset({"prod", "production", "prd"})
#: A Makini access token expires 30 days after it is issued: a rotation period must be shorter.
TOKEN_LIFETIME_DAYS = 30
DEFAULT_MAX_ROTATION_DAYS = TOKEN_LIFETIME_DAYS - 1
MIN_PROD_RECOVERY_WINDOW_DAYS = 7
#: Makini retries a failed delivery for 24 hours: duplicate detection must remember at least that long.
MIN_DUPLICATE_DETECTION = timedelta(hours=24)
#: Tag values (``makini:purpose``) that mark a Lambda function as a webhook receiver.
WEBHOOK_PURPOSES = frozenset({"webhooks", "webhook-receiver"})

SECRET = "aws:secretsmanager/secret:Secret"
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
SECRET_POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
KMS_KEY = "aws:kms/key:Key"
IAM_POLICY_TYPES = (
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
LAMBDA_FUNCTION = "aws:lambda/function:Function"
SQS_QUEUE = "aws:sqs/queue:Queue"
SQS_QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
KEY_VAULT = "azure-native:keyvault:Vault"
WEB_APP = "azure-native:web:WebApp"
SCM_ALLOWED = "azure-native:web:WebAppScmAllowed"
FTP_ALLOWED = "azure-native:web:WebAppFtpAllowed"
STORAGE_ACCOUNT = "azure-native:storage:StorageAccount"
SERVICE_BUS_QUEUE = "azure-native:servicebus:Queue"

#: Secrets Manager actions that disclose a secret's value or metadata, per secret.
_SECRET_READS = ("secretsmanager:getsecretvalue", "secretsmanager:describesecret")
_WILDCARD_SERVICES = ("secretsmanager", "kms")


# --------------------------------------------------------------------------------------------------
# Pure helpers


def stack_of(urn: str) -> str | None:
    """``urn:pulumi:<stack>::<project>::<type>::<name>`` -> ``<stack>`` (None when not a URN)."""
    if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
        return None
    return urn[len("urn:pulumi:") :].split("::", 1)[0] or None


def environment_of(props: Mapping[str, Any], urn: str) -> str | None:
    tags = props.get("tags")
    environment = tags.get("environment") if isinstance(tags, Mapping) else None
    if isinstance(environment, str) and environment:
        return environment
    return stack_of(urn)


#: The tag the program puts on every resource of a production stack (stacks/environment/common.py).
PRODUCTION_TAG = "makini:production"


def production_tag(props: Mapping[str, Any]) -> str | None:
    tags = props.get("tags")
    if isinstance(tags, Mapping) and PRODUCTION_TAG in tags:
        value = tags[PRODUCTION_TAG]
        return value if isinstance(value, str) else repr(value)
    return None


def is_production(props: Mapping[str, Any], urn: str) -> bool:
    """Production when the stack model says so (the tag), or by name (environment tag, else stack)."""
    if production_tag(props) == "true":
        return True
    env = environment_of(props, urn)
    return env is not None and env.lower() in PRODUCTION_NAMES


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def policy_document(value: Any) -> dict[str, Any] | None:
    """An IAM policy as the provider takes it (JSON string or object) -> dict (None if unreadable)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return dict(value) if isinstance(value, Mapping) else None


def _action_matches(pattern: str, action: str) -> bool:
    regex = "^" + ".*".join(re.escape(part) for part in pattern.lower().split("*")) + "$"
    return re.match(regex, action.lower()) is not None


def iam_problems(document: Mapping[str, Any]) -> list[str]:
    """What an identity policy grants too broadly on secrets or keys (empty: nothing)."""
    problems: list[str] = []
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        if not isinstance(statement, Mapping) or statement.get("Effect") != "Allow":
            continue
        label = f"statement {statement.get('Sid') or index}"
        if "NotAction" in statement:
            problems.append(
                f"{label} allows NotAction, which grants every other action including secretsmanager and kms; "
                "list the actions it needs"
            )
        actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
        for action in actions:
            service, _, name = action.partition(":")
            if action.strip() in ("*", "*:*"):
                problems.append(f"{label} allows every action ('{action}'); list the actions it needs")
            elif service.lower() in _WILDCARD_SERVICES and "*" in name:
                problems.append(
                    f"{label} allows the wildcard action '{action}'; list the {service} actions it needs "
                    "(e.g. secretsmanager:GetSecretValue, kms:Decrypt)"
                )
        resources = _as_list(statement.get("Resource"))
        reads = [a for a in actions if any(_action_matches(a, read) for read in _SECRET_READS)]
        if reads and ("*" in resources or "NotResource" in statement):
            problems.append(
                f"{label} allows {', '.join(sorted(set(reads)))} on every secret (Resource '*' or NotResource); "
                "name the secret ARNs it may read"
            )
    return problems


_ISO_RE = re.compile(
    r"P(?!$)(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?=\d)(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?"
)


def iso_duration(text: Any) -> timedelta | None:
    """``PT24H``, ``P1D``, ``P1DT12H`` -> timedelta; None when not such a duration."""
    match = _ISO_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        return None
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    return timedelta(
        weeks=parts.get("w", 0),
        days=parts.get("d", 0),
        hours=parts.get("h", 0),
        minutes=parts.get("m", 0),
        seconds=parts.get("s", 0),
    )


_RATE_RE = re.compile(r"rate\(\s*(\d+)\s+(hour|hours|day|days)\s*\)")


def rotation_days(rules: Mapping[str, Any]) -> float | None:
    """A SecretRotation's ``rotationRules`` -> its period in days (None when it cannot be determined)."""
    days = rules.get("automaticallyAfterDays")
    if isinstance(days, int | float) and not isinstance(days, bool):
        return float(days)
    expression = rules.get("scheduleExpression")
    if isinstance(expression, str):
        match = _RATE_RE.fullmatch(expression.strip())
        if match:
            n = int(match.group(1))
            return n / 24 if match.group(2).startswith("hour") else float(n)
    return None


def _max_rotation_days(config: Mapping[str, Any], environment: str | None) -> int:
    per_env = config.get("maxDaysByEnvironment") or {}
    if environment is not None and environment in per_env:
        return int(per_env[environment])
    return int(config.get("maxDays", DEFAULT_MAX_ROTATION_DAYS))


# --------------------------------------------------------------------------------------------------
# Resource validations


def _check_secret_cmk(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SECRET:
        return
    key = args.props.get("kmsKeyId")
    if not isinstance(key, str) or not key.strip():
        report(
            f"secret '{args.name}' has no kmsKeyId, so Secrets Manager encrypts it with the AWS managed key "
            "aws/secretsmanager; set kms_key_id to the environment's customer-managed key (alias/makini/<env>)",
            None,
        )
        return
    if re.search(r"(^|:)alias/aws/", key):
        report(
            f"secret '{args.name}' uses the AWS managed key '{key}'; set kms_key_id to a customer-managed key "
            "(alias/makini/<env>) whose key policy makini-infra controls",
            None,
        )


def _check_kms_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KMS_KEY:
        return
    spec = args.props.get("customerMasterKeySpec") or args.props.get("keySpec") or "SYMMETRIC_DEFAULT"
    if spec != "SYMMETRIC_DEFAULT":
        # AWS rotates only symmetric encryption keys; asymmetric and HMAC keys cannot enable rotation.
        return
    if args.props.get("enableKeyRotation") is not True:
        report(f"KMS key '{args.name}' does not rotate its key material; set enable_key_rotation=True", None)


def _check_iam(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in IAM_POLICY_TYPES:
        return
    document = policy_document(args.props.get("policy"))
    if document is None:
        report(f"policy '{args.name}' is not a readable IAM policy document (JSON object with Statement)", None)
        return
    for problem in iam_problems(document):
        report(f"policy '{args.name}': {problem}", None)


def _check_prod_protection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type not in (SECRET, KMS_KEY, KEY_VAULT):
        return
    if not is_production(args.props, args.urn):
        return
    opts = getattr(args, "opts", None)
    # KMS keys: the deletion window below (AWS waits it out before destroying key material) rather than
    # ``protect``, since not every production key holds secrets (e.g. the alarm topic's key).
    if args.resource_type != KMS_KEY and (opts is None or opts.protect is not True):
        report(
            f"production {args.resource_type} '{args.name}' is not protected; deploy it with "
            "ResourceOptions(protect=True) (makini-infra does so when makini:production is true)",
            None,
        )
    if args.resource_type == SECRET:
        window = args.props.get("recoveryWindowInDays")
        # Absent means Secrets Manager's default, 30 days; 0 deletes at once, without recovery.
        if window is not None and window < MIN_PROD_RECOVERY_WINDOW_DAYS:
            report(
                f"production secret '{args.name}' has recoveryWindowInDays {window:g}; a deleted production "
                f"secret must stay recoverable for at least {MIN_PROD_RECOVERY_WINDOW_DAYS} days (30 expected)",
                None,
            )
    if args.resource_type == KMS_KEY:
        window = args.props.get("deletionWindowInDays")
        if window is not None and window < MIN_PROD_RECOVERY_WINDOW_DAYS:
            report(
                f"production KMS key '{args.name}' has deletionWindowInDays {window:g}; use at least "
                f"{MIN_PROD_RECOVERY_WINDOW_DAYS} (30 expected)",
                None,
            )


def _check_production_tag(args: ResourceValidationArgs, report: ReportViolation) -> None:
    value = production_tag(args.props)
    if value is not None and value not in ("true", "false"):
        report(
            f"{args.resource_type} '{args.name}' has tag {PRODUCTION_TAG}={value!r}; it must be \"true\" or "
            '"false" (makini-infra sets it from makini:production), or production rules could be skipped',
            None,
        )


def _check_key_vault(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != KEY_VAULT:
        return
    properties = args.props.get("properties") or {}
    if properties.get("enableRbacAuthorization") is not True:
        report(
            f"Key Vault '{args.name}' does not use Azure RBAC (properties.enableRbacAuthorization is not true); "
            "access policies cannot be scoped to one secret",
            None,
        )
    if is_production(args.props, args.urn) and properties.get("enablePurgeProtection") is not True:
        report(
            f"production Key Vault '{args.name}' has no purge protection (properties.enablePurgeProtection); "
            "a purged vault or secret is gone for good",
            None,
        )


def _check_rotation(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SECRET_ROTATION:
        return
    rules = args.props.get("rotationRules") or {}
    days = rotation_days(rules)
    env = environment_of(args.props, args.urn)
    limit = _max_rotation_days(args.get_config(), env)
    if days is None:
        report(
            f"secret rotation '{args.name}' has no period that can be checked; set "
            "rotationRules.automaticallyAfterDays or a rate(N days) scheduleExpression",
            None,
        )
    elif not 0 < days <= limit:
        report(
            f"secret rotation '{args.name}' rotates every {days:g} days; environment '{env}' allows at most "
            f"{limit} (Makini tokens expire after {TOKEN_LIFETIME_DAYS} days)",
            None,
        )


def _check_service_bus(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != SERVICE_BUS_QUEUE:
        return
    if args.props.get("requiresDuplicateDetection") is not True:
        report(
            f"Service Bus queue '{args.name}' does not detect duplicates (requiresDuplicateDetection); "
            "Makini retries deliveries for 24 hours",
            None,
        )
        return
    raw = args.props.get("duplicateDetectionHistoryTimeWindow")
    window = iso_duration(raw)
    if window is None:
        report(
            f"Service Bus queue '{args.name}' has duplicateDetectionHistoryTimeWindow {raw!r}, not an ISO 8601 "
            "duration; set at least PT24H",
            None,
        )
    elif window < MIN_DUPLICATE_DETECTION:
        report(
            f"Service Bus queue '{args.name}' remembers duplicates for {raw} only; Makini retries for 24 hours: "
            "set duplicateDetectionHistoryTimeWindow to at least PT24H",
            None,
        )


# --------------------------------------------------------------------------------------------------
# Stack validation: every webhook function has its secret, queue and dead-letter queue


def _queue_for_url(queues: Iterable[PolicyResource], url: str) -> PolicyResource | None:
    for queue in queues:
        if queue.props.get("url") == url:
            return queue
    tail = url.rstrip("/").rsplit("/", 1)[-1]
    for queue in queues:
        if queue.props.get("name") == tail:
            return queue
    return None


def _queue_for_arn(queues: Iterable[PolicyResource], arn: str) -> PolicyResource | None:
    tail = arn.rsplit(":", 1)[-1]
    for queue in queues:
        if queue.props.get("arn") == arn or queue.props.get("name") == tail:
            return queue
    return None


def _secret_for_arn(secrets: Iterable[PolicyResource], arn: str) -> PolicyResource | None:
    for secret in secrets:
        name = secret.props.get("name")
        if secret.props.get("arn") == arn or (isinstance(name, str) and f":secret:{name}-" in arn):
            return secret
    return None


def is_webhook_function(resource: PolicyResource) -> bool:
    tags = resource.props.get("tags") or {}
    return resource.resource_type == LAMBDA_FUNCTION and tags.get("makini:purpose") in WEBHOOK_PURPOSES


def _check_webhook_functions(args: StackValidationArgs, report: ReportViolation) -> None:
    queues = [r for r in args.resources if r.resource_type == SQS_QUEUE]
    secrets = [r for r in args.resources if r.resource_type == SECRET]
    for fn in (r for r in args.resources if is_webhook_function(r)):
        variables = (fn.props.get("environment") or {}).get("variables") or {}
        secret_arn, queue_url = variables.get("WEBHOOK_SECRET_ARN"), variables.get("QUEUE_URL")
        if not secret_arn:
            report(f"webhook function '{fn.name}' has no WEBHOOK_SECRET_ARN: it cannot verify signatures", fn.urn)
        elif _secret_for_arn(secrets, secret_arn) is None:
            report(f"webhook function '{fn.name}' reads {secret_arn}, which is not a secret of this stack", fn.urn)
        if not queue_url:
            report(f"webhook function '{fn.name}' has no QUEUE_URL: verified events would have nowhere to go", fn.urn)
            continue
        queue = _queue_for_url(queues, queue_url)
        if queue is None:
            report(f"webhook function '{fn.name}' sends to {queue_url}, which is not a queue of this stack", fn.urn)
            continue
        redrive = policy_document(queue.props.get("redrivePolicy")) or {}
        target = redrive.get("deadLetterTargetArn")
        if not target:
            report(
                f"queue '{queue.name}' of webhook function '{fn.name}' has no redrivePolicy with a "
                "deadLetterTargetArn: a message that keeps failing would be lost after the retention period",
                queue.urn,
            )
        elif _queue_for_arn(queues, target) is None:
            report(
                f"queue '{queue.name}' of webhook function '{fn.name}' dead-letters to {target}, which is not a "
                "queue of this stack",
                queue.urn,
            )


# --------------------------------------------------------------------------------------------------
# Stack validation: only the receiver puts messages in a webhook queue


def _exceptions(statement: Mapping[str, Any]) -> list[str] | None:
    """The principals a Deny spares (``StringNotEquals aws:PrincipalArn``), [] when it spares nobody; None
    when it has any other condition (then it does not deny everyone else unconditionally)."""
    condition = statement.get("Condition") or {}
    if not condition:
        return []
    if set(condition) != {"StringNotEquals"} or {k.lower() for k in condition["StringNotEquals"]} != {
        "aws:principalarn"
    }:
        return None
    (value,) = condition["StringNotEquals"].values()
    return sorted(str(v) for v in _as_list(value))


def queue_policy_problems(document: Mapping[str, Any], senders: list[str]) -> list[str]:
    """What a webhook queue's policy lacks so that only ``senders`` put messages in it (empty: nothing)."""
    statements = [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]
    problems = []

    def denied_to_all_but(action: str, allowed: list[str]) -> bool:
        return any(
            _denies(s, action) and (spared := _exceptions(s)) is not None and set(spared) <= set(allowed)
            for s in statements
        )

    if not denied_to_all_but("sqs:SendMessage", senders):
        who = f"all but {', '.join(senders)}" if senders else "everyone"
        problems.append(f"no statement denies sqs:SendMessage to {who}, so a message nobody verified can be queued")
    if not denied_to_all_but("sqs:StartMessageMoveTask", []):
        problems.append(
            "no statement denies sqs:StartMessageMoveTask to everyone, so messages can be redriven into the queue"
        )
    return problems


def _queue_policy_for(policies: Iterable[PolicyResource], queue: PolicyResource) -> PolicyResource | None:
    url, name = queue.props.get("url"), queue.props.get("name")
    for policy in policies:
        target = policy.props.get("queueUrl")
        if isinstance(target, str) and (target == url or (isinstance(name, str) and target.rsplit("/", 1)[-1] == name)):
            return policy
    return None


def _check_webhook_queues(args: StackValidationArgs, report: ReportViolation) -> None:
    queues = [r for r in args.resources if r.resource_type == SQS_QUEUE]
    policies = [r for r in args.resources if r.resource_type == SQS_QUEUE_POLICY]
    for fn in (r for r in args.resources if is_webhook_function(r)):
        variables = (fn.props.get("environment") or {}).get("variables") or {}
        queue_url, role = variables.get("QUEUE_URL"), fn.props.get("role")
        queue = _queue_for_url(queues, queue_url) if isinstance(queue_url, str) else None
        if queue is None or not isinstance(role, str):
            continue  # webhook-functions-wired reports a missing queue; an unknown role is known next preview
        target = (policy_document(queue.props.get("redrivePolicy")) or {}).get("deadLetterTargetArn")
        dlq = _queue_for_arn(queues, target) if isinstance(target, str) else None
        for q, senders, what in ((queue, [role], "queue"), (dlq, [], "dead-letter queue")):
            if q is None:
                continue
            policy = _queue_policy_for(policies, q)
            document = policy_document(policy.props.get("policy")) if policy is not None else None
            if document is None:
                report(
                    f"the {what} '{q.name}' of webhook function '{fn.name}' has no readable queue policy: any principal "
                    "of the account with sqs:SendMessage could queue a message consumers trust as verified",
                    q.urn,
                )
                continue
            for problem in queue_policy_problems(document, senders):
                report(f"the {what} '{q.name}' of webhook function '{fn.name}': {problem}", q.urn)


# --------------------------------------------------------------------------------------------------
# Stack validation: every secret's resource policy keeps the recovery promise


_REPLICATION = ("secretsmanager:replicatesecrettoregions",)
_FORCE = "secretsmanager:forcedeletewithoutrecovery"


def _denies(statement: Mapping[str, Any], action: str) -> bool:
    """A Deny statement for every AWS principal (exceptions by aws:PrincipalArn only) covering ``action``."""
    if statement.get("Effect") != "Deny" or statement.get("Principal") not in ({"AWS": "*"}, "*"):
        return False
    actions = [a for a in _as_list(statement.get("Action")) if isinstance(a, str)]
    return any(_action_matches(a, action) for a in actions)


def _only_principal_exceptions(condition: Mapping[str, Any], allowed: Iterable[tuple[str, str]]) -> bool:
    """The condition holds nothing but ``(operator, key)`` pairs from ``allowed`` and principal exceptions."""
    keys = {(op, k.lower()) for op, block in condition.items() if isinstance(block, Mapping) for k in block}
    return keys <= {("StringNotEquals", "aws:principalarn"), *allowed}


def secret_policy_problems(document: Mapping[str, Any], production: bool) -> list[str]:
    """What a secret's resource policy lacks to keep its recovery window (empty: nothing)."""
    statements = [s for s in _as_list(document.get("Statement")) if isinstance(s, Mapping)]
    problems = []
    force = [
        s
        for s in statements
        if _denies(s, "secretsmanager:DeleteSecret")
        and _only_principal_exceptions(s.get("Condition") or {}, [("Bool", _FORCE)])
        and [str(v).lower() for k, v in ((s.get("Condition") or {}).get("Bool") or {}).items() if k.lower() == _FORCE]
        == ["true"]
    ]
    if not force:
        problems.append(
            "no statement denies secretsmanager:DeleteSecret with ForceDeleteWithoutRecovery to every principal but "
            "named break-glass ones, so the secret can be deleted without its recovery window"
        )
    if not any(
        _denies(s, a) and _only_principal_exceptions(s.get("Condition") or {}, [])
        for s in statements
        for a in _REPLICATION
    ):
        problems.append(
            "no statement denies secretsmanager:ReplicateSecretToRegions to every principal but named ones, so a copy "
            "can appear in another region under another key"
        )
    if production and not any(
        _denies(s, "secretsmanager:DeleteSecret") and _only_principal_exceptions(s.get("Condition") or {}, [])
        for s in statements
    ):
        problems.append(
            "it is production and no statement denies secretsmanager:DeleteSecret outright (but to named break-glass "
            "principals)"
        )
    narrow = [
        s.get("Sid") or str(i)
        for i, s in enumerate(statements)
        if s.get("Effect") == "Deny" and s.get("Resource") != "*"
    ]
    if narrow:
        problems.append(
            f'deny statement(s) {", ".join(map(str, narrow))} name a resource other than "*" (this secret): the '
            "policy's copy on a replica (another region's ARN) would match nothing"
        )
    return problems


def _check_secret_policies(args: StackValidationArgs, report: ReportViolation) -> None:
    secrets = [r for r in args.resources if r.resource_type == SECRET]
    policies = [r for r in args.resources if r.resource_type == SECRET_POLICY]
    covered: set[str] = set()
    unknown = False
    for policy in policies:
        arn = policy.props.get("secretArn")
        if not isinstance(arn, str):
            unknown = True  # not known before the secret exists (a preview): checked on the next one
            continue
        secret = _secret_for_arn(secrets, arn)
        if secret is not None:
            covered.add(secret.urn)
        document = policy_document(policy.props.get("policy"))
        if document is None:
            if isinstance(policy.props.get("policy"), str):
                report(f"secret policy '{policy.name}' is not a readable policy document", policy.urn)
            continue
        production = is_production(secret.props, secret.urn) if secret is not None else is_production({}, policy.urn)
        for problem in secret_policy_problems(document, production):
            report(f"secret policy '{policy.name}': {problem}", policy.urn)
    if not unknown:
        for secret in secrets:
            if secret.urn not in covered:
                report(
                    f"secret '{secret.name}' has no resource policy: nothing stops an administrator from deleting it "
                    "without recovery or reading it; give it one (makini-infra's SecretStore does)",
                    secret.urn,
                )


# --------------------------------------------------------------------------------------------------
# Stack validation: Azure Function Apps are published by Pulumi only, and keep no key in their host storage


def is_function_app(resource: PolicyResource) -> bool:
    kind = resource.props.get("kind")
    return resource.resource_type == WEB_APP and isinstance(kind, str) and "functionapp" in kind.lower()


def _app_settings(app: PolicyResource) -> dict[str, Any]:
    site = app.props.get("siteConfig") or {}
    return {str(s.get("name")): s.get("value") for s in site.get("appSettings") or [] if isinstance(s, Mapping)}


def _same_app(policy: PolicyResource, app: PolicyResource) -> bool:
    return policy.props.get("name") == app.props.get("name") and policy.props.get("resourceGroupName") == app.props.get(
        "resourceGroupName"
    )


def _check_function_apps(args: StackValidationArgs, report: ReportViolation) -> None:
    for app in (r for r in args.resources if is_function_app(r)):
        if not isinstance(app.props.get("name"), str):
            continue  # not known yet in a preview: checked on the next one
        site = app.props.get("siteConfig") or {}
        for typ, what in ((SCM_ALLOWED, "SCM (Kudu)"), (FTP_ALLOWED, "FTP")):
            policies = [r for r in args.resources if r.resource_type == typ and _same_app(r, app)]
            if not policies or any(p.props.get("allow") is not False for p in policies):
                report(
                    f"function app '{app.name}' allows {what} basic-auth publishing credentials: anyone with its "
                    f"publish profile can push code that runs as its identity; declare a {typ.rsplit(':', 1)[-1]} "
                    "with allow: false",
                    app.urn,
                )
        if site.get("ftpsState") != "Disabled":
            report(
                f"function app '{app.name}' has ftpsState {site.get('ftpsState')!r}; set it to \"Disabled\"", app.urn
            )
        if site.get("scmIpSecurityRestrictionsUseMain") is not True:
            report(
                f"function app '{app.name}': its SCM site does not follow the main site's access restrictions "
                "(siteConfig.scmIpSecurityRestrictionsUseMain)",
                app.urn,
            )
        if is_production(app.props, app.urn) and site.get("ipSecurityRestrictionsDefaultAction") != "Deny":
            report(
                f"production function app '{app.name}' admits any source (siteConfig.ipSecurityRestrictionsDefaultAction "
                "is not Deny); allow only its callers",
                app.urn,
            )


def _check_function_host_storage(args: StackValidationArgs, report: ReportViolation) -> None:
    accounts = {r.props.get("accountName"): r for r in args.resources if r.resource_type == STORAGE_ACCOUNT}
    for app in (r for r in args.resources if is_function_app(r)):
        settings = _app_settings(app)
        for key in ("AzureWebJobsStorage", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING"):
            if key in settings:
                report(
                    f"function app '{app.name}' has the setting {key}: a connection string carries the storage "
                    "account key; use identity-based host storage (AzureWebJobsStorage__accountName)",
                    app.urn,
                )
        name = settings.get("AzureWebJobsStorage__accountName")
        if not isinstance(name, str):
            if "AzureWebJobsStorage" not in settings:
                report(
                    f"function app '{app.name}' names no host storage account (AzureWebJobsStorage__accountName)",
                    app.urn,
                )
            continue
        account = accounts.get(name)
        if account is None:
            continue  # an account of another stack: not ours to judge
        if account.props.get("allowSharedKeyAccess") is not False:
            report(
                f"storage account '{account.name}' is the host storage of function app '{app.name}' and allows "
                "shared-key access: anyone who can list its keys reads the host's state (function keys included) "
                "without an identity; set allowSharedKeyAccess to false",
                account.urn,
            )


# --------------------------------------------------------------------------------------------------
# The policies (constructed here; the pack in __main__.py lists them)

secrets_use_customer_managed_key = ResourceValidationPolicy(
    name="secrets-use-customer-managed-key",
    description="Every Secrets Manager secret is encrypted with a customer-managed KMS key, not aws/secretsmanager.",
    validate=_check_secret_cmk,
)
kms_keys_rotate = ResourceValidationPolicy(
    name="kms-keys-rotate",
    description="Every symmetric KMS key has automatic key rotation enabled.",
    validate=_check_kms_rotation,
)
no_wildcard_iam_on_secrets_or_keys = ResourceValidationPolicy(
    name="no-wildcard-iam-on-secrets-or-keys",
    description="IAM policies grant no wildcard secretsmanager/kms actions and no secret reads on Resource '*'.",
    validate=_check_iam,
)
production_stores_protected = ResourceValidationPolicy(
    name="production-stores-protected",
    description="In production, secrets and Key Vaults are protected, and secrets and KMS keys stay "
    f"recoverable >= {MIN_PROD_RECOVERY_WINDOW_DAYS} days after deletion.",
    validate=_check_prod_protection,
)
production_tag_readable = ResourceValidationPolicy(
    name="production-tag-readable",
    description=f'The {PRODUCTION_TAG} tag, when present, is exactly "true" or "false".',
    validate=_check_production_tag,
)
key_vault_rbac_and_purge_protection = ResourceValidationPolicy(
    name="key-vault-rbac-and-purge-protection",
    description="Key Vaults use Azure RBAC; production Key Vaults have purge protection.",
    validate=_check_key_vault,
)
rotation_within_environment_maximum = ResourceValidationPolicy(
    name="rotation-within-environment-maximum",
    description=f"Secrets Manager rotation runs at least every {DEFAULT_MAX_ROTATION_DAYS} days "
    "(or the environment's configured maximum).",
    validate=_check_rotation,
    config_schema=PolicyConfigSchema(
        properties={
            "maxDays": {
                "type": "integer",
                "minimum": 1,
                "maximum": DEFAULT_MAX_ROTATION_DAYS,
                "default": DEFAULT_MAX_ROTATION_DAYS,
            },
            "maxDaysByEnvironment": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 1, "maximum": DEFAULT_MAX_ROTATION_DAYS},
                "default": {},
            },
        },
    ),
)
service_bus_duplicate_detection = ResourceValidationPolicy(
    name="service-bus-duplicate-detection",
    description="Service Bus queues detect duplicates for at least 24 hours (Makini's retry window).",
    validate=_check_service_bus,
)
webhook_functions_wired = StackValidationPolicy(
    name="webhook-functions-wired",
    description="Every webhook Lambda has WEBHOOK_SECRET_ARN and QUEUE_URL, and its queue a dead-letter queue.",
    validate=_check_webhook_functions,
)

RESOURCE_POLICIES: tuple[ResourceValidationPolicy, ...] = (
    secrets_use_customer_managed_key,
    kms_keys_rotate,
    no_wildcard_iam_on_secrets_or_keys,
    production_stores_protected,
    production_tag_readable,
    key_vault_rbac_and_purge_protection,
    rotation_within_environment_maximum,
    service_bus_duplicate_detection,
)
secret_policies_protect_recovery = StackValidationPolicy(
    name="secret-policies-protect-recovery",
    description="Every secret has a resource policy that denies deleting it without its recovery window and "
    "replicating it to all but named principals (in production: deleting it at all), on the secret and its replicas.",
    validate=_check_secret_policies,
)

webhook_queues_only_receiver_sends = StackValidationPolicy(
    name="webhook-queues-only-receiver-sends",
    description="A webhook function's queue denies sqs:SendMessage to all but that function's role, its dead-letter "
    "queue denies it to everyone, and both deny starting a message move (a redrive), to everyone.",
    validate=_check_webhook_queues,
)

function_apps_locked_down = StackValidationPolicy(
    name="function-apps-locked-down",
    description="Azure Function Apps have SCM and FTP basic-auth publishing off, FTPS off, the SCM site under the "
    "main site's access restrictions, and (production) a default Deny for inbound traffic.",
    validate=_check_function_apps,
)
function_host_storage_keyless = StackValidationPolicy(
    name="function-host-storage-keyless",
    description="Azure Function Apps use identity-based host storage, in an account without shared-key access.",
    validate=_check_function_host_storage,
)

STACK_POLICIES: tuple[StackValidationPolicy, ...] = (
    webhook_functions_wired,
    secret_policies_protect_recovery,
    webhook_queues_only_receiver_sends,
    function_apps_locked_down,
    function_host_storage_keyless,
)
ALL_POLICIES = (*RESOURCE_POLICIES, *STACK_POLICIES)
PACK_NAME = "makini-baseline"
ENFORCEMENT = EnforcementLevel.MANDATORY
