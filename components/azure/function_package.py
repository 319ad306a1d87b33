"""Code packages for the Azure Function Apps (webhook receiver, Key Vault rotation), deployed run-from-package.

A package is a zip of exactly the runtime files (:func:`package_files`):

* the runtime modules of one folder of ``functions/`` under ``<package>/`` (never tests, READMEs, the
  AWS or Vault runtimes, or anything else in the folder), and the shared modules it imports under
  ``functions/shared/``,
* a root ``function_app.py`` that re-exports the package's v2-model app
  (``from <package>.azure_function import app``), which is what the Functions host loads,
* ``host.json`` (Functions v2 host schema with the extension bundle; the timer and HTTP triggers are built in),
* ``requirements.txt``: the Azure SDKs the code imports and their closure, each at the exact version of the
  program's ``uv.lock`` with every hash the lock holds (:mod:`.function_lock`), for ``pip install
  --require-hashes --no-deps``,
* and, only when a dependencies folder is given, its contents under ``.python_packages/lib/site-packages/``,
  after proving it holds exactly those distributions at those versions (nothing missing, nothing extra).

Dependencies. With ``WEBSITE_RUN_FROM_PACKAGE=<url>`` the platform mounts the zip read-only and runs
no build (no Oryx, no ``SCM_DO_BUILD_DURING_DEPLOYMENT``): every third-party package must already be
inside the zip. Wheels for the Functions' Linux image cannot be fetched reliably here, so the program
does not download them: CI produces the folder before ``pulumi up`` (see docs/azure-functions.md)::

    pip install --require-hashes --no-deps --target build/azure-functions/<package> \\
        --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp --only-binary=:all: \\
        -r <requirements.txt of the package: locked_requirements_text(spec)>

and the stack names its parent with ``makini:azure.functionDependenciesDir``. Without it the zip holds
the code and ``requirements.txt`` only, and the apps fail at their first Azure SDK import; the
environment logs a warning in that case.

:func:`upload_package` stores the zip as a block blob ``<package>-<sha256 prefix>.zip`` in a private
container of the app's *package* storage account (a new name per content, so a code change is a new URL
and the app restarts on it) and returns the blob URL for ``WEBSITE_RUN_FROM_PACKAGE``; the app reads it
with its managed identity (``WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID=SystemAssigned``) and a Storage
Blob Data Reader assignment on that container, made by the caller once the identity exists.

Two storage accounts per app (:func:`function_storage`), because the app must not be able to change its
own code and its host state needs no key:

* the *host* account (``AzureWebJobsStorage__accountName``): shared-key access off (every request
  authorised with Entra ID), and, when the app is VNet-integrated, a firewall that denies everything but
  the app's subnet; the app's identity owns its blobs and writes its tables there (the host's minimum);
* the *package* account: holds only the code package; the app's identity may read that container and
  nothing else. It keeps shared-key access because azure-native's ``storage.Blob`` uploads with the account
  key (pulumi/pulumi-azure-native#2015), and public network access because ``pulumi up`` uploads from the
  CI runner; only principals that may list its keys (the deployer) can use them.

Publishing: the apps run from their package URL, so SCM/FTP basic-auth publishing credentials are switched
off (:func:`disable_basic_publishing`): no deployment user or publish profile can push code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_azure_native as azure_native

from ..packaging import FUNCTIONS_DIR, RECEIVER_CORE_MODULES, archive, runtime_files
from .access import role_definition_id
from .function_lock import check_installed, locked_requirements, requirements_text

SITE_PACKAGES = ".python_packages/lib/site-packages"
CONTAINER_NAME = "function-packages"
STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
#: The Functions runtime's Python (the apps' linuxFxVersion) and the one the dependencies are locked for.
PYTHON_VERSION = "3.11"

#: host.json: Functions host v2 schema, with the extension bundle (the timer and HTTP triggers are built in).
HOST_JSON = (
    json.dumps(
        {
            "version": "2.0",
            "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "[4.*, 5.0.0)"},
            "logging": {"applicationInsights": {"samplingSettings": {"isEnabled": True, "excludedTypes": "Request"}}},
        },
        indent=2,
        sort_keys=True,
    )
    + "\n"
)


@dataclass(frozen=True)
class FunctionPackageSpec:
    """Which files of ``functions/<package>/`` one Function App runs, and what they import."""

    package: str
    modules: tuple[str, ...]
    #: The distributions the code imports (names only: versions and hashes come from uv.lock).
    requirements: tuple[str, ...]
    #: The modules of ``functions/shared/`` it imports.
    shared: tuple[str, ...] = ()

    @property
    def function_app(self) -> str:
        return f"from {self.package}.azure_function import app  # noqa: F401 - the Functions host loads `app`\n"


RECEIVER_PACKAGE = FunctionPackageSpec(
    package="webhook_receiver",
    modules=("__init__.py", "azure_function.py", *RECEIVER_CORE_MODULES),
    requirements=("azure-functions", "azure-servicebus", "azure-identity"),
    shared=("jsonlog.py",),
)
ROTATION_PACKAGE = FunctionPackageSpec(
    package="rotation",
    modules=(
        "__init__.py",
        "azure_function.py",
        "bindings.py",
        "makini_client.py",
        "oauth_client.py",
        "backoff.py",
        "token_lifetime.py",
    ),
    requirements=("azure-functions", "azure-identity", "azure-keyvault-secrets"),
    shared=("jsonlog.py", "names.py"),
)


#: Where the rotation package carries the deployment's bindings (functions/rotation/bindings.py, PACKAGED_FILE).
BINDINGS_FILE = "rotation/bindings.json"


def _dependency_files(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        raise ValueError(
            f"the Function dependencies folder {root} does not exist; build it with pip install --target "
            f"(see docs/azure-functions.md) or remove makini:azure.functionDependenciesDir"
        )
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and "__pycache__" not in rel.parts and path.suffix != ".pyc":
            out[f"{SITE_PACKAGES}/{rel.as_posix()}"] = path
    return out


def locked_requirements_text(spec: FunctionPackageSpec) -> str:
    """The package's ``requirements.txt``: exact versions from uv.lock, with hashes."""
    header = (
        f"{spec.package}: locked from makini-infra's uv.lock for Python {PYTHON_VERSION} on Linux.\n"
        "pip install --require-hashes --no-deps --target <dir> -r requirements.txt"
    )
    return requirements_text(locked_requirements(spec.requirements, PYTHON_VERSION), header=header)


