#!/usr/bin/env python3
"""llm_stub.py -- a deterministic local stand-in for an OpenAI-compatible
chat-completions server, for the LLM advisor tests (tests/unit/test_llm.c)
and for trying spcstream without a model.

Usage:
    python3 tests/llm_stub.py [--host 127.0.0.1] [--port 0] [--mode SCRIPT]
                              [--record FILE] [--verbose] [--watch-parent]

Prints the port it listens on as the first line of stdout, then serves until
SIGTERM/SIGINT.  SCRIPT is a comma-separated list of answers, one per chat
request; the last one repeats ("429:1,good" answers 429 with Retry-After: 1
once, then good answers).  Answers:

    good          a valid advice object as the message content
    fenced        the same inside ```json fences
    prose         the same after a sentence of prose
    badjson       content that is not JSON
    badbody       an HTTP body that is not JSON
    schema        JSON content that violates the schema (no causes)
    long[:N]      a valid-looking answer with an N-byte summary (100000)
    429[:S]       HTTP 429, with "Retry-After: S" when S is given
    500 / 503     HTTP 500 / 503 with an OpenAI-style error body
    401           HTTP 401 (bad key), not retryable
    hang[:S]      read the request, then send nothing for S seconds (30)
    slow:MS       wait MS milliseconds, then a good answer

Control endpoints (for tests):
    POST /_stub/mode       body: a new SCRIPT (resets the position)
    GET  /_stub/requests   JSON array of the chat requests received so far:
                           {"path", "headers" (lower-case names), "body"}
    POST /_stub/reset      forget the recorded requests

With --record FILE every chat request is also appended to FILE as one JSON
line.  Nothing is logged unless --verbose, and then never header values.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GOOD_ADVICE: dict[str, Any] = {
    "summary": (
        "Step 10 output voltage on fixture FX-2B moved about 3 sigma above "
        "its baseline while the other fixtures stayed in control; two units "
        "already failed the upper limit. Act before more units fail."
    ),
    "causes": [
        {
            "cause": "Worn or contaminated pogo pins on fixture FX-2B",
            "likelihood": "high",
            "evidence": "Only FX-2B is shifted (mean 5.12 V vs 5.00 V on peers)",
        },
        {
            "cause": "Loose sense wire in the FX-2B harness",
            "likelihood": "medium",
            "evidence": "Recent sd doubled on the same fixture",
        },
    ],
    "actions": [
        "Take fixture FX-2B out of production and clean its pogo pins",
        "Re-test the two failing units on another fixture",
    ],
    "correlations": ["Check contact resistance steps on FX-2B"],
}


class Script:
    """Answers in order; the last one repeats."""

    def __init__(self, text: str) -> None:
        self.lock = threading.Lock()
        self.set(text)

    def set(self, text: str) -> None:
        """Replace the script and start again from its first answer."""
        with self.lock:
            self.steps = [s.strip() for s in text.split(",") if s.strip()]
            if not self.steps:
                self.steps = ["good"]
            self.pos = 0

    def next(self) -> str:
        """The next answer to give."""
        with self.lock:
            step = self.steps[min(self.pos, len(self.steps) - 1)]
            self.pos += 1
            return step


class State:
    """Shared by the handler threads: the script and the recorded requests."""

    def __init__(self, script: str, record: str | None, verbose: bool) -> None:
        self.script = Script(script)
        self.record = record
        self.verbose = verbose
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        self.count = 0


def envelope(content: str, model: str, n: int) -> bytes:
    """A chat.completion response body whose message holds `content`."""
    body = {
        "id": f"chatcmpl-stub-{n}",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return json.dumps(body).encode()


def error_body(status: int, message: str) -> bytes:
    """An OpenAI-style error body."""
    return json.dumps(
        {"error": {"message": message, "type": "stub_error", "code": status}}
    ).encode()


class Handler(BaseHTTPRequestHandler):
    """One request: the chat endpoint or a control endpoint."""

    server_version = "llm-stub/1"
    state: State  # set on the class by main()

    def log_message(self, format: str, *args: Any) -> None:
        """Log the request line with --verbose only (never headers)."""
        if self.state.verbose:
            sys.stderr.write("llm_stub: %s\n" % (format % args))

    def send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Send a complete JSON response."""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def read_body(self) -> bytes:
        """The request body (Content-Length bytes)."""
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self) -> None:
        """Control reads and /v1/models."""
        if self.path == "/_stub/requests":
            with self.state.lock:
                data = json.dumps(self.state.requests).encode()
            self.send(200, data)
        elif self.path.rstrip("/").endswith("/models"):
            self.send(200, json.dumps({"object": "list", "data": [{"id": "stub"}]}).encode())
        else:
            self.send(404, error_body(404, "not found"))

    def do_POST(self) -> None:
        """Chat completions and control writes."""
        raw = self.read_body()
        if self.path == "/_stub/mode":
            self.state.script.set(raw.decode())
            self.send(200, b"{}")
        elif self.path == "/_stub/reset":
            with self.state.lock:
                self.state.requests.clear()
            self.send(200, b"{}")
        elif self.path.endswith("/chat/completions"):
            self.chat(raw)
        else:
            self.send(404, error_body(404, "not found"))

    def record(self, raw: bytes) -> tuple[int, str]:
        """Remember a chat request; returns its number and model."""
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        entry = {
            "path": self.path,
            "headers": {k.lower(): v for k, v in self.headers.items()},
            "body": body,
        }
        with self.state.lock:
            self.state.count += 1
            n = self.state.count
            self.state.requests.append(entry)
            if self.state.record:
                with open(self.state.record, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
        model = body.get("model", "stub") if isinstance(body, dict) else "stub"
        return n, str(model)

    def chat(self, raw: bytes) -> None:
        """Answer a chat request as the script says."""
        n, model = self.record(raw)
        step = self.state.script.next()
        name, _, arg = step.partition(":")
        good = json.dumps(GOOD_ADVICE)
        if name == "good":
            self.send(200, envelope(good, model, n))
        elif name == "fenced":
            self.send(200, envelope("```json\n" + good + "\n```", model, n))
        elif name == "prose":
            self.send(200, envelope("Here is my analysis:\n" + good, model, n))
        elif name == "badjson":
            self.send(200, envelope('{"summary": "unterminated', model, n))
        elif name == "badbody":
            self.send(200, b"<html>502 Bad Gateway</html>")
        elif name == "schema":
            bad = dict(GOOD_ADVICE, causes=[])
            self.send(200, envelope(json.dumps(bad), model, n))
        elif name == "long":
            size = int(arg or 100000)
            big = dict(GOOD_ADVICE, summary="x" * size)
            self.send(200, envelope(json.dumps(big), model, n))
        elif name in ("429", "500", "503", "401"):
            status = int(name)
            headers = {"Retry-After": arg} if arg else {}
            self.send(status, error_body(status, f"stub {status}"), headers)
        elif name == "hang":
            time.sleep(float(arg or 30))
        elif name == "slow":
            time.sleep(float(arg or 0) / 1000.0)
            self.send(200, envelope(good, model, n))
        else:
            self.send(500, error_body(500, f"unknown stub mode {name!r}"))


def main() -> int:
    """Serve until SIGTERM."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="good")
    ap.add_argument("--record")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument(
        "--watch-parent",
        action="store_true",
        help="exit when the process that started the stub goes away",
    )
    args = ap.parse_args()

    Handler.state = State(args.mode, args.record, args.verbose)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True  # a hanging answer must not block exit

    def stop(_sig: int, _frame: Any) -> None:
        sys.stdout.flush()
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.watch_parent:
        parent = os.getppid()

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(0)

        threading.Thread(target=watch, daemon=True).start()
    # one write: a reader may close the pipe as soon as it has the line
    os.write(1, f"{server.server_address[1]}\n".encode())
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
