"""The stack outputs: every name the program exports, its shape and what it means. Pure; imports nothing of ours.

Outputs are a contract with application stacks (``pulumi.StackReference``), Pulumi ESC and reviewers reading a
preview, so they are:

* **flat**: a scalar, a list of scalars, or one map (a catalog path, connection key, access class or
  consumer name to a scalar); the few structured documents (the access matrix, the rotator's CronJob
  manifest, a consumer's view) are marked as such and described in docs/outputs.md;
* **never null**: the engine drops a null value from a map, so "nothing" is an empty map, list or string;
* **date-free**: the same output whatever day the program runs (``tests/program/test_stable_outputs.py``
  runs it on two days); due dates and statuses are ``python -m infra.due``'s and the plan's calendar's;
* **documented**: the composition exports only names listed here (a test checks every example stack), and
  docs/outputs.md is generated from this list (``python -m infra.outputs_reference --write``).

Secrets are keyed by their catalog path (``oauth/client``, ``webhook/secret``, ``connections/<key>/token``,
``connections/<class>/<key>/token``, ``connections/<key>/m2m-key``), the same key the access matrix, the
rotation calendar and ``python -m infra.due`` use.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Shape(StrEnum):
    SCALAR = "scalar"
    LIST = "list of scalars"
    MAP = "map"
    DOCUMENT = "document"


@dataclass(frozen=True)
class OutputDoc:
    name: str
    shape: Shape
    #: When the output exists: "always", a backend, or a capability.
    when: str
    description: str
    #: MAP: what the keys are.
    keys: str = ""


def _o(name: str, shape: Shape, when: str, description: str, keys: str = "") -> OutputDoc:
    return OutputDoc(name, shape, when, description, keys)


S, L, M, D = Shape.SCALAR, Shape.LIST, Shape.MAP, Shape.DOCUMENT
PATH = "catalog path"

#: Every output, in the order docs/outputs.md lists them. ``<name>`` in a name is a placeholder.
OUTPUTS: tuple[OutputDoc, ...] = (
    _o("environment", S, "always", "The environment name (`makini:environment`, default: the stack name)."),
    _o("production", S, "always", "Whether the stack is production (protected against deletion, strict defaults)."),
    _o("backends", L, "always", "The backends this stack builds, in build order (`aws`, `azure`, `vault`)."),
    _o("creditsUsed", S, "always", "Makini connection credits the declared connections use."),
    _o("creditsFree", S, "always", "Credits left in the pool (`makini:credits.pool`)."),
    _o(
        "accessMatrix",
        D,
        "always",
        "Every identity's read/write on every secret and access class (the plan's access matrix; "
        "`identities.<name>.secrets.<path>` and `.classes.<class>`, `{read, write}`, per backend where they differ).",
    ),
    _o(
        "rotationModes",
        M,
        "always",
        "How each secret rotates: `automatic` (connection tokens), `manual-with-reminder` (hand-issued in Makini), "
        "`manual` (not rotated by the stack). The dates are `python -m infra.due`'s.",
        PATH,
    ),
    _o(
        "rotationPeriodDays",
        M,
        "always",
        "Each secret's rotation period or maximum age in days.",
        PATH,
    ),
    _o(
        "consumer-<name>",
        D,
        "one per consumer",
        "What consumer `<name>` needs to wire its service: per backend of the stack, its identity, exactly the "
        "secret locations it may read and, for the onboarding identity, where it may create run-time tokens (see "
        "'Consumer views' below).",
    ),
    # -- AWS
    _o("awsKmsKeyArn", S, "aws", "The environment's customer-managed KMS key (every secret is encrypted with it)."),
    _o("awsSecretArns", M, "aws", "Secrets Manager secret ARNs (names `makini/<env>/<path>`).", PATH),
    _o(
        "awsKeeperFunctionName",
        S,
        "aws, run-time classes",
        "The Lambda that gives each run-time token its class's resource policy and rotation: the onboarding service "
        "invokes it with the new secret's ARN right after it creates one (`AwsPlace(..., keeper=...)`).",
    ),
    _o(
        "awsRotationFunctionArn",
        S,
        "aws, rotation enabled",
        "The Lambda that rotates connection tokens (Secrets Manager rotation).",
    ),
    _o(
        "awsRotationAlarmTopicArn",
        S,
        "aws, rotation enabled",
        "The SNS topic a failed rotation alarms (the webhook alarms' topic when there is one).",
    ),
    _o("awsRotationAlarms", L, "aws, rotation enabled", "The CloudWatch alarms on failed rotations."),
    _o(
        "awsReminderTopicArn",
        S,
        "aws, rotation enabled",
        "The SNS topic reminders of hand-issued secrets go to (subscribe your on-call to it).",
    ),
    _o("awsWebhookUrl", S, "aws, webhooks enabled", "Where Makini posts webhooks (register it in Makini)."),
    _o("awsWebhookQueueUrl", S, "aws, webhooks enabled", "The SQS queue verified webhooks land in."),
    _o("awsWebhookQueueArn", S, "aws, webhooks enabled", "Its ARN."),
    _o("awsWebhookDlqUrl", S, "aws, webhooks enabled", "The dead-letter queue."),
    _o("awsWebhookDlqArn", S, "aws, webhooks enabled", "The dead-letter queue's ARN."),
    _o("awsWebhookAlarmTopicArn", S, "aws, webhooks enabled", "The SNS topic the webhook alarms notify."),
    # -- Azure
    _o("azureVaultName", S, "azure", "The environment's Key Vault."),
    _o("azureVaultUri", S, "azure", "Its URI (`https://<vault>.vault.azure.net/`)."),
    _o("azureSecretIds", M, "azure", "Key Vault secret resource IDs (ARM).", PATH),
    _o("azureSecretNames", M, "azure", "Key Vault secret names (a path with `/` as `-`).", PATH),
    _o(
        "azureSecretUris",
        M,
        "azure",
        "Key Vault secret URIs without a version (`<vault URI>secrets/<name>`: the latest version).",
        PATH,
    ),
    _o("azureClassVaultNames", M, "azure, access classes", "The Key Vault of each access class.", "access class"),
    _o("azureClassVaultUris", M, "azure, access classes", "Its URI.", "access class"),
    _o(
        "azureRotationFunctionApp",
        S,
        "azure, rotation enabled",
        "The Function App that rotates connection tokens (an hourly timer over the deployed bindings).",
    ),
    _o("azureRotationSchedule", S, "azure, rotation enabled", "Its timer's schedule (NCRONTAB, UTC)."),
    _o("azureRotationAlert", S, "azure, rotation enabled", "The metric alert on failed rotations."),
    _o("azureWebhookUrl", S, "azure, webhooks enabled", "Where Makini posts webhooks (register it in Makini)."),
    _o("azureWebhookServiceBusNamespace", S, "azure, webhooks enabled", "The Service Bus namespace of the queue."),
    _o("azureWebhookQueueName", S, "azure, webhooks enabled", "The Service Bus queue verified webhooks land in."),
    _o("azureWebhookAlarms", L, "azure, webhooks enabled", "The metric alerts watching the endpoint."),
    _o("azureWebhookAlarmActionGroup", S, "azure, webhooks enabled", "The action group the alerts notify."),
    _o(
        "azureWebhookQueueConsumers",
        L,
        "azure, webhooks enabled",
        "Consumers granted Azure Service Bus Data Receiver on the queue.",
    ),
    # -- Vault
    _o("vaultMount", S, "vault", "The environment's KV v2 mount (`makini-<env>`)."),
    _o("vaultPaths", M, "vault", "API paths of the secrets' data (`<mount>/data/<path>`).", PATH),
    _o("vaultRotatorPolicy", S, "vault, rotation enabled", "The rotator's Vault policy."),
    _o("vaultRotatorRole", S, "vault, rotation enabled", "The rotator's auth role."),
    _o("vaultRotatorAuthMethod", S, "vault, rotation enabled", "How the rotator logs in (`kubernetes` or `jwt`)."),
    _o("vaultRotatorSchedule", S, "vault, rotation enabled", "The rotator CronJob's schedule (UTC)."),
    _o(
        "vaultRotatorTokenPaths",
        L,
        "vault, rotation enabled",
        "Token paths the rotator may write outside access classes.",
    ),
    _o("vaultRotatorClassPrefixes", L, "vault, rotation enabled", "Access class prefixes the rotator may write."),
    _o(
        "vaultRotatorBindingsConfigMap",
        D,
        "vault, rotation enabled",
        "The rotator's bindings ConfigMap (KV path -> Makini connection id) as a manifest object; apply it with the "
        "CronJob.",
    ),
    _o(
        "vaultRotatorPrometheusRule",
        D,
        "vault, rotation enabled",
        "A PrometheusRule alerting when the rotator has not succeeded for a day, as a manifest object.",
    ),
    _o(
        "vaultRotatorCronJob",
        D,
        "vault, rotation enabled",
        "The rotator's Kubernetes CronJob manifest as an object (no secret in it): apply it with your "
        "Kubernetes tooling (e.g. `kubernetes.yaml.v2.ConfigGroup(objs=[...])`).",
    ),
    # -- NetSuite
    _o(
        "netsuiteCertificatePems",
        M,
        "NetSuite connections",
        "The M2M certificate to upload to the integration record's machine-to-machine setup.",
        "connection key",
    ),
    _o("netsuiteCertificateNotAfter", M, "NetSuite connections", "When the certificate expires.", "connection key"),
    _o(
        "netsuiteCertificateRenewBy",
        M,
        "NetSuite connections",
        "When to renew it (its reminder; `python -m infra.due` reports it).",
        "connection key",
    ),
)

DOCUMENTED: dict[str, OutputDoc] = {o.name: o for o in OUTPUTS}
CONSUMER_PREFIX = "consumer-"


def consumer_output(consumer: str) -> str:
    """The output holding consumer ``consumer``'s view."""
    return f"{CONSUMER_PREFIX}{consumer}"


