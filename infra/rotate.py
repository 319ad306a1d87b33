"""Rotate one connection token now (e.g. after a suspected leak), or store a new webhook secret, on every
backend of the stack.

    python -m infra.rotate <stack> --connection KEY --now [--dry-run] [--config-file FILE] [--pulumi-org ORG]
    python -m infra.rotate <stack> --webhook-secret --from-file PATH|- [--dry-run] [--config-file FILE]
    python -m infra.rotate <stack> --connection KEY --revoke [--confirm KEY] [--dry-run] [--config-file FILE]

KEY is a declared connection's key (``makini:connections[].key``), or a run-time connection as
``<run-time class>/<Makini connection id>`` (stored by the onboarding service, docs/access-at-scale.md): its
token is the one at ``connections/<class>/<id>/token``, and the id in the name is the one Makini is asked about.

Reads the stack's configuration the way the program does and acts on each backend it lists, with the
caller's own credentials (the AWS default chain, ``DefaultAzureCredential``, ``VAULT_TOKEN`` or
``~/.vault-token``); ``--dry-run`` prints what it would do on each and touches nothing.

``--connection KEY --now``:

* AWS: ``RotateSecret`` with ``RotateImmediately`` on the token's secret (after removing a stuck
  ``AWSPENDING``, which Secrets Manager would otherwise refuse to start over): Secrets Manager runs the
  rotation function at once.
* Azure: tags the secret's current version ``makini-rotate-requested=<now>``; the rotation Function's next
  hourly run rotates it, due or not (and the command prints how to start that run at once).
* Vault: sets ``rotate_requested_at=<now>`` in the path's custom metadata; the rotator's next run rotates it
  (the command prints the ``kubectl create job --from=cronjob/...`` that starts one now).

A request only asks for an extra rotation of the connection the deployment binds to that secret: which
connection a rotator gets a token for never comes from a tag or metadata. A new token does **not** invalidate
the old one (Makini keeps it valid while the connection exists), so the command prints the disconnect step.
No token or secret value is ever read or printed.

``--connection KEY --revoke`` is the only real revocation: after an explicit confirmation (type the key, or
``--confirm KEY``) it disconnects the connection in Makini (``DELETE /api/system/connections/{id}``, with a
system token from the OAuth client read from the stack's store with your credentials), which invalidates every
token of it at once: the stored one, its previous versions and any token a failed rotation left live. The
customer must then reconnect; the command prints the steps. It does not rotate first: the disconnect would
invalidate the fresh token too, and the rotators would then fail against a connection that no longer exists.

``--webhook-secret`` stores the secret Makini shows on its Webhooks page (read from PATH, or stdin with ``-``,
never from the command line) as the current value on every backend:

* AWS: the new ``AWSCURRENT`` of ``makini/<env>/webhook/secret``; the version it replaces becomes
  ``AWSPREVIOUS``, which the receiver accepts for ``makini:webhooks.graceSeconds``;
* Azure: a new version of the Key Vault secret; the version it replaces gets ``exp`` = now + graceSeconds,
  and the command prints the two settings (``previousSecretVersion``, ``previousSecretExpiresAt``) that make
  the receiver accept it until then and refuse it after (apply them with ``pulumi up``);
* Vault: a new version of ``<mount>/webhook/secret`` written with check-and-set.

Exit codes: 0 done on every backend; 2 bad arguments, unknown connection or invalid configuration;
1 not configured for that, or a backend refused (the message names which; the others were still tried).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from components.vault.rotation import cronjob_name
from functions.rotation.azure_function import FUNCTION_NAME, ROTATE_REQUESTED_TAG
from functions.rotation.makini_client import ENV_API_BASE, MakiniClient, MakiniError
from functions.rotation.vault_rotator import META_ROTATE_REQUESTED
from stacks.catalog import (
    OAUTH_CLIENT_PATH,
    WEBHOOK_SECRET_PATH,
    CatalogSecret,
    build_catalog,
    connection_token_path,
    runtime_token_secret,
)
from stacks.config import ConfigError, StackConfig
from stacks.config.model import Backend
from stacks.locations import SecretLocation, locate
from stacks.naming import RUNTIME_CONNECTION_ID, RUNTIME_CONNECTION_ID_RULE, aws_secret_name

from .cli import make_parser, unexpected
from .offline import DEFAULT_REGION, PROJECT, StackFileError, StackSource, load_stack_file
from .stores import StoreError, default_reader, parse_oauth_client, vault_address, vault_reader

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
MAKINI_API = "https://api.makini.io"

ClientFactory = Callable[[str], Any]


def _boto3_client(region: str) -> Any:
    import boto3

    return boto3.client("secretsmanager", region_name=region)


def _key_vault_client(vault_url: str) -> Any:
    from azure.identity import DefaultAzureCredential  # noqa: PLC0415 - only Azure stacks need the SDK
    from azure.keyvault.secrets import SecretClient  # noqa: PLC0415

    return SecretClient(vault_url=vault_url, credential=DefaultAzureCredential())


def _vault_client(address: str) -> Any:

    return vault_reader(address, os.environ).client


@dataclass(frozen=True)
class Clients:
    """How the command reaches each backend (injectable for tests): region -> Secrets Manager client, vault URL
    -> Key Vault ``SecretClient``, Vault address -> ``hvac.Client``."""

    aws: ClientFactory = _boto3_client
    azure: ClientFactory = _key_vault_client
    vault: ClientFactory = _vault_client


@dataclass
class Context:
    """One command's stack and where it prints."""

    stack: str
    source: StackSource
    cfg: StackConfig
    clients: Clients
    out: TextIO
    err: TextIO
    dry_run: bool = False
    organization: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def locate(self, secret: CatalogSecret, backend: Backend) -> SecretLocation:
        return locate(self.cfg, secret, backend, project=PROJECT, organization=self.organization)

    @property
    def region(self) -> str:
        return self.source.config.get("aws:region") or DEFAULT_REGION

    def vault_address(self) -> str | None:

        return vault_address(self.cfg, self.source.config, self.env)

    def failed(self, backend: str, message: str) -> bool:
        print(f"makini-infra: {backend}: {message}", file=self.err)
        return False


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _current_version(client: Any, name: str) -> Any:
    """The current (latest created) version's properties of a Key Vault secret, or None; values are never read."""
    dated = [
        (p.created_on, i, p)
        for i, p in enumerate(client.list_properties_of_secret_versions(name))
        if getattr(p, "created_on", None) is not None
    ]
    return max(dated, key=lambda t: (t[0], t[1]))[2] if dated else None


