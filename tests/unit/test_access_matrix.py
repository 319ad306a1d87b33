"""The access matrix, property-tested against an oracle computed from the raw declaration."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.access import access_cells, matrix_cell, matrix_dict, matrix_rows
from stacks.config.model import StackConfig

NAMES = ["orders", "assets", "billing", "onboarding", "sync-a"]
KEYS = ["acme-sap", "globex.mx", "initech_1", "u-2", "zeta"]


@st.composite
def declarations(draw):
    consumers = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    oauth = {c: draw(st.booleans()) for c in consumers}
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True))
    conns = {k: draw(st.lists(st.sampled_from(consumers), unique=True)) for k in keys}
    env = draw(st.sampled_from(["dev", "staging", "prod"]))
    raw = {
        "environment": env,
        "tags": {"owner": "o", "costCenter": "c"},
        "backends": ["aws"],
        "oauth": {"clientId": "id"},
        "credits": {"pool": 100},
        "connections": [
            {"key": k, "system": "S", "tier": 1, "deployment": "cloud", "consumers": cs} for k, cs in conns.items()
        ],
        "consumers": {c: {"oauthClient": oauth[c]} for c in consumers},
    }
    return StackConfig.model_validate(raw), conns, oauth


def oracle(conns, oauth, consumer: str, path: str) -> bool:
    if path == "oauth/client":
        return oauth[consumer]
    for key, readers in conns.items():
        if path == f"connections/{key}/token":
            return consumer in readers
    return False


@settings(max_examples=150, deadline=None)
@given(declarations())
def test_allowed_cells_are_exactly_the_declared_grants(decl):
    cfg, conns, oauth = decl
    cells = access_cells(cfg)
    consumer_cells = [c for c in cells if c.kind == "consumer"]
    # Every consumer x every secret appears once.
    paths = {"oauth/client", "webhook/secret", *(f"connections/{k}/token" for k in conns)}
    assert {(c.identity, c.path) for c in consumer_cells} == {(n, p) for n in oauth for p in paths}
    assert len(consumer_cells) == len(oauth) * len(paths)
    for c in consumer_cells:
        assert c.read == oracle(conns, oauth, c.identity, c.path), c
        assert not c.write and c.environment == cfg.environment
    # Nothing configured for the system identities here (no webhook endpoint, no rotation): no access.
    assert not any(c.allowed for c in cells if c.kind == "system")


@settings(max_examples=60, deadline=None)
@given(declarations())
def test_rows_and_json_agree_with_the_cells(decl):
    cfg, conns, oauth = decl
    cells = access_cells(cfg)
    rows = matrix_rows(cfg)
    assert {(r[0], r[3]) for r in rows} == {(c.identity, c.path) for c in cells if c.allowed}
    data = json.loads(json.dumps(matrix_dict(cfg)))
    assert data["environment"] == cfg.environment
    for c in cells:
        assert data["identities"][c.identity]["secrets"][c.path] == {"read": c.read, "write": c.write}


def test_system_identities_get_exactly_their_jobs():
    cfg = StackConfig.model_validate(
        {
            "environment": "dev",
            "tags": {"owner": "o", "costCenter": "c"},
            "backends": ["aws"],
            "oauth": {"clientId": "id"},
            "credits": {"pool": 100},
            "connections": [
                {"key": "a", "system": "S", "tier": 1, "deployment": "cloud", "consumers": ["xy"], "makiniId": "1"},
                {"key": "b", "system": "S", "tier": 1, "deployment": "cloud", "consumers": ["xy"]},
            ],
            "consumers": {"xy": {}},
            "rotation": {"connectionTokenDays": 20},
        }
    )
    allowed = {(c.identity, c.path): c.access for c in access_cells(cfg) if c.kind == "system" and c.allowed}
    # Rotation rotates only connections with a Makini id, and reads the OAuth client to call Makini.
    assert allowed == {("rotation", "connections/a/token"): "read, write", ("rotation", "oauth/client"): "read"}


def _three_backend_cfg() -> StackConfig:
    from tests.support import VAULT_ROTATOR, azure_section

    return StackConfig.model_validate(
        {
            "environment": "dev",
            "tags": {"owner": "o", "costCenter": "c"},
            "backends": ["aws", "azure", "vault"],
            "oauth": {"clientId": "id"},
            "credits": {"pool": 100},
            "connections": [
                {"key": "a", "system": "S", "tier": 1, "deployment": "cloud", "consumers": ["xy"], "makiniId": "1"},
            ],
            "consumers": {
                "xy": {
                    "aws": {"roleArn": "arn:aws:iam::111111111111:role/xy"},
                    "azure": {"principalId": "0b5e2a1c-6f1d-4c52-9a51-3f7d2b8e4a01"},
                    "vault": {"auth": {"kubernetes": {"serviceAccountNames": ["xy"], "namespaces": ["xy"]}}},
                }
            },
            "rotation": {"connectionTokenDays": 20},
            "webhooks": {"enabled": True},
            "azure": azure_section(),
            "vault": {"rotator": VAULT_ROTATOR},
        }
    )


def test_cells_say_what_each_backend_enforces_for_the_system_identities():
    """The Vault rotator writes tokens without reading them (its policy has no read on data: 403 on the
    real server), and the webhook receiver exists on AWS and Azure only."""
    cells = {(c.identity, c.path): c for c in access_cells(_three_backend_cfg())}
    token = cells[("rotation", "connections/a/token")]
    assert (token.read, token.write) == (True, True)
    assert token.on("aws") == token.on("azure") == (True, True) and token.on("vault") == (False, True)
    assert token.access == "read, write on aws, azure; write on vault"
    receiver = cells[("webhook-receiver", "webhook/secret")]
    assert receiver.on("vault") == (False, False) and receiver.on("aws") == (True, False)
    assert receiver.access == "read on aws, azure"
    # Uniform cells carry no per-backend detail: consumers, and the rotator's read of the OAuth client.
    assert (
        cells[("rotation", "oauth/client")].by_backend == () and cells[("xy", "connections/a/token")].by_backend == ()
    )
    data = matrix_dict(_three_backend_cfg())["identities"]["rotation"]["secrets"]["connections/a/token"]
    assert data["backends"]["vault"] == {"read": False, "write": True}


# --------------------------------------------------------------------------------------------------
# Access classes: the same properties, with connections filed under classes

CLASSES = ["standard", "gold", "eu"]


@st.composite
def classed_declarations(draw):
    consumers = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=5, unique=True))
    classes = {
        k: draw(st.lists(st.sampled_from(consumers), unique=True))
        for k in draw(st.lists(st.sampled_from(CLASSES), min_size=1, max_size=3, unique=True))
    }
    keys = draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True))
    conns = {}
    for k in keys:
        if draw(st.booleans()):
            conns[k] = ("class", draw(st.sampled_from(sorted(classes))))
        else:
            conns[k] = ("list", draw(st.lists(st.sampled_from(consumers), unique=True)))
    raw = {
        "environment": "dev",
        "tags": {"owner": "o", "costCenter": "c"},
        "backends": ["aws"],
        "oauth": {"clientId": "id"},
        "credits": {"pool": 100},
        "accessClasses": {k: {"consumers": v} for k, v in classes.items()},
        "connections": [
            {"key": k, "system": "S", "tier": 1, "deployment": "cloud", "makiniId": "1"}
            | ({"class": v} if how == "class" else {"consumers": v})
            for k, (how, v) in conns.items()
        ],
        "consumers": {c: {} for c in consumers},
        "rotation": {"connectionTokenDays": 20},
    }
    return StackConfig.model_validate(raw), conns, classes


def classed_oracle(conns, classes, identity: str, path: str) -> tuple[bool, bool]:
    """(read, write) straight from the raw declaration."""
    for key, (how, v) in conns.items():
        if how == "class" and path == f"connections/{v}/{key}/token":
            return (identity in classes[v], False) if identity != "rotation" else (True, True)
        if how == "list" and path == f"connections/{key}/token":
            return (identity in v, False) if identity != "rotation" else (True, True)
    if path == "oauth/client" and identity == "rotation":
        return True, False
    return False, False


@settings(max_examples=150, deadline=None)
@given(classed_declarations())
def test_class_tokens_are_read_by_exactly_their_class_and_the_compact_forms_agree(decl):
    cfg, conns, classes = decl
    cells = access_cells(cfg)
    identities = set(cfg.consumers) | {"rotation", "webhook-receiver"}
    paths = {"oauth/client", "webhook/secret"} | {
        f"connections/{v}/{k}/token" if how == "class" else f"connections/{k}/token" for k, (how, v) in conns.items()
    }
    assert {(c.identity, c.path) for c in cells} == {(i, p) for i in identities for p in paths}
    for c in cells:
        assert (c.read, c.write) == classed_oracle(conns, classes, c.identity, c.path), c
    data = json.loads(json.dumps(matrix_dict(cfg)))
    for c in cells:
        assert matrix_cell(data, c.identity, c.path) == {"read": c.read, "write": c.write}, c
    # the JSON lists class tokens once per class, never per identity
    for entry in data["identities"].values():
        assert not any(p.count("/") == 3 for p in entry["secrets"])
        assert set(entry["classes"]) == set(classes)
    # the rows: one per allowed explicit cell, one per allowed (identity, class)
    rows = matrix_rows(cfg)
    explicit_rows = [r for r in rows if "(class " not in r[3]]
    assert {(r[0], r[3]) for r in explicit_rows} == {
        (c.identity, c.path) for c in cells if c.allowed and c.path.count("/") != 3
    }
    class_rows = {(r[0], r[3].split("(class ")[1].split(":")[0]) for r in rows if "(class " in r[3]}
    expected = {(n, k) for k, readers in classes.items() for n in readers} | {("rotation", k) for k in classes}
    assert class_rows == expected
    assert len(rows) == len(explicit_rows) + len(expected)


def test_a_path_outside_the_environment_is_denied_by_the_compact_form():
    cfg = StackConfig.model_validate(
        {
            "environment": "dev",
            "tags": {"owner": "o", "costCenter": "c"},
            "backends": ["aws"],
            "oauth": {"clientId": "id"},
            "credits": {"pool": 100},
            "accessClasses": {"gold": {"consumers": ["xy"]}},
            "connections": [{"key": "a", "system": "S", "tier": 1, "deployment": "cloud", "class": "gold"}],
            "consumers": {"xy": {}},
        }
    )
    data = matrix_dict(cfg)
    assert matrix_cell(data, "xy", "connections/gold/a/token") == {"read": True, "write": False}
    # not a declared connection of the class, or not a token: denied
    assert matrix_cell(data, "xy", "connections/gold/b/token") == {"read": False, "write": False}
    assert matrix_cell(data, "xy", "connections/gold/a/m2m-key") == {"read": False, "write": False}


def test_a_class_grant_says_what_each_backend_enforces_for_the_rotator():
    """The class grant of the rotation identity follows the same per-backend rule: on Vault it writes a
    class's tokens without reading them."""
    from tests.support import VAULT_ROTATOR, azure_section

    cfg = StackConfig.model_validate(
        {
            "environment": "dev",
            "tags": {"owner": "o", "costCenter": "c"},
            "backends": ["aws", "azure", "vault"],
            "oauth": {"clientId": "id"},
            "credits": {"pool": 100},
            "accessClasses": {"gold": {"consumers": ["xy"]}},
            "connections": [{"key": "a", "system": "S", "tier": 1, "deployment": "cloud", "class": "gold"}],
            "consumers": {
                "xy": {
                    "aws": {"roleArn": "arn:aws:iam::111111111111:role/xy"},
                    "azure": {"principalId": "0b5e2a1c-6f1d-4c52-9a51-3f7d2b8e4a01"},
                    "vault": {"auth": {"kubernetes": {"serviceAccountNames": ["xy"], "namespaces": ["xy"]}}},
                }
            },
            "rotation": {"connectionTokenDays": 20},
            "azure": azure_section(),
            "vault": {"rotator": VAULT_ROTATOR},
        }
    )
    data = matrix_dict(cfg)
    cell = matrix_cell(data, "rotation", "connections/gold/a/token")
    assert (cell["read"], cell["write"]) == (True, True)
    assert cell["backends"]["vault"] == {"read": False, "write": True}
    assert cell["backends"]["aws"] == {"read": True, "write": True}
    # the full expansion agrees cell by cell
    (full,) = [c for c in access_cells(cfg) if (c.identity, c.path) == ("rotation", "connections/gold/a/token")]
    assert full.as_cell() == cell
    rows = [r for r in matrix_rows(cfg) if r[0] == "rotation" and "class gold" in r[3]]
    assert rows and rows[0][4] == "read, write on aws, azure; write on vault"
