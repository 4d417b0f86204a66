"""``python -m spcstream_pywats`` (or ``spcstream-pywats``): operate the hook's spool.

Commands:
  status   show the spool (entries, bytes, lost report ids)
  drain    resend the spool to Kafka now and exit (e.g. after an outage, when no station
           script is running); exit code 0 when the spool is empty
  listen   print incidents for a station (``--station``) until Ctrl-C

Connection settings come from the same ``SPCSTREAM_*`` variables as the hook, or the
options below.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .config import HookConfig


def _config(args: argparse.Namespace) -> HookConfig:
    return HookConfig.from_env(
        bootstrap_servers=args.bootstrap_servers,
        topic=getattr(args, "topic", None),
        spool_dir=args.spool_dir,
        incidents=False,
    )


def _status(args: argparse.Namespace) -> int:
    from .spool import LOST_LOG, Spool

    bootstrap = args.bootstrap_servers or "unused:0"
    cfg = HookConfig.from_env(bootstrap_servers=bootstrap, spool_dir=args.spool_dir)
    sp = Spool(cfg.spool_dir, cfg.spool_max_bytes, cfg.spool_max_files)
    files, size = sp.rescan()
    print(f"spool {cfg.spool_dir}: {files} report(s), {size} bytes")
    lost = cfg.spool_dir / LOST_LOG
    if lost.exists():
        lines = lost.read_text(encoding="utf-8").splitlines()
        print(f"lost: {len(lines)} report id(s) in {lost} (re-export them from WATS)")
    return 0


def _drain(args: argparse.Namespace) -> int:
    from .publisher import Publisher

    cfg = _config(args)
    pub = Publisher(cfg)
    try:
        ok = pub.wait_idle(args.timeout)
    finally:
        pub.close(timeout=5.0)
    files, _ = pub.spool.usage()
    snap = pub.stats.snapshot(pub.spool.usage())
    print(f"resent {snap.resent} report(s); {files} left in {cfg.spool_dir}")
    return 0 if ok and files == 0 else 1


def _listen(args: argparse.Namespace) -> int:
    from .incidents import Incident, IncidentListener

    cfg = _config(args)
    stop = threading.Event()

    def show(inc: Incident) -> None:
        print(inc.line(), flush=True)

    listener = IncidentListener(
        cfg.bootstrap_servers,
        args.incidents_topic or cfg.incidents_topic,
        stations=args.station,
        callback=show,
        kafka=cfg.kafka,
        start=args.start,
    )
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    listener.start()
    stop.wait()
    listener.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(
        prog="python -m spcstream_pywats",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--bootstrap-servers", help="default: $SPCSTREAM_BOOTSTRAP_SERVERS")
    ap.add_argument("--spool-dir", help="default: $SPCSTREAM_SPOOL_DIR or the per-user cache")
    ap.add_argument("-v", "--verbose", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("status", help="show the spool")
    dr = sub.add_parser("drain", help="resend the spool now")
    dr.add_argument("--topic", help="default: $SPCSTREAM_TOPIC or wats.reports")
    dr.add_argument("--timeout", type=float, default=60.0, help="seconds to wait (default 60)")
    li = sub.add_parser("listen", help="print incidents for stations")
    li.add_argument("--station", action="append", required=True, help="machine name (repeatable)")
    li.add_argument("--incidents-topic", help="default: spc.incidents")
    li.add_argument("--start", choices=("latest", "earliest"), default="latest")
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    logging.getLogger("spcstream_pywats.rdkafka").setLevel(logging.WARNING)
    try:
        handler = {"status": _status, "drain": _drain, "listen": _listen}[args.cmd]
        return handler(args)
    except ValueError as exc:
        print(f"spcstream-pywats: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
