"""Rotate one connection token now (e.g. after a suspected leak), or stage a new webhook secret.

    python -m infra.rotate <stack> --connection KEY --now [--config-file FILE]
    python -m infra.rotate <stack> --webhook-secret --from-file PATH|- [--config-file FILE]

Reads the stack's configuration the way the program does, then asks AWS Secrets Manager to run the
rotation of ``makini/<env>/connections/<KEY>/token`` immediately (``RotateSecret`` with
``RotateImmediately``), in the region of ``aws:region``, with the caller's AWS credentials. It prints
what it did and the disconnect step: a new token does **not** invalidate the old one (Makini keeps it
valid while the connection exists), so for a suspected compromise the connection must also be
disconnected. No token or secret value is ever read or printed.

``--webhook-secret`` stores the secret Makini shows on its Webhooks page (read from PATH, or stdin
with ``-``, never from the command line) as the new ``AWSCURRENT`` version of
``makini/<env>/webhook/secret``; the version it replaces becomes ``AWSPREVIOUS``, which the receiver
keeps accepting for ``makini:webhooks.graceSeconds``, so deliveries signed with either secret pass
while Makini switches over (and Makini retries any it sent in between for 24 hours).

Exit codes: 0 done; 2 bad arguments, unknown connection or invalid configuration;
1 not configured for that, or an AWS error (the message says which).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from stacks.catalog import WEBHOOK_SECRET_PATH, connection_token_path
from stacks.config import ConfigError, StackConfig
from stacks.naming import aws_secret_name

from .cli import make_parser, unexpected
from .offline import DEFAULT_REGION, StackFileError, StackSource, load_stack_file

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
MAKINI_API = "https://api.makini.io"

ClientFactory = Callable[[str], Any]


def _boto3_client(region: str) -> Any:
    import boto3

    return boto3.client("secretsmanager", region_name=region)


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


def rotate_now(
    stack: str,
    connection: str,
    config_file: Path | None = None,
    client_factory: ClientFactory = _boto3_client,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    loaded = _load(stack, config_file, err)
    if loaded is None:
        return EXIT_INVALID
    source, cfg = loaded

    keys = [c.key for c in cfg.connections]
    if connection not in keys:
        print(
            f"makini-infra: stack '{stack}' has no connection '{connection}'. "
            f"Valid keys: {', '.join(keys) or '(none)'}",
            file=err,
        )
        return EXIT_INVALID
    conn = cfg.connection(connection)
    name = secret_name(cfg.environment, connection, conn.access_class)
    if "aws" not in cfg.backends:
        print(
            f"makini-infra: stack '{stack}' has no aws backend; this command rotates through AWS Secrets Manager. "
            f"Backends: {', '.join(cfg.backends)}",
            file=err,
        )
        return EXIT_FAILED
    if not cfg.rotation.enabled or cfg.rotation.connection_token_days is None:
        print(
            f"makini-infra: rotation is not configured in stack '{stack}' (makini:rotation.enabled is false); "
            "enable it and run pulumi up first",
            file=err,
        )
        return EXIT_FAILED
    if not conn.makini_id:
        print(
            f"makini-infra: connection '{connection}' is not rotated automatically: it has no makiniId. "
            f"Set it (pulumi config set --path 'makini:connections[{keys.index(connection)}].makiniId' <id>) and "
            "run pulumi up, or issue a new token in Makini by hand.\n" + disconnect_step(None),
            file=err,
        )
        return EXIT_FAILED

    region = source.config.get("aws:region") or DEFAULT_REGION
    try:
        client = client_factory(region)
        cleared = clear_stuck_pending(client, name)
        response = client.rotate_secret(SecretId=name, RotateImmediately=True)
    except Exception as e:  # noqa: BLE001 - botocore ClientError/BotoCoreError: one clear line
        print(f"makini-infra: could not start the rotation of {name} in {region}: {_aws_error(e)}", file=err)
        return EXIT_FAILED
    for version_id in cleared:
        print(
            f"Cleared a stuck AWSPENDING from version {version_id} of {name}: an earlier rotation never completed, "
            "and Secrets Manager refuses to start a new one while it holds the label. Its token (if Makini issued "
            "one) stays valid at Makini until the connection is disconnected.",
            file=out,
        )
    version = response.get("VersionId", "?") if isinstance(response, dict) else "?"
    print(
        f"Started an immediate rotation of {name} in {region} (new version {version}).\n"
        "Secrets Manager runs the rotation function: it issues a new token in Makini, tests it, and makes it "
        "AWSCURRENT; readers pick it up on their next read. Follow it in the function's log group "
        f"/aws/lambda/makini-{cfg.environment}-rotation.\n\n" + disconnect_step(conn.makini_id),
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
    client_factory: ClientFactory = _boto3_client,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    stdin: TextIO = sys.stdin,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    loaded = _load(stack, config_file, err)
    if loaded is None:
        return EXIT_INVALID
    source, cfg = loaded
    if "aws" not in cfg.backends:
        print(
            f"makini-infra: stack '{stack}' has no aws backend; on Azure use `az keyvault secret set` and "
            "makini:webhooks.azure.previousSecretVersion (docs/operations.md, 'Rotating')",
            file=err,
        )
        return EXIT_FAILED
    try:
        value = _read_secret(source_path, stdin)
    except OSError as e:
        print(f"makini-infra: cannot read the new webhook secret from {source_path}: {e.strerror or e}", file=err)
        return EXIT_INVALID
    if not value:
        print(f"makini-infra: {source_path} holds no secret (empty); nothing was stored", file=err)
        return EXIT_INVALID
    name = aws_secret_name(cfg.environment, WEBHOOK_SECRET_PATH)
    region = source.config.get("aws:region") or DEFAULT_REGION
    try:
        response = client_factory(region).put_secret_value(SecretId=name, SecretString=value)
    except Exception as e:  # noqa: BLE001 - one clear line, never the value
        print(f"makini-infra: could not store the new webhook secret in {name} ({region}): {_aws_error(e)}", file=err)
        return EXIT_FAILED
    until = now() + timedelta(seconds=cfg.webhooks.grace_seconds)
    version = response.get("VersionId", "?") if isinstance(response, dict) else "?"
    print(
        f"Stored the new webhook secret as AWSCURRENT of {name} in {region} (version {version}).\n"
        f"The receiver accepts signatures made with the previous secret until about "
        f"{until.strftime('%Y-%m-%d %H:%M UTC')} (makini:webhooks.graceSeconds = {cfg.webhooks.grace_seconds}).\n"
        "Next: make sure Makini's webhook uses the new secret, then record the date for the reminder:\n"
        f"  pulumi config set --path 'makini:rotation.webhookSecretRotatedOn' {now().date().isoformat()}",
        file=out,
    )
    return EXIT_OK


def main(argv: list[str] | None = None, client_factory: ClientFactory = _boto3_client) -> int:
    parser = make_parser("python -m infra.rotate", __doc__ or "")
    parser.add_argument("stack", help="stack name, e.g. prod (reads Pulumi.<stack>.yaml)")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--connection", metavar="KEY", help="the connection key (makini:connections[].key)")
    what.add_argument("--webhook-secret", action="store_true", help="store a new webhook secret (zero downtime)")
    parser.add_argument("--now", action="store_true", help="with --connection: rotate immediately")
    parser.add_argument(
        "--from-file", metavar="PATH", help="with --webhook-secret: file holding the secret, or - for stdin"
    )
    parser.add_argument("--config-file", type=Path, help="read this file instead of Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    if args.webhook_secret:
        if not args.from_file:
            parser.error("--webhook-secret needs --from-file PATH (or - for stdin): never pass a secret as an argument")
        return stage_webhook_secret(args.stack, args.from_file, args.config_file, client_factory)
    if not args.now:
        parser.error("--now is required: this command only starts an immediate rotation (the schedule runs the others)")
    return rotate_now(args.stack, args.connection, args.config_file, client_factory)


if __name__ == "__main__":
    sys.exit(main())
