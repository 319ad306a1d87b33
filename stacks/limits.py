"""The clouds' documented hard limits that a makini-infra stack approaches, measured on its documents.

Pure: no Pulumi. :func:`measure` takes resources as plain data (``{"type", "name", "inputs"}``, inputs
camelCase as the engine receives them: the offline plan's JSON, or the documents
:mod:`stacks.environment.preflight` renders before anything is registered) and returns one
:class:`Measurement` per (limit, resource); :func:`report` keeps the largest per limit, the headroom and
whatever exceeds a limit. The offline plan prints the report (its ``limits`` section) and exits 2 when
anything is exceeded; the program refuses before it registers a resource (see ``preflight``).

Every limit cites the page that documents it (checked when written; quotas change, and the plan prints the
link so a reviewer can check again). Where a quota can be raised (trust policy, managed policies per role)
the default is used.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .naming import KEEPER_SETTINGS_FILE

IAM_QUOTAS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html"
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
SECRETS_MANAGER_QUOTAS = "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html"
KMS_QUOTAS = "https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html"
AWS_TAGGING = "https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html"
AZURE_RBAC_LIMITS = "https://learn.microsoft.com/azure/role-based-access-control/troubleshoot-limits"
KEY_VAULT_NAMES = "https://learn.microsoft.com/azure/key-vault/general/about-keys-secrets-certificates"
AZURE_TAGS = "https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources"
VAULT_STORAGE = "https://developer.hashicorp.com/vault/docs/configuration/storage/consul"
VAULT_KV_V2 = "https://developer.hashicorp.com/vault/api-docs/secret/kv/kv-v2"


@dataclass(frozen=True)
class Limit:
    """One documented hard limit."""

    id: str
    backend: str
    title: str
    value: int
    unit: str
    doc: str
    #: What to do when a resource exceeds it (the measurement may name a more specific fix).
    fix: str


def _limits(*limits: Limit) -> dict[str, Limit]:
    return {limit.id: limit for limit in limits}


LIMITS: dict[str, Limit] = _limits(
    # ---- AWS IAM (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html) -----------
    Limit(
        "aws.iam.managed-policy-size",
        "aws",
        "IAM managed policy document",
        6144,
        "characters, whitespace excluded",
        IAM_QUOTAS,
        "file the consumer's connections under access classes (makini:accessClasses): a class is one ARN "
        "pattern in the policy, however many connections it holds",
    ),
    Limit(
        "aws.iam.inline-policies-per-role",
        "aws",
        "IAM inline policies, aggregate per role",
        10240,
        "characters, whitespace excluded",
        IAM_QUOTAS,
        "reduce the role's inline policies",
    ),
    Limit(
        "aws.iam.trust-policy-size",
        "aws",
        "IAM role trust policy",
        2048,
        "characters, whitespace excluded (raisable to 4,096 by quota request)",
        IAM_QUOTAS,
        "shorten the trust policy (fewer principals or conditions), or raise the quota and set the role up "
        "outside the stack (aws.roleArn)",
    ),
    Limit(
        "aws.iam.managed-policies-per-role",
        "aws",
        "managed policies attached per role (by this stack; the role's others count too)",
        10,
        "policies (raisable to 20)",
        IAM_QUOTAS,
        "attach fewer managed policies to the role",
    ),
    Limit("aws.iam.role-name", "aws", "IAM role name", 64, "characters", IAM_QUOTAS, "shorten the name"),
    Limit("aws.iam.policy-name", "aws", "IAM policy name", 128, "characters", IAM_QUOTAS, "shorten the name"),
    # ---- Lambda (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html) ----------------
    Limit(
        "aws.lambda.resource-policy-size",
        "aws",
        "Lambda function resource-based policy (every lambda.Permission adds a statement)",
        20480,
        "bytes",
        LAMBDA_QUOTAS,
        "grant invocation with one permission whose source ARN is a pattern",
    ),
    Limit(
        "aws.lambda.environment-size",
        "aws",
        "Lambda environment variables, all together",
        4096,
        "bytes",
        LAMBDA_QUOTAS,
        "shorten the function's settings (e.g. the source allow list)",
    ),
    # ---- Secrets Manager (https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html)
    Limit(
        "aws.secretsmanager.resource-policy-size",
        "aws",
        "Secrets Manager resource policy",
        20480,
        "characters",
        SECRETS_MANAGER_QUOTAS,
        "name fewer principals on the secret (readers, makini:aws.operatorArns, makini:aws.deployerArns)",
    ),
    Limit(
        "aws.secretsmanager.secret-name",
        "aws",
        "Secrets Manager secret name",
        512,
        "characters",
        SECRETS_MANAGER_QUOTAS,
        "shorten the connection key or class name",
    ),
    # ---- KMS (https://docs.aws.amazon.com/kms/latest/developerguide/resource-limits.html) -------------------
    Limit(
        "aws.kms.key-policy-size",
        "aws",
        "KMS key policy document",
        32768,
        "bytes",
        KMS_QUOTAS,
        "name fewer principals on the key (consumers, makini:aws.keyAdminArns)",
    ),
    # ---- Tags (https://docs.aws.amazon.com/tag-editor/latest/userguide/tagging.html) -----------------------
    Limit(
        "aws.tags.per-resource",
        "aws",
        "AWS tags per resource",
        50,
        "tags",
        AWS_TAGGING,
        "remove tags from makini:tags.extra",
    ),
    Limit("aws.tags.key-length", "aws", "AWS tag key", 128, "characters", AWS_TAGGING, "shorten the tag key"),
    Limit("aws.tags.value-length", "aws", "AWS tag value", 256, "characters", AWS_TAGGING, "shorten the tag value"),
    # ---- Azure -----------------------------------------------------------------------------------------------
    Limit(
        "azure.rbac.role-assignments",
        "azure",
        "Azure role assignments in the subscription (this stack's share: makini:azure.roleAssignmentBudget of "
        "the 4,000 per subscription, shared with everything else in it)",
        4000,
        "role assignments",
        AZURE_RBAC_LIMITS,
        "file connections under access classes (one assignment per consumer per class, on the class's vault, "
        "instead of one per consumer per token), or raise makini:azure.roleAssignmentBudget if the "
        "subscription has room",
    ),
    Limit(
        "azure.keyvault.vault-name",
        "azure",
        "Key Vault name",
        24,
        "characters (3-24)",
        KEY_VAULT_NAMES,
        "set a shorter makini:azure.vaultName or makini:azure.classVaultNames entry",
    ),
    Limit(
        "azure.keyvault.secret-name",
        "azure",
        "Key Vault secret name",
        127,
        "characters",
        KEY_VAULT_NAMES,
        "shorten the connection key or class name",
    ),
    Limit(
        "azure.keyvault.secret-tags",
        "azure",
        "Key Vault secret tags",
        15,
        "tags",
        AZURE_TAGS,
        "remove tags from makini:tags.extra",
    ),
    Limit("azure.tags.per-resource", "azure", "Azure tags per resource", 50, "tags", AZURE_TAGS, "remove tags"),
    Limit(
        "azure.tags.name-length",
        "azure",
        "Azure tag name (storage accounts: 128; the stack tags one)",
        128,
        "characters",
        AZURE_TAGS,
        "shorten the tag name",
    ),
    Limit("azure.tags.value-length", "azure", "Azure tag value", 256, "characters", AZURE_TAGS, "shorten the value"),
    # ---- Vault -----------------------------------------------------------------------------------------------
    Limit(
        "vault.policy-size",
        "vault",
        "Vault policy (one storage entry; Consul's default maximum value, the smallest of the storage "
        "backends: integrated Raft's max_entry_size defaults to 1 MiB)",
        524288,
        "bytes",
        VAULT_STORAGE,
        "file the consumer's connections under access classes (one path rule per class)",
    ),
    Limit(
        "vault.kv.custom-metadata-keys",
        "vault",
        "KV v2 custom metadata keys per secret",
        64,
        "keys",
        VAULT_KV_V2,
        "store fewer metadata keys",
    ),
    Limit(
        "vault.kv.custom-metadata-value",
        "vault",
        "KV v2 custom metadata value",
        512,
        "bytes",
        VAULT_KV_V2,
        "shorten the value",
    ),
)


@dataclass(frozen=True)
class Measurement:
    """One resource's value for one limit (``limit`` may be lowered for this stack, e.g. a budget)."""

    limit_id: str
    resource: str
    value: int
    limit: int
    fix: str = ""

    @property
    def spec(self) -> Limit:
        return LIMITS[self.limit_id]

    @property
    def exceeded(self) -> bool:
        return self.value > self.limit

    @property
    def headroom(self) -> int:
        return self.limit - self.value

    def describe(self) -> str:
        spec = self.spec
        return (
            f"{spec.title}: {self.resource} measures {self.value:,} {spec.unit.split(',')[0].split(' (')[0]}, "
            f"over the limit of {self.limit:,} ({spec.doc})"
        )


