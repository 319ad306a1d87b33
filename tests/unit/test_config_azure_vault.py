"""Azure and Vault config sections: every bad input refused before any resource, naming the key path."""

from __future__ import annotations

import pytest

from stacks.config import ConfigError
from stacks.config.vault import duration_seconds
from tests.support import VAULT_ROTATOR, azure_section, base_config, load

SUB = "00000000-0000-0000-0000-00000000abcd"
SUBNET = f"/subscriptions/{SUB}/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/hub/subnets/apps"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/ops-rg/providers/Microsoft.OperationalInsights/workspaces/ops-logs"


def config(env: str = "dev", backends=("azure", "vault"), azure=None, vault=None) -> dict:
    cfg = base_config(env)
    cfg["makini:backends"] = list(backends)
    # Consumer identities for Azure/Vault belong to the access issue: these stacks have no readers.
    cfg["makini:consumers"] = {}
    for c in cfg["makini:connections"]:
        c.pop("consumers", None)
    if "azure" in backends:
        cfg["makini:azure"] = azure_section(**(azure or {}))
    if vault is not None:
        cfg["makini:vault"] = vault
    if "vault" in backends:
        cfg["makini:vault"] = {"rotator": VAULT_ROTATOR, **(vault or {})}
    return cfg


def refused(cfg) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(cfg)
    return info.value


def only_problem(err: ConfigError, path: str):
    matching = [p for p in err.problems if p.path == path]
    assert matching, f"no problem at {path}: {[p.path for p in err.problems]}"
    return matching[0]


def test_defaults_dev_and_prod():
    dev = load(config("dev"))
    assert dev.azure.retention_days(dev.production) == 90
    assert dev.azure.purge_protection_enabled(dev.production) is True
    # the vault section holds only the rotator (required while tokens rotate): its other defaults apply
    assert dev.vault.max_versions == 10 and dev.vault.delete_version_after_seconds == 0
    prod = load(config("prod", azure={"softDeleteRetentionDays": 90, "purgeProtection": True}))
    assert prod.azure.retention_days(True) == 90 and prod.azure.purge_protection_enabled(True)


def test_dev_may_shorten_retention_and_switch_purge_protection_off():
    cfg = load(config(azure={"softDeleteRetentionDays": 7, "purgeProtection": False}))
    assert cfg.azure.retention_days(cfg.production) == 7
    assert cfg.azure.purge_protection_enabled(cfg.production) is False


@pytest.mark.parametrize("days", [0, 6, 91, 365])
def test_retention_outside_7_to_90_is_refused(days):
    err = refused(config(azure={"softDeleteRetentionDays": days}))
    p = only_problem(err, "makini:azure.softDeleteRetentionDays")
    assert ("7" in p.message) or ("90" in p.message)


def test_prod_refuses_any_retention_but_90_and_purge_protection_off():
    err = refused(config("prod", azure={"softDeleteRetentionDays": 30, "purgeProtection": False}))
    retention = only_problem(err, "makini:azure.softDeleteRetentionDays")
    assert "production" in retention.message and "90" in retention.message
    assert "pulumi config rm --path 'makini:azure.softDeleteRetentionDays'" in retention.fix
    purge = only_problem(err, "makini:azure.purgeProtection")
    assert "production" in purge.message
    assert "Nothing was created" in str(err)


def test_production_flag_not_just_the_name_triggers_the_prod_rules():
    cfg = config("live", azure={"purgeProtection": False})
    cfg["makini:production"] = True
    only_problem(refused(cfg), "makini:azure.purgeProtection")


@pytest.mark.parametrize(
    "name, why",
    [
        ("kv", "3-24"),
        ("kv-makini-production-westeu", "3-24"),  # 27 characters
        ("1kv-makini", "starting with a letter"),
        ("kv-makini-", "ending with a letter or digit"),
        ("kv--makini", "no consecutive dashes"),
        ("kv_makini", "letters, digits and dashes"),
    ],
)
def test_vault_name_override_rules(name, why):
    p = only_problem(refused(config(azure={"vaultName": name})), "makini:azure.vaultName")
    assert repr(name) in p.message and why in p.message


def test_valid_vault_name_override_is_kept():
    assert load(config(azure={"vaultName": "kv-acme-dev-01"})).azure.vault_name == "kv-acme-dev-01"


