"""Names on every backend, in one place: what a component, a policy document, an operator command, the
plan and the tests must all agree on. Pure, and imported by every layer above it (a child resource name
that only its own component uses stays in that component).

AWS: secret names ``makini/<env>/<path>``, the roles, functions and log groups of the webhook receiver
and the rotation, consumer roles and read policies. HashiCorp Vault: the KV v2 mount ``makini-<env>``
and its paths, consumer and rotator policies and roles. Azure Key Vault: vault and secret names.

Key Vault secret names allow only ASCII letters, digits and dashes (1-127 characters) and are
case-insensitive; the catalog's paths (``connections/<key>/token``, ``oauth/client``,
``webhook/secret``) hold slashes and connection keys may hold ``.``, ``_`` and uppercase letters. The
mapping is deterministic and readable where it can be:

* a path made only of lowercase letters, digits and single dashes between its slashes maps to itself
  with the slashes turned into dashes: ``connections/acme-sap/token`` -> ``connections-acme-sap-token``.
  Such a name never holds ``--``;
* any other connection key is sanitised (lowercased, every run of other characters becomes one dash)
  and gets ``--`` plus a 10-hex-digit SHA-256 suffix of the *original* key:
  ``connections/Acme_SAP/token`` -> ``connections-acme-sap--<hash>-token``.

Readable names hold no ``--`` and hashed ones hold exactly one, so the two families never meet; within
the hashed family two keys collide only if their sanitised forms and 40-bit hashes both match. That
remaining case is not assumed away: :func:`key_vault_name_collisions` finds it (case-insensitively)
and the config rule refuses the stack naming both connection keys.

Vault stores the catalog under the KV v2 mount ``makini-<env>`` at the catalog path itself; AWS names a
secret ``makini/<env>/<path>``. Which of these a given secret uses on a backend is decided in one place,
:func:`stacks.locations.locate`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable

#: A run-time connection's id (Makini's connection key, e.g. ``09000207611898``), which is also its key in the
#: secret's path (``connections/<class>/<id>/token``): 1-64 lowercase letters, digits and single dashes,
#: starting and ending with a letter or digit. Such a segment is the same name on every backend (a readable
#: Key Vault segment, unchanged), so each backend's name gives the id back (the onboarding client and the
#: rotators keep their own copy in functions/; a test checks they agree).
RUNTIME_CONNECTION_ID = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,63}")
RUNTIME_CONNECTION_ID_RULE = (
    "1-64 characters: lowercase letters, digits and single dashes, starting and ending with a letter or digit"
)

#: The tags (AWS) and Key Vault tags (Azure) every run-time token carries, with the value each must have; the
#: connection id's value is the id in the secret's name. AWS refuses a create with other keys or other values
#: (the onboarding identity's policy: components/aws/policies.py, onboarding_store_policy); the onboarding
#: client (functions/onboarding) keeps its own copy, and a test checks they agree.
RUNTIME_TAG_CONNECTION_ID = "makini:connection-id"
RUNTIME_TAG_CLASS = "makini:class"
RUNTIME_TAG_KIND = "makini:kind"
RUNTIME_TAG_ENVIRONMENT = "environment"
RUNTIME_TAG_MANAGED_BY = "managed-by"
#: ``managed-by`` of a run-time token: stored by the onboarding service, not by Pulumi (``makini-infra``).
RUNTIME_MANAGED_BY = "makini-onboarding"


def runtime_tags(environment: str, access_class: str, connection_id: str) -> dict[str, str]:
    """The tags of a run-time connection token (see :data:`RUNTIME_TAG_CONNECTION_ID`)."""
    return {
        RUNTIME_TAG_ENVIRONMENT: environment,
        RUNTIME_TAG_MANAGED_BY: RUNTIME_MANAGED_BY,
        RUNTIME_TAG_KIND: "connection-token",
        RUNTIME_TAG_CLASS: access_class,
        RUNTIME_TAG_CONNECTION_ID: connection_id,
    }


#: The Key Vault data actions of the onboarding identity's custom Azure role: store a new token (a new version,
#: with its tags), read names, tags and attributes (never a value), so a retry is idempotent, a token is never
#: overwritten (the client looks first: RBAC cannot tell a create from an overwrite, ``setSecret`` is both) and
#: a connection is never stored in two classes; and soft-delete a disconnected customer's token (recoverable for
#: the vault's retention; never purge, recover, back up or restore). No built-in role is this narrow: Key Vault
#: Secrets Officer is ``Microsoft.KeyVault/vaults/secrets/*`` (it reads every value and purges), Secrets User
#: only reads.
ONBOARDING_KEY_VAULT_DATA_ACTIONS = (
    "Microsoft.KeyVault/vaults/secrets/delete",
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "Microsoft.KeyVault/vaults/secrets/setSecret/action",
)
_ONBOARDING_ROLE_NAMESPACE = uuid.UUID("b8f0c7a2-4c1e-5e0b-9a7d-6d616b696e69")  # fixed: the GUID must never change


def onboarding_role_guid(subscription_id: str, environment: str) -> str:
    """The onboarding custom role's GUID (role definitions are unique per tenant): subscription and environment."""
    return str(uuid.uuid5(_ONBOARDING_ROLE_NAMESPACE, f"{subscription_id.lower()}|{environment}"))


