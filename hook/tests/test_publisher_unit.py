"""Ownership rules of the publisher, with a scripted producer (no broker needed)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from fakes import FakeProducer
from spcstream_pywats.config import HookConfig
from spcstream_pywats.publisher import Publisher
from spcstream_pywats.spool import Record


def wait_until(cond: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def rec(i: int) -> Record:
    return Record(
        topic="t",
        value=f'{{"n":{i}}}'.encode(),
        key=b"ST-01",
        headers=[("report-id", f"id-{i}".encode())],
        report_id=f"id-{i}",
    )


def ids(produced: list) -> list[str]:
    return [dict(p.headers)["report-id"].decode() for p in produced]


@pytest.fixture
def make(tmp_path: Path):
    made: list[tuple[Publisher, FakeProducer]] = []

    def factory(spool_dir: Path | None = None, **cfg) -> tuple[Publisher, FakeProducer]:
        holder: dict[str, FakeProducer] = {}

        def new(conf):
            holder["p"] = FakeProducer(dict(conf))
            return holder["p"]

        config = HookConfig(
            bootstrap_servers="fake:1",
            topic="t",
            spool_dir=spool_dir or tmp_path / "spool",
            incidents=False,
            **cfg,
        )
        pub = Publisher(config, producer_factory=new)
        made.append((pub, holder["p"]))
        return pub, holder["p"]

    yield factory
    for pub, _ in made:
        pub.close(0.5)


def test_producer_config_contract(make) -> None:
    _pub, prod = make()
    c = prod.conf
    assert c["enable.idempotence"] is True
    assert c["acks"] == "all"
    assert c["compression.type"] in ("lz4", "zstd")
    assert 0 < c["linger.ms"] <= 10
    assert c["bootstrap.servers"] == "fake:1"


def test_direct_delivery_never_touches_the_spool(make) -> None:
    pub, prod = make()
    for i in range(3):
        pub.publish(rec(i))
    assert wait_until(lambda: len(prod.delivered) == 3)
    assert pub.stats.get("delivered") == 3
    assert pub.spool.pending() == [] and not pub.spool_mode


def test_failed_delivery_goes_to_spool_and_is_resent_once(make) -> None:
    pub, prod = make()
    prod.mode = "fail"
    pub.publish(rec(1))
    assert wait_until(lambda: pub.stats.get("spooled") == 1)
    prod.mode = "ok"
    assert wait_until(lambda: pub.stats.get("resent") == 1)
    assert ids(prod.delivered) == ["id-1"]
    assert wait_until(lambda: not pub.spool_mode)
    assert pub.spool.pending() == []


def test_queue_full_spools_and_keeps_submit_order(make) -> None:
    pub, prod = make()
    prod.mode = "full"
    for i in range(5):
        pub.publish(rec(i))
    assert wait_until(lambda: pub.stats.get("spooled") == 5)
    assert pub.spool_mode
    prod.mode = "ok"
    for i in range(5, 8):  # still spool mode: these queue up behind the spooled ones
        pub.publish(rec(i))
    assert wait_until(lambda: len(prod.delivered) == 8)
    assert ids(prod.delivered) == [f"id-{i}" for i in range(8)]
    assert wait_until(lambda: not pub.spool_mode)


def test_no_resend_while_broker_unreachable(make) -> None:
    pub, prod = make()
    prod.down = True
    pub._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
    assert wait_until(lambda: pub.spool_mode)  # after a failed probe
    for i in range(3):
        pub.publish(rec(i))
    assert wait_until(lambda: pub.stats.get("spooled") == 3)
    time.sleep(0.3)
    assert prod.produced == [] and len(pub.spool.pending()) == 3
    prod.down = False
    pub._next_drain = 0  # skip the backoff wait
    assert wait_until(lambda: len(prod.delivered) == 3)
    assert ids(prod.delivered) == ["id-0", "id-1", "id-2"]


def test_spool_entry_deleted_only_after_confirmation(make) -> None:
    pub, prod = make()
    prod.mode = "full"
    pub.publish(rec(1))
    assert wait_until(lambda: pub.stats.get("spooled") == 1)
    prod.mode = "hold"
    assert wait_until(lambda: len(prod.produced) == 1)  # resend in flight
    assert len(pub.spool.pending()) == 1
    prod.release(KafkaError(KafkaError._MSG_TIMED_OUT))  # failed: file stays
    time.sleep(0.2)
    assert len(pub.spool.pending()) == 1 and pub.stats.get("resent") == 0
    pub._next_drain = 0
    assert wait_until(lambda: len(prod.produced) == 2)
    prod.release(None)
    assert wait_until(lambda: pub.stats.get("resent") == 1)
    assert pub.spool.pending() == []


def test_permanent_error_counted_lost(make, tmp_path: Path) -> None:
    pub, prod = make()
    prod.mode = "too_large"
    pub.publish(rec(9))
    assert wait_until(lambda: pub.stats.get("lost") == 1)
    assert pub.spool.pending() == []
    assert "id-9" in (tmp_path / "spool" / "lost.log").read_text()


def test_full_spool_refuses_and_counts_lost(make, tmp_path: Path) -> None:
    pub, prod = make(spool_max_files=2)
    prod.mode = "full"
    for i in range(4):
        pub.publish(rec(i))
    assert wait_until(lambda: pub.stats.get("spooled") + pub.stats.get("lost") == 4)
    assert pub.stats.get("spooled") == 2 and pub.stats.get("lost") == 2
    lost = (tmp_path / "spool" / "lost.log").read_text()
    assert "id-2" in lost and "id-3" in lost


def test_close_spools_undelivered_and_next_session_resends(make, tmp_path: Path) -> None:
    pub, prod = make()
    prod.mode = "hold"  # broker never answers
    for i in range(3):
        pub.publish(rec(i))
    pub.close(0.2)
    assert prod.purged == 3
    assert len(pub.spool.pending()) == 3
    pub.publish(rec(3))  # a late submit after close goes straight to the spool
    assert len(pub.spool.pending()) == 4
    pub2, prod2 = make()
    assert pub2.spool_mode  # found work from the earlier session
    assert wait_until(lambda: len(prod2.delivered) == 4)
    assert ids(prod2.delivered) == ["id-0", "id-1", "id-2", "id-3"]


def test_publish_never_raises_on_produce_errors(make) -> None:
    pub, prod = make()

    def boom(*a, **k):
        raise RuntimeError("librdkafka exploded")

    prod.produce = boom  # type: ignore[method-assign]
    pub.publish(rec(1))
    assert wait_until(lambda: pub.stats.get("spooled") == 1)


def test_all_brokers_down_with_healthy_probe_is_not_an_outage(make, caplog) -> None:
    """An idle connection closed by the broker raises _ALL_BROKERS_DOWN too."""
    pub, prod = make()
    with caplog.at_level("WARNING"):
        pub._on_error(KafkaError(KafkaError._ALL_BROKERS_DOWN))
        time.sleep(0.5)
    assert not pub.spool_mode
    assert "unreachable" not in caplog.text
    pub.publish(rec(1))
    assert wait_until(lambda: len(prod.delivered) == 1)
