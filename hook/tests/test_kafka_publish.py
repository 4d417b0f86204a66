"""Accepted reports reach Kafka byte-for-byte (real pyWATS, real broker)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import spcstream_pywats
from conftest import TOKEN, consume, header

pytestmark = pytest.mark.kafka


def install(kafka, topic: str, tmp_path: Path, **kw: Any):
    return spcstream_pywats.install(
        bootstrap_servers=kafka.bootstrap,
        topic=topic,
        spool_dir=tmp_path / "spool",
        incidents=False,
        **kw,
    )


def check_messages(msgs: list[Any], wats: Any, expect_ids: list[str]) -> None:
    received = {json.loads(b)["id"]: b for b in wats.received}
    got = [header(m, "report-id").decode() for m in msgs]
    assert sorted(got) == sorted(expect_ids), "each report exactly once"
    for m in msgs:
        rid = header(m, "report-id").decode()
        assert m.value() == received[rid], "value is the submitted WSJF, byte for byte"
        assert m.key() == json.loads(received[rid])["machineName"].encode("utf-8")
        assert header(m, "content-type") == b"application/json"
        assert header(m, "hook-version") == spcstream_pywats.__version__.encode()


@pytest.mark.parametrize("predump", [True, False])
def test_sync_submit_reaches_kafka_byte_for_byte(
    kafka, topic, wats, reports, tmp_path, predump
) -> None:
    from pywats import pyWATS

    hook = install(kafka, topic, tmp_path, predump=predump)
    api = pyWATS(base_url=wats.url, token=TOKEN)
    reps = reports(12, stations=3)
    for r in reps:
        assert api.report.submit(r) == str(r.id)
    assert hook.wait_idle(30)
    msgs = consume(kafka.bootstrap, topic, len(reps))
    check_messages(msgs, wats, [str(r.id) for r in reps])
    # a station's reports share a partition, in submit order
    by_station: dict[bytes, list[Any]] = {}
    for m in sorted(msgs, key=lambda m: (m.partition(), m.offset())):
        by_station.setdefault(m.key(), []).append(m)
    submitted = {}
    for r in reps:
        submitted.setdefault(r.station_name.encode(), []).append(str(r.id))
    for key, ms in by_station.items():
        assert len({m.partition() for m in ms}) == 1
        assert [header(m, "report-id").decode() for m in ms] == submitted[key]
    snap = hook.snapshot()
    assert snap.published == snap.delivered == 12 and snap.spooled == 0


def test_async_and_dict_submit_reach_kafka(kafka, topic, wats, reports, tmp_path) -> None:
    from pywats import AsyncWATS

    hook = install(kafka, topic, tmp_path)
    reps = reports(4, seed=7)
    dict_rep = reps[3].model_dump(mode="json", by_alias=True, exclude_none=True)
    dict_rep["machineName"] = "ST-Ünicode"

    async def run() -> None:
        async with AsyncWATS(base_url=wats.url, token=TOKEN, enable_throttling=False) as api:
            for r in reps[:3]:
                assert await api.report.submit_report(r)
            assert await api.report.submit(dict_rep)

    asyncio.run(run())
    assert hook.wait_idle(30)
    msgs = consume(kafka.bootstrap, topic, 4)
    check_messages(msgs, wats, [str(r.id) for r in reps])
    assert b"ST-\xc3\x9cnicode" in {m.key() for m in msgs}


def test_repair_reports_never_published(kafka, topic, wats, reports, tmp_path) -> None:
    from pywats import pyWATS
    from pywats.domains.report.report_models import UURReport

    hook = install(kafka, topic, tmp_path)
    api = pyWATS(base_url=wats.url, token=TOKEN)
    uut = reports(1)[0]
    uur = UURReport(
        pn="PCBA-100",
        sn=uut.sn,
        rev="C",
        process_code=500,
        station_name="RW-01",
        location="L",
        purpose="Repair",
        type="R",
    )
    assert api.report.submit(uur)
    assert api.report.submit(uut)
    assert hook.wait_idle(30)
    msgs = consume(kafka.bootstrap, topic, 1, settle=1.5)
    assert [header(m, "report-id").decode() for m in msgs] == [str(uut.id)]
    assert hook.snapshot().skipped_repair == 1


def test_rejected_submit_not_published(kafka, topic, wats, reports, tmp_path) -> None:
    from pywats import pyWATS

    hook = install(kafka, topic, tmp_path)
    api = pyWATS(base_url=wats.url, token=TOKEN)
    bad, good = reports(2)
    wats.reject_next = 1
    with pytest.raises(ValueError):
        api.report.submit(bad)
    api.report.submit(good)
    assert hook.wait_idle(30)
    msgs = consume(kafka.bootstrap, topic, 1, settle=1.5)
    assert [header(m, "report-id").decode() for m in msgs] == [str(good.id)]