@pytest.mark.parametrize(
    "value, expect",
    [
        ("203.0.113.0/33", "not an IPv4 address or CIDR"),
        ("203.0.113.7/24", "did you mean 203.0.113.0/24"),
        ("2001:db8::/32", "IPv6"),
        ("2606:4700::/32", "IPv6"),
        ("10.0.0.0/8", "not a public address range"),
        ("192.168.1.10", "not a public address range"),
        ("127.0.0.1", "not a public address range"),
        ("example.com", "not an IPv4 address or CIDR"),
    ],
)
def test_bad_ip_ranges_are_refused_with_their_index(value, expect):
    err = refused(config(azure={"allowedIpRanges": ["15.204.75.0/24", value]}))
    p = only_problem(err, "makini:azure.allowedIpRanges[1]")
    assert not [q for q in err.problems if q.path == "makini:azure.allowedIpRanges[0]"]
    assert expect in p.message


def test_public_ips_are_accepted_and_a_slash_32_becomes_the_address():
    cfg = load(config(azure={"allowedIpRanges": ["15.204.75.108/32", "148.113.140.0/24"]}))
    assert cfg.azure.allowed_ip_ranges == ("15.204.75.108", "148.113.140.0/24")


def test_repeated_entries_are_refused():
    err = refused(
        config(azure={"allowedSubnetIds": [SUBNET, SUBNET.upper().replace("/SUBSCRIPTIONS", "/subscriptions")]})
    )
    assert "more than once" in only_problem(err, "makini:azure.allowedSubnetIds").message


@pytest.mark.parametrize(
    "key, value",
    [
        ("allowedSubnetIds", "subnet-apps"),
        ("allowedSubnetIds", SUBNET.replace("/subnets/apps", "")),
        ("privateEndpointSubnetIds", SUBNET.replace(SUB, "not-a-guid")),
        ("privateEndpointSubnetIds", SUBNET.replace("Microsoft.Network", "Microsoft.Compute")),
    ],
)
def test_subnet_ids_must_be_subnet_resource_ids(key, value):
    p = only_problem(refused(config(azure={key: [value]})), f"makini:azure.{key}[0]")
    assert "subnet id" in p.message and "/subnets/<subnet>" in p.message


@pytest.mark.parametrize("value", ["ops-logs", WORKSPACE.replace("workspaces", "components"), SUBNET])
def test_workspace_id_must_be_a_log_analytics_workspace_id(value):
    p = only_problem(refused(config(azure={"logAnalyticsWorkspaceId": value})), "makini:azure.logAnalyticsWorkspaceId")
    assert "Microsoft.OperationalInsights/workspaces" in p.message


def test_location_and_resource_group_name():
    err = refused(config(azure={"location": "West Europe", "resourceGroupName": "rg-ends-with-dot."}))
    assert "westeurope" in only_problem(err, "makini:azure.location").message
    assert "not ending with '.'" in only_problem(err, "makini:azure.resourceGroupName").message


def test_firewall_lists_are_refused_behind_private_endpoints():
    err = refused(
        config(
            azure={
                "privateEndpointSubnetIds": [SUBNET],
                "allowedIpRanges": ["15.204.75.108"],
                "allowedSubnetIds": [SUBNET],
            }
        )
    )
    for key in ("allowedIpRanges", "allowedSubnetIds"):
        p = only_problem(err, f"makini:azure.{key}")
        assert "privateEndpointSubnetIds" in p.message and "no effect" in p.message


def test_azure_backend_without_its_section_and_section_without_backend():
    cfg = config(backends=("vault",))
    cfg["makini:backends"] = ["azure"]
    p = only_problem(refused(cfg), "makini:azure")
    assert "location" in p.message and "pulumi config set --path 'makini:azure.location'" in p.fix
    cfg = config(backends=("aws",), vault={"maxVersions": 5})
    cfg["makini:consumers"] = base_config()["makini:consumers"]
    cfg["makini:connections"] = base_config()["makini:connections"]
    assert "not in makini:backends" in only_problem(refused(cfg), "makini:vault").message