_WHITESPACE = re.compile(r"\s+")


def iam_policy_chars(document: str | Mapping[str, Any]) -> int:
    """An IAM policy's size as IAM counts it: characters, whitespace excluded (IAM quotas page)."""
    text = document if isinstance(document, str) else json.dumps(document)
    return len(_WHITESPACE.sub("", text))


def utf8_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Context:
    """What measuring needs besides the resources."""

    #: This environment's share of the subscription's role assignments (makini:azure.roleAssignmentBudget).
    role_assignment_budget: int = 4000
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"


#: The statement Lambda adds to a function's policy for one AddPermission (shape as documented in
#: https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html); the statement id
#: is generated when not given (an id of this length is used).
_STATEMENT_ID = "x" * 40


def lambda_permission_statement(inputs: Mapping[str, Any], ctx: Context) -> dict[str, Any]:
    condition: dict[str, Any] = {}
    if inputs.get("sourceAccount"):
        condition["StringEquals"] = {"AWS:SourceAccount": inputs["sourceAccount"]}
    if inputs.get("sourceArn"):
        condition["ArnLike"] = {"AWS:SourceArn": inputs["sourceArn"]}
    statement: dict[str, Any] = {
        "Sid": inputs.get("statementId") or _STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": inputs.get("principal", "")},
        "Action": inputs.get("action", "lambda:InvokeFunction"),
        "Resource": f"arn:{ctx.partition}:lambda:{ctx.region}:{ctx.account_id}:function:{inputs.get('function', '')}",
    }
    if condition:
        statement["Condition"] = condition
    return statement