def secret_name(environment: str, key: str, access_class: str | None = None) -> str:
    """The Secrets Manager name of a connection's token (under its access class's prefix when it has one)."""
    return aws_secret_name(environment, connection_token_path(key, access_class))


def disconnect_step(makini_id: str | None) -> str:
    target = makini_id or "<makiniId>"
    return (
        "If the old token may be compromised, rotation alone is not enough: Makini keeps the old token valid "
        "while the connection exists. Disconnect the connection:\n"
        f"  curl -X DELETE {MAKINI_API}/api/system/connections/{target} "
        '-H "Authorization: Bearer $MAKINI_SYSTEM_TOKEN"\n'
        "(a system token from POST /link/token with the OAuth client credentials). Makini invalidates the "
        "token at once and returns the connection's credits; the customer then reconnects through Makini "
        "Link, and the new connection's token goes into the store."
    )


def clear_stuck_pending(client: Any, secret_id: str) -> list[str]:
    """Remove AWSPENDING from every version that holds it without AWSCURRENT (an incomplete rotation), the
    documented way to let RotateSecret start again; returns the versions cleared."""
    stages = client.describe_secret(SecretId=secret_id).get("VersionIdsToStages") or {}
    stuck = sorted(v for v, labels in stages.items() if "AWSPENDING" in labels and "AWSCURRENT" not in labels)
    for version_id in stuck:
        client.update_secret_version_stage(
            SecretId=secret_id, VersionStage="AWSPENDING", RemoveFromVersionId=version_id
        )
    return stuck


