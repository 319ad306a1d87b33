"""An in-memory Vault KV v2 served to a real ``hvac.Client`` through a requests transport adapter.

hvac builds the real HTTP requests (paths, LIST verb, JSON bodies, ``options.cas``) and parses the
real response/error shapes (404 -> InvalidPath, 400 -> InvalidRequest), so the rotator is tested
through hvac itself rather than through a mock of hvac's methods. Semantics follow Vault's KV v2 API:
versions, ``current_version``, check-and-set, ``custom_metadata`` (string values only, replaced as a
whole on update), ``delete_version_after``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import hvac
import requests
from requests.adapters import BaseAdapter


@dataclass
class Entry:
    versions: list[dict] = field(default_factory=list)  # data per version (1-based index)
    custom_metadata: dict[str, str] = field(default_factory=dict)
    delete_version_after: str = "0s"
    max_versions: int = 0
    cas_required: bool = False
    updated_time: str = ""


class InMemoryKV2(BaseAdapter):
    def __init__(self, mount: str) -> None:
        super().__init__()
        self.mount = mount
        self.entries: dict[str, Entry] = {}
        self.calls: list[tuple[str, str, object]] = []
        self.fail_data_write: int = 0  # next N data writes fail with 500 (fault injection)
        self.fail_metadata_write: int = 0
        #: Path prefixes the token's policy does not cover (answered 403, as Vault does).
        self.denied_prefixes: tuple[str, ...] = ()

    # -- helpers for tests ------------------------------------------------------------------

    def put(self, path: str, data: dict, custom_metadata: dict | None = None, delete_version_after: str = "0s") -> None:
        entry = self.entries.setdefault(path, Entry())
        entry.versions.append(dict(data))
        entry.custom_metadata = dict(custom_metadata or {})
        entry.delete_version_after = delete_version_after

    def latest(self, path: str) -> dict:
        return self.entries[path].versions[-1]

    def client(self) -> hvac.Client:
        session = requests.Session()
        session.mount("http://vault.test", self)
        return hvac.Client(url="http://vault.test:8200", token="test-token", session=session)

    # -- transport --------------------------------------------------------------------------

    def close(self) -> None:
        pass

    def send(self, request, **kwargs):
        split = urlsplit(request.url)
        body = json.loads(request.body) if request.body else None
        self.calls.append((request.method, split.path, body))
        prefix = f"/v1/{self.mount}/"
        if not split.path.startswith(prefix):
            return self._respond(request, 404, {"errors": [f"no handler for route {split.path}"]})
        kind, _, path = split.path[len(prefix) :].partition("/")
        query = parse_qs(split.query)
        method = request.method.upper()
        if request.headers.get("X-Vault-Token") != "test-token":
            return self._respond(request, 403, {"errors": ["permission denied"]})
        if any(path.strip("/").startswith(p) for p in self.denied_prefixes):
            return self._respond(request, 403, {"errors": ["1 error occurred:\n\t* permission denied\n\n"]})
        if kind == "metadata" and (method == "LIST" or (method == "GET" and query.get("list") == ["true"])):
            return self._list(request, path)
        if kind == "metadata" and method == "GET":
            return self._read_metadata(request, path)
        if kind == "metadata" and method in ("POST", "PUT"):
            return self._write_metadata(request, path, body or {})
        if kind == "data" and method == "GET":
            return self._read_data(request, path, query)
        if kind == "data" and method in ("POST", "PUT"):
            return self._write_data(request, path, body or {})
        return self._respond(request, 405, {"errors": [f"unsupported {method} {split.path}"]})

    def _list(self, request, folder):
        folder = folder.strip("/")
        base = folder + "/" if folder else ""
        keys = set()
        for path in self.entries:
            if path.startswith(base):
                rest = path[len(base) :]
                keys.add(rest.split("/", 1)[0] + "/" if "/" in rest else rest)
        if not keys:
            return self._respond(request, 404, {"errors": []})
        return self._respond(request, 200, {"data": {"keys": sorted(keys)}})

    def _read_metadata(self, request, path):
        entry = self.entries.get(path)
        if entry is None:
            return self._respond(request, 404, {"errors": []})
        return self._respond(
            request,
            200,
            {
                "data": {
                    "current_version": len(entry.versions),
                    "oldest_version": 1,
                    "custom_metadata": dict(entry.custom_metadata) or None,
                    "delete_version_after": entry.delete_version_after,
                    "max_versions": entry.max_versions,
                    "cas_required": entry.cas_required,
                    "updated_time": entry.updated_time,
                    "versions": {
                        str(i + 1): {"destroyed": False, "deletion_time": ""} for i in range(len(entry.versions))
                    },
                }
            },
        )

    def _write_metadata(self, request, path, body):
        if self.fail_metadata_write:
            self.fail_metadata_write -= 1
            return self._respond(request, 500, {"errors": ["injected metadata write failure"]})
        entry = self.entries.setdefault(path, Entry())
        custom = body.get("custom_metadata")
        if custom is not None:
            if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
                return self._respond(request, 400, {"errors": ["custom_metadata values must be strings"]})
            if len(custom) > 64 or any(len(k) > 128 or len(v) > 512 for k, v in custom.items()):
                return self._respond(request, 400, {"errors": ["custom_metadata too large"]})
            entry.custom_metadata = dict(custom)
        if "delete_version_after" in body:
            entry.delete_version_after = body["delete_version_after"]
        for key in ("max_versions", "cas_required"):
            if key in body:
                setattr(entry, key, body[key])
        return self._respond(request, 204, None)

    def _read_data(self, request, path, query):
        entry = self.entries.get(path)
        if entry is None or not entry.versions:
            return self._respond(request, 404, {"errors": []})
        version = int(query.get("version", ["0"])[0]) or len(entry.versions)
        if not 1 <= version <= len(entry.versions):
            return self._respond(request, 404, {"errors": []})
        return self._respond(
            request,
            200,
            {
                "data": {
                    "data": dict(entry.versions[version - 1]),
                    "metadata": {
                        "version": version,
                        "custom_metadata": dict(entry.custom_metadata) or None,
                        "created_time": "",
                        "deletion_time": "",
                        "destroyed": False,
                    },
                }
            },
        )

    def _write_data(self, request, path, body):
        if self.fail_data_write:
            self.fail_data_write -= 1
            return self._respond(request, 500, {"errors": ["injected data write failure"]})
        entry = self.entries.get(path) or Entry()
        cas = (body.get("options") or {}).get("cas")
        if cas is None and entry.cas_required:
            return self._respond(request, 400, {"errors": ["check-and-set parameter required for this call"]})
        if cas is not None and cas != len(entry.versions):
            return self._respond(
                request, 400, {"errors": ["check-and-set parameter did not match the current version"]}
            )
        entry.versions.append(dict(body.get("data") or {}))
        entry.updated_time = datetime.now(UTC).isoformat()
        self.entries[path] = entry
        return self._respond(request, 200, {"data": {"version": len(entry.versions)}})

    def _respond(self, request, status, payload):
        resp = requests.Response()
        resp.status_code = status
        resp._content = b"" if payload is None else json.dumps(payload).encode()
        resp.headers["Content-Type"] = "application/json"
        resp.url = request.url
        resp.request = request
        resp.encoding = "utf-8"
        return resp