def _tags(resource: Mapping[str, Any]) -> dict[str, str] | None:
    tags = resource["inputs"].get("tags")
    return tags if isinstance(tags, dict) else None


def _packaged_text(code: object, path: str) -> str | None:
    """A generated file of a function's package: ``code`` is the program's archive (an object whose ``assets`` map
    holds text assets, duck-typed: this module imports no Pulumi) or the preflight's ``{path: text}``."""
    assets = code if isinstance(code, Mapping) else getattr(code, "assets", None)
    if not isinstance(assets, Mapping) or path not in assets:
        return None
    item = assets[path]
    text = item if isinstance(item, str) else getattr(item, "text", None)
    return text if isinstance(text, str) else None


def measure(resources: Iterable[Mapping[str, Any]], ctx: Context = Context()) -> list[Measurement]:
    """Every limit's value per resource (and per aggregate: role, function, subscription)."""
    out: list[Measurement] = []
    inline: dict[str, list[tuple[str, int]]] = {}
    attachments: dict[str, int] = {}
    permissions: dict[str, list[dict[str, Any]]] = {}
    assignments = 0

    def add(limit_id: str, resource: str, value: int, fix: str = "", limit: int | None = None) -> None:
        out.append(Measurement(limit_id, resource, value, LIMITS[limit_id].value if limit is None else limit, fix))

    for r in resources:
        typ, name, inputs = r["type"], r["name"], r["inputs"]
        tags = _tags(r)
        if typ.startswith("aws:") and tags is not None:
            add("aws.tags.per-resource", name, len(tags))
            if tags:
                key = max(tags, key=lambda k: (len(k), k))
                add("aws.tags.key-length", f"{name} tag {key!r}", len(key))
                longest = max(tags, key=lambda k: (len(str(tags[k])), k))
                add("aws.tags.value-length", f"{name} tag {longest!r}", len(str(tags[longest])))
        if typ.startswith("azure-native:") and tags is not None:
            limit_id = (
                "azure.keyvault.secret-tags" if typ == "azure-native:keyvault:Secret" else "azure.tags.per-resource"
            )
            add(limit_id, name, len(tags))
            if tags:
                key = max(tags, key=lambda k: (len(k), k))
                add("azure.tags.name-length", f"{name} tag {key!r}", len(key))
                longest = max(tags, key=lambda k: (len(str(tags[k])), k))
                add("azure.tags.value-length", f"{name} tag {longest!r}", len(str(tags[longest])))
        if typ == "aws:iam/policy:Policy":
            add("aws.iam.managed-policy-size", f"{name} ({inputs.get('name', '')})", iam_policy_chars(inputs["policy"]))
            add("aws.iam.policy-name", f"{name} ({inputs.get('name', '')})", len(inputs.get("name", "")))
        elif typ == "aws:iam/rolePolicy:RolePolicy":
            inline.setdefault(str(inputs.get("role")), []).append((name, iam_policy_chars(inputs["policy"])))
            add("aws.iam.policy-name", f"{name} ({inputs.get('name', '')})", len(inputs.get("name", "")))
        elif typ == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            role = str(inputs.get("role"))
            attachments[role] = attachments.get(role, 0) + 1
        elif typ == "aws:iam/role:Role":
            if isinstance(inputs.get("assumeRolePolicy"), str):
                add(
                    "aws.iam.trust-policy-size",
                    f"{name} ({inputs.get('name', '')})",
                    iam_policy_chars(inputs["assumeRolePolicy"]),
                )
            add("aws.iam.role-name", f"{name} ({inputs.get('name', '')})", len(inputs.get("name", "")))
        elif typ == "aws:lambda/permission:Permission":
            permissions.setdefault(str(inputs.get("function")), []).append(lambda_permission_statement(inputs, ctx))
        elif typ == "aws:lambda/function:Function":
            settings = _packaged_text(inputs.get("code"), KEEPER_SETTINGS_FILE)
            if settings is not None:
                # The keeper puts these on run-time tokens at run time: the same limit as a declared token's policy.
                for access_class, entry in sorted(json.loads(settings)["classes"].items()):
                    add(
                        "aws.secretsmanager.resource-policy-size",
                        f"{name} (run-time class {access_class}: each token's policy)",
                        len(json.dumps(entry["resourcePolicy"], sort_keys=True)),
                    )
            variables = (inputs.get("environment") or {}).get("variables") or {}
            if variables:
                add(
                    "aws.lambda.environment-size",
                    f"{name} ({inputs.get('name', '')})",
                    sum(utf8_bytes(k) + utf8_bytes(str(v)) for k, v in variables.items()),
                )
        elif typ == "aws:secretsmanager/secretPolicy:SecretPolicy":
            add("aws.secretsmanager.resource-policy-size", name, len(inputs["policy"]))
        elif typ == "aws:secretsmanager/secret:Secret":
            add("aws.secretsmanager.secret-name", f"{name} ({inputs.get('name', '')})", len(inputs.get("name", "")))
        elif typ == "aws:kms/key:Key" and isinstance(inputs.get("policy"), str):
            add("aws.kms.key-policy-size", name, utf8_bytes(inputs["policy"]))
        elif typ == "azure-native:authorization:RoleAssignment":
            assignments += 1
        elif typ == "azure-native:keyvault:Vault":
            add(
                "azure.keyvault.vault-name", f"{name} ({inputs.get('vaultName', '')})", len(inputs.get("vaultName", ""))
            )
        elif typ == "azure-native:keyvault:Secret":
            add("azure.keyvault.secret-name", f"{name}", len(inputs.get("secretName", "")))
        elif typ == "vault:index/policy:Policy":
            add("vault.policy-size", f"{name} ({inputs.get('name', '')})", utf8_bytes(inputs.get("policy", "")))
        elif typ == "vault:generic/endpoint:Endpoint" and "/metadata/" in str(inputs.get("path", "")):
            try:
                custom = json.loads(inputs.get("dataJson") or "{}").get("custom_metadata") or {}
            except (TypeError, ValueError):
                custom = {}
            if custom:
                add("vault.kv.custom-metadata-keys", name, len(custom))
                longest = max(custom, key=lambda k: (utf8_bytes(str(custom[k])), k))
                add("vault.kv.custom-metadata-value", f"{name} {longest!r}", utf8_bytes(str(custom[longest])))

    for role, policies in inline.items():
        add(
            "aws.iam.inline-policies-per-role",
            f"role {role} ({', '.join(sorted(n for n, _ in policies))})",
            sum(size for _, size in policies),
        )
    for role, count in attachments.items():
        add("aws.iam.managed-policies-per-role", f"role {role}", count)
    for function, statements in permissions.items():
        document = {"Version": "2012-10-17", "Id": "default", "Statement": statements}
        add(
            "aws.lambda.resource-policy-size",
            f"function {function} ({len(statements)} permission{'s' if len(statements) != 1 else ''})",
            utf8_bytes(json.dumps(document)),
        )
    if assignments:
        add(
            "azure.rbac.role-assignments",
            "the stack's role assignments",
            assignments,
            limit=min(ctx.role_assignment_budget, LIMITS["azure.rbac.role-assignments"].value),
        )
    return out


