"""The on-disk spool: durable, ordered, bounded, corruption-tolerant."""

from __future__ import annotations

import os
from pathlib import Path

from spcstream_pywats.spool import Record, Spool


def rec(i: int, size: int = 10) -> Record:
    return Record(
        topic="t",
        value=b"v" * size + str(i).encode(),
        key=b"ST-01",
        headers=[("report-id", f"id-{i}".encode()), ("x", b"\x00\xff")],
        report_id=f"id-{i}",
        ts_ns=1_000_000 + i,
        seq=i,
    )


def test_roundtrip_and_order(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "s", 10**6, 100)
    for i in (3, 1, 2):
        assert sp.put(rec(i))
    entries = sp.pending()
    loaded = [sp.load(e) for e in entries]
    assert [r.report_id for r in loaded if r] == ["id-1", "id-2", "id-3"]
    r1 = loaded[0]
    assert r1 is not None and r1.value == rec(1).value and r1.key == b"ST-01"
    assert r1.headers == rec(1).headers and r1.topic == "t"
    assert sp.usage()[0] == 3
    for e in entries:
        sp.remove(e)
    assert sp.pending() == [] and sp.usage() == (0, 0)


def test_bounded_by_count_refuses_new(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 2)
    assert sp.put(rec(1)) and sp.put(rec(2))
    assert not sp.put(rec(3))
    assert [sp.load(e).report_id for e in sp.pending()] == ["id-1", "id-2"]  # oldest kept


def test_bounded_by_bytes(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 800, 100)
    assert sp.put(rec(1, 300))
    assert not sp.put(rec(2, 600))
    assert sp.put(rec(3, 10))


def test_counts_survive_reopen_and_tmp_garbage_removed(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 100)
    sp.put(rec(1))
    (tmp_path / "00000000000000000001-1-1-1.tmp").write_bytes(b"half")
    sp2 = Spool(tmp_path, 10**6, 100)
    sp2.put(rec(2))
    assert sp2.usage()[0] == 2
    assert not list(tmp_path.glob("*.tmp"))


def test_corrupt_entry_quarantined(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 100)
    sp.put(rec(1))
    sp.put(rec(2))
    first = sp.pending()[0]
    path = tmp_path / first.name
    path.write_bytes(path.read_bytes()[:-3])  # truncated value
    assert sp.load(first) is None
    assert (tmp_path / "corrupt" / first.name).exists()
    assert [sp.load(e).report_id for e in sp.pending()] == ["id-2"]


def test_bad_magic_and_crc(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 100)
    sp.put(rec(1))
    e = sp.pending()[0]
    raw = bytearray((tmp_path / e.name).read_bytes())
    raw[-1] ^= 0xFF
    (tmp_path / e.name).write_bytes(bytes(raw))
    assert sp.load(e) is None


def test_lost_log(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 100)
    sp.note_lost("abc", "spool full")
    line = (tmp_path / "lost.log").read_text()
    assert "abc spool full" in line


def test_drain_lock_is_exclusive(tmp_path: Path) -> None:
    a = Spool(tmp_path, 10**6, 100)
    b = Spool(tmp_path, 10**6, 100)
    assert a.try_lock_drain()
    assert a.try_lock_drain()  # re-entrant for the holder
    assert not b.try_lock_drain()
    a.unlock_drain()
    assert b.try_lock_drain()
    b.unlock_drain()


def test_files_are_complete_when_visible(tmp_path: Path) -> None:
    sp = Spool(tmp_path, 10**6, 100)
    sp.put(rec(1, 5000))
    names = os.listdir(tmp_path)
    assert all(n.endswith(".rec") or n in ("drain.lock",) for n in names)
