#!/usr/bin/env python3
"""kafka_probe.py -- stdlib-only helpers for ops/kafka/kafka.sh.

Subcommands:
  free-ports N            print N distinct free TCP ports on 127.0.0.1 (one per line)
  cluster-id              print a random KRaft cluster id (base64url of 16 bytes, no padding)
  ready HOST:PORT [--timeout S] [--pid PID]
                          wait until the broker answers a Metadata request that lists
                          at least one broker and a controller; exit 0 when ready,
                          1 on timeout, 2 when PID died first.

Why a raw protocol probe: a TCP connect succeeds as soon as the socket server binds,
well before a KRaft broker has caught up with the metadata log and been unfenced.
A Metadata (api key 3, v1) response that names a live broker and an active
controller is what clients actually need, and it needs no Kafka client library, so
the C tests can use this script from a bare Debian machine.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import struct
import sys
import time
import uuid


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct ports that are free on 127.0.0.1 right now."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def cluster_id() -> str:
    """Return a random cluster id in the format kafka-storage random-uuid prints."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _metadata_v1(host: str, port: int, timeout: float) -> tuple[int, int]:
    """Send MetadataRequest v1 (no topics) and return (broker_count, controller_id)."""
    client_id = b"spcstream-probe"
    # Request header v1: api_key, api_version, correlation_id, client_id (string).
    header = struct.pack(">hhih", 3, 1, 42, len(client_id)) + client_id
    body = struct.pack(">i", 0)  # topics: empty array => no topic metadata
    payload = header + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(payload)) + payload)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        resp = _recv_exact(sock, size)
    off = 0
    (corr,) = struct.unpack_from(">i", resp, off)
    off += 4
    if corr != 42:
        raise ValueError("unexpected correlation id")
    (nbrokers,) = struct.unpack_from(">i", resp, off)
    off += 4
    for _ in range(max(nbrokers, 0)):
        off += 4  # node_id
        (hlen,) = struct.unpack_from(">h", resp, off)
        off += 2 + hlen
        off += 4  # port
        (rlen,) = struct.unpack_from(">h", resp, off)
        off += 2 + max(rlen, 0)
    (controller,) = struct.unpack_from(">i", resp, off)
    return nbrokers, controller


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait_ready(bootstrap: str, timeout: float, pid: int | None) -> int:
    """Poll the broker until it serves metadata; see module docstring for exit codes."""
    host, _, port_s = bootstrap.rpartition(":")
    port = int(port_s)
    deadline = time.monotonic() + timeout
    delay = 0.05
    last = "no attempt"
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            print(f"kafka_probe: broker process {pid} exited", file=sys.stderr)
            return 2
        try:
            nbrokers, controller = _metadata_v1(host, port, timeout=2.0)
            if nbrokers > 0 and controller >= 0:
                return 0
            last = f"brokers={nbrokers} controller={controller}"
        except (OSError, ValueError, struct.error) as exc:
            last = f"{type(exc).__name__}: {exc}"
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    print(
        f"kafka_probe: {bootstrap} not ready after {timeout:.0f}s ({last})",
        file=sys.stderr,
    )
    return 1


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    fp = sub.add_parser("free-ports")
    fp.add_argument("count", type=int)
    sub.add_parser("cluster-id")
    rd = sub.add_parser("ready")
    rd.add_argument("bootstrap")
    rd.add_argument("--timeout", type=float, default=60.0)
    rd.add_argument("--pid", type=int, default=None)
    args = ap.parse_args(argv)
    if args.cmd == "free-ports":
        print("\n".join(str(p) for p in free_ports(args.count)))
        return 0
    if args.cmd == "cluster-id":
        print(cluster_id())
        return 0
    return wait_ready(args.bootstrap, args.timeout, args.pid)


if __name__ == "__main__":
    sys.exit(main())