@dataclass(frozen=True)
class LimitRow:
    """The largest measurement of one limit in a stack."""

    largest: Measurement
    #: How many resources (or aggregates) were measured against it.
    measured: int

    @property
    def spec(self) -> Limit:
        return self.largest.spec

    def row(self) -> tuple[str, ...]:
        m = self.largest
        return (
            self.spec.title.split(" (")[0],
            m.resource,
            f"{m.value:,}",
            f"{m.limit:,}",
            f"{m.headroom:,} ({m.headroom * 100 // m.limit if m.limit else 0}%)",
            self.spec.doc,
        )

    def as_dict(self) -> dict[str, Any]:
        m = self.largest
        return {
            "limit": m.limit_id,
            "backend": self.spec.backend,
            "title": self.spec.title,
            "unit": self.spec.unit,
            "largest": m.value,
            "resource": m.resource,
            "max": m.limit,
            "headroom": m.headroom,
            "measured": self.measured,
            "exceeded": m.exceeded,
            "doc": self.spec.doc,
        }


@dataclass(frozen=True)
class LimitsReport:
    rows: tuple[LimitRow, ...]
    exceeded: tuple[Measurement, ...]

    @property
    def ok(self) -> bool:
        return not self.exceeded

    def tightest(self) -> LimitRow | None:
        """The limit with the least headroom, relative to the limit."""
        return min(self.rows, key=lambda r: r.largest.headroom / r.largest.limit, default=None)


