"""The Makini host pin (issue 20, item 3): a foreign MAKINI_API_BASE is refused before any secret moves.

Whoever can edit a rotation function's configuration could otherwise point ``MAKINI_API_BASE`` at their
own server and receive the OAuth client secret with the next rotation. Every rotator and the doctor
build their client through ``makini_client.pinned_base_url``; these tests hold each of them to it, and
prove that nothing was read from a store and nothing was sent over the network when it refuses.
"""

from __future__ import annotations

import ast
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from rotation import aws_lambda, makini_client
from rotation import azure_function as af
from rotation import vault_rotator as vr
from rotation.bindings import Bindings
from rotation.makini_client import DEFAULT_BASE_URL, MakiniClient, MakiniHostRefused, pinned_base_url

from tests.fakes.makini_api import FakeMakini
from tests.fakes.makini_contract import load_oas
from tests.pyparse import parse_python

ROOT = Path(__file__).resolve().parents[3]

#: What an attacker (or a typo) might put in MAKINI_API_BASE. Every one must be refused.
HOSTILE = {
    "other https host": "https://evil.example",
    "lookalike suffix": "https://api.makini.io.evil.example",
    "lookalike prefix": "https://evil-api.makini.io",
    "sibling subdomain": "https://sandbox.makini.io",
    "apex domain": "https://makini.io",
    "host in the path": "https://evil.example/api.makini.io",
    "userinfo hides the host": "https://api.makini.io@evil.example",
    "userinfo before the real host": "https://evil.example@api.makini.io",
    "user and password": "https://user:pass@api.makini.io",
    "encoded at sign": "https://api.makini.io%40evil.example",
    "backslash trick": "https://evil.example\\@api.makini.io",
    "backslash after host": "https://api.makini.io\\@evil.example",
    "IDN dotless i": "https://api.mak\u0131ni.io",
    "IDN cyrillic i": "https://api.makin\u0456.io",
    "fullwidth letters": "https://\uff41\uff50\uff49.makini.io",
    "ideographic full stops": "https://api\u3002makini\u3002io",
    "punycode lookalike": "https://xn--api-makini-9za.io",
    "trailing dot": "https://api.makini.io.",
    "explicit 443": "https://api.makini.io:443",
    "other port": "https://api.makini.io:8443",
    "empty port": "https://api.makini.io:",
    "bad port": "https://api.makini.io:99999",
    "plain http": "http://api.makini.io",
    "loopback outside tests": "http://127.0.0.1:8080",
    "loopback https outside tests": "https://127.0.0.1:8443",
    "localhost": "http://localhost:8080",
    "ipv6 loopback": "http://[::1]:8080",
    "ip address": "https://15.204.75.108",
    "path": "https://api.makini.io/v2",
    "query": "https://api.makini.io?next=https://evil.example",
    "empty query": "https://api.makini.io?",
    "fragment": "https://api.makini.io#x",
    "leading space": " https://api.makini.io",
    "newline": "https://api.makini.io\n.evil.example",
    "tab": "https://api.makini.io\t",
    "no scheme": "api.makini.io",
    "ftp": "ftp://api.makini.io",
    "scheme relative": "//api.makini.io",
    "javascript": "javascript:alert(1)",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_base_urls_are_refused(value):
    with pytest.raises(MakiniHostRefused) as exc:
        pinned_base_url(value)
    message = str(exc.value)
    assert message.startswith("MAKINI_API_BASE is refused: ") and "Nothing was sent" in message
    userinfo = value.split("//", 1)[-1].split("@", 1)[0] if "@" in value else ""
    if ":" in userinfo:  # user info with a password: never echoed
        assert userinfo not in message and userinfo.split(":")[1] not in message


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_base_urls_are_refused_through_the_environment(monkeypatch, value):
    monkeypatch.setenv("MAKINI_API_BASE", value)
    with pytest.raises(MakiniHostRefused):
        MakiniClient()


def test_user_info_password_is_never_echoed():
    with pytest.raises(MakiniHostRefused) as exc:
        pinned_base_url("https://ops:hunter2-canary@api.makini.io")
    assert "hunter2-canary" not in str(exc.value) and "user info" in str(exc.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, DEFAULT_BASE_URL),
        ("", DEFAULT_BASE_URL),
        ("https://api.makini.io", DEFAULT_BASE_URL),
        ("https://api.makini.io/", DEFAULT_BASE_URL),
        ("HTTPS://API.Makini.IO", DEFAULT_BASE_URL),
    ],
)
def test_makinis_documented_host_is_accepted(value, expected):
    assert pinned_base_url(value) == expected


def test_default_without_environment(monkeypatch):
    monkeypatch.delenv("MAKINI_API_BASE", raising=False)
    assert MakiniClient().base_url == DEFAULT_BASE_URL


def test_the_pinned_host_is_the_one_makinis_published_api_description_names():
    servers = {s["url"] for s in load_oas()["servers"]}
    assert servers == {DEFAULT_BASE_URL}
    assert {urlsplit(u).hostname for u in servers} == makini_client.MAKINI_HOSTS


