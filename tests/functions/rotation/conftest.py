"""Fixtures for the rotation runtime: moto Secrets Manager (in process) and the fake Makini API.

The package is imported as ``rotation`` with ``functions/`` on sys.path: the same layout as the
deployed archive (folder ``rotation/``, handler ``rotation.aws_lambda.handler``).
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

FUNCTIONS_DIR = Path(__file__).resolve().parents[3] / "functions"
if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.insert(0, str(FUNCTIONS_DIR))

from rotation import aws_lambda  # noqa: E402
from rotation.backoff import RetryPolicy  # noqa: E402
from rotation.bindings import Bindings  # noqa: E402
from rotation.makini_client import MakiniClient  # noqa: E402

from tests.fakes.makini_api import FakeMakini  # noqa: E402
from tests.functions.rotation.sm_rotation import RotationDriver  # noqa: E402

REGION = "eu-west-1"
CONNECTION_ID = "09000207611898"


@dataclass
class FakeClock:
    """Monotonic clock + sleep that advances it: waits are recorded, never slept."""

    now: float = 1000.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


#: Tokens issued by the fake in these tests last two years: longer than any rotation period the
#: rotators accept (Azure: 365 + 90 days of lead), so the lifetime check passes unless a test
#: shortens it (``makini.connection_token_lifetime = ...``) to exercise the refusal.
LONG_TOKEN_LIFETIME = 730 * 86400


@pytest.fixture
def makini():
    with FakeMakini(connection_token_lifetime=LONG_TOKEN_LIFETIME) as fake:
        fake.add_connection(CONNECTION_ID)
        yield fake


@pytest.fixture
def client_factory(makini, clock):
    """Builds MakiniClients against the fake with recorded (not real) sleeps and short timeouts."""

    def build(deadline=None, policy=None, timeout=2.0):
        return MakiniClient(
            makini.base_url,
            allow_loopback=True,  # the fake on 127.0.0.1: the one exception to the host pin, in code only
            timeout=timeout,
            policy=policy or RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=4.0, max_total_wait=10.0),
            deadline=deadline,
            sleep=clock.sleep,
            clock=clock,
            jitter=lambda: 0.5,
        )

    return build


def log_events(caplog, name: str) -> list[dict]:
    """The JSON log lines (functions/shared/jsonlog.py) whose ``event`` is ``name``, in order."""
    out = []
    for record in caplog.records:
        try:
            line = json.loads(record.getMessage())
        except ValueError:
            continue
        if isinstance(line, dict) and line.get("event") == name:
            out.append(line)
    return out


def aws_bindings(entries: dict[str, str], environment: str = "prod") -> Bindings:
    """Bindings as the program ships them in the Lambda package (here built in the test, per secret name)."""
    return Bindings(environment=environment, backend="aws", entries=entries, source="test bindings", period_days=7)


@dataclass
class AwsRig:
    sm: object
    secret_arn: str
    oauth_arn: str
    current_token: str
    makini: FakeMakini
    #: Secret name -> connection id: what the deployed package binds (edit to rebind).
    bindings: dict[str, str] = field(default_factory=dict)

    @property
    def secret_name(self) -> str:
        return self.sm.describe_secret(SecretId=self.secret_arn)["Name"]

    def versions(self) -> dict[str, list[str]]:
        return self.sm.describe_secret(SecretId=self.secret_arn)["VersionIdsToStages"]

    def value(self, stage: str = "AWSCURRENT") -> dict:
        return json.loads(self.sm.get_secret_value(SecretId=self.secret_arn, VersionStage=stage)["SecretString"])

    @property
    def driver(self) -> RotationDriver:
        """Secrets Manager's side of a rotation (tests/functions/rotation/sm_rotation.py), invoking the real
        handler; one invocation per step here (``step_attempts=1``), so tests count faults exactly."""
        return RotationDriver(
            self.sm, self.secret_arn, lambda event: aws_lambda.handler(event, None), region=REGION, step_attempts=1
        )

    def configure_rotation(self, enabled: bool = True) -> None:
        """Rotation configured on the secret (function ARN, schedule) as the stack sets it up. Done below
        moto's API: its public call for this, RotateSecret, would also run moto's own rotation."""
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.secretsmanager.models import secretsmanager_backends

        secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[self.secret_arn]
        secret.rotation_requested = True  # moto reports the rotation settings only once requested
        secret.rotation_enabled = enabled
        secret.auto_rotate_after_days = 7
        secret.rotation_lambda_arn = f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:makini-rotation"

    def start_rotation(self, enabled: bool = True) -> str:
        """RotateSecret's first part (the driver's ``begin``): a new version id labelled AWSPENDING. With
        rotation disabled the version is labelled anyway, to show the function itself refuses to run."""
        self.configure_rotation(enabled)
        if not enabled:
            token = str(uuid.uuid4())
            self.driver._label_new_version_pending(self.secret_arn, token)
            return token
        return self.driver.begin()[0]

    def step(self, step: str, token: str, context=None) -> None:
        aws_lambda.handler({"Step": step, "SecretId": self.secret_arn, "ClientRequestToken": token}, context)

    def rotate(self, token: str) -> None:
        """The four steps through the driver; the first failing step's error is raised, and a rotation
        that ends without AWSCURRENT on ``token`` is an error too."""
        attempt = self.driver.run(token)
        if attempt.error is not None:
            raise attempt.error
        assert attempt.completed, f"rotation ended without AWSCURRENT on {token}: {self.versions()}"


@pytest.fixture(scope="module")
def _moto_sm():
    """One in-process moto per test module (starting moto per test dominated the runtime);
    each test gets its own secrets, named uniquely, below."""
    import boto3
    from moto import mock_aws

    with pytest.MonkeyPatch.context() as mp:
        for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            mp.setenv(var, "testing")
        mp.setenv("AWS_DEFAULT_REGION", REGION)
        with mock_aws():
            yield boto3.client("secretsmanager", region_name=REGION)


@pytest.fixture
def aws(monkeypatch, makini, client_factory, _moto_sm):
    sm = _moto_sm
    suffix = uuid.uuid4().hex[:8]
    oauth = sm.create_secret(
        Name=f"makini/prod/oauth-client-{suffix}",
        SecretString=json.dumps({"client_id": makini.client_id, "client_secret": makini.client_secret}),
    )
    current_token = makini.mint_connection_token(CONNECTION_ID)
    secret = sm.create_secret(
        Name=f"makini/prod/connections/acme-netsuite-{suffix}",
        SecretString=json.dumps(
            {"token": current_token, "connection_id": CONNECTION_ID, "issued_at": "2025-01-01T00:00:00Z"}
        ),
        Tags=[{"Key": aws_lambda.CONNECTION_TAG, "Value": CONNECTION_ID}],
    )
    monkeypatch.setenv(aws_lambda.ENV_OAUTH_SECRET, oauth["ARN"])
    monkeypatch.setattr(aws_lambda, "_secrets_client_factory", lambda: sm)
    monkeypatch.setattr(aws_lambda, "_makini_client_factory", lambda deadline=None: client_factory(deadline))
    rig = AwsRig(
        sm=sm,
        secret_arn=secret["ARN"],
        oauth_arn=oauth["ARN"],
        current_token=current_token,
        makini=makini,
        bindings={secret["Name"]: CONNECTION_ID},
    )
    monkeypatch.setattr(aws_lambda, "_bindings_loader", lambda: aws_bindings(rig.bindings))
    yield rig