HEADERS = ("limit", "largest in this stack", "value", "max", "headroom", "documented at")


def report(measurements: Iterable[Measurement]) -> LimitsReport:
    largest: dict[str, Measurement] = {}
    counts: dict[str, int] = {}
    exceeded: list[Measurement] = []
    for m in measurements:
        counts[m.limit_id] = counts.get(m.limit_id, 0) + 1
        best = largest.get(m.limit_id)
        # The least headroom; among equals the first resource by name, so two runs report the same one.
        if best is None or (m.value - m.limit, best.resource) > (best.value - best.limit, m.resource):
            largest[m.limit_id] = m
        if m.exceeded:
            exceeded.append(m)
    order = list(LIMITS)
    rows = tuple(LimitRow(largest[k], counts[k]) for k in sorted(largest, key=order.index))
    return LimitsReport(
        rows=rows, exceeded=tuple(sorted(exceeded, key=lambda m: (order.index(m.limit_id), m.resource)))
    )


# --------------------------------------------------------------------------------------------------
# IAM roles whose permissions are larger than one policy (the bootstrap's deploy roles)


class PolicyTooLarge(ValueError):
    """A role's permissions do not fit IAM's documented limits; the message names the role, size and limit."""


def split_policy(document: Mapping[str, Any], max_chars: int | None = None) -> list[dict[str, Any]]:
    """``document``'s statements, in order, in as few documents of at most ``max_chars`` (IAM's managed policy
    size, whitespace excluded) as a greedy fill gives. Every statement keeps its Sid, Effect and conditions:
    the union of the parts grants and denies exactly what ``document`` does (IAM evaluates all the policies
    attached to a role together; an explicit Deny in any of them wins)."""
    limit = LIMITS["aws.iam.managed-policy-size"].value if max_chars is None else max_chars
    version = document.get("Version", "2012-10-17")
    parts: list[list[Any]] = [[]]
    for statement in _fitting_statements(document["Statement"], version, limit):
        candidate = [*parts[-1], statement]
        if parts[-1] and iam_policy_chars({"Version": version, "Statement": candidate}) > limit:
            parts.append([statement])
        else:
            parts[-1] = candidate
    docs = [{"Version": version, "Statement": p} for p in parts if p]
    for doc in docs:
        if iam_policy_chars(doc) > limit:
            raise PolicyTooLarge(
                f"statement {doc['Statement'][0].get('Sid', '?')} alone measures "
                f"{iam_policy_chars(doc):,} characters, over {limit:,}"
            )
    return docs


