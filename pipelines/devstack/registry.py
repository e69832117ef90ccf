"""A Confluent-compatible schema registry for the dev stack (Avro schemas, one JSON file).

Neither Confluent's registry (Java, from Maven or Docker) nor Karapace is installable from the
registries these machines reach, so the dev stack serves the part of the Schema Registry REST
API that producers and consumers use: register a schema under a subject (the same schema gets
the same id), look one up, fetch by id, list subjects and versions. Confluent's own Python
client (``confluent_kafka.schema_registry``) talks to it unchanged. Production points
``kafka.schema_registry_url`` at a real registry.

Run: ``python -m thermocline.pipelines.devstack.registry --port 18081 --store registry.json``
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from .info import RegistryInfo
from .processes import spawn, wait_until
from .s3 import http_answers

__all__ = ["SchemaStore", "serve", "start"]

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class SchemaStore:
    """Subjects -> versions -> schema ids, persisted to ``path`` after every change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        data = json.loads(path.read_text()) if path.exists() else {}
        self.schemas: list[str] = data.get("schemas", [])  # id - 1 -> canonical schema
        self.subjects: dict[str, list[int]] = data.get("subjects", {})  # -> ids by version

    def register(self, subject: str, schema: str) -> dict[str, Any]:
        canonical = _canonical(schema)
        with self._lock:
            if canonical not in self.schemas:
                self.schemas.append(canonical)
            schema_id = self.schemas.index(canonical) + 1
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps({"schemas": self.schemas, "subjects": self.subjects}))
                tmp.replace(self.path)
            return self._entry(subject, versions.index(schema_id) + 1)

    def lookup(self, subject: str, schema: str) -> dict[str, Any] | None:
        canonical = _canonical(schema)
        versions = self.subjects.get(subject, [])
        for version, schema_id in enumerate(versions, start=1):
            if self.schemas[schema_id - 1] == canonical:
                return self._entry(subject, version)
        return None

    def version(self, subject: str, version: str) -> dict[str, Any] | None:
        versions = self.subjects.get(subject, [])
        number = len(versions) if version == "latest" else int(version)
        return self._entry(subject, number) if 1 <= number <= len(versions) else None

    def by_id(self, schema_id: int) -> str | None:
        return self.schemas[schema_id - 1] if 1 <= schema_id <= len(self.schemas) else None

    def _entry(self, subject: str, version: int) -> dict[str, Any]:
        schema_id = self.subjects[subject][version - 1]
        schema = self.schemas[schema_id - 1]
        return {"subject": subject, "version": version, "id": schema_id, "schema": schema}


def _canonical(schema: str) -> str:
    return json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"))


_ROUTES = [
    ("GET", re.compile(r"/schemas/ids/(\d+)"), "schema_by_id"),
    ("GET", re.compile(r"/subjects"), "subjects"),
    ("GET", re.compile(r"/subjects/([^/]+)/versions"), "versions"),
    ("GET", re.compile(r"/subjects/([^/]+)/versions/(latest|\d+)"), "subject_version"),
    ("POST", re.compile(r"/subjects/([^/]+)/versions"), "register"),
    ("POST", re.compile(r"/subjects/([^/]+)"), "lookup"),
]


class _Handler(BaseHTTPRequestHandler):
    store: SchemaStore

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the log file is for errors."""

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        for verb, pattern, name in _ROUTES:
            match = pattern.fullmatch(path)
            if verb == method and match:
                try:
                    status, body = getattr(self, name)(*match.groups())
                except (ValueError, KeyError) as error:
                    status, body = HTTPStatus.UNPROCESSABLE_ENTITY, _error(42201, str(error))
                return self._send(status, body)
        return self._send(HTTPStatus.NOT_FOUND, _error(404, f"no route {method} {path}"))

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        body: dict[str, Any] = json.loads(self.rfile.read(length) or b"{}")
        if body.get("schemaType", "AVRO") != "AVRO":
            raise ValueError("this dev registry keeps Avro schemas only")
        return body

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", _CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def schema_by_id(self, schema_id: str) -> tuple[int, Any]:
        schema = self.store.by_id(int(schema_id))
        if schema is None:
            return HTTPStatus.NOT_FOUND, _error(40403, f"schema {schema_id} not found")
        return HTTPStatus.OK, {"schema": schema}

    def subjects(self) -> tuple[int, Any]:
        return HTTPStatus.OK, sorted(self.store.subjects)

    def versions(self, subject: str) -> tuple[int, Any]:
        if subject not in self.store.subjects:
            return HTTPStatus.NOT_FOUND, _error(40401, f"subject {subject!r} not found")
        return HTTPStatus.OK, list(range(1, len(self.store.subjects[subject]) + 1))

    def subject_version(self, subject: str, version: str) -> tuple[int, Any]:
        entry = self.store.version(subject, version)
        if entry is None:
            return HTTPStatus.NOT_FOUND, _error(40402, f"{subject} version {version} not found")
        return HTTPStatus.OK, entry

    def register(self, subject: str) -> tuple[int, Any]:
        return HTTPStatus.OK, self.store.register(subject, self._body()["schema"])

    def lookup(self, subject: str) -> tuple[int, Any]:
        entry = self.store.lookup(subject, self._body()["schema"])
        if entry is None:
            return HTTPStatus.NOT_FOUND, _error(40403, f"schema not registered under {subject}")
        return HTTPStatus.OK, entry


def _error(code: int, message: str) -> dict[str, Any]:
    return {"error_code": code, "message": message}


def serve(port: int, store: Path) -> None:
    """Serve the registry on 127.0.0.1:``port`` until killed."""
    handler = type("Handler", (_Handler,), {"store": SchemaStore(store)})
    ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()


def start(folder: Path, port: int, python: str) -> RegistryInfo:
    """Start the registry with ``python`` and wait until it answers."""
    folder.mkdir(parents=True, exist_ok=True)
    log_file = folder / "registry.log"
    argv = [python, "-m", "thermocline.pipelines.devstack.registry",
            "--port", str(port), "--store", str(folder / "registry.json")]  # fmt: skip
    pid = spawn(argv, pid_file=folder / "registry.pid", log_file=log_file)
    wait_until(
        partial(http_answers, port),
        what="the schema registry",
        pid=pid,
        log_file=log_file,
        timeout=15,
    )
    return RegistryInfo(url=f"http://127.0.0.1:{port}", pid=pid)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    arguments = parser.parse_args()
    serve(arguments.port, arguments.store)
