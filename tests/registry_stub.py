"""Minimal Confluent-compatible schema registry for the Avro tests.

Serves POST /subjects/{subject}/versions (register: the same schema text
gets the same id, ids start at 101) and GET /schemas/ids/{id}.  Prints
"PORT <n>" once listening on 127.0.0.1 (port 0 = any free port); exits on
SIGTERM or when stdin closes (the test process died).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SCHEMAS: dict[int, str] = {}
IDS: dict[str, int] = {}
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass

    def reply(self, code: int, obj: object) -> None:
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        parts = self.path.strip("/").split("/")
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        if len(parts) != 3 or parts[0] != "subjects" or parts[2] != "versions":
            self.reply(404, {"error_code": 404, "message": "not found"})
            return
        text = data.get("schema")
        if not isinstance(text, str):
            self.reply(422, {"error_code": 42201, "message": "no schema"})
            return
        with LOCK:
            sid = IDS.get(text)
            if sid is None:
                sid = 101 + len(IDS)
                IDS[text] = sid
                SCHEMAS[sid] = text
        self.reply(200, {"id": sid})

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            with LOCK:
                text = SCHEMAS.get(int(parts[2]))
            if text is not None:
                self.reply(200, {"schema": text})
                return
        if len(parts) == 3 and parts[:2] == ["schemas", "ids"]:
            self.reply(404, {"error_code": 40403, "message": "Schema not found"})
            return
        self.reply(404, {"error_code": 404, "message": "not found"})


def main() -> int:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stdout.write(f"PORT {srv.server_address[1]}\n")
    sys.stdout.flush()
    sys.stdin.read()  # returns when the parent closes the pipe or dies
    return 0


if __name__ == "__main__":
    sys.exit(main())