def package_files(
    spec: FunctionPackageSpec,
    dependencies_dir: Path | None = None,
    source_root: Path = FUNCTIONS_DIR,
    generated: Mapping[str, str] | None = None,
) -> dict[str, Path | str]:
    """Archive path -> the file to ship (a Path) or generated text (a str). Exactly the runtime files, plus
    ``generated`` (text the program wrote for this deployment, e.g. ``rotation/bindings.json``)."""
    files: dict[str, Path | str] = dict(runtime_files(spec.package, spec.modules, spec.shared, source_root))
    for name, text in (generated or {}).items():
        if name in files:
            raise ValueError(f"{spec.package}: generated file {name} would replace a source file")
        files[name] = text
    files["function_app.py"] = spec.function_app
    files["host.json"] = HOST_JSON
    files["requirements.txt"] = locked_requirements_text(spec)
    if dependencies_dir is not None:
        files.update(_dependency_files(dependencies_dir))
        check_installed(dependencies_dir, locked_requirements(spec.requirements, PYTHON_VERSION))
    return files


def package_digest(files: Mapping[str, Path | str]) -> str:
    """SHA-256 over every archive path and its bytes: names the blob, so new content is a new URL."""
    h = hashlib.sha256()
    for name in sorted(files):
        content = files[name]
        data = content.read_bytes() if isinstance(content, Path) else content.encode()
        h.update(name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def blob_url(account: str, container: str, blob: str) -> str:
    return f"https://{account}.blob.core.windows.net/{container}/{blob}"


@dataclass(frozen=True)
class UploadedPackage:
    container: azure_native.storage.BlobContainer
    blob: azure_native.storage.Blob
    #: The blob's URL, for WEBSITE_RUN_FROM_PACKAGE.
    url: pulumi.Output[str]
    files: Sequence[str]


def upload_package(
    name: str,
    spec: FunctionPackageSpec,
    storage: azure_native.storage.StorageAccount,
    resource_group_name: pulumi.Input[str],
    parent: pulumi.Resource,
    dependencies_dir: Path | None = None,
    generated: Mapping[str, str] | None = None,
) -> UploadedPackage:
    """A private container ``function-packages`` and the package blob in it (children of ``parent``)."""
    files = package_files(spec, dependencies_dir, generated=generated)
    blob_name = f"{spec.package}-{package_digest(files)[:16]}.zip"
    child = pulumi.ResourceOptions(parent=parent)
    container = azure_native.storage.BlobContainer(
        f"{name}-packages",
        account_name=storage.name,
        resource_group_name=resource_group_name,
        container_name=CONTAINER_NAME,
        public_access=azure_native.storage.PublicAccess.NONE,
        opts=child,
    )
    blob = azure_native.storage.Blob(
        f"{name}-package",
        account_name=storage.name,
        resource_group_name=resource_group_name,
        container_name=container.name,
        blob_name=blob_name,
        type=azure_native.storage.BlobType.BLOCK,
        content_type="application/zip",
        source=archive(files),
        opts=child,
    )
    url = pulumi.Output.all(storage.name, container.name, blob.name).apply(lambda v: blob_url(v[0], v[1], v[2]))
    return UploadedPackage(container=container, blob=blob, url=url, files=tuple(sorted(files)))


def package_settings(url: pulumi.Input[str]) -> dict[str, pulumi.Input[str]]:
    """App settings that run the app from the package blob, read with the app's system-assigned identity."""
    return {"WEBSITE_RUN_FROM_PACKAGE": url, "WEBSITE_RUN_FROM_PACKAGE_BLOB_MI_RESOURCE_ID": "SystemAssigned"}


#: Functions host storage with an identity ("Connecting to host storage with an identity"): Storage Blob
#: Data Owner is the host's minimum (coordination, key store); Storage Table Data Contributor adds the
#: diagnostic events the host persists in tables. No queue role: neither app has a blob or queue trigger.
STORAGE_BLOB_DATA_OWNER = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
STORAGE_TABLE_DATA_CONTRIBUTOR = "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3"


def host_storage_grants(
    name: str,
    principal_id: pulumi.Input[str],
    storage: FunctionStorage,
    subscription_id: pulumi.Input[str],
    who: str,
    parent: pulumi.Resource,
) -> dict[str, azure_native.authorization.RoleAssignment]:
    """The app identity's storage roles: host blobs and tables on its host account, and read on its package
    container (in the other account: it cannot change its own code)."""
    sub = pulumi.Output.from_input(subscription_id)

    def grant(suffix: str, role: str, scope: pulumi.Input[str], what: str) -> azure_native.authorization.RoleAssignment:
        return azure_native.authorization.RoleAssignment(
            f"{name}-{suffix}",
            principal_id=principal_id,
            principal_type="ServicePrincipal",
            role_definition_id=sub.apply(lambda s: role_definition_id(s, role)),
            scope=scope,
            description=f"makini-infra: {who} {what}",
            opts=pulumi.ResourceOptions(parent=parent),
        )

    return {
        "host-storage": grant("host-storage", STORAGE_BLOB_DATA_OWNER, storage.host.id, "keeps its host state (blobs)"),
        "host-tables": grant(
            "host-tables", STORAGE_TABLE_DATA_CONTRIBUTOR, storage.host.id, "writes host diagnostic events"
        ),
        "package-reader": grant(
            "package-reader", STORAGE_BLOB_DATA_READER, storage.package.container.id, "reads its code package"
        ),
    }


#: Monitoring Metrics Publisher: sends telemetry to an Application Insights resource that takes Entra ID only.
MONITORING_METRICS_PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"


def telemetry_publisher_grant(
    name: str,
    principal_id: pulumi.Input[str],
    insights_id: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    who: str,
    parent: pulumi.Resource,
) -> azure_native.authorization.RoleAssignment:
    """The app identity's right to send telemetry to its own Application Insights. Every Function App's
    Application Insights here has ``disable_local_auth`` (Entra ID only, no instrumentation-key ingestion), so
    without this grant the app runs but its requests, failures and logs never arrive, and the alerts built
    on them never fire."""
    return azure_native.authorization.RoleAssignment(
        f"{name}-telemetry",
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=pulumi.Output.from_input(subscription_id).apply(
            lambda s: role_definition_id(s, MONITORING_METRICS_PUBLISHER)
        ),
        scope=insights_id,
        description=f"makini-infra: {who} sends its telemetry (Entra ID only)",
        opts=pulumi.ResourceOptions(parent=parent),
    )


#: App Service plan SKU -> tier.
PLAN_TIERS = {
    "Y1": "Dynamic",
    "EP1": "ElasticPremium",
    "EP2": "ElasticPremium",
    "EP3": "ElasticPremium",
    "B1": "Basic",
    "B2": "Basic",
    "B3": "Basic",
    "S1": "Standard",
    "S2": "Standard",
    "S3": "Standard",
    "P1v3": "PremiumV3",
    "P2v3": "PremiumV3",
    "P3v3": "PremiumV3",
}


def host_storage_account(
    name: str,
    account_name: str,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    subnet_id: str | None = None,
) -> azure_native.storage.StorageAccount:
    """The Function App's host storage: private, TLS 1.2, Entra ID only (no shared key, no SAS) and, when the
    app is VNet-integrated, reachable only from its subnet (the subnet needs the Microsoft.Storage service
    endpoint; Y1 has no VNet integration, so it keeps the public endpoint, still keyless)."""
    return azure_native.storage.StorageAccount(
        f"{name}-storage",
        account_name=account_name,
        resource_group_name=resource_group_name,
        location=location,
        kind="StorageV2",
        sku=azure_native.storage.SkuArgs(name="Standard_LRS"),
        allow_blob_public_access=False,
        allow_shared_key_access=False,
        default_to_o_auth_authentication=True,
        minimum_tls_version="TLS1_2",
        enable_https_traffic_only=True,
        network_rule_set=azure_native.storage.NetworkRuleSetArgs(
            default_action=azure_native.storage.DefaultAction.DENY,
            bypass="None",
            virtual_network_rules=[azure_native.storage.VirtualNetworkRuleArgs(virtual_network_resource_id=subnet_id)],
        )
        if subnet_id
        else None,
        tags={**tags, "makini:purpose": "function-host-storage"},
        opts=opts,
    )


def package_storage_account(
    name: str,
    account_name: str,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> azure_native.storage.StorageAccount:
    """The account that holds only the app's code package: private blobs, TLS 1.2. Shared-key access stays on
    (azure-native's Blob uploads with the account key, pulumi/pulumi-azure-native#2015) and so does the public
    endpoint (``pulumi up`` uploads from the CI runner); the app itself may only read its package container."""
    return azure_native.storage.StorageAccount(
        f"{name}-package-storage",
        account_name=account_name,
        resource_group_name=resource_group_name,
        location=location,
        kind="StorageV2",
        sku=azure_native.storage.SkuArgs(name="Standard_LRS"),
        allow_blob_public_access=False,
        allow_shared_key_access=True,
        minimum_tls_version="TLS1_2",
        enable_https_traffic_only=True,
        tags={**tags, "makini:purpose": "function-package-storage"},
        opts=opts,
    )


@dataclass(frozen=True)
class FunctionStorage:
    """An app's two storage accounts and its uploaded package (see the module doc)."""

    host: azure_native.storage.StorageAccount
    package_account: azure_native.storage.StorageAccount
    package: UploadedPackage


def package_account_name(host_account_name: str) -> str:
    """The package account's name: the host account's, cut to fit Azure's 24 characters, + ``pkg``."""
    return f"{host_account_name[:21]}pkg"


def function_storage(
    name: str,
    host_account_name: str,
    spec: FunctionPackageSpec,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    subnet_id: str | None = None,
    dependencies_dir: Path | None = None,
    generated: Mapping[str, str] | None = None,
) -> FunctionStorage:
    """The host account, the package account and the package in it (children of ``parent``); ``generated``:
    deployment-written files shipped in the package (see :func:`package_files`)."""
    child = pulumi.ResourceOptions(parent=parent)
    host = host_storage_account(name, host_account_name, resource_group_name, location, tags, child, subnet_id)
    account = package_storage_account(
        name, package_account_name(host_account_name), resource_group_name, location, tags, child
    )
    package = upload_package(
        name, spec, account, resource_group_name, parent=parent, dependencies_dir=dependencies_dir, generated=generated
    )
    return FunctionStorage(host=host, package_account=account, package=package)


def disable_basic_publishing(
    name: str, app: azure_native.web.WebApp, resource_group_name: pulumi.Input[str], opts: pulumi.ResourceOptions
) -> dict[str, pulumi.CustomResource]:
    """Switch off SCM (Kudu) and FTP basic-auth publishing credentials (``basicPublishingCredentialsPolicies``):
    the apps run from their package URL and are deployed by Pulumi with Entra ID, so no publish profile or
    deployment user may push code."""
    return {
        "scm": azure_native.web.WebAppScmAllowed(
            f"{name}-scm-basic-auth", name=app.name, resource_group_name=resource_group_name, allow=False, opts=opts
        ),
        "ftp": azure_native.web.WebAppFtpAllowed(
            f"{name}-ftp-basic-auth", name=app.name, resource_group_name=resource_group_name, allow=False, opts=opts
        ),
    }


def linux_plan(
    name: str,
    plan_name: str,
    sku: str,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> azure_native.web.AppServicePlan:
    """A Linux App Service plan for one Function App."""
    if sku not in PLAN_TIERS:
        raise ValueError(f"plan_sku {sku!r} is not one of {', '.join(PLAN_TIERS)}")
    return azure_native.web.AppServicePlan(
        f"{name}-plan",
        name=plan_name,
        resource_group_name=resource_group_name,
        location=location,
        kind="linux",
        reserved=True,
        sku=azure_native.web.SkuDescriptionArgs(name=sku, tier=PLAN_TIERS[sku]),
        tags=dict(tags),
        opts=opts,
    )


def linux_function_app(
    name: str,
    app_name: str,
    *,
    resource_group_name: pulumi.Input[str],
    location: str,
    plan: azure_native.web.AppServicePlan,
    storage: azure_native.storage.StorageAccount,
    package_url: pulumi.Input[str],
    subnet_id: str | None,
    settings: Mapping[str, pulumi.Input[str]],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
    **site_config: object,
) -> azure_native.web.WebApp:
    """A hardened Linux Python Function App: HTTPS only, system identity, no FTP, TLS 1.2, identity-based
    host storage, run from its package, all traffic through the VNet when integrated. ``settings`` are
    the app's own; ``site_config`` adds to the shared site settings (e.g. IP restrictions)."""
    app_settings = {
        **package_settings(package_url),
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "FUNCTIONS_EXTENSION_VERSION": "~4",
        "AzureWebJobsStorage__accountName": storage.name,
        **settings,
    }
    return azure_native.web.WebApp(
        f"{name}-app",
        name=app_name,
        resource_group_name=resource_group_name,
        location=location,
        kind="functionapp,linux",
        server_farm_id=plan.id,
        https_only=True,
        identity=azure_native.web.ManagedServiceIdentityArgs(type="SystemAssigned"),
        virtual_network_subnet_id=subnet_id,
        site_config=azure_native.web.SiteConfigArgs(
            linux_fx_version=f"Python|{PYTHON_VERSION}",
            ftps_state="Disabled",
            min_tls_version="1.2",
            vnet_route_all_enabled=True if subnet_id else None,
            app_settings=[azure_native.web.NameValuePairArgs(name=k, value=v) for k, v in app_settings.items()],
            **site_config,
        ),
        tags=dict(tags),
        opts=opts,
    )
