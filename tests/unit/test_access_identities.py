"""Who is who across consumers and stacks, and the compact access matrix the plan and the stack outputs publish.

Each test names a behaviour the mutation run (bench/mutation.py) found unguarded: the identity each backend's
consumer is known by (the key two consumers or two stacks are compared on, the label and the config path a
refusal names), a later identity of a consumer after one the stack does not use, and every key and count of the
compact matrix with access classes.
"""

from __future__ import annotations

from stacks.access import (
    Identity,
    access_cells,
    class_grants,
    consumer_identities,
    cross_environment_conflicts,
    explicit_cells,
    matrix_cell,
    matrix_dict,
    matrix_rows,
    shared_identity_problems,
)
from stacks.catalog import build_catalog
from stacks.config.consumers import Consumer
from stacks.config.model import StackConfig
from tests.support import VAULT_ROTATOR, base_config, load

ROLE = "arn:aws:iam::111111111111:role/Orders"
PRINCIPAL = "0B5E2A1C-6F1D-4C52-9A51-3F7D2B8E4A01"


def test_each_backend_names_the_identity_it_grants():
    consumer = Consumer.model_validate(
        {
            "aws": {"roleArn": ROLE},
            "azure": {"principalId": PRINCIPAL},
            "vault": {
                "auth": {
                    "jwt": {
                        "mountPath": "/ci-jwt/",
                        "boundAudiences": ["vault"],
                        "boundSubject": "repo:a/b:ref:main",
                        "boundClaims": {"groups": ["ops", "dev"], "env": "prod"},
                    }
                }
            },
        }
    )
    head = 'makini:consumers["orders"]'
    assert consumer_identities("orders", consumer) == [
        # IAM role names and Entra object ids compare case-insensitively; the label keeps the spelling given
        Identity("aws", ("aws", ROLE.lower()), f"AWS role {ROLE}", f"{head}.aws.roleArn"),
        Identity("azure", ("azure", PRINCIPAL.lower()), f"Azure principal {PRINCIPAL}", f"{head}.azure.principalId"),
        Identity(
            "vault",
            ("vault-jwt", "ci-jwt", "repo:a/b:ref:main", "(('env', 'prod'), ('groups', 'ops,dev'))"),
            "Vault JWT subject 'repo:a/b:ref:main' with claims {'env': 'prod', 'groups': 'ops,dev'} on auth/ci-jwt",
            f"{head}.vault.auth.jwt",
        ),
    ]


def test_a_jwt_identity_without_a_subject_is_named_by_its_claims():
    consumer = Consumer.model_validate(
        {"vault": {"auth": {"jwt": {"boundAudiences": ["vault"], "boundClaims": {"env": "prod"}}}}}
    )
    assert consumer_identities("x", consumer) == [
        Identity(
            "vault",
            ("vault-jwt", "jwt", "", "(('env', 'prod'),)"),
            "Vault JWT subject '*' with claims {'env': 'prod'} on auth/jwt",
            'makini:consumers["x"].vault.auth.jwt',
        )
    ]
    plain = Consumer.model_validate(
        {"vault": {"auth": {"jwt": {"mountPath": "Xjwt/", "boundAudiences": ["v"], "boundSubject": "s"}}}}
    )
    [ident] = consumer_identities("x", plain)
    assert (ident.key[1], ident.label) == ("Xjwt", "Vault JWT subject 's' on auth/Xjwt")  # only slashes trimmed


def test_every_kubernetes_service_account_in_every_namespace_is_an_identity():
    consumer = Consumer.model_validate(
        {
            "vault": {
                "auth": {
                    "kubernetes": {
                        "mountPath": "/Xk8sX/",
                        "serviceAccountNames": ["s1", "s2"],
                        "namespaces": ["n1", "n2"],
                    }
                }
            }
        }
    )
    path = 'makini:consumers["assets"].vault.auth.kubernetes'
    assert consumer_identities("assets", consumer) == [
        Identity("vault", ("vault-k8s", "Xk8sX", ns, sa), f"Kubernetes service account {ns}/{sa} on auth/Xk8sX", path)
        for ns in ("n1", "n2")
        for sa in ("s1", "s2")
    ]


