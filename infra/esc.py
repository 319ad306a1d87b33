"""Pulumi ESC environment definitions, one per consumer: exactly that consumer's secrets, opened from its backends.

    python -m infra.esc <stack> --out DIR [--consumer NAME]
                        [--azure-client-id ID --azure-tenant-id ID [--azure-subscription-id ID]]

writes ``DIR/makini-<env>-<consumer>.yaml`` per consumer (or the one named). Create it once with
``esc env init <org>/makini/makini-<env>-<consumer> --file DIR/makini-<env>-<consumer>.yaml`` (or ``esc env edit``),
then ``esc run <org>/makini/makini-<env>-<consumer> -- <cmd>`` runs a command with the consumer's connection
tokens in ``MAKINI_TOKEN_<CONNECTION>`` (and ``MAKINI_OAUTH_CLIENT`` / ``MAKINI_WEBHOOK_SECRET`` when it reads
them), or an application stack imports the environment.

The definitions hold names only, never a value: ESC opens the secrets at run time with the consumer's own
identity through OIDC (``aws-login`` assumes the consumer's role; ``azure-login`` needs the client id of the
consumer's app registration, which the stack does not know: pass ``--azure-client-id`` and
``--azure-tenant-id``; ``vault-login`` logs in with JWT when the consumer's Vault auth is ``jwt``). The identity
must trust Pulumi Cloud's OIDC issuer: see docs/esc.md. A backend it cannot log in to is left out with a note.

Exit codes: 0 written; 2 invalid configuration or an unknown consumer; 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from stacks.catalog import CatalogSecret, build_catalog
from stacks.config import ConfigError, StackConfig
from stacks.config.consumers import Consumer
from stacks.locations import locate
from stacks.naming import aws_secret_name, consumer_role_name, key_vault_secret_name, vault_data_path

from .cli import make_parser, unexpected
from .offline import PROJECT, StackFileError, load_stack_file, stack_account_id

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _key(secret: CatalogSecret) -> str:
    """The name a secret has inside the environment: the connection key for a token, else the path's slug."""
    if secret.connection is not None and secret.path.endswith("/token"):
        return secret.connection
    return secret.path.replace("/", "-")


def _env_var(secret: CatalogSecret) -> str:
    if secret.connection is not None and secret.path.endswith("/token"):
        return "MAKINI_TOKEN_" + secret.connection.upper().replace("-", "_").replace(".", "_")
    return "MAKINI_" + secret.path.upper().replace("/", "_").replace("-", "_")


