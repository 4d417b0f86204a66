"""The submit wrapper on the real pyWATS submit path (stand-in WATS server, no Kafka)."""

from __future__ import annotations

import asyncio
import inspect
import subprocess
import sys
from typing import Any

import pytest

from conftest import TOKEN, subprocess_env
from spcstream_pywats import patch


class Recorder:
    def __init__(self, wats: Any = None, fail: bool = False) -> None:
        self.calls: list[tuple[Any, Any, int]] = []
        self.wats = wats
        self.fail = fail

    def before_submit(self, report: Any) -> Any:
        return None

    def after_submit(self, report: Any, result: Any, payload: Any = None) -> None:
        seen = len(self.wats.received) if self.wats is not None else -1
        self.calls.append((report, result, seen))
        if self.fail:
            raise RuntimeError("observer broken")


@pytest.fixture
def recorder(wats):
    rec = Recorder(wats)
    patch.set_observer(rec)
    assert patch.apply()
    yield rec
    patch.set_observer(None)
    patch.unpatch()


def _service_cls():
    from pywats.domains.report.async_service import AsyncReportService

    return AsyncReportService


def test_wrapper_is_a_coroutine_function_with_metadata(recorder) -> None:
    fn = _service_cls().submit_report
    assert inspect.iscoroutinefunction(fn)
    assert fn.__name__ == "submit_report"
    assert getattr(fn, "__spcstream_original__", None) is not None
    assert patch.is_patched()


def test_apply_is_idempotent(recorder) -> None:
    fn = _service_cls().submit_report
    assert patch.apply()
    assert _service_cls().submit_report is fn


def test_sync_submit_observed_after_server_accepted(recorder, wats, reports) -> None:
    from pywats import pyWATS

    api = pyWATS(base_url=wats.url, token=TOKEN)
    rep = reports(1)[0]
    rid = api.report.submit(rep)
    assert rid == str(rep.id)
    assert len(recorder.calls) == 1
    report, result, seen = recorder.calls[0]
    assert report is rep and result == rid
    assert seen == 1  # the server had the report before the hook ran
    # submit_report (not only the submit alias) is covered too
    rep2 = reports(2)[1]
    assert api.report.submit_report(rep2) == str(rep2.id)
    assert len(recorder.calls) == 2


def test_async_and_dict_submit_observed(recorder, wats, reports) -> None:
    from pywats import AsyncWATS

    rep = reports(1)[0]
    as_dict = rep.model_dump(mode="json", by_alias=True, exclude_none=True)
    as_dict["id"] = "6d1f8c1e-0000-4000-8000-000000000001"

    async def run() -> list[Any]:
        async with AsyncWATS(base_url=wats.url, token=TOKEN, enable_throttling=False) as api:
            return [await api.report.submit_report(rep), await api.report.submit(as_dict)]

    assert asyncio.run(run()) == [str(rep.id), as_dict["id"]]
    assert [c[0] for c in recorder.calls] == [rep, as_dict]


def test_rejected_submit_not_observed_and_error_unchanged(recorder, wats, reports) -> None:
    from pywats import pyWATS

    api = pyWATS(base_url=wats.url, token=TOKEN)
    wats.reject_next = 1
    with pytest.raises(ValueError, match="500"):
        api.report.submit(reports(1)[0])
    assert recorder.calls == []


def test_observer_errors_never_reach_the_caller(wats, reports) -> None:
    from pywats import pyWATS

    patch.set_observer(Recorder(wats, fail=True))
    patch.apply()
    try:
        rep = reports(1)[0]
        assert pyWATS(base_url=wats.url, token=TOKEN).report.submit(rep) == str(rep.id)
    finally:
        patch.set_observer(None)
        patch.unpatch()


def test_unpatch_restores_original(recorder) -> None:
    cls = _service_cls()
    wrapped = cls.submit_report
    patch.unpatch()
    assert cls.submit_report is wrapped.__spcstream_original__
    assert not patch.is_patched()


def test_import_is_light() -> None:
    code = (
        "import sys, spcstream_pywats\n"
        "assert 'pywats' not in sys.modules, 'pywats imported'\n"
        "assert 'confluent_kafka' not in sys.modules, 'confluent_kafka imported'\n"
        "print(spcstream_pywats.__version__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip()


ZERO_TOUCH = (
    "import sys\n"
    "assert 'spcstream_pywats._autoload' in sys.modules, 'autoload did not run'\n"
    "assert 'pywats' not in sys.modules and 'confluent_kafka' not in sys.modules\n"
    "from pywats.domains.report.async_service import AsyncReportService as A\n"
    "import spcstream_pywats\n"
    "patched = hasattr(A.submit_report, '__spcstream_original__')\n"
    "print(patched, spcstream_pywats.get_hook() is not None)\n"
)


def test_zero_touch_autoload_patches_on_pywats_import(tmp_path) -> None:
    env = subprocess_env(
        SPCSTREAM_BOOTSTRAP_SERVERS="127.0.0.1:9",
        SPCSTREAM_INCIDENTS="0",
        SPCSTREAM_SPOOL_DIR=str(tmp_path),
        SPCSTREAM_FLUSH_TIMEOUT="0",
    )
    out = subprocess.run(
        [sys.executable, "-c", ZERO_TOUCH],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


def test_zero_touch_can_be_disabled(tmp_path) -> None:
    env = subprocess_env(SPCSTREAM_BOOTSTRAP_SERVERS="127.0.0.1:9", SPCSTREAM_DISABLE="1")
    code = "import sys; print('spcstream_pywats._autoload' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "True"  # imported, but did nothing:
    code2 = (
        "from pywats.domains.report.async_service import AsyncReportService as A\n"
        "print(hasattr(A.submit_report, '__spcstream_original__'))"
    )
    out2 = subprocess.run(
        [sys.executable, "-c", code2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out2.stdout.strip() == "False"


def test_bad_zero_touch_config_never_breaks_pywats(tmp_path) -> None:
    env = subprocess_env(
        SPCSTREAM_BOOTSTRAP_SERVERS="127.0.0.1:9", SPCSTREAM_SPOOL_MAX_FILES="lots"
    )
    code = (
        "from pywats.domains.report.async_service import AsyncReportService as A\n"
        "import spcstream_pywats\nprint(spcstream_pywats.get_hook())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "None"
    assert "SPCSTREAM_SPOOL_MAX_FILES" in out.stderr
