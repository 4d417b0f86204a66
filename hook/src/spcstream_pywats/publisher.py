"""Kafka publisher with an on-disk spool: never blocks the caller, never loses a report.

DATA FLOW   submit thread: Record --produce()+poll(0)--> librdkafka queue --> Kafka
                        or Record --handoff deque--> [publisher thread] --> Spool (disk)
            publisher thread: Spool --produce()--> Kafka --delivery ok--> Spool.remove()

OWNERSHIP   Every record has exactly one owner at a time:
            * produce() returned  -> librdkafka owns it.  Delivery OK: done.  Delivery
              failed (timeout, purge at exit, broker trouble): the delivery callback hands
              it to the spool.  It was never in the spool before, so it is not duplicated.
            * produce() raised BufferError (local queue full), or the publisher is in
              spool mode (Kafka known unreachable, or older records still spooled) -> the
              spool owns it (via the handoff deque, written by the publisher thread).
            * A spooled record is resent by the publisher thread; its file is deleted only
              after Kafka confirmed delivery.  A crash in between resends it once more
              (the only duplicate window, besides a purge at exit of a message that was
              in flight: consumers can dedup on the ``report-id`` header).
            Permanent per-message errors (e.g. message too large) are counted as lost, with
            an ERROR log and the report id appended to ``lost.log`` in the spool directory.

ORDER       Spool mode is sticky: once a record is spooled, later records are spooled too
            until the spool is empty again, and the spool is resent oldest first, so a
            station's reports reach its partition in submit order.

THREADING   ``publish()`` runs in the caller's thread (pyWATS submit): produce + poll(0),
            no disk I/O, no lock held across calls into librdkafka.  Delivery callbacks can
            run in either thread; they only touch deques and counters.  Spool I/O, broker
            probing and resends run on the ``spcstream-publisher`` daemon thread, which
            waits inside ``producer.poll(timeout)`` (no busy loop).

FAILURE     Broker down: librdkafka reports _ALL_BROKERS_DOWN -> the publisher thread probes
            the cluster (metadata request, 1 s); only if that fails: spool mode and one
            WARNING (an idle connection closed by the broker also raises
            _ALL_BROKERS_DOWN and must not alarm anyone).  Records already handed to
            librdkafka stay there: delivered when Kafka is back within
            ``message.timeout.ms`` (30 s), else spooled by their delivery callback.
            Resend starts when a probe succeeds, with exponential backoff (0.5 s .. 30 s).
            Fatal producer error (idempotence): the producer is replaced,
            its queued messages go to the spool.  ``close()`` flushes with a timeout, then
            purges what is left into the spool.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from ._version import __version__
from .config import HookConfig, redact
from .metrics import HookStats
from .spool import Record, Spool, SpoolEntry

if TYPE_CHECKING:
    from confluent_kafka import KafkaError, Message, Producer

logger = logging.getLogger(__name__)

BACKOFF_MIN = 0.5
BACKOFF_MAX = 30.0
DRAIN_BATCH = 500
HANDOFF_MAX_BYTES = 64 * 1024 * 1024
PROBE_TIMEOUT = 1.0

#: Producer defaults; ``HookConfig.kafka`` (``SPCSTREAM_KAFKA_*``) overrides them.
PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "compression.type": "lz4",
    "linger.ms": 5,
    "message.timeout.ms": 30000,
    "queue.buffering.max.messages": 100000,
    "queue.buffering.max.kbytes": 131072,
    "reconnect.backoff.ms": 100,
    "reconnect.backoff.max.ms": 5000,
    "socket.keepalive.enable": True,
    "log.connection.close": False,
}


class _DemotingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """librdkafka log lines go to DEBUG: connection errors during an outage would
    otherwise flood the station's console.  Actionable events arrive via error_cb.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Log at DEBUG whatever librdkafka's level was."""
        self.logger.log(logging.DEBUG, msg, *args, **kwargs)


def rdkafka_logger() -> logging.LoggerAdapter:  # type: ignore[type-arg]
    """Return the logger object handed to librdkafka (``logger`` property)."""
    return _DemotingLogger(logging.getLogger("spcstream_pywats.rdkafka"), {})


def _permanent_codes() -> frozenset[int]:
    from confluent_kafka import KafkaError

    names = (
        "MSG_SIZE_TOO_LARGE",
        "_MSG_SIZE_TOO_LARGE",
        "RECORD_LIST_TOO_LARGE",
        "INVALID_RECORD",
        "CORRUPT_MESSAGE",
        "_INVALID_ARG",
        "_BAD_MSG",
    )
    return frozenset(int(getattr(KafkaError, n)) for n in names if hasattr(KafkaError, n))


def build_producer_config(config: HookConfig, error_cb: Callable[[Any], None]) -> dict[str, Any]:
    """Assemble the librdkafka producer configuration for ``config``."""
    conf: dict[str, Any] = {
        "bootstrap.servers": config.bootstrap_servers,
        "client.id": f"spcstream-pywats/{__version__}@{socket.gethostname()}",
    }
    conf.update(PRODUCER_DEFAULTS)
    conf.update(config.kafka)
    conf["error_cb"] = error_cb
    conf["logger"] = rdkafka_logger()
    return conf


class Publisher:
    """Non-blocking, spool-backed Kafka publisher (one per hook)."""

    def __init__(
        self,
        config: HookConfig,
        stats: HookStats | None = None,
        producer_factory: Callable[[Mapping[str, Any]], Producer] | None = None,
    ) -> None:
        from confluent_kafka import KafkaError, Producer

        self.config = config
        self.stats = stats if stats is not None else HookStats()
        self._factory: Callable[[Mapping[str, Any]], Producer] = producer_factory or (
            lambda conf: Producer(dict(conf))
        )
        self._kafka_error = KafkaError
        self._permanent = _permanent_codes()
        self.spool = Spool(config.spool_dir, config.spool_max_bytes, config.spool_max_files)
        self._handoff: deque[tuple[Record, str]] = deque()
        self._handoff_bytes = 0
        self._hlock = threading.Lock()
        self._spool_results: deque[tuple[SpoolEntry, Any]] = deque()
        self._spool_inflight: dict[str, SpoolEntry] = {}
        self._seq = itertools.count(1)
        self._spool_mode = False
        self._broker_down = False
        self._probe_requested = False
        self._orphans: list[Any] = []
        self._fatal = False
        self._closed = False
        self._next_drain = 0.0
        self._backoff = BACKOFF_MIN
        self._resent_this_outage = 0
        self._pid = os.getpid()
        self._producer: Producer = self._new_producer()
        if config.spool_dir.is_dir() and self.spool.rescan()[0] > 0:
            logger.info(
                "spcstream: %d report(s) waiting in spool %s from an earlier run; resending",
                self.spool.usage()[0],
                config.spool_dir,
            )
            self._spool_mode = True
        self._stop = threading.Event()
        self._thread = self._start_thread()
        logger.info("spcstream: publisher started (%s)", config.describe())

    # ------------------------------------------------------------------ setup

    def _new_producer(self) -> Producer:
        conf = build_producer_config(self.config, self._on_error)
        logger.debug("spcstream: producer config %s", redact(conf))
        return self._factory(conf)

    def _start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, name="spcstream-publisher", daemon=True)
        thread.start()
        return thread

    def _check_fork(self) -> None:
        """After fork() the child has no librdkafka threads: start afresh there."""
        pid = os.getpid()
        if pid == self._pid:
            return
        self._pid = pid
        logger.debug("spcstream: fork detected, new producer in child %d", pid)
        self._handoff.clear()
        self._spool_results.clear()
        self._spool_inflight.clear()
        self.spool = Spool(
            self.config.spool_dir, self.config.spool_max_bytes, self.config.spool_max_files
        )
        # librdkafka is not fork-safe: destroying the parent's handle here could block on
        # threads that do not exist in the child, so keep it referenced, never used.
        self._orphans.append(self._producer)
        self._producer = self._new_producer()
        self._stop = threading.Event()
        self._thread = self._start_thread()

    # ------------------------------------------------------------------ hot path

    @property
    def spool_mode(self) -> bool:
        """True while new records go to the spool instead of straight to Kafka."""
        return self._spool_mode

    def publish(self, rec: Record) -> None:
        """Hand ``rec`` to Kafka or the spool; never blocks on the network, never raises
        for Kafka trouble (``@locality`` caller's thread, i.e. inside pyWATS submit).
        """
        self._check_fork()
        rec.seq = next(self._seq)
        if self._closed:
            # Late submit during shutdown: no thread left to write the hand-off queue.
            if self.spool.put(rec):
                self.stats.incr("spooled")
            else:
                self._lose(rec, "spool full or not writable at shutdown")
            return
        if self._spool_mode:
            self._to_spool(rec, "spool mode")
            return
        try:
            self._producer.produce(
                rec.topic,
                rec.value,
                rec.key,
                headers=cast(Any, rec.headers),
                on_delivery=partial(self._on_direct_delivery, rec),
            )
        except BufferError:
            self._spool_mode = True
            self._to_spool(rec, "local producer queue full")
            return
        except Exception as exc:
            code = _error_code(exc)
            if code is not None and code in self._permanent:
                self._lose(rec, f"rejected by producer: {exc}")
            else:
                self._to_spool(rec, f"produce failed: {exc}")
            return
        self._producer.poll(0)

    def _to_spool(self, rec: Record, reason: str) -> None:
        size = rec.size()
        with self._hlock:
            if self._handoff_bytes + size > HANDOFF_MAX_BYTES:
                overflow = True
            else:
                overflow = False
                self._handoff_bytes += size
                self._handoff.append((rec, reason))
        if overflow:
            self._lose(rec, "spool hand-off queue full (disk too slow?)")

    def _lose(self, rec: Record, reason: str) -> None:
        self.stats.incr("lost")
        logger.error(
            "spcstream: report %s NOT published (%s); re-export it from WATS", rec.report_id, reason
        )
        self.spool.note_lost(rec.report_id, reason)

    # ------------------------------------------------------------------ callbacks

    def _on_direct_delivery(self, rec: Record, err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            self.stats.incr("delivered")
            return
        if err.code() in self._permanent:
            self._lose(rec, f"rejected by Kafka: {err.str()}")
            return
        self._spool_mode = True
        self._to_spool(rec, f"delivery failed: {err.str()}")

    def _on_spool_delivery(self, entry: SpoolEntry, err: KafkaError | None, _msg: Message) -> None:
        self._spool_results.append((entry, err))

    def _on_error(self, err: KafkaError) -> None:
        code = err.code()
        if err.fatal():
            logger.error("spcstream: fatal Kafka producer error: %s; recreating producer", err)
            self._fatal = True
            self._spool_mode = True
            return
        if code == self._kafka_error._ALL_BROKERS_DOWN:
            logger.debug("spcstream: all brokers down (%s); probing", err)
            self._probe_requested = True
            return
        logger.debug("spcstream: Kafka client error: %s", err)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        """Publisher thread: serve callbacks, write the spool, resend (``@locality``
        publisher thread).
        """
        while not self._stop.is_set():
            try:
                if self._fatal:
                    self._replace_producer()
                busy = (
                    self._spool_mode
                    or bool(self._handoff)
                    or bool(self._spool_inflight)
                    or bool(self._spool_results)
                )
                self._producer.poll(0.1 if busy else 0.25)
                if self._probe_requested and not self._spool_mode:
                    self._probe_requested = False
                    if not self._probe_broker():
                        self._enter_outage()
                self._process_spool_results()
                self._flush_handoff()
                if self._spool_mode or self._spool_inflight:
                    self._drain_step()
            except Exception:
                logger.exception("spcstream: publisher thread error (continuing)")
                self._stop.wait(1.0)

    def _flush_handoff(self) -> None:
        wrote = 0
        while self._handoff:
            try:
                rec, reason = self._handoff.popleft()
            except IndexError:
                break
            with self._hlock:
                self._handoff_bytes -= rec.size()
            if self.spool.put(rec):
                wrote += 1
                self.stats.incr("spooled")
                logger.debug("spcstream: spooled report %s (%s)", rec.report_id, reason)
            else:
                files, size = self.spool.usage()
                self._lose(
                    rec,
                    f"spool full or not writable ({files} files, {size} bytes, limits "
                    f"{self.config.spool_max_files} files / {self.config.spool_max_bytes} bytes)",
                )
        if wrote:
            self._spool_mode = True

    def _process_spool_results(self) -> None:
        while self._spool_results:
            try:
                entry, err = self._spool_results.popleft()
            except IndexError:
                break
            self._spool_inflight.pop(entry.name, None)
            if err is None:
                self.spool.remove(entry)
                self.stats.incr("resent")
                self._resent_this_outage += 1
                self._backoff = BACKOFF_MIN
            elif err.code() in self._permanent:
                rec = self.spool.load(entry)
                self.spool.remove(entry)
                if rec is not None:
                    self._lose(rec, f"rejected by Kafka: {err.str()}")
            else:
                logger.debug("spcstream: resend of %s failed: %s", entry.name, err)
                self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._next_drain = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, BACKOFF_MAX)

    def _probe_broker(self) -> bool:
        """Ask the cluster for the topic's metadata (blocks this thread only)."""
        try:
            md = self._producer.list_topics(topic=self.config.topic, timeout=PROBE_TIMEOUT)
        except Exception as exc:
            logger.debug("spcstream: broker probe failed: %s", exc)
            return False
        if not md.brokers:
            return False
        tmd = md.topics.get(self.config.topic)
        if tmd is not None and tmd.error is not None:
            logger.debug("spcstream: topic %s not ready: %s", self.config.topic, tmd.error)
            return bool(tmd.error.code() == self._kafka_error.UNKNOWN_TOPIC_OR_PART)
        return True

    def _drain_step(self) -> None:
        now = time.monotonic()
        if self._spool_inflight or self._handoff or now < self._next_drain:
            return
        if not self.spool.try_lock_drain():
            # Another process sharing the directory resends; wait for it to empty.
            if self.spool.rescan()[0] == 0:
                self._leave_spool_mode()
            else:
                self._next_drain = now + 1.0
            return
        entries = self.spool.pending(limit=DRAIN_BATCH)
        if not self._probe_broker():
            self._enter_outage()
            self._schedule_retry()
            return
        if self._stop.is_set():
            return
        if self._broker_down:
            logger.warning(
                "spcstream: Kafka reachable again; resending %d spooled report(s)",
                self.spool.usage()[0],
            )
            self._broker_down = False
        self._probe_requested = False
        self._orphans = []
        if not entries:
            self._leave_spool_mode()
            return
        for entry in entries:
            rec = self.spool.load(entry)
            if rec is None:
                continue
            try:
                self._producer.produce(
                    rec.topic,
                    rec.value,
                    rec.key,
                    headers=cast(Any, rec.headers),
                    on_delivery=partial(self._on_spool_delivery, entry),
                )
            except BufferError:
                break
            except Exception as exc:
                code = _error_code(exc)
                if code is not None and code in self._permanent:
                    self.spool.remove(entry)
                    self._lose(rec, f"rejected by producer: {exc}")
                    continue
                logger.debug("spcstream: resend produce failed: %s", exc)
                self._schedule_retry()
                break
            self._spool_inflight[entry.name] = entry

    def _enter_outage(self) -> None:
        """Kafka confirmed unreachable: spool new records, tell the operator once."""
        self._spool_mode = True
        if not self._broker_down:
            logger.warning(
                "spcstream: Kafka %s unreachable; reports are spooled to %s and resent "
                "when it is back (submit is not affected)",
                self.config.bootstrap_servers,
                self.config.spool_dir,
            )
        self._broker_down = True

    def _leave_spool_mode(self) -> None:
        if self._handoff or self._spool_inflight:
            return
        if self._spool_mode and self._resent_this_outage:
            logger.warning(
                "spcstream: spool empty, %d report(s) resent; publishing directly again",
                self._resent_this_outage,
            )
        self._resent_this_outage = 0
        self._spool_mode = False
        self._backoff = BACKOFF_MIN
        self.spool.unlock_drain()

    def _replace_producer(self) -> None:
        old = self._producer
        self._fatal = False
        self._producer = self._new_producer()
        with contextlib.suppress(Exception):
            old.purge(in_queue=True, in_flight=True, blocking=False)
            old.flush(1.0)

    # ------------------------------------------------------------------ shutdown

    def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, in flight or spooled (tests, demos)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (
                not self._spool_mode
                and not self._handoff
                and not self._spool_inflight
                and len(self._producer) == 0
            ):
                return True
            time.sleep(0.05)
        return False

    def close(self, timeout: float | None = None) -> None:
        """Flush (at most ``timeout`` s), spool whatever is left, stop the thread.

        Never raises.  Safe to call twice.
        """
        if self._closed:
            return
        self._closed = True
        timeout = self.config.flush_timeout if timeout is None else timeout
        try:
            self._stop.set()
            # The thread may sit in a metadata probe (<= PROBE_TIMEOUT); everything it
            # touches is thread-safe, so do not wait long for it.
            self._thread.join(timeout=0.5)
            if self._broker_down:
                # Kafka is known unreachable: do not hold the process; spool instead.
                timeout = min(timeout, 0.5)
            remaining = self._producer.flush(timeout) if timeout > 0 else len(self._producer)
            if remaining:
                logger.warning(
                    "spcstream: %d message(s) not delivered within %.1f s; spooling them",
                    remaining,
                    timeout,
                )
                self._producer.purge(in_queue=True, in_flight=True, blocking=False)
                self._producer.flush(1.0)
            self._process_spool_results()
            self._flush_handoff()
        except Exception:
            logger.exception("spcstream: error while closing the publisher")
        finally:
            self.spool.unlock_drain()
        logger.info(
            "spcstream: publisher closed: %s", self.stats.snapshot(self.spool.usage()).summary()
        )


def _error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    if args and hasattr(args[0], "code"):
        try:
            return int(args[0].code())
        except Exception:
            return None
    return None
