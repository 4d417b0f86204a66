"""Broker outages: submit stays prompt, nothing is lost, nothing duplicated."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

import spcstream_pywats
from conftest import TOKEN, consume, header, subprocess_env

pytestmark = pytest.mark.kafka


def wait_until(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_broker_down_mid_stream_then_back(kafka, topic, wats, reports, tmp_path: Path) -> None:
    from pywats import pyWATS

    hook = spcstream_pywats.install(
        bootstrap_servers=kafka.bootstrap,
        topic=topic,
        spool_dir=tmp_path / "spool",
        incidents=False,
    )
    api = pyWATS(base_url=wats.url, token=TOKEN)
    reps = reports(30, stations=2)
    for r in reps[:5]:
        api.report.submit(r)
    assert hook.wait_idle(30)

    kafka.halt()
    try:
        durations = []
        for r in reps[5:15]:  # may still go to librdkafka's queue (delivered or spooled later)
            t0 = time.perf_counter()
            assert api.report.submit(r) == str(r.id)
            durations.append(time.perf_counter() - t0)
        assert wait_until(lambda: hook.publisher.spool_mode), "outage detected"
        for r in reps[15:25]:  # spool mode: straight to disk
            t0 = time.perf_counter()
            assert api.report.submit(r) == str(r.id)
            durations.append(time.perf_counter() - t0)
        assert max(durations) < 2.0, durations  # prompt: no waiting for Kafka
        assert wait_until(lambda: hook.snapshot().spooled >= 10), hook.snapshot().summary()
        assert len(list((tmp_path / "spool").glob("*.rec"))) >= 10, "outage reports on disk"
    finally:
        kafka.resume()

    for r in reps[25:]:
        api.report.submit(r)
    assert hook.wait_idle(90), hook.snapshot().summary()
    assert not list((tmp_path / "spool").glob("*.rec"))
    msgs = consume(kafka.bootstrap, topic, len(reps), settle=2.0)
    ids = [header(m, "report-id").decode() for m in msgs]
    assert len(ids) == len(set(ids)) == len(reps), "each report exactly once"
    assert set(ids) == {str(r.id) for r in reps}
    received = {json.loads(b)["id"]: b for b in wats.received}
    assert all(m.value() == received[header(m, "report-id").decode()] for m in msgs)
    snap = hook.snapshot()
    assert snap.lost == 0 and snap.errors == 0
    # per station, Kafka order == submit order (the spool is resent oldest first)
    for station in {r.station_name for r in reps}:
        want = [str(r.id) for r in reps if r.station_name == station]
        got = [
            header(m, "report-id").decode()
            for m in sorted(msgs, key=lambda m: m.offset())
            if m.key() == station.encode()
        ]
        assert got == want


STATION_SCRIPT = """
import sys
from pywats import pyWATS
from pywats.core.throttle import configure_throttling
from spcsim.generator import SimOptions, Simulator

configure_throttling(enabled=False)
url, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
api = pyWATS(base_url=url, token="dGVzdDp0ZXN0")
for _unit, report in Simulator(SimOptions(units=n, seed=seed, stations=2)).reports():
    assert api.report.submit(report)
"""


def test_outage_across_process_exit_is_resent_later(kafka, topic, wats, tmp_path: Path) -> None:
    script = tmp_path / "station.py"
    script.write_text(STATION_SCRIPT)
    env = subprocess_env(
        SPCSTREAM_BOOTSTRAP_SERVERS=kafka.bootstrap,
        SPCSTREAM_TOPIC=topic,
        SPCSTREAM_SPOOL_DIR=str(tmp_path / "spool"),
        SPCSTREAM_INCIDENTS="0",
        SPCSTREAM_FLUSH_TIMEOUT="2",
    )
    kafka.halt()
    try:
        t0 = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(script), wats.url, "8", "11"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr
        assert time.monotonic() - t0 < 30
        assert len(list((tmp_path / "spool").glob("*.rec"))) == 8
    finally:
        kafka.resume()
    drain = subprocess.run(
        [sys.executable, "-m", "spcstream_pywats", "drain", "--timeout", "60"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert drain.returncode == 0, drain.stderr + drain.stdout
    assert "resent 8" in drain.stdout
    msgs = consume(kafka.bootstrap, topic, 8, settle=1.5)
    ids = [header(m, "report-id").decode() for m in msgs]
    assert len(ids) == len(set(ids)) == 8
    received = {json.loads(b)["id"]: b for b in wats.received}
    assert set(ids) == set(received)
    assert all(m.value() == received[header(m, "report-id").decode()] for m in msgs)
