"""Shared fixtures: a real Kafka (ops/kafka/kafka.sh), the stand-in WATS server, helpers.

The Kafka broker is started once per session by the ``kafka`` fixture, only when a test
(marked ``kafka``) asks for it.  A broker that cannot be fetched or started is an error,
never a skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SIM_DIR = REPO / "ops" / "sim"
KAFKA_SH = REPO / "ops" / "kafka" / "kafka.sh"
TOKEN = "dGVzdDp0ZXN0"

if str(SIM_DIR) not in sys.path:
    sys.path.insert(0, str(SIM_DIR))

# Hermetic tests: hook settings from the caller's environment must not leak in
# (SPCSTREAM_CACHE stays: it locates the Kafka jars for kafka.sh).
for _name in [n for n in os.environ if n.startswith("SPCSTREAM_") and n != "SPCSTREAM_CACHE"]:
    del os.environ[_name]


class Broker:
    """A single-node Kafka run by ops/kafka/kafka.sh."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.bootstrap = ""

    def _run(self, *args: str, timeout: float = 240) -> str:
        proc = subprocess.run(
            [str(KAFKA_SH), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kafka.sh {' '.join(args)} failed:\n{proc.stderr}\n{proc.stdout}")
        return proc.stdout

    def _parse(self, out: str) -> None:
        for line in out.splitlines():
            if line.startswith("BOOTSTRAP="):
                self.bootstrap = line.split("=", 1)[1].strip()
        assert self.bootstrap, out

    def start(self) -> None:
        self._parse(self._run("start", str(self.state_dir)))

    def halt(self) -> None:
        self._run("halt", str(self.state_dir))

    def resume(self) -> None:
        self._parse(self._run("resume", str(self.state_dir)))

    def restart(self) -> None:
        self._parse(self._run("restart", str(self.state_dir)))

    def is_running(self) -> bool:
        proc = subprocess.run(
            [str(KAFKA_SH), "status", str(self.state_dir)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        return proc.returncode == 0

    def stop(self) -> None:
        self._run("stop", str(self.state_dir), timeout=120)


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    fetch = subprocess.run(
        [str(KAFKA_SH), "fetch"], capture_output=True, text=True, timeout=1200, check=False
    )
    if fetch.returncode != 0:
        raise RuntimeError(f"kafka.sh fetch failed:\n{fetch.stderr}")
    broker = Broker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic(kafka: Broker) -> str:
    """A fresh topic (3 partitions) for one test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    name = f"t-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(30)
    return name


def consume(
    bootstrap: str, topic: str, count: int, timeout: float = 30.0, settle: float = 1.0
) -> list[Any]:
    """Read ``topic`` from the beginning until ``count`` messages arrived (then ``settle``
    more seconds to catch duplicates) or ``timeout``; return the messages."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    try:
        md = c.list_topics(topic, timeout=10)
        parts = sorted(md.topics[topic].partitions)
        c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < deadline:
            if settle_until is not None and time.monotonic() > settle_until:
                break
            msg = c.poll(0.2)
            if msg is None or msg.error():
                continue
            out.append(msg)
            if len(out) >= count and settle_until is None:
                settle_until = time.monotonic() + settle
        return out
    finally:
        c.close()


def header(msg: Any, name: str) -> bytes | None:
    for k, v in msg.headers() or []:
        if k == name:
            return v
    return None


@pytest.fixture
def wats() -> Iterator[Any]:
    from spcsim.server import StandInWats

    srv = StandInWats().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(autouse=True)
def _no_throttle_and_clean_hook() -> Iterator[None]:
    """pyWATS throttles to 500 requests/min by default; the stand-in server needs none.
    Every test ends with the hook uninstalled."""
    try:
        from pywats.core.throttle import configure_throttling

        configure_throttling(enabled=False)
    except ImportError:
        pass
    yield
    import spcstream_pywats

    spcstream_pywats.uninstall(timeout=5)


@pytest.fixture
def reports() -> Any:
    """Factory: ``reports(n, seed=1, **sim options)`` -> list of pyWATS UUTReport models."""
    from spcsim.generator import SimOptions, Simulator

    def make(n: int, seed: int = 1, **kw: Any) -> list[Any]:
        sim = Simulator(SimOptions(units=n, seed=seed, **kw))
        return [r for _u, r in sim.reports()]

    return make


def subprocess_env(**extra: str) -> dict[str, str]:
    """Environment for child Pythons: ops/sim importable, no inherited hook settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPCSTREAM_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SIM_DIR), env.get("PYTHONPATH")]))
    env.update(extra)
    return env
