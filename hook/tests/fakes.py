"""A scriptable stand-in for confluent_kafka.Producer (unit tests of ownership rules)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException


@dataclass
class Produced:
    topic: str
    value: bytes
    key: bytes | None
    headers: Any
    on_delivery: Any


@dataclass
class _Topic:
    error: Any = None


@dataclass
class _Metadata:
    brokers: dict[int, Any] = field(default_factory=lambda: {1: object()})
    topics: dict[str, _Topic] = field(default_factory=dict)


class FakeProducer:
    """Records produce() calls; delivery outcome decided by ``mode``:

    * ``"ok"``: delivered on the next poll
    * ``"fail"``: delivery fails with _MSG_TIMED_OUT on the next poll
    * ``"hold"``: nothing happens until ``release()``
    * ``"full"``: produce() raises BufferError
    * ``"too_large"``: delivery fails with MSG_SIZE_TOO_LARGE (permanent)
    ``down=True`` makes list_topics() fail (broker unreachable).
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        self.conf = conf
        self.mode = "ok"
        self.down = False
        self.produced: list[Produced] = []
        self.delivered: list[Produced] = []
        self._pending: deque[tuple[Produced, Any]] = deque()
        self._held: list[Produced] = []
        self._lock = threading.Lock()
        self.purged = 0

    def produce(
        self,
        topic: str,
        value: bytes,
        key: bytes | None = None,
        headers: Any = None,
        on_delivery: Any = None,
    ) -> None:
        if self.mode == "full":
            raise BufferError("Local: Queue full")
        p = Produced(topic, value, key, headers, on_delivery)
        with self._lock:
            self.produced.append(p)
            if self.mode == "ok":
                self._pending.append((p, None))
            elif self.mode == "fail":
                self._pending.append((p, KafkaError(KafkaError._MSG_TIMED_OUT)))
            elif self.mode == "too_large":
                self._pending.append((p, KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)))
            else:
                self._held.append(p)

    def release(self, error: Any = None) -> None:
        with self._lock:
            for p in self._held:
                self._pending.append((p, error))
            self._held.clear()

    def poll(self, timeout: float = 0) -> int:
        n = 0
        while True:
            with self._lock:
                if not self._pending:
                    break
                p, err = self._pending.popleft()
            if err is None:
                self.delivered.append(p)
            if p.on_delivery is not None:
                p.on_delivery(err, None)
            n += 1
        if timeout and n == 0:
            time.sleep(min(timeout, 0.01))
        return n

    def flush(self, timeout: float | None = None) -> int:
        self.poll(0)
        with self._lock:
            return len(self._held)

    def purge(self, in_queue: bool = True, in_flight: bool = True, blocking: bool = True) -> None:
        with self._lock:
            for p in self._held:
                self._pending.append((p, KafkaError(KafkaError._PURGE_QUEUE)))
                self.purged += 1
            self._held.clear()

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> _Metadata:
        if self.down:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))
        return _Metadata(topics={topic or "": _Topic()})

    def __len__(self) -> int:
        with self._lock:
            return len(self._held) + len(self._pending)
