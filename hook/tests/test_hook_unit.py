"""Hook behaviour that needs pyWATS but no broker (Kafka address is a closed port)."""

from __future__ import annotations

import time
from pathlib import Path

import spcstream_pywats
from conftest import TOKEN


def _install(tmp_path: Path, **kw):
    return spcstream_pywats.install(
        bootstrap_servers="127.0.0.1:9",
        spool_dir=tmp_path / "spool",
        incidents=False,
        flush_timeout=0.2,
        **kw,
    )


def test_install_is_idempotent_and_reconfigurable(tmp_path: Path) -> None:
    h1 = _install(tmp_path)
    assert _install(tmp_path) is h1
    h2 = _install(tmp_path, topic="other")
    assert h2 is not h1 and h2.config.topic == "other"
    assert spcstream_pywats.get_hook() is h2
    spcstream_pywats.uninstall()
    assert spcstream_pywats.get_hook() is None


def test_publish_errors_never_propagate(tmp_path: Path, wats, reports) -> None:
    from pywats import pyWATS

    hook = _install(tmp_path)

    def broken(_rec):
        raise OSError("disk on fire")

    hook.publisher.publish = broken  # type: ignore[method-assign]
    api = pyWATS(base_url=wats.url, token=TOKEN)
    reps = reports(3)
    assert [api.report.submit(r) for r in reps] == [str(r.id) for r in reps]
    assert hook.stats.get("errors") == 3


def test_unserializable_report_never_propagates(tmp_path: Path) -> None:
    hook = _install(tmp_path)
    hook.after_submit({"pn": "x", "sn": "y", "v": float("nan")}, "some-id")
    assert hook.stats.get("errors") == 1


def test_repair_reports_are_not_published(tmp_path: Path, wats) -> None:
    from pywats import pyWATS
    from pywats.domains.report.report_models import UURReport

    hook = _install(tmp_path)
    uur = UURReport(
        pn="PCBA-100",
        sn="PC1-0000001",
        rev="C",
        process_code=500,
        station_name="RW-01",
        location="L",
        purpose="Repair",
        type="R",
    )
    api = pyWATS(base_url=wats.url, token=TOKEN)
    assert api.report.submit(uur)
    assert hook.stats.get("skipped_repair") == 1
    assert hook.stats.get("published") == 0


def test_broker_unreachable_submit_stays_fast_and_spools(tmp_path: Path, wats, reports) -> None:
    from pywats import pyWATS

    hook = _install(tmp_path)
    api = pyWATS(base_url=wats.url, token=TOKEN)
    reps = reports(20)
    with_hook = []
    for r in reps:
        t0 = time.perf_counter()
        api.report.submit(r)
        with_hook.append(time.perf_counter() - t0)
    snap = hook.snapshot()
    assert snap.published == 20 and snap.errors == 0
    assert snap.latency_count == 20
    assert max(with_hook) < 2.0  # never waits for Kafka (generous bound for slow CI)
    spcstream_pywats.uninstall(timeout=0.2)
    # everything not delivered is on disk, nothing lost
    assert len(list((tmp_path / "spool").glob("*.rec"))) == 20
    assert hook.stats.get("lost") == 0


def test_stats_snapshot(tmp_path: Path) -> None:
    assert spcstream_pywats.stats() is None
    _install(tmp_path)
    snap = spcstream_pywats.stats()
    assert snap is not None and snap.published == 0
    assert "added latency" in snap.summary()


def test_predump_falls_back_to_the_original_report(tmp_path: Path, reports) -> None:
    hook = _install(tmp_path)
    rep = reports(1)[0]
    assert hook.before_submit(rep) == rep.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert hook.before_submit({"pn": "x"}) is None  # dicts go through untouched

    class Broken:
        type = "T"

        def model_dump(self, **_kw):
            raise RuntimeError("no")

    assert hook.before_submit(Broken()) is None
    spcstream_pywats.uninstall()
    assert _install(tmp_path, predump=False).before_submit(rep) is None
