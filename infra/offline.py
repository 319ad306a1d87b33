"""Run the real program under Pulumi mocks, with no CLI and no cloud credentials.

Used by the offline plan (``python -m infra.plan``), the program tests and the benchmarks. It reads a
``Pulumi.<stack>.yaml`` the way the Pulumi CLI would hand it to the program (flat ``ns:key`` strings,
structured values as JSON, the keys holding ``secure:`` values marked secret and given a placeholder,
since they cannot be decrypted here), runs ``infra/__main__.py`` and records every registered resource
with its options (parent, protect, retain-on-delete, ignore-changes) and its inputs, secrets still marked.

To run without the CLI it uses names the Pulumi SDK does not document (``rpc._special_sig_key``,
``_sync_await``, ``SETTINGS.rpc_manager``, ...): tests/program/test_offline_canary.py lists every SDK name
used here and fails, naming it, when an SDK upgrade moves one.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import json
import logging
import os
import runpy
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pulumi
import pulumi.resource as pulumi_resource
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import ROOT, SETTINGS
from pulumi.runtime.stack import Stack, run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stacks import clock
from stacks.config.model import StackConfig
from stacks.config.stack_file import StackYamlError, is_secure, parse_stack_yaml, plaintext_leaves
from stacks.errors import Problem
from stacks.load import load_stack_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PROGRAM = PROJECT_ROOT / "infra" / "__main__.py"
PROJECT = "makini-infra"
MOCK_ACCOUNT_ID = "123456789012"
#: The role the offline plan's AWS caller identity is a session of (the deployer the secret policies name).
MOCK_DEPLOYER_ROLE = "makini-deployer"
MOCK_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
DEFAULT_REGION = "us-east-1"
SECRET_PLACEHOLDER = "[secret]"
#: What a ``secure:`` value from a stack file becomes offline: it cannot be decrypted without the CLI.
UNDECRYPTABLE = "offline-placeholder-not-a-real-secret"


def is_secret_marker(value: Any) -> bool:
    return isinstance(value, dict) and value.get(rpc._special_sig_key) == rpc._special_secret_sig


def redact(value: Any) -> Any:
    """Replace every secret-marked value with ``"[secret]"`` (deeply).

    Numbers come back from the engine as floats; whole ones are shown as integers.
    """
    if is_secret_marker(value):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, pulumi.Archive | pulumi.Asset):
        return describe_asset(value)
    return value


def describe_asset(value: pulumi.Archive | pulumi.Asset) -> dict[str, Any]:
    """A JSON-able description of an asset or archive (file names, never file contents)."""
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: describe_asset(a) for name, a in sorted(value.assets.items())}}
    if isinstance(value, pulumi.FileArchive | pulumi.FileAsset):
        return {"file": _project_relative(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"string": f"{len(value.text)} characters"}
    return {"asset": type(value).__name__}


def _project_relative(path: str) -> str:
    """A path inside the project as ``functions/...`` (the same on every checkout), others as given."""
    resolved = Path(path).resolve()
    return resolved.relative_to(PROJECT_ROOT).as_posix() if resolved.is_relative_to(PROJECT_ROOT) else str(path)


def unwrap_secrets(value: Any) -> Any:
    """Strip secret markers, keeping values (for tests that inspect what a resource would receive)."""
    if is_secret_marker(value):
        return unwrap_secrets(value["value"])
    if isinstance(value, dict):
        return {k: unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [unwrap_secrets(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------
# Stack files


@dataclass(frozen=True)
class StackSource:
    """A stack's configuration as the Pulumi CLI would pass it to the program."""

    stack: str
    config: dict[str, str]
    secret_keys: frozenset[str]
    #: Keys whose values were ``secure:`` ciphertext in the file and so are placeholders here.
    undecryptable_keys: frozenset[str] = frozenset()
    #: Key paths of plain values beside ``secure:`` ones in one structured value (see stacks.config.stack_file).
    plaintext_leaves: frozenset[str] = frozenset()
    #: What is wrong with the file itself (keys written twice), reported with the config's problems.
    problems: tuple[Problem, ...] = ()

    def load(self) -> StackConfig:
        """The validated model (raises ConfigError listing the file's and the config's problems)."""
        return load_stack_config(
            self.stack,
            self.config,
            self.secret_keys,
            plaintext_leaves=self.plaintext_leaves,
            file_problems=self.problems,
        )


