"""Bad access input: each refused before any resource, naming the consumer and the fix."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import pytest

from infra import access_check
from infra.offline import PROJECT_ROOT
from stacks.access import cross_environment_conflicts
from stacks.config import ConfigError
from stacks.config.stack_file import dump_stack_yaml
from tests.support import VAULT_ROTATOR, azure_section, base_config, load, run

GUID = "0b1f6c2e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"


def refused(c) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(c)
    return info.value


def only(err: ConfigError, needle: str):
    hits = [p for p in err.problems if needle in p.path]
    assert hits, err.render()
    return hits[0]


def with_all_backends(c):
    c["makini:backends"] = ["aws", "azure", "vault"]
    c["makini:azure"] = azure_section()
    c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    c["makini:consumers"]["orders"]["azure"] = {"principalId": GUID}
    c["makini:consumers"]["assets"]["azure"] = {"principalId": GUID.replace("0b", "1b", 1)}
    c["makini:consumers"]["orders"]["vault"] = {
        "auth": {"kubernetes": {"serviceAccountNames": ["orders"], "namespaces": ["apps"]}}
    }
    c["makini:consumers"]["assets"]["vault"] = {
        "auth": {"jwt": {"boundAudiences": ["vault"], "boundSubject": "repo:a/b:ref:main"}}
    }
    return c


def test_the_full_three_backend_declaration_is_accepted():
    cfg = load(with_all_backends(base_config()))
    assert cfg.consumers["orders"].vault.token_ttl == 900 and cfg.consumers["orders"].vault.token_max_ttl == 3600
    assert cfg.consumers["orders"].azure.principal_type == "ServicePrincipal"


@pytest.mark.parametrize("backend", ["azure", "vault"])
def test_a_consumer_without_an_identity_for_a_used_backend(backend):
    c = with_all_backends(base_config())
    del c["makini:consumers"]["assets"][backend]
    p = only(refused(c), f'["assets"].{backend}')
    assert "'assets'" in p.message and backend in p.fix


def test_a_wildcard_role_arn():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::111111111111:role/*"
    p = only(refused(c), "orders")
    assert "no wildcards" in p.message


def test_a_malformed_role_arn():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = "orders-role"
    assert "IAM role ARN" in only(refused(c), "orders").message


@pytest.mark.parametrize(
    "principal",
    ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111111111111:role/ci", "*"]}, {"AWS": "arn:aws:iam::111111111111:*"}],
)
def test_a_trust_policy_trusting_a_wildcard(principal):
    c = base_config()
    c["makini:consumers"]["orders"]["aws"] = {
        "createRole": {
            "trustPolicy": {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Principal": principal, "Action": "sts:AssumeRole"}],
            }
        }
    }
    p = only(refused(c), '["orders"].aws.createRole.trustPolicy')
    assert "'orders'" in p.message and "wildcard" in p.message and "Principal" in p.fix


def test_a_trust_policy_allowing_more_than_assume_role():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"] = {
        "createRole": {
            "trustPolicy": {
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/ci"}, "Action": "*"}
                ]
            }
        }
    }
    assert "sts:AssumeRole" in only(refused(c), "trustPolicy").message


def test_both_or_neither_aws_role_source():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["createRole"] = {
        "trustPolicy": {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": "arn:aws:iam::111111111111:role/ci"},
                    "Action": "sts:AssumeRole",
                }
            ]
        }
    }
    p = only(refused(c), '["orders"].aws')
    assert "exactly one" in p.message and "'orders'" in p.message
    c["makini:consumers"]["orders"]["aws"] = {}
    assert "neither" in only(refused(c), '["orders"].aws').message


def test_an_azure_principal_id_that_is_not_a_guid():
    c = with_all_backends(base_config())
    c["makini:consumers"]["orders"]["azure"]["principalId"] = "orders-app"
    p = only(refused(c), '["orders"].azure.principalId')
    assert "GUID" in p.message and "'orders'" in p.message and "az ad sp show" in p.fix


@pytest.mark.parametrize("backend", ["aws", "azure", "vault"])
def test_the_same_identity_for_two_consumers(backend):
    c = with_all_backends(base_config())
    c["makini:consumers"]["assets"][backend] = c["makini:consumers"]["orders"][backend]
    p = next(p for p in refused(c).problems if "same identity" in p.message)
    assert "'assets'" in p.message and "'orders'" in p.message and "own identity" in p.fix


@pytest.mark.parametrize(
    "auth, needle",
    [
        ({"jwt": {"boundAudiences": ["vault"]}}, "binds no subject"),
        ({"jwt": {"boundAudiences": ["vault"], "boundSubject": "repo:*"}}, "wildcard"),
        ({"kubernetes": {"serviceAccountNames": ["*"], "namespaces": ["apps"]}}, "wildcard"),
        ({"approle": {}}, "not bound to any network"),
        ({"approle": {"secretIdBoundCidrs": ["10.0.0.300/24"]}}, "not an IP address"),
        ({}, "exactly one Vault auth method"),
        (
            {
                "approle": {"secretIdBoundCidrs": ["10.0.0.0/24"]},
                "kubernetes": {"serviceAccountNames": ["o"], "namespaces": ["a"]},
            },
            "exactly one",
        ),
    ],
)
def test_bad_vault_auth(auth, needle):
    c = with_all_backends(base_config())
    c["makini:consumers"]["orders"]["vault"] = {"auth": auth}
    p = next((p for p in refused(c).problems if needle in p.message), None)
    assert p is not None and '["orders"].vault' in p.path and "'orders'" in p.message and p.fix


def test_token_ttls_are_capped_and_ordered():
    c = with_all_backends(base_config())
    c["makini:consumers"]["orders"]["vault"]["tokenTtl"] = 86400
    p = only(refused(c), "orders.vault.tokenTtl")  # the key path names the consumer
    assert "3600" in p.message
    c["makini:consumers"]["orders"]["vault"].update(tokenTtl=3000, tokenMaxTtl=1200)
    assert "longer than tokenMaxTtl" in only(refused(c), "tokenTtl").message


def test_refused_before_any_resource():
    c = base_config()
    c["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::111111111111:role/*"
    import pulumi

    with pytest.raises(pulumi.RunError) as info:
        run(c)
    assert "orders" in str(info.value) and "Nothing was created" in str(info.value)


# --------------------------------------------------------------------------------------------------
# The same identity in two environments


def test_every_stack_file_of_the_project_keeps_identities_apart():
    configs, errors = access_check.load_all(PROJECT_ROOT)
    assert errors == [] and {"dev", "prod"} <= set(configs)
    assert cross_environment_conflicts(configs) == []


def _write_stacks(tmp_path: Path, shared: bool = False, allow: tuple[bool, bool] = (False, False)) -> None:
    for env, allowed in zip(("dev", "prod"), allow, strict=True):
        c = base_config(env)
        if shared:
            c["makini:consumers"]["orders"]["aws"]["roleArn"] = "arn:aws:iam::111111111111:role/orders"
        if allowed:
            c["makini:access"] = {"allowSharedIdentities": True}
        (tmp_path / f"Pulumi.{env}.yaml").write_text(dump_stack_yaml({"config": c}))


def _cli(tmp_path: Path, subprocess_run: bool = False) -> subprocess.CompletedProcess:
    """``python -m infra.access_check --dir tmp_path``: in process (fast), or as a real subprocess once."""
    argv = ["--dir", str(tmp_path)]
    if subprocess_run:
        return subprocess.run(
            [sys.executable, "-m", "infra.access_check", *argv],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = access_check.main(argv)
    return subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())


def test_the_same_role_in_dev_and_prod_is_refused(tmp_path):
    _write_stacks(tmp_path, shared=True)
    result = _cli(tmp_path, subprocess_run=True)
    assert result.returncode == 2
    assert "consumer 'orders' in dev" in result.stderr and "consumer 'orders' in prod" in result.stderr
    assert "allowSharedIdentities" in result.stderr and "Traceback" not in result.stderr


def test_sharing_needs_both_stacks_to_allow_it(tmp_path):
    _write_stacks(tmp_path, shared=True, allow=(True, False))
    result = _cli(tmp_path)
    assert result.returncode == 2 and "--stack prod" in result.stderr and "--stack dev" not in result.stderr
    _write_stacks(tmp_path, shared=True, allow=(True, True))
    assert _cli(tmp_path).returncode == 0


def test_separate_identities_pass(tmp_path):
    _write_stacks(tmp_path)
    result = _cli(tmp_path)
    assert result.returncode == 0 and "2 stacks" in result.stdout


def _stack(env: str, roles: dict[str, str], allow: bool = False):
    c = base_config(env)
    for consumer, role in roles.items():
        c["makini:consumers"][consumer]["aws"]["roleArn"] = f"arn:aws:iam::111111111111:role/{role}"
    if allow:
        c["makini:access"] = {"allowSharedIdentities": True}
    return load(c)


def test_every_shared_identity_is_reported_not_only_the_first():
    """An identity seen in one stack only, or shared with consent, does not stop the search for the next one."""
    configs = {
        "dev": _stack("dev", {"assets": "x-shared-ok", "orders": "y-shared"}, allow=True),
        "staging": _stack("staging", {"assets": "x-shared-ok", "orders": "staging-orders"}, allow=True),
        "prod": _stack("prod", {"assets": "prod-assets", "orders": "y-shared"}),
        "qa": _stack("qa", {"assets": "qa-assets", "orders": "Y-SHARED"}),  # IAM role names ignore case
    }
    problems = cross_environment_conflicts(configs)
    assert len(problems) == 1, [p.message for p in problems]
    (p,) = problems
    assert "role/y-shared is granted in 3 environments" in p.message
    assert "dev and prod and qa" in p.message
    assert p.path == "; ".join(
        f'Pulumi.{s}.yaml makini:consumers["orders"].aws.roleArn' for s in ("dev", "prod", "qa")
    ), p.path
    assert "--stack prod" in p.fix and "--stack qa" in p.fix and "--stack dev" not in p.fix


def test_a_later_shared_identity_is_found_after_unshared_ones():
    configs = {
        "dev": _stack("dev", {"assets": "a1", "orders": "shared"}),
        "prod": _stack("prod", {"assets": "a2", "orders": "shared"}),
    }
    (p,) = cross_environment_conflicts(configs)
    assert "consumer 'orders' in dev, consumer 'orders' in prod" in p.message
