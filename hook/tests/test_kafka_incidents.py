"""The incident listener against a real broker."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

import spcstream_pywats
from conftest import TOKEN
from spcstream_pywats.incidents import Incident, IncidentListener

pytestmark = pytest.mark.kafka


def wait_until(cond, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes | None]]) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap})
    for key, value in items:
        p.produce(topic, value=value, key=key)
    assert p.flush(20) == 0


def incident(iid: str, station: str, rev: int = 1, **extra) -> tuple[bytes, bytes]:
    body = {
        "incident_id": iid,
        "revision": rev,
        "state": "open",
        "severity": "high",
        "test_plan": "PCBA-100/10",
        "station": station,
        "title": f"VCC 3V3 shifted low on {station} fixture FX-2B",
        "summary": "…",
        **extra,
    }
    return iid.encode(), json.dumps(body).encode()


def test_listener_filters_station_and_tolerates_junk(kafka, topic) -> None:
    got: list[Incident] = []
    listener = IncidentListener(kafka.bootstrap, topic, stations=["ST-01"], callback=got.append)
    listener.start()
    try:
        assert listener.ready.wait(30)
        produce(
            kafka.bootstrap,
            topic,
            [
                incident("INC-1", "ST-01"),
                incident("INC-2", "ST-02"),
                (b"INC-3", b"\x00\x00\x00\x00\x07\x02avro-binary"),
                (b"INC-4", b"{not json"),
                (b"INC-5", None),
                (b"INC-6", json.dumps({"incident_id": "INC-6", "station": "ST-01"}).encode()),
                incident("INC-1", "ST-01"),  # same revision again: no second alert
                incident("INC-1", "ST-01", rev=2, state="acknowledged"),
            ],
        )
        assert wait_until(lambda: len(got) >= 3)
        time.sleep(0.5)
    finally:
        listener.stop()
    # partitions interleave; per incident (same key, same partition) order is kept
    assert sorted((i.incident_id, i.revision or 0) for i in got) == [
        ("INC-1", 1),
        ("INC-1", 2),
        ("INC-6", 0),
    ]
    inc1 = [i for i in got if i.incident_id == "INC-1"]
    assert [i.revision for i in inc1] == [1, 2]
    assert inc1[0].line().startswith("SPC incident INC-1 rev 1 [high] open PCBA-100/10 @ ST-01:")
    inc6 = next(i for i in got if i.incident_id == "INC-6")
    assert inc6.title is None and inc6.severity is None


def test_hook_learns_station_from_submits(kafka, topic, wats, reports, tmp_path: Path) -> None:
    from pywats import pyWATS

    got: list[Incident] = []
    hook = spcstream_pywats.install(
        bootstrap_servers=kafka.bootstrap,
        topic=f"r-{uuid.uuid4().hex[:8]}",
        incidents_topic=topic,
        spool_dir=tmp_path / "spool",
        on_incident=got.append,
    )
    assert hook.listener is not None and hook.listener.ready.wait(30)
    rep = reports(1)[0]
    pyWATS(base_url=wats.url, token=TOKEN).report.submit(rep)
    produce(
        kafka.bootstrap, topic, [incident("INC-9", rep.station_name), incident("INC-10", "ST-99")]
    )
    assert wait_until(lambda: len(got) == 1)
    time.sleep(0.3)
    assert [i.incident_id for i in got] == ["INC-9"]


def test_default_callback_logs_one_line(caplog) -> None:
    from spcstream_pywats.incidents import log_incident, parse_incident

    inc = parse_incident(incident("INC-7", "ST-01")[1])
    assert inc is not None
    with caplog.at_level("WARNING"):
        log_incident(inc)
    assert "SPC incident INC-7 rev 1 [high] open" in caplog.text