def _has_secure(value: Any) -> bool:
    if is_secure(value):
        return True
    if isinstance(value, dict):
        return any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _replace_secure(value: Any) -> Any:
    if is_secure(value):
        return UNDECRYPTABLE
    if isinstance(value, dict):
        return {k: _replace_secure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure(v) for v in value]
    return value


class StackFileError(Exception):
    """The stack file cannot be read (missing, not YAML, not shaped like Pulumi.<stack>.yaml)."""


def read_stack_document(path: Path) -> tuple[dict[str, Any], list[Problem]]:
    """The ``config:`` mapping of a stack file, and the keys written twice in it."""
    try:
        document, problems = parse_stack_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StackFileError(f"stack file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise StackFileError(f"cannot read {path}: {err}") from None
    except StackYamlError as err:
        raise StackFileError(f"{path} is not valid YAML: {err}") from None
    document = document or {}
    if not isinstance(document, dict):
        raise StackFileError(f"{path} must be a mapping with a 'config:' key, like Pulumi.<stack>.yaml")
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise StackFileError(f"{path}: 'config:' must be a mapping of keys to values")
    return raw, problems


def load_stack_file(stack: str, path: Path | None = None, project: str = PROJECT) -> StackSource:
    path = path or PROJECT_ROOT / f"Pulumi.{stack}.yaml"
    raw, problems = read_stack_document(path)
    config: dict[str, str] = {}
    secret: set[str] = set()
    undecryptable: set[str] = set()
    leaves: set[str] = set()
    for key, value in raw.items():
        key = str(key)
        full = key if ":" in key else f"{project}:{key}"
        leaves.update(plaintext_leaves(full, value))
        if _has_secure(value):
            secret.add(full)
            undecryptable.add(full)
            value = _replace_secure(value)
        # As the CLI does: a scalar is handed over as its text, anything else as JSON.
        if isinstance(value, bool):
            config[full] = "true" if value else "false"
        elif value is None:
            config[full] = ""
        else:
            config[full] = value if isinstance(value, str) else json.dumps(value)
    return StackSource(stack, config, frozenset(secret), frozenset(undecryptable), frozenset(leaves), tuple(problems))


# --------------------------------------------------------------------------------------------------
# Mocks


def _suffix(name: str, n: int = 6) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def _secret(value: Any) -> dict[str, Any]:
    """A value marked secret the way the engine marks it."""
    return {rpc._special_sig_key: rpc._special_secret_sig, "value": value}


class OfflineMocks(pulumi.runtime.Mocks):
    """Deterministic, realistic outputs for the resource types and invokes makini-infra uses.

    One table entry per resource type (:data:`RESOURCE_MOCKS`) and per invoke (:data:`INVOKE_MOCKS`);
    a type without an entry gets its provider's fallback (:data:`PROVIDER_FALLBACKS`), or an id alone.
    """

    def __init__(self, region: str = DEFAULT_REGION, account_id: str = MOCK_ACCOUNT_ID):
        self.region = region
        self.account_id = account_id

    def _arn(self, service: str, resource: str, region: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account_id}:{resource}"

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        typ, name, inputs = args.typ, args.name, dict(args.inputs)
        mock = RESOURCE_MOCKS.get(typ) or next(
            (fallback for prefix, fallback in PROVIDER_FALLBACKS if typ.startswith(prefix)), _id_only
        )
        rid, outputs = mock(self, typ, name, unwrap_secrets(inputs))
        return rid, {**inputs, **outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        invoke = INVOKE_MOCKS.get(args.token)
        return (invoke(self) if invoke is not None else {}), []


#: A resource mock: (mocks, type, name, plain inputs) -> (id, outputs added to the inputs).
ResourceMock = Callable[[OfflineMocks, str, str, dict[str, Any]], tuple[str, dict[str, Any]]]


def _id_only(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{name}-id", {}


# -- AWS: ARNs in the stack's account and region, ids as the provider sets them ----------------------


def _kms_key(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = f"{_suffix(name, 8)}-0000-4000-8000-{_suffix(name + 'k', 12)}"
    return rid, {"arn": m._arn("kms", f"key/{rid}"), "keyId": rid}


def _kms_alias(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = plain.get("name", name)
    return rid, {"arn": m._arn("kms", rid)}


def _secret_manager_secret(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    secret_name = plain.get("name", name)
    arn = m._arn("secretsmanager", f"secret:{secret_name}-{_suffix(secret_name)}")
    return arn, {"arn": arn}


def mock_secret_version_id(resource_name: str) -> str:
    """The version id the offline plan gives a ``SecretVersion`` resource (Secrets Manager assigns a UUID)."""
    return str(uuid.UUID(_suffix(resource_name, 32)))


def _secret_version(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The version Secrets Manager assigns (a UUID) to the initial value PutSecretValue writes."""
    version = mock_secret_version_id(name)
    secret = str(plain.get("secretId", name))
    return f"{secret}|{version}", {"arn": secret, "versionId": version, "versionStages": ["AWSCURRENT"]}


def _iam_role(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    role = plain.get("name", name)
    return role, {
        "arn": f"arn:aws:iam::{m.account_id}:role/{role}",
        "name": role,
        "uniqueId": f"AROA{_suffix(role, 16).upper()}",
    }


def _iam_policy(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    arn = f"arn:aws:iam::{m.account_id}:policy/{plain.get('name', name)}"
    return arn, {"arn": arn}


def _oidc_provider(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    arn = f"arn:aws:iam::{m.account_id}:oidc-provider/{str(plain.get('url', name)).removeprefix('https://')}"
    return arn, {"arn": arn}


def _sqs_queue(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    queue = plain.get("name", name)
    url = f"https://sqs.{m.region}.amazonaws.com/{m.account_id}/{queue}"
    return url, {"arn": m._arn("sqs", queue), "url": url, "name": queue}


def _dynamodb_table(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table = plain.get("name", name)
    return table, {"arn": m._arn("dynamodb", f"table/{table}"), "name": table}


def _lambda_function(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    fn = plain.get("name", name)
    return fn, {
        "arn": m._arn("lambda", f"function:{fn}"),
        "invokeArn": f"arn:aws:apigateway:{m.region}:lambda:path/2015-03-31/functions/"
        f"{m._arn('lambda', f'function:{fn}')}/invocations",
        "name": fn,
    }


def _sns_topic(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    arn = m._arn("sns", plain.get("name", name))
    return arn, {"arn": arn}


def _http_api(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = _suffix(name, 10)
    return rid, {
        "apiEndpoint": f"https://{rid}.execute-api.{m.region}.amazonaws.com",
        "executionArn": m._arn("execute-api", rid),
        "arn": f"arn:aws:apigateway:{m.region}::/apis/{rid}",
    }


def _api_domain_name(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = plain.get("domainName", name)
    conf = dict(plain.get("domainNameConfiguration") or {})
    conf.update(
        targetDomainName=f"d-{_suffix(rid, 10)}.execute-api.{m.region}.amazonaws.com",
        hostedZoneId="ZLY8HYME6SFDD",
    )
    return rid, {"domainNameConfiguration": conf, "arn": f"arn:aws:apigateway:{m.region}::/domainnames/{rid}"}


def _log_group(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    group = plain.get("name", name)
    return group, {"arn": m._arn("logs", f"log-group:{group}")}


def _aws_other(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Any other AWS type: an ARN under its service, unless its inputs carry one."""
    service = typ.split(":")[1].split("/")[0]
    return f"{name}-id", {} if "arn" in plain else {"arn": m._arn(service, name)}


# -- tls: placeholder PEMs (the private key secret-wrapped) and real dates ----------------------------


def _tls_private_key(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = _suffix(name, 40)
    body = f"MOCK-{plain.get('algorithm', 'RSA')}-{rid}"
    private = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"
    return rid, {
        "privateKeyPem": _secret(private),
        "publicKeyPem": f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n",
    }


def _tls_self_signed_cert(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rid = _suffix(name, 40)
    start = clock.utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=int(plain.get("validityPeriodHours", 0)))
    return str(int(rid[:16], 16)), {
        "certPem": f"-----BEGIN CERTIFICATE-----\nMOCK-{rid}\n-----END CERTIFICATE-----\n",
        "validityStartTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "validityEndTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _tls_other(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return _suffix(name, 40), {}


# -- Azure: resource ids shaped like ARM's, and the computed properties the program reads --------------


def _group(plain: dict[str, Any]) -> str:
    return f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{plain.get('resourceGroupName', 'rg')}"


def _resource_group(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rg = plain.get("resourceGroupName", name)
    return f"/subscriptions/{MOCK_SUBSCRIPTION_ID}/resourceGroups/{rg}", {"name": rg}


def _key_vault(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    vault = plain.get("vaultName", name)
    props = {**plain.get("properties", {}), "vaultUri": f"https://{vault}.vault.azure.net/"}
    return f"{_group(plain)}/providers/Microsoft.KeyVault/vaults/{vault}", {"name": vault, "properties": props}


def _key_vault_secret(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    vault, secret = plain.get("vaultName", "vault"), plain.get("secretName", name)
    uri = f"https://{vault}.vault.azure.net/secrets/{secret}"
    return f"{_group(plain)}/providers/Microsoft.KeyVault/vaults/{vault}/secrets/{secret}", {
        "name": secret,
        "properties": {
            **{k: v for k, v in plain.get("properties", {}).items() if k != "value"},
            "secretUri": uri,
            "secretUriWithVersion": f"{uri}/{_suffix(uri, 32)}",
        },
    }


def _private_endpoint(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    endpoint = plain.get("privateEndpointName", name)
    return f"{_group(plain)}/providers/Microsoft.Network/privateEndpoints/{endpoint}", {"name": endpoint}


def _diagnostic_setting(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    setting = plain.get("name", name)
    rid = f"{plain.get('resourceUri', _group(plain))}/providers/Microsoft.Insights/diagnosticSettings/{setting}"
    return rid, {"name": setting}


def _web_app(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    site = plain.get("name", name)
    principal = str(uuid.UUID(_suffix(site, 32)))
    return f"{_group(plain)}/providers/Microsoft.Web/sites/{site}", {
        "name": site,
        "defaultHostName": f"{site}.azurewebsites.net",
        "identity": {
            **plain.get("identity", {}),
            "principalId": principal,
            "tenantId": "33333333-3333-3333-3333-333333333333",
        },
    }


def _servicebus_namespace(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ns = plain.get("namespaceName", name)
    return f"{_group(plain)}/providers/Microsoft.ServiceBus/namespaces/{ns}", {
        "name": ns,
        "serviceBusEndpoint": f"https://{ns}.servicebus.windows.net:443/",
    }


def _servicebus_queue(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ns, queue = plain.get("namespaceName", "ns"), plain.get("queueName", name)
    return f"{_group(plain)}/providers/Microsoft.ServiceBus/namespaces/{ns}/queues/{queue}", {"name": queue}


def _storage_account(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account = plain.get("accountName", name)
    return f"{_group(plain)}/providers/Microsoft.Storage/storageAccounts/{account}", {"name": account}


def _blob_container(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account, container = plain.get("accountName", "account"), plain.get("containerName", name)
    return (
        f"{_group(plain)}/providers/Microsoft.Storage/storageAccounts/{account}/blobServices/default/"
        f"containers/{container}"
    ), {"name": container}


def _blob(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    account, container = plain.get("accountName", "account"), plain.get("containerName", "container")
    url = f"https://{account}.blob.core.windows.net/{container}/{plain.get('blobName', name)}"
    return url, {"name": plain.get("blobName", name), "url": url}


def _system_topic(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    topic = plain.get("systemTopicName", name)
    return f"{_group(plain)}/providers/Microsoft.EventGrid/systemTopics/{topic}", {"name": topic}


def _app_insights(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    component = plain.get("resourceName", name)
    key = str(uuid.UUID(_suffix(component, 32)))
    return f"{_group(plain)}/providers/Microsoft.Insights/components/{component}", {
        "name": component,
        "instrumentationKey": key,
        "connectionString": f"InstrumentationKey={key};IngestionEndpoint=https://{plain.get('location', 'westeurope')}.in.applicationinsights.azure.com/",
    }


def _action_group(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    ag = plain.get("actionGroupName", name)
    return f"{_group(plain)}/providers/Microsoft.Insights/actionGroups/{ag}", {"name": ag}


def _user_assigned_identity(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    identity = plain.get("resourceName", name)
    return f"{_group(plain)}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{identity}", {
        "name": identity,
        "principalId": str(uuid.UUID(_suffix(identity + "principal", 32))),
        "clientId": str(uuid.UUID(_suffix(identity + "client", 32))),
        "tenantId": "33333333-3333-3333-3333-333333333333",
    }


def _metric_alert(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    rule = plain.get("ruleName", name)
    return f"{_group(plain)}/providers/Microsoft.Insights/metricAlerts/{rule}", {"name": rule}


def _azure_other(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    leaf = plain.get("name") or name
    return f"{_group(plain)}/providers/{typ.split(':')[1]}/{leaf}", {"name": leaf}


# -- Vault: ids as the Terraform provider sets them (paths) --------------------------------------------


def _vault_mount(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return plain["path"], {"accessor": f"kv_{_suffix(plain['path'], 8)}"}


def _kv_backend(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return f"{plain['mount']}/config", {}


def _kv_secret(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    path = f"{plain['mount']}/data/{plain['name']}"
    return path, {"path": path, "metadata": {"version": "1"}}


def _vault_other(m: OfflineMocks, typ: str, name: str, plain: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    return plain.get("path") or plain.get("name") or name, {}


#: Resource type -> its mock.
RESOURCE_MOCKS: dict[str, ResourceMock] = {
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:secretsmanager/secret:Secret": _secret_manager_secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secret_version,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/policy:Policy": _iam_policy,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _oidc_provider,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:dynamodb/table:Table": _dynamodb_table,
    "aws:lambda/function:Function": _lambda_function,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:apigatewayv2/api:Api": _http_api,
    "aws:apigatewayv2/domainName:DomainName": _api_domain_name,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "tls:index/privateKey:PrivateKey": _tls_private_key,
    "tls:index/selfSignedCert:SelfSignedCert": _tls_self_signed_cert,
    "azure-native:resources:ResourceGroup": _resource_group,
    "azure-native:keyvault:Vault": _key_vault,
    "azure-native:keyvault:Secret": _key_vault_secret,
    "azure-native:network:PrivateEndpoint": _private_endpoint,
    "azure-native:monitor:DiagnosticSetting": _diagnostic_setting,
    "azure-native:web:WebApp": _web_app,
    "azure-native:servicebus:Namespace": _servicebus_namespace,
    "azure-native:servicebus:Queue": _servicebus_queue,
    "azure-native:storage:StorageAccount": _storage_account,
    "azure-native:storage:BlobContainer": _blob_container,
    "azure-native:storage:Blob": _blob,
    "azure-native:eventgrid:SystemTopic": _system_topic,
    "azure-native:applicationinsights:Component": _app_insights,
    "azure-native:monitor:ActionGroup": _action_group,
    "azure-native:monitor:MetricAlert": _metric_alert,
    "azure-native:managedidentity:UserAssignedIdentity": _user_assigned_identity,
    "vault:index/mount:Mount": _vault_mount,
    "vault:kv/secretBackendV2:SecretBackendV2": _kv_backend,
    "vault:kv/secretV2:SecretV2": _kv_secret,
}

#: Type prefix -> the mock of a type without its own entry (others get an id alone).
PROVIDER_FALLBACKS: tuple[tuple[str, ResourceMock], ...] = (
    ("aws:", _aws_other),
    ("tls:", _tls_other),
    ("azure-native:", _azure_other),
    ("vault:", _vault_other),
)

#: Invoke token -> what it returns (any other invoke returns nothing).
INVOKE_MOCKS: dict[str, Callable[[OfflineMocks], dict[str, Any]]] = {
    "aws:index/getCallerIdentity:getCallerIdentity": lambda m: {
        "accountId": m.account_id,
        "arn": f"arn:aws:sts::{m.account_id}:assumed-role/{MOCK_DEPLOYER_ROLE}/offline-plan",
        "userId": "AROAOFFLINEPLAN:offline-plan",
        "id": m.account_id,
    },
    "aws:index/getRegion:getRegion": lambda m: {
        "name": m.region,
        "region": m.region,
        "id": m.region,
        "endpoint": f"ec2.{m.region}.amazonaws.com",
        "description": m.region,
    },
    "aws:index/getPartition:getPartition": lambda m: {
        "partition": "aws",
        "dnsSuffix": "amazonaws.com",
        "id": "aws",
        "reverseDnsPrefix": "com.amazonaws",
    },
    "azure-native:authorization:getClientConfig": lambda m: {
        "clientId": "11111111-1111-1111-1111-111111111111",
        "objectId": "22222222-2222-2222-2222-222222222222",
        "subscriptionId": MOCK_SUBSCRIPTION_ID,
        "tenantId": "33333333-3333-3333-3333-333333333333",
    },
}


# --------------------------------------------------------------------------------------------------
# Recording


@dataclass
class RecordedResource:
    urn: str
    type: str
    name: str
    parent: str | None
    custom: bool
    protect: bool
    retain_on_delete: bool
    ignore_changes: tuple[str, ...]
    dependencies: tuple[str, ...]
    #: Inputs as the engine received them (camelCase), secrets still marked.
    inputs: dict[str, Any]
    #: The URNs the resource answers to besides its own (``aliases``), as the SDK computes them (its parent's
    #: aliases included) when the monitor does not take alias specifications (see ``AliasUrnMonitor``).
    alias_urns: tuple[str, ...] = ()

    @property
    def plain_inputs(self) -> dict[str, Any]:
        plain: dict[str, Any] = unwrap_secrets(self.inputs)
        return plain

    def to_json(self) -> dict[str, Any]:
        return {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "parent": self.parent,
            "protect": self.protect,
            "retainOnDelete": self.retain_on_delete,
            "ignoreChanges": list(self.ignore_changes),
            "inputs": redact(self.inputs),
        }


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A MockMonitor that also keeps the resource options the engine would see."""

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.records: dict[str, RecordedResource] = {}
        #: Event loops MockMonitor creates in the SDK's executor threads (and never closes).
        self.thread_loops: set[asyncio.AbstractEventLoop] = set()

    def _track_thread_loop(self) -> None:
        if threading.current_thread() is threading.main_thread():
            return
        # RuntimeError: this call made no loop in this thread (e.g. the root stack's registration).
        with contextlib.suppress(RuntimeError):
            self.thread_loops.add(asyncio.get_event_loop_policy().get_event_loop())

    def close_thread_loops(self) -> None:
        """Close the executor threads' loops, so none is left to be torn down noisily at exit."""
        for thread_loop in self.thread_loops:
            if not thread_loop.is_closed() and not thread_loop.is_running():
                thread_loop.close()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives: ``urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::<name>``.

        The qualified type is the whole chain of parent types (the engine's ``resource.NewURN`` with the parent's
        ``QualifiedType()``; the SDK's ``create_urn`` builds aliases the same way); Pulumi's MockMonitor keeps
        only the nearest parent's type, so a renamed grandparent would not show in the URNs of its grandchildren.
        """
        if parent:
            qualified = parent.split("::")[2]
            if qualified != "pulumi:pulumi:Stack":
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().Invoke(request)
        self._track_thread_loop()
        return response

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        self._track_thread_loop()
        self.records[response.urn] = RecordedResource(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent or None,
            custom=bool(request.custom),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            ignore_changes=tuple(request.ignoreChanges),
            dependencies=tuple(request.dependencies),
            inputs=rpc.deserialize_properties(request.object) if request.type != "pulumi:pulumi:Stack" else {},
            alias_urns=tuple(request.aliasURNs),
        )
        return response


class AliasUrnMonitor(RecordingMonitor):
    """A RecordingMonitor of an engine without alias specifications: the Pulumi SDK then computes every alias
    as a full URN itself (a resource's own, and those it inherits from its parent's, as the engine does for
    specifications), so what a rename keeps can be checked without an engine (tests/program/test_urns.py)."""

    def GetDeploymentInfo(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        info = super().GetDeploymentInfo(request)
        kept = [f for f in info.supportedFeatures if f != resource_pb2.RESOURCE_MONITOR_FEATURE_ALIAS_SPECS]
        return resource_pb2.DeploymentInfo(supportedFeatures=kept)


@dataclass
class ProgramRun:
    stack: str
    resources: list[RecordedResource]
    #: Stack outputs with secrets still marked (``redact`` them before printing).
    outputs: dict[str, Any] = field(default_factory=dict)
    #: Warnings and errors the program logged through ``pulumi.log`` (shown by the plan).
    warnings: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[RecordedResource]:
        return [r for r in self.resources if r.type == typ]

    def named(self, name: str) -> RecordedResource:
        for r in self.resources:
            if r.name == name:
                return r
        raise KeyError(name)


async def _resolve(value: Any) -> Any:
    """Resolve Outputs inside an exported structure, marking secret leaves like the engine does."""
    if isinstance(value, pulumi.Output):
        resolved = await value.future()
        secret = await value.is_secret()
        inner = await _resolve(resolved)
        return _secret(inner) if secret else inner
    if isinstance(value, dict):
        return {k: await _resolve(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [await _resolve(v) for v in value]
    if asyncio.isfuture(value) or asyncio.iscoroutine(value):
        return await _resolve(await value)
    return value


def stack_account_id(config: Mapping[str, str]) -> str:
    """The AWS account the stack may deploy into (``aws:allowedAccountIds``, first entry), so the plan's
    ARNs are the ones a real deployment would have; the mock account when the stack names none."""
    raw = config.get("aws:allowedAccountIds")
    try:
        ids = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        ids = [raw]
    if isinstance(ids, list) and ids and isinstance(ids[0], str | int) and str(ids[0]).isdigit():
        return str(ids[0])
    return MOCK_ACCOUNT_ID


def run_program(
    stack: str,
    config: Mapping[str, str],
    secret_keys: Iterable[str] = (),
    *,
    region: str | None = None,
    program: Path = PROGRAM,
    mocks: pulumi.runtime.Mocks | None = None,
    monitor: RecordingMonitor | None = None,
    project: str = PROJECT,
) -> ProgramRun:
    """Run ``program`` for ``stack`` under mocks and return what it registered and exported.

    Each call gets a fresh event loop, monitor and root stack, so runs never leak into each other.
    Exceptions from the program (including ``pulumi.RunError`` for invalid config) propagate; pass your
    own ``monitor`` to see what was registered before one.
    """
    region = region or config.get("aws:region") or DEFAULT_REGION
    mocks = mocks or OfflineMocks(region=region, account_id=stack_account_id(config))
    monitor = monitor or RecordingMonitor(mocks)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    collected: dict[str, Any] = {}
    engine_log = _EngineLog()
    try:
        ROOT.set(None)
        pulumi.runtime.set_mocks(
            mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=engine_log.logger
        )
        pulumi.runtime.set_all_config(dict(config), list(secret_keys))
        root = pulumi.runtime.get_root_resource()
        assert isinstance(root, Stack), "set_mocks registers a root stack"
        SETTINGS.rpc_manager.clear()
        SETTINGS.outputs.clear()
        failure: BaseException | None = None
        with _DrainingRegistrations(loop):
            # The program body runs here, with the loop idle, as under the Pulumi CLI's language host;
            # its registrations complete in batches (see _DrainingRegistrations) and at the end.
            try:
                runpy.run_path(str(program), run_name="__main__")
            except BaseException as err:  # noqa: BLE001 - re-raised once the runtime has wound down
                failure = err
            _sync_await(run_pulumi_func(lambda: None))
        if failure is not None:
            raise failure
        collected.update(_sync_await(_resolve(dict(root.outputs))))
    finally:
        # The SDK calls the monitor from executor threads: join them, then close the loops they made.
        loop.run_until_complete(loop.shutdown_default_executor())
        monitor.close_thread_loops()
        asyncio.set_event_loop(None)
        loop.close()
    return ProgramRun(
        stack=stack, resources=list(monitor.records.values()), outputs=collected, warnings=engine_log.messages
    )


#: Registrations between two drains of the event loop (see _DrainingRegistrations).
DRAIN_EVERY = 256


class _DrainingRegistrations:
    """While a program runs under the mocks: let its registrations complete in batches, and keep the
    garbage collector from re-scanning what they leave behind.

    The program body is synchronous: each resource it constructs schedules its registration (a coroutine,
    a future per output property, a task per Output: ~50 KiB) on the event loop, which runs only once the
    body returns, so a program of 25,000 resources would hold all of them at once (~2 GiB). Every
    ``DRAIN_EVERY`` registrations, while the loop is idle (never inside an apply callback), the loop runs
    until the registrations pending so far are done: the Pulumi SDK does the same before it registers a
    transform (``pulumi.runtime.stack._wait_for_pending_rpcs``). Nothing about the program changes: a
    registration waits only for resources constructed before it, so all of them can complete.

    What a drain leaves (resources and their resolved outputs) lives until the end of the run: it is moved
    to the collector's permanent generation (``gc.freeze``), so later collections do not traverse it again
    (without that, collections grow with the program and the run becomes quadratic); ``gc.unfreeze`` at
    the end hands it back. Set ``MAKINI_OFFLINE_DRAIN=0`` to run without either (for comparisons).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, every: int | None = None):
        self.loop = loop
        self.every = every or DRAIN_EVERY
        self.count = 0
        self.enabled = os.environ.get("MAKINI_OFFLINE_DRAIN", "1") != "0"
        # The module-level name Resource.__init__ calls (pulumi/resource.py imports it from pulumi.runtime).
        self._register: Callable[..., Any] = getattr(pulumi_resource, "register_resource")  # noqa: B009

    def __enter__(self) -> _DrainingRegistrations:
        if self.enabled:
            original = self._register

            def register_resource(*args: Any, **kwargs: Any) -> Any:
                self.count += 1
                if self.count % self.every == 0 and not self.loop.is_running():
                    self.drain()
                return original(*args, **kwargs)

            setattr(pulumi_resource, "register_resource", register_resource)  # noqa: B010
        return self

    def drain(self) -> None:
        pending = [t for t in asyncio.all_tasks(self.loop) if getattr(t.get_coro(), "__name__", "") == "rpc_wrapper"]
        if pending:
            self.loop.run_until_complete(asyncio.wait(pending))
        manager = SETTINGS.rpc_manager
        # Finished RPCs recorded their errors in the manager already; only the pending ones are awaited later.
        manager.rpcs[:] = [r for r in manager.rpcs if not r.done()]
        gc.collect(1)
        gc.freeze()

    def __exit__(self, *exc: object) -> None:
        setattr(pulumi_resource, "register_resource", self._register)  # noqa: B010
        if self.enabled:
            gc.unfreeze()


class _EngineLog(logging.Handler):
    """Collects what the program logs through the (mock) engine at WARNING and above, per run."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []
        self.logger = logging.getLogger(f"makini-infra.offline.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.WARNING)
        self.logger.addHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