def onboarding_role_name(subscription_id: str, environment: str) -> str:
    """``makini-<env>-onboarding-<subscription prefix>`` (role names are unique per tenant too)."""
    return f"makini-{environment}-onboarding-{subscription_id.lower()[:8]}"


def onboarding_role_definition(subscription_id: str, environment: str, assignable_scope: str) -> dict[str, object]:
    """The custom role as the REST API describes it (``name`` is the GUID). bootstrap/ defines it, with the rights
    to define roles; the stack's deploy identity only assigns it (tests/iam evaluates it from this document)."""
    return {
        "name": onboarding_role_guid(subscription_id, environment),
        "roleName": onboarding_role_name(subscription_id, environment),
        "description": f"makini-infra: store new customers' Makini connection tokens of {environment} (set "
        "secrets, read their metadata, soft-delete; never read a value, purge, recover, back up or restore)",
        "assignableScopes": [assignable_scope],
        "permissions": [
            {
                "actions": [],
                "notActions": [],
                "dataActions": list(ONBOARDING_KEY_VAULT_DATA_ACTIONS),
                "notDataActions": [],
            }
        ],
    }


#: Key Vault secret names: 1-127 letters, digits and dashes.
KV_SECRET_NAME = re.compile(r"[0-9A-Za-z-]{1,127}")
#: Key Vault names: 3-24 characters, letters, digits and dashes, starting with a letter, ending with a
#: letter or digit, no consecutive dashes.
KV_VAULT_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){1,22}[A-Za-z0-9]")
KV_VAULT_NAME_RULE = (
    "3-24 characters: letters, digits and dashes, starting with a letter, ending with a letter or digit, "
    "no consecutive dashes (Key Vault names are globally unique)"
)
_READABLE_SEGMENT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
HASH_LENGTH = 10
VAULT_NAME_PREFIX = "kv-mk-"
VAULT_SUFFIX_LENGTH = 5


def stable_hash(text: str, length: int = HASH_LENGTH) -> str:
    """The first ``length`` lowercase hex digits of SHA-256 over ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]


def _segment(segment: str) -> str:
    if _READABLE_SEGMENT.fullmatch(segment):
        return segment
    sanitised = _NOT_ALNUM.sub("-", segment.lower()).strip("-") or "x"
    return f"{sanitised}--{stable_hash(segment)}"


def key_vault_secret_name(path: str) -> str:
    """The Key Vault secret name of a catalog path (deterministic; see the module doc)."""
    name = "-".join(_segment(s) for s in path.split("/"))
    if not KV_SECRET_NAME.fullmatch(name):  # pragma: no cover - guarded by the property tests
        raise ValueError(f"catalog path {path!r} does not map to a valid Key Vault secret name")
    return name


def key_vault_name_collisions(paths: Iterable[str]) -> list[tuple[str, str, str]]:
    """Pairs of catalog paths whose Key Vault secret names are equal ignoring case: (first, second, name)."""
    seen: dict[str, str] = {}
    out: list[tuple[str, str, str]] = []
    for path in paths:
        name = key_vault_secret_name(path)
        folded = name.lower()
        if folded in seen and seen[folded] != path:
            out.append((seen[folded], path, name))
        else:
            seen.setdefault(folded, path)
    return out


def key_vault_name(environment: str, project: str, organization: str | None = None, override: str | None = None) -> str:
    """``kv-mk-<env>-<suffix>`` (at most 24 characters), or the explicit override.

    The suffix is a hash of the stack's identity (organization/project/environment), not of the
    subscription, so the name is the same on every run and every machine. Key Vault names are global:
    if the derived name is taken, set ``makini:azure.vaultName``.
    """
    if override:
        return override
    identity = f"{organization or 'organization'}/{project}/{environment}"
    name = f"{VAULT_NAME_PREFIX}{environment}-{stable_hash(identity, VAULT_SUFFIX_LENGTH)}"
    if not KV_VAULT_NAME.fullmatch(name):  # pragma: no cover - environment names are at most 12 characters
        raise ValueError(f"derived Key Vault name {name!r} is not valid: {KV_VAULT_NAME_RULE}")
    return name


CLASS_VAULT_PREFIX = "kvc-"
CLASS_VAULT_SUFFIX_LENGTH = 4


def class_key_vault_name(
    environment: str, access_class: str, project: str, organization: str | None = None, override: str | None = None
) -> str:
    """``kvc-<env>-<class, cut to fit>-<suffix>`` (at most 24 characters), or the explicit override.

    An access class's own Key Vault. The prefix differs from the environment vault's (``kv-mk-``), so the
    two families never meet; the suffix hashes organization/project/environment/class, so a cut class
    name still gives a distinct name (the config checks refuse a stack whose derived names collide).
    """
    if override:
        return override
    identity = f"{organization or 'organization'}/{project}/{environment}/class/{access_class}"
    suffix = stable_hash(identity, CLASS_VAULT_SUFFIX_LENGTH)
    room = 24 - len(CLASS_VAULT_PREFIX) - len(environment) - 1 - CLASS_VAULT_SUFFIX_LENGTH - 1
    part = access_class[: max(room, 0)].rstrip("-")
    name = (
        f"{CLASS_VAULT_PREFIX}{environment}-{part}-{suffix}" if part else f"{CLASS_VAULT_PREFIX}{environment}-{suffix}"
    )
    if not KV_VAULT_NAME.fullmatch(name):  # pragma: no cover - environment and class names are bounded above
        raise ValueError(f"derived Key Vault name {name!r} is not valid: {KV_VAULT_NAME_RULE}")
    return name


def resource_group_name(environment: str) -> str:
    return f"rg-makini-{environment}"


def key_vault_url(vault_name: str) -> str:
    """The data-plane URL of a Key Vault (public Azure cloud)."""
    return f"https://{vault_name}.vault.azure.net"


# --------------------------------------------------------------------------------------------------
# AWS


def aws_secret_name(environment: str, path: str) -> str:
    """The Secrets Manager name of a catalog secret: ``makini/<env>/<path>``."""
    return f"makini/{environment}/{path}"


def consumer_role_name(environment: str, consumer: str) -> str:
    """A consumer's role when the stack creates it (AWS IAM), and its Vault auth role."""
    return f"makini-{environment}-{consumer}"


