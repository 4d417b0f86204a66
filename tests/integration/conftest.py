"""Fixtures for the streaming integration tests: a real Kafka (ops/kafka/kafka.sh) and a
real redis-server (ops/redis/redis.sh) per session, a fleet of reports with known
faults (ops/sim), the expected answers from `spcstream replay`, and a Pipeline helper
that runs `spcstream run` processes against per-test topics, group and Redis prefix.

Environment: SPCSTREAM_BIN (the spcstream binary; CTest sets it).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import kafka_io

KAFKA_SH = REPO / "ops" / "kafka" / "kafka.sh"
REDIS_SH = REPO / "ops" / "redis" / "redis.sh"


def _bin() -> str:
    b = os.environ.get("SPCSTREAM_BIN") or str(REPO / "build" / "consumer" / "spcstream")
    if not os.access(b, os.X_OK):
        raise RuntimeError(f"spcstream binary not found: {b} (set SPCSTREAM_BIN)")
    return b


def _kv(out: str, key: str) -> str:
    for line in out.splitlines():
        if line.startswith(key + "="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError(f"no {key}= in: {out}")


class Service:
    """A service run by one of the ops/ scripts (start/stop/restart/halt/resume)."""

    def __init__(self, script: Path, state: Path, key: str) -> None:
        self.script, self.state, self.key = script, state, key
        self.address = ""

    def run(self, *args: str, timeout: float = 240) -> str:
        p = subprocess.run([str(self.script), *args], capture_output=True, text=True,
                           timeout=timeout, check=False)
        if p.returncode != 0:
            raise RuntimeError(f"{self.script.name} {' '.join(args)}: {p.stderr}{p.stdout}")
        return p.stdout

    def start(self) -> None:
        self.address = _kv(self.run("start", str(self.state)), self.key)

    def stop(self) -> None:
        self.run("stop", str(self.state))


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, Service]]:
    root = Path(tempfile.mkdtemp(prefix="spc-it-"))
    kafka = Service(KAFKA_SH, root / "kafka", "BOOTSTRAP")
    redis = Service(REDIS_SH, root / "redis", "REDIS")
    kafka.start()
    try:
        redis.start()
        os.environ["SPCSTREAM_BOOTSTRAP_SERVERS"] = kafka.address
        yield {"kafka": kafka, "redis": redis}
    finally:
        for s in (redis, kafka):
            try:
                s.stop()
            except RuntimeError as e:  # report, keep stopping the others
                print(f"warning: {e}", file=sys.stderr)
        shutil.rmtree(root, ignore_errors=True)


FLEET_FAULTS = [
    "fixture_contact:fixture=FX-2B,from=700",
    "fw_shift:fw=3.5.0,step=Power/VCC 3V3,sigma=2,from=900",
    "drift:step=Analog/Vref*,from=500,rate=1",
]


@pytest.fixture(scope="session")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """2000 reports with three faults, and what replay makes of them."""
    d = tmp_path_factory.mktemp("fleet")
    reports = d / "reports.jsonl"
    cmd = [sys.executable, "-m", "spcsim", "--units", "2000", "--seed", "23",
           "--output", str(reports), "--truth", str(d / "truth.json"), "-q"]
    for f in FLEET_FAULTS:
        cmd += ["--fault", f]
    env = dict(os.environ, PYTHONPATH=str(REPO / "ops" / "sim"))
    subprocess.run(cmd, check=True, env=env, timeout=300)
    anoms, incs = d / "anomalies.jsonl", d / "incidents.jsonl"
    subprocess.run([_bin(), "replay", "-q", "-i", str(reports), "-o", str(anoms),
                    "--incidents", str(incs)], check=True, timeout=300)
    lines = anoms.read_text().splitlines()
    return {
        "reports": reports,
        "n_reports": sum(1 for _ in reports.open()),
        "anomaly_lines": sorted(lines),
        "anomalies": {json.loads(x)["anomaly_id"]: json.loads(x) for x in lines},
        "incidents": last_revisions(incs.read_text().splitlines()),
    }


def last_revisions(lines: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for line in lines:
        x = json.loads(line)
        out[x["incident_id"]] = x
    return out


class Pipeline:
    """Per-test topics, group and Redis prefix; `spcstream run` processes on them."""

    def __init__(self, services: dict[str, Service], workdir: Path, fmt: str,
                 create_reports: bool = True) -> None:
        tag = uuid.uuid4().hex[:8]
        self.services, self.workdir, self.tag = services, workdir, tag
        self.topics = {n: f"it{tag}.{n}" for n in
                       ("reports", "measurements", "anomalies", "incidents", "actions", "dlq")}
        host, port = services["redis"].address.rsplit(":", 1)
        self.config = {
            "topics": {**self.topics, "measurements_partitions": 4,
                       "anomalies_partitions": 2, "partitions": 1},
            "run": {"group": f"g{tag}", "checkpoint_interval_ms": 500,
                    "stats_interval_ms": 2000, "output_format": fmt,
                    "shutdown_timeout_ms": 20000},
            "redis": {"host": host, "port": int(port), "prefix": f"ck{tag}:"},
        }
        self.config_path = workdir / f"config-{tag}.json"
        self.config_path.write_text(json.dumps(self.config))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        if create_reports:
            kafka_io.create(self.topics["reports"], 1)

    def set_run(self, **kw: Any) -> None:
        """Change "run" options of the config before start()."""
        self.config["run"].update(kw)
        self.config_path.write_text(json.dumps(self.config))

    def start(self, name: str = "a", *extra: str, env: dict[str, str] | None = None) -> None:
        log = self.workdir / f"run-{self.tag}-{name}.log"
        self.logs[name] = log
        f = log.open("ab")
        self.procs[name] = subprocess.Popen(
            [_bin(), "run", "-c", str(self.config_path), "--instance", f"{self.tag}-{name}",
             *extra], stdout=f, stderr=subprocess.STDOUT,
            env=dict(os.environ, **(env or {})))

    def kill(self, name: str = "a") -> None:
        p = self.procs.pop(name)
        p.send_signal(signal.SIGKILL)
        p.wait(10)

    def stop(self, name: str = "a", timeout: float = 60) -> float:
        """SIGTERM; @returns the seconds it took; asserts a clean exit 0."""
        p = self.procs.pop(name)
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout)
        took = time.monotonic() - t0
        assert rc == 0, f"{name} exited {rc}:\n{self.log(name)}"
        return took

    def stop_all(self) -> None:
        for n in list(self.procs):
            p = self.procs.pop(n)
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)

    def log(self, name: str = "a") -> str:
        return self.logs[name].read_text(errors="replace")[-6000:]

    def produce(self, path: Path, start: int = 0, count: int | None = None,
                rate: float = 0.0) -> int:
        return kafka_io.produce(str(path), self.topics["reports"], start, count, rate)

    def read(self, topic: str, raw: bool = False, idle: float = 3.0,
             expect: int | None = None, timeout: float = 120) -> list[Any]:
        out = self.workdir / f"read-{self.tag}-{topic}.jsonl"
        kafka_io.consume(self.topics[topic], str(out), idle, expect, timeout, raw)
        return [json.loads(x) for x in out.read_text().splitlines()]

    def wait_anomalies(self, n: int, timeout: float = 180) -> None:
        """Until spc.anomalies holds at least @p n distinct anomalies (not ticks)."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for name, p in self.procs.items():
                assert p.poll() is None, f"{name} died:\n{self.log(name)}"
            recs = self.read("anomalies", raw=True, idle=1.0, timeout=20)
            seen = len({r["headers"].get("anomaly-id") for r in recs})
            if seen >= n:
                return
            time.sleep(1.0)
        raise AssertionError(f"{seen} of {n} anomalies after {timeout}s:\n"
                             + "\n".join(self.log(x) for x in self.logs))


@pytest.fixture
def pipeline_factory(services: dict[str, Service], tmp_path: Path) -> Iterator[Any]:
    made: list[Pipeline] = []

    def make(fmt: str = "avro") -> Pipeline:
        p = Pipeline(services, tmp_path, fmt)
        made.append(p)
        return p

    yield make
    for p in made:
        p.stop_all()