def _aws_error(err: Exception) -> str:
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        e = response.get("Error", {})
        return f"{e.get('Code', type(err).__name__)}: {e.get('Message', '')}".rstrip(": ")
    return f"{type(err).__name__}: {err}"


def _load(stack: str, config_file: Path | None, err: TextIO) -> tuple[StackSource, StackConfig] | None:
    """The stack's source and validated config, or None after printing why (exit 2)."""
    try:
        source = load_stack_file(stack, config_file)
        return source, source.load()
    except ConfigError as e:
        print(str(e), file=err)
    except StackFileError as e:
        print(f"makini-infra: {e}", file=err)
    except Exception as e:  # noqa: BLE001 - one clear line, never a traceback
        print(f"makini-infra: stack '{stack}' could not be read: {unexpected(e)}", file=err)
    return None


@dataclass(frozen=True)
class Target:
    """The token a command acts on: a declared connection (by key) or a run-time one (``<class>/<id>``)."""

    #: What messages call it: the key, or ``<class>/<id>``.
    label: str
    secret: CatalogSecret
    makini_id: str | None
    #: The declared connection's index in ``makini:connections`` (None for a run-time one).
    index: int | None = None

    @property
    def runtime(self) -> bool:
        return self.index is None


def _target(stack: str, cfg: StackConfig, connection: str, err: TextIO) -> Target | None:
    """The declared or run-time connection ``connection`` names, or None after one clear message (exit 2)."""
    keys = [c.key for c in cfg.connections]
    runtime = sorted(n for n, c in cfg.access_classes.items() if c.runtime)
    if "/" not in connection:
        if connection in keys:
            conn = cfg.connection(connection)
            path = connection_token_path(connection, conn.access_class)
            [secret] = [s for s in build_catalog(cfg).secrets if s.path == path]
            return Target(connection, secret, conn.makini_id, keys.index(connection))
        hint = f"; a run-time connection is <class>/<id> (run-time classes: {', '.join(runtime)})" if runtime else ""
        print(
            f"makini-infra: stack '{stack}' has no connection '{connection}'. "
            f"Valid keys: {', '.join(keys) or '(none)'}{hint}",
            file=err,
        )
        return None
    access_class, _, connection_id = connection.partition("/")
    if access_class not in runtime:
        print(
            f"makini-infra: '{connection}' is not a run-time connection of stack '{stack}': '{access_class}' is not "
            f"a run-time class (run-time classes: {', '.join(runtime) or '(none)'}; a declared connection is named "
            "by its key)",
            file=err,
        )
        return None
    if not RUNTIME_CONNECTION_ID.fullmatch(connection_id):
        print(
            f"makini-infra: '{connection_id}' in '{connection}' is not a Makini connection id: "
            f"{RUNTIME_CONNECTION_ID_RULE}",
            file=err,
        )
        return None
    declared = {c.makini_id: c.key for c in cfg.connections if c.makini_id}
    if connection_id in declared:
        print(
            f"makini-infra: connection id {connection_id} is the declared connection '{declared[connection_id]}' of "
            f"stack '{stack}', never a run-time one (the rotators refuse a run-time name that takes a declared id): "
            f"use --connection {declared[connection_id]}",
            file=err,
        )
        return None
    return Target(connection, runtime_token_secret(access_class, connection_id), connection_id)


