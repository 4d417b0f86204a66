#!/usr/bin/env python3
"""bench_hook.py -- added latency of the spcstream hook on pyWATS ``submit()``.

Measures ``api.report.submit(report)`` wall time with the hook off (pyWATS's original
method) and on, in interleaved blocks (ABBA order, so drift of the machine hits both
sides alike), against the same stand-in WATS server (a separate process) and a real
Kafka broker.  Prints median / p99 per mode, their difference, and the hook's own
in-submit time (serialize + produce + poll, measured inside the wrapper).

Usage (from the repository root, after ``ops/kafka/kafka.sh fetch``)::

    .venv/bin/python benchmarks/hook/bench_hook.py [--n 2000] [--bootstrap HOST:PORT]
        [--broker-down] [--json FILE]

Without ``--bootstrap`` a throw-away broker is started with ops/kafka/kafka.sh.
``--broker-down`` also measures the hook while Kafka is unreachable (spool mode).
Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "ops" / "sim"))

TOKEN = "YmVuY2g6YmVuY2g="


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in [0, 1])."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def start_server() -> tuple[subprocess.Popen[str], str]:
    """Start the stand-in WATS server in its own process (no GIL sharing)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "ops" / "sim"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "spcsim.server", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("WATS="):
        proc.kill()
        raise RuntimeError(f"stand-in server did not start: {line!r}")
    return proc, line.split("=", 1)[1]


def start_kafka(state: Path) -> str:
    """Start a broker with ops/kafka/kafka.sh; return its bootstrap address."""
    sh = REPO / "ops" / "kafka" / "kafka.sh"
    subprocess.run([str(sh), "fetch"], check=True, capture_output=True)
    out = subprocess.run(
        [str(sh), "start", str(state)], check=True, capture_output=True, text=True
    ).stdout
    return next(ln.split("=", 1)[1] for ln in out.splitlines() if ln.startswith("BOOTSTRAP="))


def make_reports(n: int, seed: int) -> list[Any]:
    """Realistic reports (~35 measurements each) from the simulator."""
    from spcsim.generator import SimOptions, Simulator

    sim = Simulator(SimOptions(units=n, seed=seed, stations=4, products=2))
    return [r for _u, r in sim.reports()]


def measure(api: Any, reports: list[Any], gap_s: float = 0.0) -> list[float]:
    """Submit each report once; return per-submit wall times in ms."""
    out = []
    for r in reports:
        if gap_s:
            time.sleep(gap_s)
        r.id = uuid.uuid4()  # a fresh report for the server each time
        t0 = time.perf_counter_ns()
        api.report.submit(r)
        out.append((time.perf_counter_ns() - t0) / 1e6)
    return out


def run_mode(
    api: Any,
    reports: list[Any],
    rounds: int,
    block: int,
    hook_on: Any,
    hook_off: Any,
    gap_s: float = 0.0,
) -> tuple[list[float], list[float]]:
    """Interleave hook-off and hook-on blocks in ABBA order."""
    off: list[float] = []
    on: list[float] = []
    k = 0
    for rnd in range(rounds):
        order = ("off", "on") if rnd % 2 == 0 else ("on", "off")
        for mode in order:
            batch = [reports[(k + i) % len(reports)] for i in range(block)]
            k += block
            if mode == "on":
                hook_on()
                on += measure(api, batch, gap_s)
            else:
                hook_off()
                off += measure(api, batch, gap_s)
    return off, on


