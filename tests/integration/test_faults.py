"""Fault injection with librdkafka's mock cluster (tests/integration/mock_cluster.c):
request errors, partition leader changes and a broker down, on demand, while
`spcstream run` processes the fleet.  The anomalies must be exactly replay's.

The 2.0.2 mock cluster does not enforce transactions (aborted records stay visible)
and keeps ~5 MiB per partition, so transactional behaviour and long streams are tested
on the real broker (test_pipeline.py); here the faults are what matters.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import Pipeline, Service
from test_pipeline import assert_anomalies

TOPICS = {"reports": 1, "measurements": 4, "anomalies": 2, "incidents": 1, "actions": 2,
          "dlq": 1}


class MockCluster:
    """The mock cluster process: commands on stdin, answers on stdout."""

    def __init__(self, brokers: int = 3) -> None:
        default = Path(__file__).resolve().parents[2] / "build" / "tests" / "spc_mock_cluster"
        exe = Path(os.environ.get("SPC_MOCK_CLUSTER") or default)
        if not exe.exists():
            pytest.fail(f"mock cluster helper not built: {exe} (set SPC_MOCK_CLUSTER)")
        self.proc = subprocess.Popen([str(exe), str(brokers)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        assert line.startswith("BOOTSTRAP="), line
        self.bootstrap = line.split("=", 1)[1]

    def cmd(self, line: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        assert answer == "ok", f"{line}: {answer}"

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write("quit\n")
            self.proc.stdin.close()
            self.proc.wait(20)


def test_mock_cluster_faults(services: dict[str, Service], fleet: dict[str, Any],
                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Produce and fetch errors, leader moves of every partition and a broker down for
    a few seconds, each in a different third of the stream: the daemon rides them out
    (retries, backoff) and the anomalies are exactly replay's, none lost or changed."""
    mc = MockCluster(3)
    p: Pipeline | None = None
    try:
        monkeypatch.setenv("SPCSTREAM_BOOTSTRAP_SERVERS", mc.bootstrap)
        p = Pipeline(services, tmp_path, "json", create_reports=False)
        for name, parts in TOPICS.items():  # the 2.0.2 mock has no CreateTopics
            mc.cmd(f"topic {p.topics[name]} {parts} 3")
        p.set_run(create_topics=False)
        p.start()
        n = fleet["n_reports"]
        third = n // 3
        p.produce(fleet["reports"], 0, third)
        time.sleep(2)
        # 1. transient request errors on the produce and fetch paths
        mc.cmd("errors Produce 6 NOT_LEADER_FOR_PARTITION")
        mc.cmd("errors Produce 4 REQUEST_TIMED_OUT")
        mc.cmd("errors Fetch 6 NOT_LEADER_FOR_PARTITION")
        p.produce(fleet["reports"], third, third)
        time.sleep(2)
        # 2. every partition's leader moves to another broker
        for name, parts in TOPICS.items():
            for part in range(parts):
                mc.cmd(f"leader {p.topics[name]} {part} {1 + (part + 1) % 3}")
        time.sleep(1)
        # 3. a broker down for a while (the leader of the reports partition among
        # others), then back, while the last third is being produced
        mc.cmd("down 2")
        producer = threading.Thread(target=p.produce, args=(fleet["reports"], 2 * third))
        producer.start()
        time.sleep(6)
        mc.cmd("up 2")
        producer.join(120)
        assert not producer.is_alive()
        p.wait_anomalies(len(fleet["anomalies"]), timeout=240)
        log = p.log()
        p.stop()
        # the faults reached the daemon (not a test of an idle cluster)
        assert "Disconnected" in log or "Connection refused" in log, log
        assert_anomalies(p, fleet)
    finally:
        if p is not None:
            p.stop_all()
        mc.close()
