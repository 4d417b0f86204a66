"""Counters and added-latency statistics of the hook (thread-safe, O(1) per submit)."""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass

_RING = 2048


@dataclass
class Snapshot:
    """A consistent copy of the counters, returned by :meth:`HookStats.snapshot`.

    Latencies are the time the hook spent inside ``submit()`` after pyWATS returned
    (serialize + produce + poll), in milliseconds, over the last 2048 submits.
    """

    published: int = 0
    delivered: int = 0
    spooled: int = 0
    resent: int = 0
    lost: int = 0
    skipped_repair: int = 0
    skipped_rejected: int = 0
    errors: int = 0
    spool_files: int = 0
    spool_bytes: int = 0
    latency_count: int = 0
    latency_median_ms: float = 0.0
    latency_p99_ms: float = 0.0
    latency_max_ms: float = 0.0

    def as_dict(self) -> dict[str, float | int]:
        """Return the snapshot as a plain dict (for logs and JSON)."""
        return dict(self.__dict__)

    def summary(self) -> str:
        """One human-readable line."""
        return (
            f"published={self.published} delivered={self.delivered} spooled={self.spooled} "
            f"resent={self.resent} lost={self.lost} skipped_repair={self.skipped_repair} "
            f"errors={self.errors} spool={self.spool_files} files; added latency per submit "
            f"median={self.latency_median_ms:.3f} ms p99={self.latency_p99_ms:.3f} ms "
            f"max={self.latency_max_ms:.3f} ms (n={self.latency_count})"
        )


class HookStats:
    """Mutable counters shared by the submit path and the publisher thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._c: dict[str, int] = dict.fromkeys(
            (
                "published",
                "delivered",
                "spooled",
                "resent",
                "lost",
                "skipped_repair",
                "skipped_rejected",
                "errors",
            ),
            0,
        )
        self._lat = array("d", bytes(8 * _RING))
        self._lat_n = 0
        self._lat_max = 0.0

    def incr(self, name: str, n: int = 1) -> None:
        """Add ``n`` to counter ``name``."""
        with self._lock:
            self._c[name] += n

    def get(self, name: str) -> int:
        """Return counter ``name``."""
        with self._lock:
            return self._c[name]

    def add_latency(self, ms: float) -> None:
        """Record the hook's added latency for one submit, in milliseconds."""
        with self._lock:
            self._lat[self._lat_n % _RING] = ms
            self._lat_n += 1
            self._lat_max = max(ms, self._lat_max)

    def snapshot(self, spool_usage: tuple[int, int] = (0, 0)) -> Snapshot:
        """Return a consistent copy of all counters and latency percentiles."""
        with self._lock:
            counters = dict(self._c)
            n = min(self._lat_n, _RING)
            samples = sorted(self._lat[:n])
            count, lat_max = self._lat_n, self._lat_max
        median = p99 = 0.0
        if samples:
            median = samples[(len(samples) - 1) // 2]
            p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
        return Snapshot(
            **counters,
            spool_files=spool_usage[0],
            spool_bytes=spool_usage[1],
            latency_count=count,
            latency_median_ms=median,
            latency_p99_ms=p99,
            latency_max_ms=lat_max,
        )