def summarize(name: str, off: list[float], on: list[float], hook_stats: Any) -> dict[str, Any]:
    """Print and return the figures of one scenario."""
    res = {
        "scenario": name,
        "n_per_mode": len(on),
        "without_hook_median_ms": statistics.median(off),
        "without_hook_p99_ms": pct(off, 0.99),
        "with_hook_median_ms": statistics.median(on),
        "with_hook_p99_ms": pct(on, 0.99),
        "added_median_ms": statistics.median(on) - statistics.median(off),
        "added_p99_ms": pct(on, 0.99) - pct(off, 0.99),
        "hook_in_submit_median_ms": hook_stats.latency_median_ms,
        "hook_in_submit_p99_ms": hook_stats.latency_p99_ms,
        "hook_in_submit_max_ms": hook_stats.latency_max_ms,
        "published": hook_stats.published,
        "spooled": hook_stats.spooled,
    }
    print(f"\n== {name}: {len(on)} submits per mode ==")
    print(
        f"  submit() without hook : median {res['without_hook_median_ms']:.3f} ms  "
        f"p99 {res['without_hook_p99_ms']:.3f} ms"
    )
    print(
        f"  submit() with hook    : median {res['with_hook_median_ms']:.3f} ms  "
        f"p99 {res['with_hook_p99_ms']:.3f} ms"
    )
    print(
        f"  difference            : median {res['added_median_ms']:+.3f} ms  "
        f"p99 {res['added_p99_ms']:+.3f} ms"
    )
    print(
        f"  hook time in submit   : median {res['hook_in_submit_median_ms']:.3f} ms  "
        f"p99 {res['hook_in_submit_p99_ms']:.3f} ms  max {res['hook_in_submit_max_ms']:.3f} ms"
    )
    return res


def main() -> int:
    """Run the benchmark."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=2000, help="submits per mode (default 2000)")
    ap.add_argument("--block", type=int, default=50, help="submits per interleaved block")
    ap.add_argument("--bootstrap", help="use this broker instead of starting one")
    ap.add_argument("--broker-down", action="store_true", help="also measure with Kafka down")
    ap.add_argument(
        "--gap-ms",
        type=float,
        default=20.0,
        help="pause before each submit in the paced run (default 20 ms; 0 = skip it)",
    )
    ap.add_argument("--json", help="write the figures to this file")
    args = ap.parse_args()

    import logging

    logging.disable(logging.INFO)  # pyWATS logs every submit at INFO

    from pywats import pyWATS
    from pywats.core.throttle import configure_throttling

    import spcstream_pywats
    from spcstream_pywats import patch

    configure_throttling(enabled=False)
    server, url = start_server()
    tmp = Path(tempfile.mkdtemp(prefix="bench-hook-"))
    kafka_state = tmp / "kafka"
    started_kafka = args.bootstrap is None
    results = []
    try:
        bootstrap = args.bootstrap or start_kafka(kafka_state)
        reports = make_reports(400, seed=42)
        size = statistics.median(len(spcstream_pywats.to_wsjf_bytes(r)) for r in reports[:50])
        print(f"reports: ~{size:.0f} bytes WSJF each; server {url}; kafka {bootstrap}")
        api = pyWATS(base_url=url, token=TOKEN)
        rounds = max(2, args.n // args.block)
        scenarios = [("kafka up, back-to-back submits", bootstrap, 0.0)]
        if args.gap_ms > 0:
            scenarios.append(
                (
                    f"kafka up, paced ({args.gap_ms:g} ms between submits)",
                    bootstrap,
                    args.gap_ms / 1e3,
                )
            )
        if args.broker_down:
            scenarios.append(("kafka down (spool), back-to-back", "127.0.0.1:9", 0.0))
        for name, bs, gap in scenarios:
            hook = spcstream_pywats.install(
                bootstrap_servers=bs,
                topic=f"bench-{uuid.uuid4().hex[:8]}",
                spool_dir=tmp / f"spool-{len(results)}",
                incidents=False,
                flush_timeout=2.0,
            )

            def on(h: Any = hook) -> None:
                patch.set_observer(h)
                patch.apply()

            def off() -> None:
                patch.set_observer(None)
                patch.unpatch()

            run_mode(api, reports, 2, args.block, on, off)  # warm-up
            hook.stats.__init__()  # type: ignore[misc]  # reset counters after warm-up
            off_t, on_t = run_mode(api, reports, rounds, args.block, on, off, gap)
            on()
            hook.wait_idle(30)
            results.append(summarize(name, off_t, on_t, hook.snapshot()))
            spcstream_pywats.uninstall(timeout=2.0)
        api.close()
    finally:
        server.terminate()
        server.wait(10)
        if started_kafka and (kafka_state / "kafka.state").exists():
            subprocess.run(
                [str(REPO / "ops/kafka/kafka.sh"), "stop", str(kafka_state)],
                check=False,
                capture_output=True,
            )
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