@pytest.mark.parametrize(
    ("value", "expected"),
    [("http://127.0.0.1:8080", "http://127.0.0.1:8080"), ("https://127.0.0.1:8443/", "https://127.0.0.1:8443")],
)
def test_loopback_only_when_the_caller_allows_it_in_code(value, expected):
    assert pinned_base_url(value, allow_loopback=True) == expected
    with pytest.raises(MakiniHostRefused):
        pinned_base_url(value)


@pytest.mark.parametrize(
    "value",
    [
        "http://127.0.0.1",  # no port
        "http://localhost:8080",
        "http://[::1]:8080",
        "http://127.0.0.2:8080",
        "http://x@127.0.0.1:8080",
        "http://127.0.0.1:8080/path",
        "https://evil.example",
    ],
)
def test_loopback_allowance_is_for_127_0_0_1_with_a_port_only(value):
    with pytest.raises(MakiniHostRefused):
        pinned_base_url(value, allow_loopback=True)


def test_no_runtime_code_can_switch_the_loopback_allowance_on():
    """Only tests pass allow_loopback: a setting or environment variable can never enable it."""
    offenders = []
    for folder in ("functions", "infra", "stacks", "components", "policy", "bootstrap"):
        for path in (ROOT / folder).rglob("*.py"):
            tree = parse_python(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                for k in node.keywords if isinstance(node, ast.Call) else ():
                    forwarded = isinstance(k.value, ast.Name) and k.value.id == "allow_loopback"
                    if k.arg == "allow_loopback" and not (path.name == "makini_client.py" and forwarded):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                if isinstance(node, ast.Call) and any(k.arg is None for k in node.keywords):
                    # **kwargs into a MakiniClient could smuggle it in: none of the runtime code does that
                    func = node.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name in ("MakiniClient", "pinned_base_url"):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} (**kwargs)")
    assert offenders == []


# -- every rotator refuses before any secret is read or sent -----------------------------------------


class Network:
    """Records any attempt of the Makini client to open a connection."""

    def __init__(self) -> None:
        self.attempts: list[str] = []

    def open(self, req, timeout=None):  # noqa: ANN001 - urllib's OpenerDirector.open
        self.attempts.append(req.full_url)
        raise AssertionError(f"the Makini client tried to reach {req.full_url}")


@pytest.fixture
def network(monkeypatch):
    net = Network()
    monkeypatch.setattr(makini_client._OPENER, "open", net.open)
    return net


@pytest.fixture
def attacker():
    """A server on 127.0.0.1 that would receive what a redirected rotator sends."""
    with FakeMakini() as fake:
        yield fake


ROTATOR_CASES = {
    "other https host": "https://evil.example",
    "userinfo": "https://api.makini.io@evil.example",
    "idn lookalike": "https://api.makin\u0456.io",
    "port": "https://api.makini.io:8443",
    "loopback outside tests": None,  # the attacker fixture's http://127.0.0.1:<port>
}


def _target(value, attacker):
    return attacker.base_url if value is None else value


@pytest.mark.parametrize("value", ROTATOR_CASES.values(), ids=ROTATOR_CASES.keys())
def test_aws_rotation_lambda_refuses_before_reading_a_secret(monkeypatch, aws, network, attacker, value):
    token = aws.start_rotation()
    monkeypatch.setattr(aws_lambda, "_makini_client_factory", None)  # the production construction path
    reads = []
    monkeypatch.setattr(aws_lambda, "_secrets_client_factory", lambda: reads.append("secretsmanager") or aws.sm)
    monkeypatch.setenv("MAKINI_API_BASE", _target(value, attacker))
    for step in ("createSecret", "testSecret"):
        with pytest.raises(MakiniHostRefused):
            aws.step(step, token)
    assert reads == [] and network.attempts == [] and attacker.requests == []
    with pytest.raises(aws.sm.exceptions.ResourceNotFoundException):  # no pending value was written
        aws.sm.get_secret_value(SecretId=aws.secret_arn, VersionId=token)


@pytest.mark.parametrize("value", ROTATOR_CASES.values(), ids=ROTATOR_CASES.keys())
def test_azure_rotation_function_refuses_before_reading_a_secret(network, attacker, value):
    opened = []
    env = {
        "OAUTH_CLIENT_SECRET_NAME": "makini-oauth-client",
        "KEY_VAULT_URL": "https://kv-makini-prod.vault.azure.net",
        "MAKINI_API_BASE": _target(value, attacker),
    }
    bindings = Bindings("prod", "azure", {"kv-makini-prod/conn": "0900001"}, "test package", 7)
    with pytest.raises(MakiniHostRefused):
        af.run_scheduled(bindings=bindings, env=env, secret_client_factory=lambda url: opened.append(url))
    assert opened == [] and network.attempts == [] and attacker.requests == []


@pytest.mark.parametrize("value", ROTATOR_CASES.values(), ids=ROTATOR_CASES.keys())
def test_vault_rotator_refuses_before_contacting_vault(capsys, network, attacker, value):
    contacted = []
    env = {"VAULT_MOUNT": "makini-prod", "MAKINI_API_BASE": _target(value, attacker)}
    code = vr.main([], env=env, vault_factory=lambda e: contacted.append(e))
    err = capsys.readouterr().err
    assert code == 2 and "MAKINI_API_BASE is refused" in err
    assert contacted == [] and network.attempts == [] and attacker.requests == []
