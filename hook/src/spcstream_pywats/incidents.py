"""Incident listener: tell the station operator about SPC incidents for this station.

DATA FLOW   spc.incidents (JSON, key = incident id) --Consumer--> parse_incident()
            --station filter, (id, revision) dedup--> callback(Incident) / WARNING log line
THREADING   one daemon thread ``spcstream-incidents`` owns the consumer; the callback
            runs on it (keep it short; exceptions are caught and logged).
FAILURE     topic missing or Kafka down: retry quietly (DEBUG) every few seconds.
            Avro or other non-JSON values, tombstones and records without an
            ``incident_id`` are skipped with a DEBUG log.
OFFSETS     no consumer group membership, no commits: every listener reads all partitions
            from the end offsets it saw when it started (``start="latest"``) or from the
            beginning (``start="earliest"``, useful to show open incidents on start-up).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .publisher import rdkafka_logger

if TYPE_CHECKING:
    from confluent_kafka import Consumer

logger = logging.getLogger(__name__)

#: librdkafka properties that only make sense for producers (not passed to the consumer).
PRODUCER_ONLY = frozenset(
    {
        "acks",
        "request.required.acks",
        "enable.idempotence",
        "compression.type",
        "compression.codec",
        "linger.ms",
        "queue.buffering.max.ms",
        "message.timeout.ms",
        "delivery.timeout.ms",
        "queue.buffering.max.messages",
        "queue.buffering.max.kbytes",
        "batch.size",
        "batch.num.messages",
        "retries",
        "message.send.max.retries",
        "transactional.id",
        "max.in.flight.requests.per.connection",
        "max.in.flight",
        "sticky.partitioning.linger.ms",
        "partitioner",
    }
)

_DEDUP_MAX = 10000


@dataclass(frozen=True)
class Incident:
    """One revision of an SPC incident, as published by the spcstream processor."""

    incident_id: str
    revision: int | None = None
    state: str | None = None
    severity: str | None = None
    test_plan: str | None = None
    station: str | None = None
    title: str | None = None
    summary: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def line(self) -> str:
        """One short line for the operator."""
        head = f"SPC incident {self.incident_id}"
        if self.revision is not None:
            head += f" rev {self.revision}"
        parts = [head, f"[{self.severity or '?'}]", self.state or "?"]
        if self.test_plan:
            parts.append(self.test_plan)
        if self.station:
            parts.append(f"@ {self.station}")
        text = " ".join(parts)
        title = self.title or self.summary or ""
        return f"{text}: {title}" if title else text


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):  # Avro-JSON union encoding {"string": "x"}
        value = next(iter(value.values()), None)
        if value is None:
            return None
    return str(value)


def parse_incident(value: bytes | None) -> Incident | None:
    """Parse an ``spc.incidents`` value; None for tombstones, non-JSON or invalid records."""
    if not value:
        return None
    if value[:1] == b"\x00":  # Confluent wire format (Avro): not for us
        return None
    try:
        obj = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    iid = _opt_str(obj.get("incident_id"))
    if not iid:
        return None
    rev_raw = obj.get("revision")
    try:
        revision = int(rev_raw) if rev_raw is not None else None
    except (TypeError, ValueError):
        revision = None
    return Incident(
        incident_id=iid,
        revision=revision,
        state=_opt_str(obj.get("state")),
        severity=_opt_str(obj.get("severity")),
        test_plan=_opt_str(obj.get("test_plan")),
        station=_opt_str(obj.get("station")),
        title=_opt_str(obj.get("title")),
        summary=_opt_str(obj.get("summary")),
        raw=obj,
    )


def log_incident(incident: Incident) -> None:
    """Default callback: one WARNING line the operator sees on the console."""
    logger.warning("%s", incident.line())


class IncidentListener:
    """Background consumer of ``spc.incidents`` filtered to this station."""

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str = "spc.incidents",
        stations: Iterable[str] = (),
        callback: Callable[[Incident], None] | None = None,
        kafka: Mapping[str, Any] | None = None,
        start: str = "latest",
        retry_interval: float = 3.0,
    ) -> None:
        if start not in ("latest", "earliest"):
            raise ValueError("start must be 'latest' or 'earliest'")
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self._stations: set[str] = set(stations)
        self._callback = callback or log_incident
        self._kafka = {k: v for k, v in (kafka or {}).items() if k not in PRODUCER_ONLY}
        self._start = start
        self._retry = retry_interval
        self._seen: OrderedDict[tuple[str, int | None], None] = OrderedDict()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self.delivered = 0
        self._thread: threading.Thread | None = None

    @property
    def stations(self) -> frozenset[str]:
        """Station names whose incidents are reported."""
        return frozenset(self._stations)

    def add_station(self, name: str) -> None:
        """Also report incidents of station ``name`` (thread-safe: set add under GIL)."""
        self._stations.add(name)

    def start(self) -> None:
        """Start the listener thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="spcstream-incidents", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the listener thread and close the consumer."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    # ------------------------------------------------------------------ thread

    def _consumer_config(self) -> dict[str, Any]:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "group.id": f"spcstream-pywats-listener-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": self._start,
            "isolation.level": "read_committed",
            "enable.partition.eof": False,
            "reconnect.backoff.max.ms": 5000,
            "log.connection.close": False,
        }
        conf.update(self._kafka)
        conf["logger"] = rdkafka_logger()
        conf["error_cb"] = lambda err: logger.debug("spcstream incidents: %s", err)
        return conf

    def _run(self) -> None:
        from confluent_kafka import Consumer

        try:
            consumer = Consumer(self._consumer_config())
        except Exception:
            logger.exception("spcstream: cannot create the incident consumer")
            return
        try:
            while not self._stop.is_set():
                if self._assign(consumer):
                    break
                self._stop.wait(self._retry)
            while not self._stop.is_set():
                msg = consumer.poll(0.5)
                if msg is None:
                    continue
                if msg.error():
                    logger.debug("spcstream incidents: %s", msg.error())
                    continue
                self._handle(msg.value())
        except Exception:
            logger.exception("spcstream: incident listener stopped on an error")
        finally:
            with contextlib.suppress(Exception):
                consumer.close()

    def _assign(self, consumer: Consumer) -> bool:
        """Assign all partitions at concrete start offsets; False to retry later."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        try:
            md = consumer.list_topics(timeout=5.0)
        except Exception as exc:
            logger.debug("spcstream incidents: metadata failed: %s", exc)
            return False
        tmd = md.topics.get(self.topic)
        if tmd is None or tmd.error is not None or not tmd.partitions:
            logger.debug("spcstream incidents: topic %s not available yet", self.topic)
            return False
        tps = []
        for pid in sorted(tmd.partitions):
            if self._start == "earliest":
                tps.append(TopicPartition(self.topic, pid, OFFSET_BEGINNING))
                continue
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, pid), timeout=5.0
                )
            except Exception as exc:
                logger.debug("spcstream incidents: watermarks failed: %s", exc)
                return False
            tps.append(TopicPartition(self.topic, pid, high))
        consumer.assign(tps)
        self.ready.set()
        logger.debug("spcstream incidents: listening on %s (%d partitions)", self.topic, len(tps))
        return True

    def _handle(self, value: bytes | None) -> None:
        incident = parse_incident(value)
        if incident is None:
            logger.debug("spcstream incidents: skipped a record that is not a JSON incident")
            return
        if incident.station not in self._stations:
            return
        key = (incident.incident_id, incident.revision)
        if key in self._seen:
            return
        self._seen[key] = None
        if len(self._seen) > _DEDUP_MAX:
            self._seen.popitem(last=False)
        try:
            self._callback(incident)
            self.delivered += 1
        except Exception:
            logger.exception("spcstream: incident callback failed")
