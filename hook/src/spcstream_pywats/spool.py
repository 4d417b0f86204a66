"""Bounded, crash-safe on-disk FIFO of Kafka records (the hook's outage buffer).

DATA FLOW   Record --put()--> <dir>/<seq>.rec (tmp + fsync + rename + dir fsync)
            --pending()/load()--> Record --remove()--> gone (only after delivery)
OWNERSHIP   A record is in the spool from a successful ``put`` until ``remove``: the
            spool owns it; the publisher only borrows it while it is being resent.
ORDER       File names start with the record's publish time (ns) and a per-process
            counter, so ``pending()`` (sorted by name) is submit order, across
            processes sharing the directory too.
BOUNDS      ``max_bytes`` / ``max_files``: when either is reached, ``put`` refuses the
            record (keeps the oldest, which are the ones at risk longest and whose order
            matters) and the caller counts it as lost; :meth:`note_lost` appends the
            report id to ``lost.log`` so it can be re-exported from WATS, which already
            accepted the report.
FAILURE     A truncated or corrupt entry (bad magic, length or CRC) is moved to
            ``corrupt/`` with an ERROR log, never resent.  Leftover ``*.tmp`` files
            (crash mid-write) are deleted on open.
THREADING   One instance per publisher; methods are called from the publisher's
            background thread and from ``close()``; an internal lock guards counters.
            Several processes may share a directory: only the holder of ``drain.lock``
            (see :meth:`try_lock_drain`) resends.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import logging
import os
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

logger = logging.getLogger(__name__)

MAGIC = b"SPCSPOOL1\n"
SUFFIX = ".rec"
TMP_SUFFIX = ".tmp"
LOST_LOG = "lost.log"
LOST_LOG_MAX = 1024 * 1024


@dataclass(slots=True)
class Record:
    """One Kafka message to deliver.

    Attributes:
        topic: destination topic.
        value: message value (the WSJF bytes).
        key: message key (the station name, UTF-8) or None.
        headers: message headers as (name, bytes) pairs.
        report_id: report id, for logs and the lost list.
        ts_ns: publish time (``time.time_ns()``), the ordering key in the spool.
        seq: per-process sequence number, tie-breaker for equal timestamps.
    """

    topic: str
    value: bytes
    key: bytes | None
    headers: list[tuple[str, bytes]]
    report_id: str | None = None
    ts_ns: int = field(default_factory=time.time_ns)
    seq: int = 0

    def size(self) -> int:
        """Approximate on-disk size in bytes."""
        return len(self.value) + len(self.key or b"") + 256


@dataclass(frozen=True, slots=True)
class SpoolEntry:
    """A record file in the spool (name sorts in submit order)."""

    name: str
    size: int


class Spool:
    """Bounded crash-safe FIFO directory of :class:`Record` files."""

    def __init__(self, directory: Path, max_bytes: int, max_files: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.max_files = max_files
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._counter = itertools.count()
        self._files = 0
        self._bytes = 0
        self._lock_fh: IO[bytes] | None = None
        self._ready = False

    # ------------------------------------------------------------------ setup

    def _ensure_dir(self) -> None:
        if self._ready:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        for tmp in self.directory.glob(f"*{TMP_SUFFIX}"):
            # A crash between write and rename leaves a temp file: its record was never
            # acknowledged as spooled, so it is garbage (the caller still owned it).
            with contextlib.suppress(OSError):
                tmp.unlink()
        self._ready = True
        self.rescan()

    def rescan(self) -> tuple[int, int]:
        """Recount files and bytes from disk (other processes may share the dir)."""
        files = 0
        size = 0
        try:
            with os.scandir(self.directory) as it:
                for ent in it:
                    if ent.name.endswith(SUFFIX):
                        with contextlib.suppress(OSError):
                            size += ent.stat().st_size
                            files += 1
        except FileNotFoundError:
            pass
        with self._lock:
            self._files, self._bytes = files, size
        return files, size

    # ------------------------------------------------------------------ write

    def usage(self) -> tuple[int, int]:
        """Return (files, bytes) currently in the spool (as last counted)."""
        with self._lock:
            return self._files, self._bytes

    def put(self, rec: Record) -> bool:
        """Persist ``rec``; return False when the spool is full or the write failed.

        The file is complete and durable (fsync of file and directory) before it becomes
        visible under its final name, so a crash never leaves a half record behind.
        """
        try:
            self._ensure_dir()
        except OSError as exc:
            logger.error("spool directory %s unusable: %s", self.directory, exc)
            return False
        payload = self._encode(rec)
        with self._lock:
            if self._files + 1 > self.max_files or self._bytes + len(payload) > self.max_bytes:
                return False
            self._files += 1
            self._bytes += len(payload)
        name = f"{rec.ts_ns:020d}-{self._pid}-{rec.seq:010d}-{next(self._counter):06d}"
        final = self.directory / (name + SUFFIX)
        tmp = self.directory / (name + TMP_SUFFIX)
        try:
            with open(tmp, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, final)
            self._fsync_dir()
        except OSError as exc:
            logger.error("spool write failed for report %s: %s", rec.report_id, exc)
            with contextlib.suppress(OSError):
                tmp.unlink()
            with self._lock:
                self._files -= 1
                self._bytes -= len(payload)
            return False
        return True

    def _fsync_dir(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:  # e.g. Windows: directories cannot be opened
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    @staticmethod
    def _encode(rec: Record) -> bytes:
        header = {
            "topic": rec.topic,
            "key": None if rec.key is None else base64.b64encode(rec.key).decode("ascii"),
            "headers": [[k, base64.b64encode(v).decode("ascii")] for k, v in rec.headers],
            "report_id": rec.report_id,
            "ts_ns": rec.ts_ns,
            "len": len(rec.value),
            "crc32": zlib.crc32(rec.value),
        }
        return MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n" + rec.value

    # ------------------------------------------------------------------ read

    def pending(self, limit: int | None = None) -> list[SpoolEntry]:
        """Return spooled entries, oldest first (at most ``limit``)."""
        entries: list[SpoolEntry] = []
        try:
            with os.scandir(self.directory) as it:
                for ent in it:
                    if ent.name.endswith(SUFFIX):
                        with contextlib.suppress(OSError):
                            entries.append(SpoolEntry(ent.name, ent.stat().st_size))
        except FileNotFoundError:
            return []
        entries.sort(key=lambda e: e.name)
        return entries if limit is None else entries[:limit]

    def load(self, entry: SpoolEntry) -> Record | None:
        """Read an entry; a corrupt one is quarantined and None is returned."""
        path = self.directory / entry.name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None  # drained by another process meanwhile
        except OSError as exc:
            logger.error("cannot read spool entry %s: %s", entry.name, exc)
            return None
        try:
            return self._decode(raw)
        except (ValueError, KeyError, TypeError) as exc:
            self._quarantine(path, str(exc))
            return None

    @staticmethod
    def _decode(raw: bytes) -> Record:
        if not raw.startswith(MAGIC):
            raise ValueError("bad magic")
        nl = raw.index(b"\n", len(MAGIC))
        header: dict[str, Any] = json.loads(raw[len(MAGIC) : nl])
        value = raw[nl + 1 :]
        if len(value) != header["len"]:
            raise ValueError(f"truncated value ({len(value)} of {header['len']} bytes)")
        if zlib.crc32(value) != header["crc32"]:
            raise ValueError("CRC mismatch")
        key = header.get("key")
        return Record(
            topic=header["topic"],
            value=value,
            key=None if key is None else base64.b64decode(key),
            headers=[(k, base64.b64decode(v)) for k, v in header.get("headers", [])],
            report_id=header.get("report_id"),
            ts_ns=int(header.get("ts_ns", 0)),
        )

    def _quarantine(self, path: Path, reason: str) -> None:
        bad = self.directory / "corrupt"
        logger.error("corrupt spool entry %s (%s): moved to %s", path.name, reason, bad)
        try:
            bad.mkdir(exist_ok=True)
            os.replace(path, bad / path.name)
        except OSError as exc:
            logger.error("cannot quarantine %s: %s", path.name, exc)
        self.rescan()

    def remove(self, entry: SpoolEntry) -> None:
        """Delete an entry after its delivery was confirmed."""
        try:
            (self.directory / entry.name).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            logger.error("cannot delete delivered spool entry %s: %s", entry.name, exc)
            return
        with self._lock:
            self._files = max(0, self._files - 1)
            self._bytes = max(0, self._bytes - entry.size)

    # ------------------------------------------------------------------ misc

    def note_lost(self, report_id: str | None, reason: str) -> None:
        """Append a lost report id to ``lost.log`` (bounded, rotated once)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / LOST_LOG
            with contextlib.suppress(FileNotFoundError):
                if path.stat().st_size > LOST_LOG_MAX:
                    os.replace(path, path.with_suffix(".log.1"))
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            with open(path, "a", encoding="utf-8") as fh:
                fh.write(f"{stamp} {report_id or '-'} {reason}\n")
        except OSError as exc:
            logger.error("cannot write %s: %s", LOST_LOG, exc)

    def try_lock_drain(self) -> bool:
        """Take the directory's drain lock (non-blocking); True if this process holds it."""
        if self._lock_fh is not None:
            return True
        try:
            self._ensure_dir()
            fh = open(self.directory / "drain.lock", "a+b")  # noqa: SIM115  (held open)
        except OSError:
            return False
        if not _lock_file(fh):
            fh.close()
            return False
        self._lock_fh = fh
        return True

    def unlock_drain(self) -> None:
        """Release the drain lock if held."""
        fh, self._lock_fh = self._lock_fh, None
        if fh is not None:
            with contextlib.suppress(OSError):
                _unlock_file(fh)
            fh.close()


def _lock_file(fh: IO[bytes]) -> bool:
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except ImportError:  # Windows
        import msvcrt

        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
            return True
        except OSError:
            return False
    except OSError:
        return False


def _unlock_file(fh: IO[bytes]) -> None:
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
    except ImportError:
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