def test_unknown_azure_key_suggests_the_nearest():
    p = only_problem(refused(config(azure={"vaultNmae": "kv-x-dev"})), "makini:azure.vaultNmae")
    assert "did you mean 'vaultName'" in p.message


# --------------------------------------------------------------------------------------------------
# Vault


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("0s", 0),
        ("0", 0),
        ("3600", 3600),
        ("768h", 768 * 3600),
        ("30d", 30 * 86400),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
    ],
)
def test_vault_durations(text, seconds):
    assert duration_seconds(text) == seconds


def test_vault_settings_accepted_and_converted():
    cfg = load(config(vault={"maxVersions": 20, "casRequired": False, "deleteVersionAfter": "5040h"}))
    assert cfg.vault.max_versions == 20 and cfg.vault.cas_required is False
    assert cfg.vault.delete_version_after_seconds == 5040 * 3600


@pytest.mark.parametrize(
    "settings, path, expect",
    [
        ({"maxVersions": 0}, "makini:vault.maxVersions", "greater than or equal to 1"),
        ({"maxVersions": 101}, "makini:vault.maxVersions", "less than or equal to 100"),
        ({"deleteVersionAfter": "30 days"}, "makini:vault.deleteVersionAfter", "Vault duration"),
        ({"deleteVersionAfter": "1h-5m"}, "makini:vault.deleteVersionAfter", "Vault duration"),
        ({"deleteVersionAfter": "5m"}, "makini:vault.deleteVersionAfter", "under an hour"),
        ({"deleteVersionAfter": "87600d"}, "makini:vault.deleteVersionAfter", "more than 10 years"),
        ({"casRequired": "sometimes"}, "makini:vault.casRequired", "must be true or false"),
    ],
)
def test_bad_vault_settings_are_refused(settings, path, expect):
    assert expect in only_problem(refused(config(vault=settings)), path).message


@pytest.mark.parametrize(
    ("rotation", "webhooks", "dva", "needed", "why"),
    [
        # The OAuth client's 180-day maximum age + 30 days: staging's old 2160h deleted it at 90 days.
        ({}, {}, "2160h", "5040h", "oauthClientSecretMaxAgeDays = 180 days"),
        ({"oauthClientSecretMaxAgeDays": 60}, {}, "2000h", "2904h", "webhookSecretMaxAgeDays = 90 days"),
        # The webhook secret: 90 days + the 7-day grace + 30 days.
        ({"oauthClientSecretMaxAgeDays": 60}, {"graceSeconds": 604800}, "3000h", "3048h", "graceSeconds (604800 s)"),
    ],
)
def test_delete_version_after_must_outlive_every_secrets_maximum_age(rotation, webhooks, dva, needed, why):
    cfg = config(vault={"deleteVersionAfter": dva})
    cfg["makini:rotation"] = rotation
    if webhooks:
        cfg["makini:webhooks"] = {"enabled": False, **webhooks}
    p = only_problem(refused(cfg), "makini:vault.deleteVersionAfter")
    assert "the current one included" in p.message and why in p.message and "30-day margin" in p.message
    assert f"at least {needed}" in p.message
    assert f"'makini:vault.deleteVersionAfter' {needed}" in p.fix and "or 0s" in p.fix
    cfg["makini:vault"]["deleteVersionAfter"] = needed
    assert load(cfg).vault.delete_version_after == needed  # the fix is accepted
    cfg["makini:vault"]["deleteVersionAfter"] = "0s"
    assert load(cfg).vault.delete_version_after_seconds == 0  # so is keeping versions


def test_a_netsuite_key_needs_its_certificates_validity():
    cfg = config(vault={"deleteVersionAfter": "5040h"})
    conn = cfg["makini:connections"][0]
    conn["system"] = "NetSuite"
    conn["netsuite"] = {"certificateValidityDays": 730}
    problems = refused(cfg)
    p = only_problem(problems, "makini:vault.deleteVersionAfter")
    assert "certificateValidityDays = 730 days" in p.message and "18240h" in p.fix


def test_max_versions_keeps_the_previous_version():
    p = only_problem(refused(config(vault={"maxVersions": 1})), "makini:vault.maxVersions")
    assert "previous" in p.message and "graceSeconds" in p.message and "at least 2" in p.fix
    assert load(config(vault={"maxVersions": 2})).vault.max_versions == 2
