"""Stand-in WATS server: just enough of the WATS REST API for pyWATS to submit reports.

Endpoints:
  POST /api/Report/WSJF        validate JSON, record the raw body, answer
                               ``{"ID": <report id>, "uuid": <report id>}`` (HTTP 200)
  GET  /api/Report/Wsjf/{id}   the stored report (raw body as received)
  GET  /api/App/Version        a version object (connection tests)
  GET  /api/...                anything else: 404 JSON

The raw request bodies are kept in memory (``received``) and optionally appended to a
JSON Lines file (one body per line; pyWATS bodies never contain raw newlines) so tests
can compare bytes with what reached Kafka.  ``reject_next`` makes the next N report
POSTs fail with HTTP 500 (for "publish only after WATS accepted" tests).

Run standalone::

    python -m spcsim.server --port 0 [--record FILE]    # prints WATS=http://127.0.0.1:<port>

Listens on 127.0.0.1 only.  HTTP/1.1 keep-alive (pyWATS/httpx reuse the connection).
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

WSJF_PATH = "/api/Report/WSJF"
MAX_BODY = 64 * 1024 * 1024


class StandInWats:
    """A threaded stand-in WATS HTTP server (use as a context manager or start/stop)."""

    def __init__(
        self, port: int = 0, record: str | Path | None = None, host: str = "127.0.0.1"
    ) -> None:
        self.received: list[bytes] = []
        self.reports: dict[str, bytes] = {}
        self.reject_next = 0
        self.rejected = 0
        self._lock = threading.Lock()
        self._record = open(record, "ab") if record else None  # noqa: SIM115 (kept open)
        self._httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound TCP port."""
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL for ``pyWATS(base_url=...)``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> StandInWats:
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="standin-wats", daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in the calling thread until :meth:`stop`."""
        self._httpd.serve_forever()

    def stop(self) -> None:
        """Stop serving and close the record file."""
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        if self._record is not None:
            self._record.close()
            self._record = None

    def __enter__(self) -> StandInWats:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget received reports."""
        with self._lock:
            self.received.clear()
            self.reports.clear()

    # called by the handler (server threads)
    def accept(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """Validate and store one WSJF body; return (HTTP status, JSON answer)."""
        with self._lock:
            if self.reject_next > 0:
                self.reject_next -= 1
                self.rejected += 1
                return 500, {"Message": "stand-in WATS: rejected on request"}
        try:
            obj = json.loads(body)
        except ValueError as exc:
            return 400, {"Message": f"invalid JSON: {exc}"}
        if not isinstance(obj, dict) or not obj.get("pn") or not obj.get("sn"):
            return 400, {"Message": "not a WSJF report (pn/sn missing)"}
        rid = str(obj.get("id") or uuid.uuid4())
        with self._lock:
            self.received.append(body)
            self.reports[rid] = body
            if self._record is not None:
                self._record.write(body + b"\n")
                self._record.flush()
        return 200, {"ID": rid, "uuid": rid}


def _make_handler(server: StandInWats) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        server_version = "StandInWATS/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s - %s", self.address_string(), format % args)

        def _reply(self, status: int, payload: Any, raw: bytes | None = None) -> None:
            body = raw if raw is not None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length < 0 or length > MAX_BODY:
                self._reply(413, {"Message": "body too large"})
                return
            body = self.rfile.read(length)
            if self.path.split("?", 1)[0].rstrip("/").lower() != WSJF_PATH.lower():
                self._reply(404, {"Message": f"no such endpoint {self.path}"})
                return
            status, answer = server.accept(body)
            self._reply(status, answer)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0].rstrip("/")
            low = path.lower()
            if low == "/api/app/version":
                self._reply(200, {"version": "standin-1.0", "apiVersion": "1"})
                return
            prefix = "/api/report/wsjf/"
            if low.startswith(prefix):
                rid = path[len(prefix) :]
                body = server.reports.get(rid)
                if body is not None:
                    self._reply(200, None, raw=body)
                    return
            self._reply(404, {"Message": f"not found: {path}"})

    return Handler


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: ``python -m spcsim.server``."""
    ap = argparse.ArgumentParser(prog="python -m spcsim.server", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0 = free port)")
    ap.add_argument("--record", help="append every accepted WSJF body to this JSONL file")
    args = ap.parse_args(argv)
    srv = StandInWats(port=args.port, record=args.record)
    print(f"WATS={srv.url}", flush=True)

    def _stop(_sig: int, _frm: object) -> None:
        threading.Thread(target=srv.stop, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
