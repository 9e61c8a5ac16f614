"""A stand-in Confluent Schema Registry: the few REST calls a producer's Avro serializer makes
(register a schema under a subject, read one back by id), on a real HTTP server in the test process.
It hands out ids as the real one does, so the values the producer writes carry a real registry id."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_REGISTER = re.compile(r"^/subjects/([^/]+)/versions$")
_BY_ID = re.compile(r"^/schemas/ids/(\d+)$")


class SchemaRegistry:
    def __init__(self) -> None:
        self.schemas: dict[int, str] = {}
        self.subjects: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()
        registry = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                found = _REGISTER.match(self.path.split("?", 1)[0])
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not found:
                    self._answer(404, {"error_code": 404, "message": "not found"})
                    return
                schema_id = registry.register(found.group(1), body["schema"])
                self._answer(200, {"id": schema_id})

            def do_GET(self) -> None:
                found = _BY_ID.match(self.path.split("?", 1)[0])
                schema = registry.schemas.get(int(found.group(1))) if found else None
                if schema is None:
                    self._answer(404, {"error_code": 40403, "message": "Schema not found"})
                    return
                self._answer(200, {"schema": schema})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def register(self, subject: str, schema: str) -> int:
        with self._lock:
            key = (subject, schema)
            if key not in self.subjects:
                self.subjects[key] = 100 + len(self.subjects)
                self.schemas[self.subjects[key]] = schema
            return self.subjects[key]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