def test_two_consumers_of_one_stack_with_one_identity():
    consumers = {
        "b": Consumer.model_validate({"aws": {"roleArn": ROLE}}),
        "a": Consumer.model_validate({"aws": {"roleArn": ROLE.lower()}}),
        "c": Consumer.model_validate({"aws": {"roleArn": ROLE + "-c"}}),
    }
    (p,) = shared_identity_problems(consumers)
    assert p.path == 'makini:consumers["b"].aws.roleArn'
    assert p.message == (
        f"consumers 'a' and 'b' use the same identity (AWS role {ROLE}); each consumer needs its own, or each "
        "would hold the other's grants"
    )
    assert p.fix == "give 'b' its own identity, or merge it into 'a' and list 'a' on the connections 'b' reads"


def _vault_stack(env: str, namespace: str):
    c = base_config(env)
    c["makini:backends"] = ["vault"]
    c["makini:vault"] = {"rotator": VAULT_ROTATOR}
    for name in ("orders", "assets"):
        c["makini:consumers"][name]["aws"]["roleArn"] = f"arn:aws:iam::111111111111:role/unused-shared-{name}"
        c["makini:consumers"][name]["vault"] = {
            "auth": {"kubernetes": {"serviceAccountNames": [name], "namespaces": [namespace]}}
        }
    return load(c)


def test_an_identity_for_a_backend_the_stack_does_not_use_is_no_grant_and_does_not_hide_the_next():
    configs = {"dev": _vault_stack("dev", "shared"), "prod": _vault_stack("prod", "shared")}
    problems = cross_environment_conflicts(configs)
    assert [p.message.split(" is granted")[0] for p in problems] == [
        "Kubernetes service account shared/assets on auth/kubernetes",
        "Kubernetes service account shared/orders on auth/kubernetes",
    ]
    assert "unused-shared" not in str(problems)


def test_a_cross_environment_refusal_names_the_first_spelling_and_every_fix():
    def stack(env: str, role: str):
        c = base_config(env)
        c["makini:consumers"]["orders"]["aws"]["roleArn"] = f"arn:aws:iam::111111111111:role/{role}"
        return load(c)

    (p,) = cross_environment_conflicts({"dev": stack("dev", "Shared"), "prod": stack("prod", "shared")})
    assert p.message == (
        "AWS role arn:aws:iam::111111111111:role/Shared is granted in 2 environments (consumer 'orders' in dev, "
        "consumer 'orders' in prod); whoever holds it can read the secrets of dev and prod"
    )
    assert p.fix == (
        "give each environment's consumer its own identity (e.g. a role per environment), or, if this is intended, "
        "set allowSharedIdentities in every one of them: "
        "pulumi config set --stack dev --path 'makini:access.allowSharedIdentities' true; "
        "pulumi config set --stack prod --path 'makini:access.allowSharedIdentities' true"
    )


# --- the compact matrix with access classes ------------------------------------------------------------------


def _classed():
    return StackConfig.model_validate(
        {
            "environment": "dev",
            "tags": {"owner": "o", "costCenter": "c"},
            "backends": ["aws"],
            "oauth": {"clientId": "id"},
            "credits": {"pool": 100},
            "accessClasses": {
                "gold": {"consumers": ["xy"], "description": "Gold plants"},
                "tin": {"consumers": ["xy"]},
                "lead": {"consumers": []},
            },
            "connections": [
                {"key": "b", "system": "S", "tier": 1, "deployment": "cloud", "class": "gold"},
                {"key": "a", "system": "S", "tier": 1, "deployment": "cloud", "class": "gold"},
                {"key": "d", "system": "S", "tier": 1, "deployment": "cloud", "class": "tin"},
                {"key": "c", "system": "S", "tier": 1, "deployment": "cloud", "consumers": ["zz"]},
            ],
            "consumers": {"xy": {}, "zz": {}},
        }
    )


