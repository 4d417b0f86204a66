"""The hook object and the process-wide ``install()`` / ``uninstall()``.

DATA FLOW   pyWATS submit_report() returned an id --patch wrapper--> Hook.after_submit()
            --wsjf bytes, key, headers--> Publisher.publish() (Kafka or spool)
THREADING   ``after_submit`` runs in the thread that awaited pyWATS (the caller's event
            loop); install/uninstall are serialized by a module lock.
FAILURE     ``after_submit`` never raises; errors are counted and logged (first one at
            WARNING, then every 100th), the submit result is returned untouched.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import patch
from ._version import __version__
from .config import HookConfig
from .incidents import Incident, IncidentListener
from .metrics import HookStats, Snapshot
from .publisher import Publisher
from .spool import Record
from .wsjf import CONTENT_TYPE, encode, is_repair, report_id, station_name, to_wsjf_dict

logger = logging.getLogger("spcstream_pywats")

_VERSION_B = __version__.encode()
_CONTENT_TYPE_B = CONTENT_TYPE.encode()


class Hook:
    """Publishes accepted reports for one configuration; see :func:`install`."""

    def __init__(self, config: HookConfig) -> None:
        self.config = config
        self.stats = HookStats()
        self.publisher = Publisher(config, self.stats)
        self.listener: IncidentListener | None = None
        if config.incidents:
            self.listener = IncidentListener(
                config.bootstrap_servers,
                config.incidents_topic,
                stations=config.stations,
                callback=config.on_incident,
                kafka=config.kafka,
            )
            self.listener.start()
        self._learn_stations = not config.stations
        self._closed = False

    # ------------------------------------------------------------------ submit path

    def before_submit(self, report: Any) -> Any:
        """Serialize a report model once, for pyWATS and for Kafka (``predump``).

        Returns the dict pyWATS's ``post_wsjf`` would build from the model, or None
        (dicts, repair reports, predump off, or any error: pyWATS then gets the original).
        """
        if not self.config.predump or report is None or isinstance(report, Mapping):
            return None
        try:
            if is_repair(report):
                return None
            return to_wsjf_dict(report)
        except Exception:
            return None

    def after_submit(self, report: Any, result: Any, payload: Any = None) -> None:
        """Publish ``report`` if pyWATS reported success (``result`` is the server id).

        ``payload`` is the dict pyWATS sent when :meth:`before_submit` supplied one.
        Never raises; the time spent here is the hook's added latency per submit.
        """
        if not result or report is None:
            self.stats.incr("skipped_rejected")
            return
        t0 = time.perf_counter()
        try:
            if is_repair(report):
                self.stats.incr("skipped_repair")
                return
            data = payload if payload is not None else to_wsjf_dict(report)
            value = encode(data)
            station = station_name(report, data)
            rid = report_id(report, data) or str(result)
            rec = Record(
                topic=self.config.topic,
                value=value,
                key=station.encode("utf-8") if station is not None else None,
                headers=[
                    ("report-id", rid.encode("utf-8")),
                    ("content-type", _CONTENT_TYPE_B),
                    ("hook-version", _VERSION_B),
                ],
                report_id=rid,
            )
            self.publisher.publish(rec)
            self.stats.incr("published")
            if station is not None and self._learn_stations and self.listener is not None:
                self.listener.add_station(station)
        except Exception as exc:
            self._count_error(exc)
        finally:
            ms = (time.perf_counter() - t0) * 1000.0
            self.stats.add_latency(ms)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("spcstream: hook added %.3f ms to submit", ms)

    def _count_error(self, exc: Exception) -> None:
        self.stats.incr("errors")
        n = self.stats.get("errors")
        if n == 1 or n % 100 == 0:
            logger.warning(
                "spcstream: could not publish a report (%s: %s); submit unaffected "
                "[%d error(s) so far]",
                type(exc).__name__,
                exc,
                n,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )

    # ------------------------------------------------------------------ control

    def snapshot(self) -> Snapshot:
        """Counters and latency percentiles (see :class:`~spcstream_pywats.stats.Snapshot`)."""
        return self.stats.snapshot(self.publisher.spool.usage())

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every published report is delivered (nothing queued or spooled)."""
        return self.publisher.wait_idle(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Stop the listener, flush the publisher (spooling what is left)."""
        if self._closed:
            return
        self._closed = True
        if self.listener is not None:
            self.listener.stop()
        self.publisher.close(timeout)


_lock = threading.RLock()
_hook: Hook | None = None
_atexit_registered = False


def install(
    bootstrap_servers: str | None = None,
    topic: str | None = None,
    *,
    config: HookConfig | None = None,
    spool_dir: str | Path | None = None,
    spool_max_bytes: int | None = None,
    spool_max_files: int | None = None,
    flush_timeout: float | None = None,
    kafka: Mapping[str, Any] | None = None,
    incidents: bool | None = None,
    incidents_topic: str | None = None,
    stations: Iterable[str] | None = None,
    on_incident: Callable[[Incident], None] | None = None,
    predump: bool | None = None,
) -> Hook:
    """Make every accepted pyWATS submit publish its report to Kafka.

    Unset arguments come from the ``SPCSTREAM_*`` environment (see
    :mod:`spcstream_pywats.config`).  Idempotent: calling it again with the same
    configuration returns the active hook; with a different one, the old hook is
    flushed and replaced.  Works before or after pyWATS is imported (and without
    pyWATS installed: the patch then waits for pyWATS's import).

    Raises:
        ValueError: no bootstrap servers given (argument or environment) or a bad value.
    """
    global _hook, _atexit_registered
    cfg = config or HookConfig.from_env(
        bootstrap_servers=bootstrap_servers,
        topic=topic,
        spool_dir=spool_dir,
        spool_max_bytes=spool_max_bytes,
        spool_max_files=spool_max_files,
        flush_timeout=flush_timeout,
        kafka=kafka,
        incidents=incidents,
        incidents_topic=incidents_topic,
        stations=tuple(stations) if stations is not None else None,
        on_incident=on_incident,
        predump=predump,
    )
    with _lock:
        if _hook is not None:
            if _hook.config == cfg:
                patch.set_observer(_hook)
                patch.apply()
                return _hook
            logger.info("spcstream: configuration changed; replacing the active hook")
            old, _hook = _hook, None
            patch.set_observer(None)
            old.close()
        hook = Hook(cfg)
        patch.set_observer(hook)
        patch.apply()
        _hook = hook
        if not _atexit_registered:
            atexit.register(_close_at_exit)
            _atexit_registered = True
        return hook


def uninstall(timeout: float | None = None) -> None:
    """Restore pyWATS's submit and flush/close the active hook (no-op if none)."""
    global _hook
    with _lock:
        hook, _hook = _hook, None
        patch.set_observer(None)
        patch.unpatch()
    if hook is not None:
        hook.close(timeout)


def get_hook() -> Hook | None:
    """Return the active hook, if installed."""
    return _hook


def _close_at_exit() -> None:
    hook = _hook
    if hook is not None:
        hook.close()