def documented_name(name: str) -> str | None:
    """The documented entry an exported output name falls under (``consumer-asset-sync`` -> ``consumer-<name>``)."""
    if name in DOCUMENTED:
        return name
    if name.startswith(CONSUMER_PREFIX) and len(name) > len(CONSUMER_PREFIX):
        return f"{CONSUMER_PREFIX}<name>"
    return None


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def is_flat(documented: str | None, value: object) -> bool:
    """Whether ``value`` has the documented output's shape (documents are described, not flat)."""
    doc = DOCUMENTED.get(documented or "")
    if doc is None:
        return False
    if doc.shape is Shape.DOCUMENT:
        return isinstance(value, dict)
    if doc.shape is Shape.SCALAR:
        return _scalar(value)
    if doc.shape is Shape.LIST:
        return isinstance(value, list) and all(_scalar(v) for v in value)
    return isinstance(value, dict) and all(
        isinstance(k, str) and (_scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)))
        for k, v in value.items()
    )


#: The keys of a consumer's view (output ``consumer-<name>``): at the top, then under each backend of the
#: stack. Every key is always present: a backend on which the consumer reads nothing has empty maps (an
#: explicit empty view, never a missing key). No output holds a null anywhere: the engine drops null values
#: from maps, so a key would silently disappear from the deployed stack's outputs.
CONSUMER_VIEW: dict[str, dict[str, str]] = {
    "": {
        "consumer": "The consumer's name (`makini:consumers.<name>`).",
        "environment": "The environment.",
    },
    "aws": {
        "roleArn": "The IAM role the service must run as: the secrets' resource policies name it.",
        "readPolicyArn": "The consumer's read policy, already attached to that role (empty: it reads nothing on AWS).",
        "secretArns": "Catalog path → secret ARN, for each secret outside access classes it may read.",
        "classArnPatterns": "Access class → the ARN pattern of every token of the class (`.../connections/<class>/*/token-*`).",
        "webhookQueue": "The webhook SQS queue it consumes, `{url, arn}` (empty unless `webhookQueue: true`).",
        "createNamePatterns": "The onboarding identity only (`onboarding: true`; empty for every other consumer): "
        "run-time class → the Secrets Manager names it may create tokens at (`makini/<env>/connections/<class>/*/token`, "
        "`*` one Makini connection id), as roleArn, with the run-time tags and the environment's KMS key.",
        "onboardingPolicyArn": "The onboarding identity only: its store policy, already attached to roleArn (empty "
        "for every other consumer).",
    },
    "azure": {
        "principalId": "The Entra ID object the service must authenticate as (its Key Vault Secrets User grants).",
        "principalType": "`ServicePrincipal`, `User` or `Group`.",
        "secretUris": "Catalog path → versionless Key Vault secret URI, for each secret outside access classes.",
        "classVaultUris": "Access class → the URI of the class's Key Vault: it may read every secret in it.",
        "webhookQueue": "The Service Bus queue it receives from, `{serviceBusNamespace, queueName}` (empty unless "
        "`webhookQueue: true`).",
        "createVaultUris": "The onboarding identity only (empty for every other consumer): run-time class → the URI "
        "of the class's Key Vault, where it may set secrets (`connections-<class>-<id>-token`).",
        "createRoleDefinitionId": "The onboarding identity only: the custom role it holds on those vaults "
        "(`makini-<env>-onboarding-*`, defined by bootstrap/; empty for every other consumer).",
    },
    "vault": {
        "authMethod": "How it logs in: `jwt`, `kubernetes` or `approle`.",
        "authMount": "The auth mount (`auth/<authMount>/login`).",
        "authRole": "The role to log in with (`makini-<env>-<consumer>`).",
        "mount": "The KV v2 mount.",
        "secretPaths": "Catalog path → API path of the data (`<mount>/data/<path>`), for each secret outside classes.",
        "classPathGlobs": "Access class → the policy path of its tokens (`<mount>/data/connections/<class>/+/token`).",
        "createPathGlobs": "The onboarding identity only (empty for every other consumer): run-time class → the "
        "policy path it may create tokens at (`<mount>/data/connections/<class>/+/token`), logged in as authRole.",
        "onboardingPolicy": "The onboarding identity only: the policy that allows it, on authRole (empty for every "
        "other consumer).",
    },
}