def environment_definition(
    cfg: StackConfig,
    consumer: str,
    *,
    region: str,
    account_id: str,
    vault_address: str | None = None,
    azure_client_id: str | None = None,
    azure_tenant_id: str | None = None,
    azure_subscription_id: str | None = None,
    project: str = PROJECT,
    organization: str | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """The ESC definition of ``consumer``'s secrets, and notes on what was left out and why."""
    c: Consumer = cfg.consumers[consumer]
    readable = build_catalog(cfg).readable_by(consumer)
    values: dict[str, Any] = {"makini": {"environment": cfg.environment, "consumer": consumer}}
    notes: list[str] = []
    opened: dict[str, str] = {}  # backend -> the ESC path its secrets are under
    if "aws" in cfg.backends and c.aws is not None and readable:
        role = c.aws.role_arn or f"arn:aws:iam::{account_id}:role/{consumer_role_name(cfg.environment, consumer)}"
        values["aws"] = {
            "login": {
                "fn::open::aws-login": {
                    "oidc": {
                        "roleArn": role,
                        "sessionName": f"esc-makini-{cfg.environment}-{consumer}",
                        "duration": "1h",
                    }
                }
            },
            "secrets": {
                "fn::open::aws-secrets": {
                    "region": region,
                    "login": "${aws.login}",
                    "get": {_key(s): {"secretId": aws_secret_name(cfg.environment, s.path)} for s in readable},
                }
            },
        }
        opened["aws"] = "aws.secrets"
    if "azure" in cfg.backends and c.azure is not None and readable:
        if azure_client_id and azure_tenant_id and azure_subscription_id:
            by_vault: dict[str, dict[str, Any]] = {}
            for s in readable:
                loc = locate(cfg, s, "azure", project=project, organization=organization)
                by_vault.setdefault(loc.container, {})[_key(s)] = {"name": key_vault_secret_name(s.path)}
            login = {
                "fn::open::azure-login": {
                    "clientId": azure_client_id,
                    "tenantId": azure_tenant_id,
                    "subscriptionId": f"/subscriptions/{azure_subscription_id}",
                    "oidc": True,
                }
            }
            azure: dict[str, Any] = {"login": login}
            for i, (vault, get) in enumerate(sorted(by_vault.items())):
                azure[f"secrets{i}"] = {
                    "fn::open::azure-secrets": {"login": "${azure.login}", "vault": vault, "get": get}
                }
            values["azure"] = azure
            if "aws" not in opened:
                opened["azure"] = "azure"
        else:
            notes.append(
                f"azure left out: pass --azure-client-id and --azure-tenant-id (the app registration of principal "
                f"{c.azure.principal_id}) and azure-native:subscriptionId"
            )
    if "vault" in cfg.backends and c.vault is not None and readable:
        jwt = c.vault.auth.jwt
        if jwt is not None and vault_address:
            values["vault"] = {
                "login": {
                    "fn::open::vault-login": {
                        "address": vault_address,
                        "jwt": {"mount": jwt.mount_path, "role": consumer_role_name(cfg.environment, consumer)},
                    }
                },
                "secrets": {
                    "fn::open::vault-secrets": {
                        "login": "${vault.login}",
                        "read": {_key(s): {"path": vault_data_path(cfg.environment, s.path)} for s in readable},
                    }
                },
            }
            if not opened:
                opened["vault"] = "vault.secrets"
        else:
            why = "its Vault auth is not jwt" if jwt is None else "vault:address is not set"
            notes.append(f"vault left out: ESC logs in to Vault with JWT only, and {why}")
    env_vars: dict[str, str] = {}
    if opened:
        backend, where = next(iter(opened.items()))
        parsed: dict[str, Any] = {}
        for s in readable:
            if backend == "azure":
                index = sorted(
                    {locate(cfg, x, "azure", project=project, organization=organization).container for x in readable}
                ).index(locate(cfg, s, "azure", project=project, organization=organization).container)
                ref = f"${{azure.secrets{index}.{_key(s)}}}"
            elif backend == "vault":
                ref = f"${{{where}.{_key(s)}.data.value}}"
            else:
                ref = f"${{{where}.{_key(s)}}}"
            if s.path.endswith("/token"):
                parsed[_key(s)] = {"fn::fromJSON": ref}
                env_vars[_env_var(s)] = f"${{makini.tokens.{_key(s)}.token}}"
            else:
                env_vars[_env_var(s)] = ref
        if parsed:
            values["makini"]["tokens"] = parsed
        values["environmentVariables"] = env_vars
    elif not readable:
        notes.append("the consumer reads no secret: the environment holds its identity's names only")
    return {"values": values}, notes


def environment_name(cfg: StackConfig, consumer: str) -> str:
    return f"makini-{cfg.environment}-{consumer}"


def render(doc: dict[str, Any], stack: str, consumer: str) -> str:
    head = (
        f"# Pulumi ESC environment for consumer {consumer} of makini-infra stack {stack}.\n"
        f"# Generated by `python -m infra.esc {stack}`; regenerate rather than edit. Names only: ESC opens the\n"
        "# secrets at run time with the consumer's own identity (OIDC). See docs/esc.md.\n"
    )
    return head + yaml.safe_dump(doc, sort_keys=False, width=120)


def main(argv: list[str] | None = None) -> int:
    parser = make_parser("python -m infra.esc", __doc__ or "")
    parser.add_argument("stack", help="stack name, e.g. dev (reads Pulumi.<stack>.yaml)")
    parser.add_argument("--out", type=Path, required=True, help="directory to write the definitions to")
    parser.add_argument("--consumer", help="only this consumer")
    parser.add_argument("--config-file", type=Path, help="read this file instead of Pulumi.<stack>.yaml")
    parser.add_argument("--azure-client-id", help="client id of the consumer's Entra ID app registration")
    parser.add_argument("--azure-tenant-id", help="its tenant id")
    parser.add_argument("--azure-subscription-id", help="the subscription (default: azure-native:subscriptionId)")
    args = parser.parse_args(argv)
    try:
        source = load_stack_file(args.stack, args.config_file)
        cfg = source.load()
        if args.consumer is not None and args.consumer not in cfg.consumers:
            known = ", ".join(sorted(cfg.consumers)) or "none"
            print(
                f"makini-infra: stack '{args.stack}' declares no consumer '{args.consumer}'. Declared: {known}",
                file=sys.stderr,
            )
            return EXIT_INVALID
        region = str(source.config.get("aws:region") or "us-east-1")
        args.out.mkdir(parents=True, exist_ok=True)
        for consumer in [args.consumer] if args.consumer else sorted(cfg.consumers):
            doc, notes = environment_definition(
                cfg,
                consumer,
                region=region,
                account_id=stack_account_id(source.config),
                vault_address=source.config.get("vault:address"),
                azure_client_id=args.azure_client_id,
                azure_tenant_id=args.azure_tenant_id,
                azure_subscription_id=args.azure_subscription_id or source.config.get("azure-native:subscriptionId"),
            )
            path = args.out / f"{environment_name(cfg, consumer)}.yaml"
            path.write_text(render(doc, args.stack, consumer), encoding="utf-8")
            print(f"wrote {path}" + "".join(f"\n  note: {n}" for n in notes), file=sys.stderr)
    except ConfigError as err:
        print(str(err), file=sys.stderr)
        return EXIT_INVALID
    except StackFileError as err:
        print(f"makini-infra: {err}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as err:  # noqa: BLE001 - one clear line instead of a traceback
        print(f"makini-infra: infra.esc for stack '{args.stack}' failed: {unexpected(err)}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
