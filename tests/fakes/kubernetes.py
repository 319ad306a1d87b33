"""A fake Kubernetes API server that answers TokenReview, for Vault's Kubernetes auth on a real OpenBao.

Vault's Kubernetes auth (``auth/kubernetes/login``) does not trust the service-account JWT it is given:
it parses the claims (namespace, service-account name and uid), then asks the cluster with a
TokenReview (``POST /apis/authentication.k8s.io/v1/tokenreviews``, authenticated with the reviewer
JWT) and logs in only if the cluster answers ``authenticated: true`` for the same namespace, name and
uid. Only that call is faked here (the documented TokenReview API, authentication.k8s.io/v1): tokens
minted by :meth:`FakeKubernetes.service_account_token` are known to it; any other token, or a review
without the reviewer's bearer token, is answered as Kubernetes does (``authenticated: false`` / 401).

    with FakeKubernetes() as k8s:
        vault.write("auth/kubernetes/config", kubernetes_host=k8s.url, token_reviewer_jwt=k8s.reviewer_jwt,
                    kubernetes_ca_cert=k8s.ca_cert_pem, disable_local_ca_jwt=True)
        jwt = k8s.service_account_token("work-orders-staging", "work-orders")
        vault.auth.kubernetes.login(role="makini-staging-work-orders", jwt=jwt)

Listens on 127.0.0.1, a free port; stops at the end of the ``with`` block.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REVIEW_PATH = "/apis/authentication.k8s.io/v1/tokenreviews"


class FakeKubernetes:
    def __init__(self) -> None:
        self.reviewer_jwt = "reviewer-" + secrets.token_urlsafe(16)
        # Signs the service-account tokens; its public key is never given to Vault, so Vault cannot check a
        # token itself and must ask the fake (Vault parses only RS256/ES256-style JWTs, hence a real key).
        self._signing_key = ec.generate_private_key(ec.SECP256R1())
        self._tokens: dict[str, tuple[str, str, str]] = {}
        self.reviews: list[dict] = []
        self._ca_pem: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def service_account_token(self, namespace: str, name: str) -> str:
        """A service-account JWT (legacy claim names, as Vault parses them) the fake will vouch for."""
        uid = str(uuid.uuid4())
        now = int(time.time())
        claims = {
            "iss": "kubernetes/serviceaccount",
            "sub": f"system:serviceaccount:{namespace}:{name}",
            "iat": now,
            "kubernetes.io/serviceaccount/namespace": namespace,
            "kubernetes.io/serviceaccount/service-account.name": name,
            "kubernetes.io/serviceaccount/service-account.uid": uid,
            "kubernetes.io/serviceaccount/secret.name": f"{name}-token",
        }
        token = pyjwt.encode(claims, self._signing_key, algorithm="ES256")
        self._tokens[token] = (namespace, name, uid)
        return token

    @property
    def ca_cert_pem(self) -> str:
        """A CA certificate for Vault's ``kubernetes_ca_cert`` (required outside a pod). The fake speaks
        plain HTTP on 127.0.0.1, so the certificate is never used to verify anything."""
        if self._ca_pem is None:
            key = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake-kubernetes-ca")])
            now = datetime.now(UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(name)
                .issuer_name(name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256())
            )
            self._ca_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        return self._ca_pem

    def revoke(self, token: str) -> None:
        self._tokens.pop(token, None)

    # -- server ----------------------------------------------------------------------------------

    def __enter__(self) -> FakeKubernetes:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != REVIEW_PATH:
                    return self._answer(404, {"kind": "Status", "status": "Failure", "code": 404})
                if self.headers.get("Authorization") != f"Bearer {fake.reviewer_jwt}":
                    return self._answer(401, {"kind": "Status", "status": "Failure", "code": 401})
                fake.reviews.append(body)
                token = (body.get("spec") or {}).get("token", "")
                known = fake._tokens.get(token)
                status: dict = {"authenticated": False}
                if known is not None:
                    namespace, name, uid = known
                    status = {
                        "authenticated": True,
                        "user": {
                            "username": f"system:serviceaccount:{namespace}:{name}",
                            "uid": uid,
                            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"],
                        },
                        "audiences": (body.get("spec") or {}).get("audiences") or [],
                    }
                return self._answer(
                    201,
                    {
                        "apiVersion": "authentication.k8s.io/v1",
                        "kind": "TokenReview",
                        "spec": body.get("spec"),
                        "status": status,
                    },
                )

            def _answer(self, code: int, payload: dict) -> None:
                raw = json.dumps(payload).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
