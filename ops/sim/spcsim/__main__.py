"""``python -m spcsim``: drive a simulated test fleet.

Outputs (combine freely):
  --output FILE|-      WSJF reports as JSON Lines, serialized exactly as pyWATS submits them
  --submit URL         submit every report through the real pyWATS client to a WATS server
                       (the spcstream hook, if active, publishes it to Kafka)
  --serve              start the stand-in WATS server in-process and submit to it
  --truth FILE         ground-truth manifest (faults, affected step keys, onsets)

With ``SPCSTREAM_BOOTSTRAP_SERVERS`` set (or ``--kafka``), the hook publishes every
accepted report to Kafka; its statistics are printed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from .faults import FaultSpecError, parse_fault
from .generator import DEFAULT_FIRMWARE, DEFAULT_START, SimOptions, Simulator, Unit

logger = logging.getLogger("spcsim")
DEFAULT_TOKEN = "c3BjLXNpbTpzcGMtc2lt"  # base64("spc-sim:spc-sim"), stand-in server only


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m spcsim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Fault syntax: see `python -m spcsim --help-faults`.",
    )
    g = ap.add_argument_group("fleet")
    g.add_argument("--stations", type=int, default=4, help="number of stations (default 4)")
    g.add_argument("--fixtures-per-station", type=int, default=2, help="fixtures per station")
    g.add_argument("--products", type=int, default=2, help="1..3 products (PCBA-100/200/300)")
    g.add_argument("--units", type=int, default=500, help="total units (reports) to produce")
    g.add_argument("--seed", type=int, default=1, help="random seed (same seed => same reports)")
    g.add_argument(
        "--start", default=DEFAULT_START, help=f"base start time (default {DEFAULT_START})"
    )
    g.add_argument(
        "--firmware",
        default=",".join(DEFAULT_FIRMWARE),
        help="comma-separated firmware versions drawn per unit",
    )
    g.add_argument("--nan-rate", type=float, default=0.0005, help='share of "NaN" readings')
    g.add_argument("--fault", action="append", default=[], metavar="SPEC", help="inject a fault")
    g.add_argument("--help-faults", action="store_true", help="describe the fault syntax")
    g.add_argument("--list-steps", action="store_true", help="print the step keys and exit")
    o = ap.add_argument_group("outputs")
    o.add_argument("--output", metavar="FILE|-", help="write WSJF JSON Lines")
    o.add_argument("--truth", metavar="FILE", help="write the ground-truth manifest (JSON)")
    o.add_argument("--submit", metavar="URL", help="submit through pyWATS to this WATS server")
    o.add_argument(
        "--serve", action="store_true", help="run the stand-in WATS server and submit to it"
    )
    o.add_argument("--serve-record", metavar="FILE", help="stand-in server: append received bodies")
    o.add_argument("--token", default=DEFAULT_TOKEN, help="pyWATS token for --submit")
    o.add_argument("--async", dest="use_async", action="store_true", help="submit with AsyncWATS")
    o.add_argument(
        "--rate", type=float, default=0.0, help="submits per second (0 = as fast as possible)"
    )
    o.add_argument("--kafka", metavar="BOOTSTRAP", help="install the spcstream hook explicitly")
    o.add_argument("--topic", default=None, help="hook topic (default wats.reports)")
    o.add_argument("-q", "--quiet", action="store_true", help="less logging")
    return ap


def _open_out(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdout.buffer
    return open(path, "wb")


def _serializer() -> Any:
    try:
        from spcstream_pywats.wsjf import to_wsjf_bytes

        return to_wsjf_bytes
    except ImportError:  # same rules as httpx 0.28 (see spcstream_pywats.wsjf)

        def _dump(report: Any) -> bytes:
            data = report.model_dump(mode="json", by_alias=True, exclude_none=True)
            return json.dumps(
                data, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            ).encode()

        return _dump


def _pace(rate: float, t0: float, n: int) -> None:
    if rate > 0:
        delay = t0 + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)


def _submit_sync(
    url: str, token: str, items: Iterator[tuple[Unit, Any]], rate: float
) -> tuple[int, int]:
    from pywats import pyWATS

    api = pyWATS(base_url=url, token=token, timeout=30)  # type: ignore[call-arg]  # stub lacks it
    ok = failed = 0
    t0 = time.monotonic()
    for n, (unit, report) in enumerate(items):
        _pace(rate, t0, n)
        try:
            if api.report.submit(report):
                ok += 1
            else:
                failed += 1
        except Exception as exc:
            failed += 1
            logger.error("submit of %s failed: %s", unit.serial, exc)
    api.close()
    return ok, failed


def _submit_async(
    url: str, token: str, items: Iterator[tuple[Unit, Any]], rate: float
) -> tuple[int, int]:
    from pywats import AsyncWATS

    async def run() -> tuple[int, int]:
        ok = failed = 0
        t0 = time.monotonic()
        async with AsyncWATS(base_url=url, token=token, timeout=30, enable_throttling=False) as api:
            for n, (unit, report) in enumerate(items):
                if rate > 0:
                    delay = t0 + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                try:
                    if await api.report.submit_report(report):
                        ok += 1
                    else:
                        failed += 1
                except Exception as exc:
                    failed += 1
                    logger.error("submit of %s failed: %s", unit.serial, exc)
        return ok, failed

    return asyncio.run(run())


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("pywats").setLevel(logging.WARNING)
    if args.help_faults:
        from . import faults

        print(faults.__doc__)
        return 0
    try:
        for i, spec in enumerate(args.fault):
            parse_fault(spec, i)
        opts = SimOptions(
            stations=args.stations,
            fixtures_per_station=args.fixtures_per_station,
            products=args.products,
            units=args.units,
            seed=args.seed,
            start=args.start,
            faults=tuple(args.fault),
            firmware=tuple(v.strip() for v in args.firmware.split(",") if v.strip()),
            nan_rate=args.nan_rate,
        )
        sim = Simulator(opts)
    except (ValueError, FaultSpecError) as exc:
        print(f"spcsim: {exc}", file=sys.stderr)
        return 2
    if args.list_steps:
        for st in sim.truth()["steps"]:
            print(st["key"])
        return 0

    server = None
    url = args.submit
    if args.serve:
        from .server import StandInWats

        server = StandInWats(record=args.serve_record).start()
        url = url or server.url
        logger.info("stand-in WATS server on %s", server.url)
    if url:
        from pywats.core.throttle import configure_throttling

        configure_throttling(enabled=False)  # a stand-in server needs no client-side throttle
    if args.kafka:
        import spcstream_pywats

        spcstream_pywats.install(bootstrap_servers=args.kafka, topic=args.topic)

    out = _open_out(args.output) if args.output else None
    serialize = _serializer() if out is not None else None
    produced = 0

    def items() -> Iterator[tuple[Unit, Any]]:
        nonlocal produced
        for unit, report in sim.reports():
            if out is not None and serialize is not None:
                out.write(serialize(report) + b"\n")
            produced += 1
            if produced % 1000 == 0:
                logger.info("%d units", produced)
            yield unit, report

    t0 = time.monotonic()
    ok = failed = 0
    try:
        if url:
            submit = _submit_async if args.use_async else _submit_sync
            ok, failed = submit(url, args.token, items(), args.rate)
        else:
            for _ in items():
                pass
    finally:
        if out is not None and out is not sys.stdout.buffer:
            out.close()
        elif out is not None:
            out.flush()
    elapsed = time.monotonic() - t0
    if args.truth:
        Path(args.truth).write_text(json.dumps(sim.truth(), indent=2) + "\n", encoding="utf-8")
    msg = f"spcsim: {produced} reports in {elapsed:.1f} s"
    if url:
        msg += f"; submitted {ok}, failed {failed} to {url}"
    try:
        import spcstream_pywats

        hook = spcstream_pywats.get_hook()
        if hook is not None:
            hook.wait_idle(30)
            msg += f"\nspcstream hook: {hook.snapshot().summary()}"
    except ImportError:
        pass
    print(msg, file=sys.stderr)
    if server is not None:
        server.stop()
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