def rotate_now(
    stack: str,
    connection: str,
    config_file: Path | None = None,
    client_factory: ClientFactory | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    *,
    clients: Clients | None = None,
    dry_run: bool = False,
    organization: str | None = None,
    env: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    loaded = _load(stack, config_file, err)
    if loaded is None:
        return EXIT_INVALID
    source, cfg = loaded

    target = _target(stack, cfg, connection, err)
    if target is None:
        return EXIT_INVALID
    if not cfg.rotation.enabled or cfg.rotation.connection_token_days is None:
        print(
            f"makini-infra: rotation is not configured in stack '{stack}' (makini:rotation.enabled is false); "
            "enable it and run pulumi up first",
            file=err,
        )
        return EXIT_FAILED
    if not target.makini_id:
        print(
            f"makini-infra: connection '{connection}' is not rotated automatically: it has no makiniId. "
            f"Set it (pulumi config set --path 'makini:connections[{target.index}].makiniId' <id>) and "
            "run pulumi up, or issue a new token in Makini by hand.\n" + disconnect_step(None),
            file=err,
        )
        return EXIT_FAILED
    ctx = _context(stack, source, cfg, client_factory, clients, out, err, dry_run, organization, env)
    secret = target.secret
    # Microseconds: a request made in the same second as the version it replaces must still be newer than it.
    stamp = now().astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    actions = {"aws": _rotate_aws, "azure": _rotate_azure, "vault": _rotate_vault}
    ok = [actions[b](ctx, ctx.locate(secret, b), stamp) for b in cfg.backends]
    if any(ok):
        print("\n" + disconnect_step(target.makini_id), file=out)
    return EXIT_OK if all(ok) else EXIT_FAILED


def _context(
    stack: str,
    source: StackSource,
    cfg: StackConfig,
    client_factory: ClientFactory | None,
    clients: Clients | None,
    out: TextIO,
    err: TextIO,
    dry_run: bool,
    organization: str | None,
    env: Mapping[str, str] | None,
) -> Context:
    chosen = clients or Clients()
    if client_factory is not None:  # the AWS client alone (kept for callers of the AWS-only version)
        chosen = Clients(aws=client_factory, azure=chosen.azure, vault=chosen.vault)
    return Context(
        stack,
        source,
        cfg,
        chosen,
        out,
        err,
        dry_run=dry_run,
        organization=organization,
        env=os.environ if env is None else env,
    )


def _rotate_aws(ctx: Context, loc: SecretLocation, stamp: str) -> bool:
    name, region = loc.name, ctx.region
    if ctx.dry_run:
        print(
            f"[dry-run] AWS: would clear a stuck AWSPENDING of {name} (if any) and start RotateSecret "
            f"(RotateImmediately) in {region}.",
            file=ctx.out,
        )
        return True
    try:
        client = ctx.clients.aws(region)
        cleared = clear_stuck_pending(client, name)
        response = client.rotate_secret(SecretId=name, RotateImmediately=True)
    except Exception as e:  # noqa: BLE001 - botocore ClientError/BotoCoreError: one clear line
        return ctx.failed("AWS", f"could not start the rotation of {name} in {region}: {_aws_error(e)}")
    for version_id in cleared:
        print(
            f"Cleared a stuck AWSPENDING from version {version_id} of {name}: an earlier rotation never completed, "
            "and Secrets Manager refuses to start a new one while it holds the label. Its token (if Makini issued "
            "one) stays valid at Makini until the connection is disconnected.",
            file=ctx.out,
        )
    version = response.get("VersionId", "?") if isinstance(response, dict) else "?"
    print(
        f"AWS: started an immediate rotation of {name} in {region} (new version {version}).\n"
        "Secrets Manager runs the rotation function: it issues a new token in Makini, tests it, and makes it "
        "AWSCURRENT; readers pick it up on their next read. Follow it in the function's log group "
        f"/aws/lambda/makini-{ctx.cfg.environment}-rotation.",
        file=ctx.out,
    )
    return True


def _rotate_azure(ctx: Context, loc: SecretLocation, stamp: str) -> bool:

    app = f"func-makini-{ctx.cfg.environment}-rotation"
    run_now = (
        "To run it now instead of waiting: "
        f"az rest --method post --url https://{app}.azurewebsites.net/admin/functions/{FUNCTION_NAME} "
        '--headers "x-functions-key=$(az functionapp keys list -g <resource group> -n '
        f'{app} --query masterKey -o tsv)" "Content-Type=application/json" --body "{{}}"'
    )
    if ctx.dry_run:
        print(
            f"[dry-run] Azure: would tag the current version of {loc} {ROTATE_REQUESTED_TAG}={stamp}; {app} would "
            "rotate it at its next hourly run.",
            file=ctx.out,
        )
        return True
    try:
        client = ctx.clients.azure(loc.vault_url)
        current = _current_version(client, loc.name)
        if current is None:
            print(
                f"Azure: {loc} has no version yet; {app} fills it at its next run (nothing to request).", file=ctx.out
            )
            return True
        tags = {**(getattr(current, "tags", None) or {}), ROTATE_REQUESTED_TAG: stamp}
        client.update_secret_properties(loc.name, current.version, tags=tags)
    except Exception as e:  # noqa: BLE001 - azure-core errors: one clear line, never a value
        return ctx.failed("Azure", f"could not request the rotation of {loc}: {_azure_error(e)}")
    print(
        f"Azure: requested the rotation of {loc} (tag {ROTATE_REQUESTED_TAG}={stamp} on version {current.version}). "
        f"{app} rotates it at its next hourly run (minute 17 UTC), due or not. {run_now}. Follow it in "
        f"appi-makini-{ctx.cfg.environment}-rotation (rotated / rotation_failed).",
        file=ctx.out,
    )
    return True


def _rotate_vault(ctx: Context, loc: SecretLocation, stamp: str) -> bool:

    rotator = ctx.cfg.vault.rotator if ctx.cfg.vault is not None else None
    if rotator is None:
        return ctx.failed(
            "Vault",
            f"stack '{ctx.stack}' deploys no rotator (makini:vault.rotator), so nothing would act on a request for "
            f"{loc}; configure it, or rotate by hand (docs/operations.md, 'Rotating')",
        )
    job = cronjob_name(ctx.cfg.environment)
    run_now = f"kubectl -n {rotator.namespace} create job --from=cronjob/{job} {job}-now-$(date +%s)"
    if ctx.dry_run:
        print(
            f"[dry-run] Vault: would set {META_ROTATE_REQUESTED}={stamp} in the custom metadata of {loc}; the "
            f"rotator's next run (or `{run_now}`) would rotate it.",
            file=ctx.out,
        )
        return True
    address = ctx.vault_address()
    if not address:
        return ctx.failed("Vault", "no address; set VAULT_ADDR (or vault:address in the stack file)")
    try:
        kv = ctx.clients.vault(address).secrets.kv.v2
        meta = kv.read_secret_metadata(path=loc.name, mount_point=loc.container)["data"]
        custom = {**(meta.get("custom_metadata") or {}), META_ROTATE_REQUESTED: stamp}
        kv.update_metadata(
            path=loc.name,
            custom_metadata=custom,
            # hvac sends delete_version_after="0s" unless told; keep what the path has.
            delete_version_after=meta.get("delete_version_after") or "0s",
            mount_point=loc.container,
        )
    except Exception as e:  # noqa: BLE001 - hvac / requests errors: one clear line
        return ctx.failed("Vault", f"could not request the rotation of {loc} at {address}: {_vault_error(e)}")
    print(
        f"Vault: requested the rotation of {loc} ({META_ROTATE_REQUESTED}={stamp}). The rotator's next run "
        f"rotates it, due or not; run one now with:\n  {run_now}",
        file=ctx.out,
    )
    return True


def _azure_error(err: Exception) -> str:
    status = getattr(err, "status_code", None)
    message = " ".join(str(getattr(err, "message", None) or err).split())[:240]
    return f"{type(err).__name__}" + (f" (HTTP {status})" if status else "") + f": {message}"


def _vault_error(err: Exception) -> str:
    return f"{type(err).__name__}: {' '.join(str(err).split())[:240]}"


MakiniFactory = Callable[[], Any]


def _default_makini(env: Mapping[str, str]) -> Any:

    return MakiniClient(env.get(ENV_API_BASE))


def revoke(
    stack: str,
    connection: str,
    config_file: Path | None = None,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stdin: TextIO = sys.stdin,
    confirm: str | None = None,
    dry_run: bool = False,
    organization: str | None = None,
    env: Mapping[str, str] | None = None,
    makini_factory: MakiniFactory | None = None,
    reader_factory: Any = None,
) -> int:
    """Disconnect a connection in Makini after an explicit confirmation; print the reconnect steps."""

    loaded = _load(stack, config_file, err)
    if loaded is None:
        return EXIT_INVALID
    source, cfg = loaded
    env = os.environ if env is None else env
    target = _target(stack, cfg, connection, err)
    if target is None:
        return EXIT_INVALID
    if not target.makini_id:
        print(
            f"makini-infra: connection '{connection}' has no makiniId, so this command cannot name it to Makini: "
            "disconnect it in Makini's dashboard, or set "
            f"makini:connections[{target.index}].makiniId and run this again",
            file=err,
        )
        return EXIT_FAILED
    makini_id = target.makini_id
    what = (
        f"connection '{connection}' (Makini id {makini_id}) of stack '{stack}': every token of it stops working "
        "at once, the stored one included, until the customer reconnects"
    )
    if dry_run:
        print(
            f"[dry-run] would disconnect {what}. It would read the OAuth client from the stack's store "
            f"({', '.join(cfg.backends)}, the first that answers) and call DELETE /api/system/connections/"
            f"{makini_id}. Nothing was done.",
            file=out,
        )
        return EXIT_OK
    if confirm is None:
        print(f"This disconnects {what}.\nType the connection key ({connection}) to confirm: ", end="", file=err)
        err.flush()
        confirm = stdin.readline().strip()
    if confirm != connection:
        print(f"makini-infra: not confirmed ({confirm!r} is not {connection!r}); nothing was done", file=err)
        return EXIT_INVALID

    [oauth] = [s for s in build_catalog(cfg).secrets if s.path == OAUTH_CLIENT_PATH]
    factory = reader_factory or default_reader
    credentials: tuple[str, str] | None = None
    problems: list[str] = []
    for backend in cfg.backends:
        loc = locate(cfg, oauth, backend, project=PROJECT, organization=organization)
        try:
            raw = factory(backend, cfg, source.config, env).read(loc)
        except StoreError as e:
            problems.append(str(e))
            continue
        parsed = parse_oauth_client(raw)
        if parsed is None:
            problems.append(f'{loc}: no {{"client_id", "client_secret"}} stored')
            continue
        credentials = parsed
        break
    if credentials is None:
        print(
            "makini-infra: cannot read the OAuth client from any backend of the stack, so no system token: "
            + "; ".join(problems)
            + ". Nothing was done; run this as an identity that may read it, or disconnect in Makini's dashboard.",
            file=err,
        )
        return EXIT_FAILED
    try:
        makini = (makini_factory or (lambda: _default_makini(env)))()
        makini.disconnect_connection(makini.system_token(*credentials), makini_id)
    except MakiniError as e:
        print(f"makini-infra: Makini did not disconnect connection {makini_id}: {e}", file=err)
        return EXIT_FAILED
    if target.runtime:
        access_class = target.secret.access_class
        print(
            f"Disconnected run-time connection {makini_id} (class {access_class}) in Makini: every token Makini "
            "issued for it is invalid now, and its credits are back in the pool.\n"
            "Then:\n"
            f"  1. Schedule the deletion of its stored token within the recovery window: the onboarding service's "
            f"Onboarding.disconnect('{makini_id}', '{access_class}') (docs/operations.md, 'A run-time connection'). "
            "Until then the rotation of this token fails at each run (its alarm fires).\n"
            "  2. If the customer should stay connected, they reconnect through your Makini Link flow; Makini creates "
            "a new connection (a new id) and the onboarding service stores its token.",
            file=out,
        )
        return EXIT_OK
    print(
        f"Disconnected connection '{connection}' (Makini id {makini_id}) in Makini: every token Makini issued "
        "for it is invalid now (the stored one, its earlier versions, and any token a failed rotation left live), "
        "and its credits are back in the pool.\n"
        "Reconnect:\n"
        "  1. Ask the customer to reconnect through your Makini Link flow; Makini creates a new connection "
        "(a new id) and gives your onboarding service its token.\n"
        f"  2. pulumi config set --path 'makini:connections[{target.index}].makiniId' <new id>\n"
        "  3. Store the new token on every backend (docs/operations.md, 'Revoking a compromised token'), then "
        "pulumi up.\n"
        f"Until then the rotation of this connection fails at each run (its alarm fires), and consumers of its "
        "token get 401 from Makini.",
        file=out,
    )
    return EXIT_OK


def _read_secret(path: str, stdin: TextIO) -> str:
    raw = stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return raw.strip()


def stage_webhook_secret(
    stack: str,
    source_path: str,
    config_file: Path | None = None,
    client_factory: ClientFactory | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stdin: TextIO = sys.stdin,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    *,
    clients: Clients | None = None,
    dry_run: bool = False,
    organization: str | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    loaded = _load(stack, config_file, err)
    if loaded is None:
        return EXIT_INVALID
    source, cfg = loaded
    try:
        value = _read_secret(source_path, stdin)
    except OSError as e:
        print(f"makini-infra: cannot read the new webhook secret from {source_path}: {e.strerror or e}", file=err)
        return EXIT_INVALID
    if not value:
        print(f"makini-infra: {source_path} holds no secret (empty); nothing was stored", file=err)
        return EXIT_INVALID
    ctx = _context(stack, source, cfg, client_factory, clients, out, err, dry_run, organization, env)
    [secret] = [s for s in build_catalog(cfg).secrets if s.path == WEBHOOK_SECRET_PATH]
    when = now()
    until = when + timedelta(seconds=cfg.webhooks.grace_seconds)
    actions = {"aws": _webhook_aws, "azure": _webhook_azure, "vault": _webhook_vault}
    ok = [actions[b](ctx, ctx.locate(secret, b), value, until) for b in cfg.backends]
    if all(ok) and not dry_run:
        print(
            "Next: make sure Makini's webhook uses the new secret, then record the date for the reminder:\n"
            f"  pulumi config set --path 'makini:rotation.webhookSecretRotatedOn' {when.date().isoformat()}",
            file=out,
        )
    return EXIT_OK if all(ok) else EXIT_FAILED


def _grace(ctx: Context, until: datetime) -> str:
    return (
        f"until about {until.strftime('%Y-%m-%d %H:%M UTC')} "
        f"(makini:webhooks.graceSeconds = {ctx.cfg.webhooks.grace_seconds})"
    )


def _webhook_aws(ctx: Context, loc: SecretLocation, value: str, until: datetime) -> bool:
    name, region = loc.name, ctx.region
    if ctx.dry_run:
        print(f"[dry-run] AWS: would store the new webhook secret as AWSCURRENT of {name} in {region}.", file=ctx.out)
        return True
    try:
        response = ctx.clients.aws(region).put_secret_value(SecretId=name, SecretString=value)
    except Exception as e:  # noqa: BLE001 - one clear line, never the value
        return ctx.failed("AWS", f"could not store the new webhook secret in {name} ({region}): {_aws_error(e)}")
    version = response.get("VersionId", "?") if isinstance(response, dict) else "?"
    print(
        f"AWS: stored the new webhook secret as AWSCURRENT of {name} in {region} (version {version}).\n"
        f"The receiver accepts signatures made with the previous secret {_grace(ctx, until)}.",
        file=ctx.out,
    )
    return True


def _webhook_azure(ctx: Context, loc: SecretLocation, value: str, until: datetime) -> bool:
    if ctx.dry_run:
        print(
            f"[dry-run] Azure: would store the new webhook secret as a new version of {loc}, set the replaced "
            f"version's exp to {_iso(until)}, and print its previousSecretVersion / previousSecretExpiresAt.",
            file=ctx.out,
        )
        return True
    try:
        client = ctx.clients.azure(loc.vault_url)
        previous = _current_version(client, loc.name)
        written = client.set_secret(loc.name, value, content_type="text/plain")
        if previous is not None:
            client.update_secret_properties(loc.name, previous.version, expires_on=until)
    except Exception as e:  # noqa: BLE001 - azure-core errors: one clear line, never the value
        return ctx.failed("Azure", f"could not store the new webhook secret in {loc}: {_azure_error(e)}")
    version = getattr(getattr(written, "properties", None), "version", "?")
    print(f"Azure: stored the new webhook secret as version {version} of {loc}.", file=ctx.out)
    if previous is None or not ctx.cfg.webhooks.enabled:
        return True
    print(
        f"The receiver reads the versionless secret; to accept the previous version {previous.version} "
        f"{_grace(ctx, until)} and refuse it after (its exp is set to then), apply now:\n"
        f"  pulumi config set --path 'makini:webhooks.azure.previousSecretVersion' {previous.version}\n"
        f"  pulumi config set --path 'makini:webhooks.azure.previousSecretExpiresAt' {_iso(until)}\n"
        "  pulumi up   # restarts the Function App, which re-reads both secrets\n"
        "Remove both settings after that time.",
        file=ctx.out,
    )
    return True


def _webhook_vault(ctx: Context, loc: SecretLocation, value: str, until: datetime) -> bool:
    if ctx.dry_run:
        print(f"[dry-run] Vault: would write the new webhook secret to {loc} (check-and-set).", file=ctx.out)
        return True
    address = ctx.vault_address()
    if not address:
        return ctx.failed("Vault", "no address; set VAULT_ADDR (or vault:address in the stack file)")
    try:
        kv = ctx.clients.vault(address).secrets.kv.v2
        try:
            current = int(kv.read_secret_metadata(path=loc.name, mount_point=loc.container)["data"]["current_version"])
        except Exception as e:  # noqa: BLE001 - a path never written has no metadata: cas=0 creates it
            if type(e).__name__ != "InvalidPath":
                raise
            current = 0
        written = kv.create_or_update_secret(
            path=loc.name, secret={"value": value}, cas=current, mount_point=loc.container
        )
    except Exception as e:  # noqa: BLE001 - hvac / requests errors: one clear line, never the value
        return ctx.failed("Vault", f"could not store the new webhook secret in {loc} at {address}: {_vault_error(e)}")
    version = ((written or {}).get("data") or {}).get("version", "?")
    print(f"Vault: stored the new webhook secret as version {version} of {loc} (replacing {current}).", file=ctx.out)
    return True


def main(
    argv: list[str] | None = None, client_factory: ClientFactory | None = None, clients: Clients | None = None
) -> int:
    parser = make_parser("python -m infra.rotate", __doc__ or "")
    parser.add_argument("stack", help="stack name, e.g. prod (reads Pulumi.<stack>.yaml)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--connection",
        metavar="KEY",
        help="a declared connection's key (makini:connections[].key), or a run-time one as <class>/<connection id>",
    )
    what.add_argument("--webhook-secret", action="store_true", help="store a new webhook secret (zero downtime)")
    parser.add_argument("--now", action="store_true", help="with --connection: rotate immediately")
    parser.add_argument(
        "--revoke",
        action="store_true",
        help="with --connection: disconnect it in Makini (invalidates every token of it; the customer reconnects)",
    )
    parser.add_argument("--confirm", metavar="KEY", help="with --revoke: the connection key, instead of the prompt")
    parser.add_argument(
        "--from-file", metavar="PATH", help="with --webhook-secret: file holding the secret, or - for stdin"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would be done on each backend; change nothing"
    )
    parser.add_argument("--config-file", type=Path, help="read this file instead of Pulumi.<stack>.yaml")
    parser.add_argument(
        "--pulumi-org",
        help="Pulumi organization of the stack (the derived Key Vault name depends on it; default: $PULUMI_ORG)",
    )
    args = parser.parse_args(argv)
    organization = args.pulumi_org or os.environ.get("PULUMI_ORG") or None
    common: dict[str, Any] = {"clients": clients, "dry_run": args.dry_run, "organization": organization}
    if args.webhook_secret:
        if not args.from_file:
            parser.error("--webhook-secret needs --from-file PATH (or - for stdin): never pass a secret as an argument")
        return stage_webhook_secret(args.stack, args.from_file, args.config_file, client_factory, **common)
    if args.revoke:
        if args.now:
            parser.error("--revoke and --now are separate: --revoke disconnects (no rotation), --now rotates")
        return revoke(
            args.stack,
            args.connection,
            args.config_file,
            confirm=args.confirm,
            dry_run=args.dry_run,
            organization=organization,
        )
    if not args.now:
        parser.error("--now is required to rotate (or --revoke to disconnect); the schedule runs the other rotations")
    return rotate_now(args.stack, args.connection, args.config_file, client_factory, **common)


if __name__ == "__main__":
    sys.exit(main())