def _fitting_statements(statements: Iterable[Any], version: str, limit: int) -> list[Any]:
    """A statement too large for one document, with a list of resources, becomes several statements with the
    same Effect, actions and conditions over consecutive slices of its resources (Sids suffixed 1, 2, ...):
    the same grant or deny, since a statement applies to each resource it lists independently."""
    out: list[Any] = []
    for st in statements:
        resources = st.get("Resource")
        if iam_policy_chars({"Version": version, "Statement": [st]}) <= limit or not isinstance(resources, list):
            out.append(st)
            continue
        chunks: list[list[str]] = [[]]
        for r in resources:
            trial = {**st, "Sid": f"{st.get('Sid', '')}99", "Resource": [*chunks[-1], r]}
            if chunks[-1] and iam_policy_chars({"Version": version, "Statement": [trial]}) > limit:
                chunks.append([r])
            else:
                chunks[-1].append(r)
        out += [{**st, "Sid": f"{st.get('Sid', '')}{i}", "Resource": c} for i, c in enumerate(chunks, start=1)]
    return out


def role_policy_measurements(
    role: str, managed: Iterable[Mapping[str, Any] | str], inline: Iterable[Mapping[str, Any] | str] = ()
) -> list[Measurement]:
    """One role's policies against IAM's limits: each managed document's size, the number of managed
    policies attached (the default quota, 10), and the aggregate size of its inline policies."""
    managed = list(managed)
    inline = list(inline)
    out = [
        Measurement(
            "aws.iam.managed-policy-size",
            f"role {role} managed policy {i + 1}",
            iam_policy_chars(d),
            LIMITS["aws.iam.managed-policy-size"].value,
        )
        for i, d in enumerate(managed)
    ]
    out.append(
        Measurement(
            "aws.iam.managed-policies-per-role",
            f"role {role}",
            len(managed),
            LIMITS["aws.iam.managed-policies-per-role"].value,
        )
    )
    if inline:
        out.append(
            Measurement(
                "aws.iam.inline-policies-per-role",
                f"role {role} (inline)",
                sum(iam_policy_chars(d) for d in inline),
                LIMITS["aws.iam.inline-policies-per-role"].value,
            )
        )
    return out


def refuse_oversized_role(
    role: str, managed: Iterable[Mapping[str, Any] | str], inline: Iterable[Mapping[str, Any] | str] = ()
) -> None:
    """Raise :class:`PolicyTooLarge` naming the role, the measured size and the limit, for each one exceeded."""
    exceeded = [m for m in role_policy_measurements(role, managed, inline) if m.exceeded]
    if exceeded:
        raise PolicyTooLarge("; ".join(m.describe() for m in exceeded))