def test_the_plan_rows_count_each_class_s_tokens():
    assert matrix_rows(_classed()) == (
        ("xy", "consumer", "dev", "connections/gold/* (class gold: 2 tokens)", "read"),
        ("xy", "consumer", "dev", "connections/tin/* (class tin: 1 token)", "read"),
        ("zz", "consumer", "dev", "connections/c/token", "read"),
        ("rotation", "system", "dev", "oauth/client", "read"),
        ("rotation", "system", "dev", "connections/gold/* (class gold: 2 tokens)", "read, write"),
        ("rotation", "system", "dev", "connections/lead/* (class lead: 0 tokens)", "read, write"),
        ("rotation", "system", "dev", "connections/tin/* (class tin: 1 token)", "read, write"),
    )


def test_the_matrix_document_has_every_key():
    data = matrix_dict(_classed())
    none, read, both = {"read": False, "write": False}, {"read": True, "write": False}, {"read": True, "write": True}
    assert data["environment"] == "dev"
    assert data["classes"] == {
        "gold": {
            "description": "Gold plants",
            "prefix": "connections/gold/",
            "readers": ["xy"],
            "writers": ["rotation"],
            "connections": ["a", "b"],
            "runtime": False,
            "creators": [],
        },
        "tin": {
            "description": "",
            "prefix": "connections/tin/",
            "readers": ["xy"],
            "writers": ["rotation"],
            "connections": ["d"],
            "runtime": False,
            "creators": [],
        },
        "lead": {
            "description": "",
            "prefix": "connections/lead/",
            "readers": [],
            "writers": ["rotation"],
            "connections": [],
            "runtime": False,
            "creators": [],
        },
    }
    explicit = ("oauth/client", "webhook/secret", "connections/c/token")
    assert data["identities"] == {
        "xy": {
            "kind": "consumer",
            "secrets": dict.fromkeys(explicit, none),
            "classes": {"gold": read, "tin": read, "lead": none},
        },
        "zz": {
            "kind": "consumer",
            "secrets": {**dict.fromkeys(explicit, none), "connections/c/token": read},
            "classes": dict.fromkeys(("gold", "tin", "lead"), none),
        },
        "webhook-receiver": {
            "kind": "system",
            "secrets": dict.fromkeys(explicit, none),
            "classes": dict.fromkeys(("gold", "tin", "lead"), none),
        },
        "rotation": {
            "kind": "system",
            "secrets": {**dict.fromkeys(explicit, none), "oauth/client": read},
            "classes": dict.fromkeys(("gold", "tin", "lead"), both),
        },
    }


def test_the_compact_forms_build_the_catalog_themselves_when_not_given_one():
    cfg = _classed()
    catalog = build_catalog(cfg)
    assert class_grants(cfg) == class_grants(cfg, catalog)
    assert explicit_cells(cfg) == explicit_cells(cfg, catalog)
    assert access_cells(cfg) == access_cells(cfg, catalog)
    assert {g.environment for g in class_grants(cfg)} == {c.environment for c in access_cells(cfg)} == {"dev"}


def test_a_matrix_without_classes_denies_what_it_does_not_list():
    matrix = {"identities": {"x": {"secrets": {"oauth/client": {"read": True, "write": False}}}}}
    assert matrix_cell(matrix, "x", "oauth/client") == {"read": True, "write": False}
    assert matrix_cell(matrix, "x", "connections/gold/a/token") == {"read": False, "write": False}


def test_a_consumer_s_class_grant_is_the_same_on_every_backend():
    (gold,) = [g for g in class_grants(_classed()) if (g.identity, g.access_class) == ("xy", "gold")]
    assert gold.by_backend == ()
    assert gold.on("aws") == gold.on("vault") == (True, False)
    assert (gold.access, gold.as_cell()) == ("read", {"read": True, "write": False})