def onboarding_policy_name(environment: str, consumer: str) -> str:
    """The onboarding identity's store policy (AWS IAM, Vault ACL): create tokens in run-time classes only."""
    return f"makini-{environment}-{consumer}-onboard"


def consumer_read_policy_name(environment: str, consumer: str) -> str:
    """A consumer's read policy: the IAM policy on AWS, the ACL policy on Vault."""
    return f"makini-{environment}-{consumer}-read"


def receiver_role_name(environment: str) -> str:
    return f"makini-{environment}-webhook-receiver"


def receiver_function_name(environment: str) -> str:
    return f"makini-{environment}-webhook-receiver"


def receiver_log_group_name(environment: str) -> str:
    return f"/aws/lambda/{receiver_function_name(environment)}"


def rotation_role_name(environment: str) -> str:
    return f"makini-{environment}-rotation"


def rotation_function_name(environment: str) -> str:
    return f"makini-{environment}-rotation"


def rotation_log_group_name(environment: str) -> str:
    return f"/aws/lambda/{rotation_function_name(environment)}"


def reminder_role_name(environment: str) -> str:
    return f"makini-{environment}-rotation-reminders"


def keeper_function_name(environment: str) -> str:
    """The AWS Lambda (and its role) that governs the environment's run-time secrets (components/aws/keeper.py)."""
    return f"makini-{environment}-keeper"


#: Where the keeper's package carries its settings (the run-time classes' resource policies, the rotation): the
#: program writes it (components/aws/keeper.py), the function reads it, the limits model measures its documents.
KEEPER_SETTINGS_FILE = "keeper/settings.json"


def keeper_log_group_name(environment: str) -> str:
    return f"/aws/lambda/{keeper_function_name(environment)}"


# --------------------------------------------------------------------------------------------------
# HashiCorp Vault


def vault_mount(environment: str) -> str:
    """The KV v2 mount of an environment."""
    return f"makini-{environment}"


def vault_data_path(environment: str, path: str) -> str:
    """The full API path of a secret's data: ``makini-<env>/data/<path>``."""
    return f"{vault_mount(environment)}/data/{path}"


def vault_metadata_path(environment: str, path: str) -> str:
    """The full API path of a secret's metadata: ``makini-<env>/metadata/<path>``."""
    return f"{vault_mount(environment)}/metadata/{path}"


def vault_rotator_role_name(environment: str) -> str:
    """The connection-token rotator's Vault policy and auth role."""
    return f"makini-{environment}-rotator"


def valid_vault_path(path: str) -> bool:
    """A KV path Vault stores as given: non-empty segments, no ``.``/``..``, no whitespace or control characters."""
    segments = path.split("/")
    return all(s and s not in (".", "..") and not any(c.isspace() or ord(c) < 32 for c in s) for s in segments)


# --------------------------------------------------------------------------------------------------
# Azure: the custom role of the rotation identity (created by bootstrap/, assigned by the program)

#: Fixed namespace of the custom role's GUID: it must never change (assignments name it).
_ROLE_NAMESPACE = uuid.UUID("2c7e3f4a-5b6d-5e8f-9a0b-6d616b696e69")


def rotator_role_definition_guid(subscription_id: str) -> str:
    """The GUID of "makini-infra Key Vault Secret Rotator" in a subscription: the same for the bootstrap that
    creates it and the program that assigns it (custom role GUIDs are unique in the tenant, so per subscription)."""
    return str(uuid.uuid5(_ROLE_NAMESPACE, f"{subscription_id.lower()}|key-vault-secret-rotator|v1"))


def rotator_role_name(subscription_id: str) -> str:
    """The custom role's name (unique in the tenant, like its GUID)."""
    return f"makini-infra Key Vault Secret Rotator ({subscription_id.lower()})"
