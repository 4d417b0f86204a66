"""Kafka helpers for the integration tests (confluent-kafka).

    kafka_io.py create  TOPIC PARTITIONS            create a topic (idempotent)
    kafka_io.py produce FILE TOPIC [--from N] [--count N] [--rate R]
                                                    JSON lines -> records, key = the
                                                    report's machineName (as the hook)
    kafka_io.py consume TOPIC OUT [--idle S] [--expect N] [--timeout S] [--raw]
                                                    all records from the beginning ->
                                                    JSON lines (control records skipped;
                                                    Avro values decoded with fastavro and
                                                    the repository's schemas)
    kafka_io.py count   TOPIC                       records in the topic (high - low)

Bootstrap servers from SPCSTREAM_BOOTSTRAP_SERVERS.  Exit 0 on success.
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import os
import struct
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[2]


def bootstrap() -> str:
    b = os.environ.get("SPCSTREAM_BOOTSTRAP_SERVERS")
    if not b:
        sys.exit("kafka_io: SPCSTREAM_BOOTSTRAP_SERVERS is not set")
    return b


def create(topic: str, partitions: int) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap()})
    futs = admin.create_topics([NewTopic(topic, partitions, 1)])
    for fut in futs.values():
        try:
            fut.result(30)
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def produce(path: str, topic: str, start: int, count: int | None, rate: float) -> int:
    p = Producer({"bootstrap.servers": bootstrap(), "enable.idempotence": True,
                  "linger.ms": 5})
    n = 0
    t0 = time.monotonic()
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i < start:
                continue
            if count is not None and n >= count:
                break
            line = line.rstrip(b"\n")
            key = None
            try:
                key = json.loads(line).get("machineName")
            except (ValueError, AttributeError):
                pass
            while True:
                try:
                    p.produce(topic, line, key=key.encode() if isinstance(key, str) else None)
                    break
                except BufferError:
                    p.poll(0.05)
            n += 1
            p.poll(0)
            if rate > 0:
                due = t0 + n / rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
    left = p.flush(60)
    if left:
        sys.exit(f"kafka_io: {left} records not delivered")
    return n


_SCHEMAS: dict[int, Any] = {}


def _fastavro() -> Any:
    import fastavro  # only needed for Avro topics

    return fastavro


def _schemas() -> dict[int, Any]:
    """Single-object fingerprint -> parsed schema, for the repository schemas."""
    if not _SCHEMAS:
        fa = _fastavro()
        for name in ("measurement_event", "spc_anomaly", "spc_incident"):
            text = (ROOT / "schemas" / f"{name}.avsc").read_text()
            parsed = fa.parse_schema(json.loads(text))
            canon = fa.schema.to_parsing_canonical_form(parsed)
            # fastavro gives the 8 fingerprint bytes as hex, little endian
            fp = struct.unpack("<Q", bytes.fromhex(fa.schema.fingerprint(canon, "CRC-64-AVRO")))[0]
            _SCHEMAS[fp] = parsed
            _SCHEMAS.setdefault(-1, {})[name] = (parsed, canon)
    return _SCHEMAS


def decode(value: bytes) -> Any:
    if value[:2] == b"\xc3\x01":
        fp = struct.unpack("<Q", value[2:10])[0]
        schema = _schemas().get(fp)
        if schema is None:
            raise ValueError(f"unknown schema fingerprint {fp:016x}")
        return _fastavro().schemaless_reader(io.BytesIO(value[10:]), schema)
    return json.loads(value)


def _json_default(o: Any) -> Any:
    """timestamp-millis values come back as datetimes: RFC 3339 as spcstream writes."""
    if isinstance(o, datetime.datetime):
        return o.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
            f"{o.microsecond // 1000:03d}Z")
    raise TypeError(type(o).__name__)


def consume(topic: str, out: str, idle: float, expect: int | None, timeout: float,
            raw: bool) -> int:
    c = Consumer({"bootstrap.servers": bootstrap(), "group.id": f"it-{uuid.uuid4()}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "isolation.level": "read_committed"})
    c.subscribe([topic])
    n = 0
    last = time.monotonic()
    deadline = time.monotonic() + timeout
    with open(out, "w") as f:
        while time.monotonic() < deadline:
            m = c.poll(0.2)
            if m is None:
                if expect is None and n and time.monotonic() - last > idle:
                    break
                if expect is not None and n >= expect:
                    break
                continue
            if m.error():
                continue
            hdrs = dict(m.headers() or [])
            if "spc-control" in hdrs:
                continue
            last = time.monotonic()
            if raw:
                rec: Any = {"key": (m.key() or b"").decode(errors="replace"),
                            "value": (m.value() or b"").decode(errors="replace"),
                            "headers": {k: (v or b"").decode(errors="replace")
                                        for k, v in hdrs.items()},
                            "partition": m.partition(), "offset": m.offset()}
            else:
                rec = decode(m.value())
            f.write(json.dumps(rec, sort_keys=True, default=_json_default) + "\n")
            n += 1
            if expect is not None and n >= expect:
                break
    c.close()
    return n


def count(topic: str) -> int:
    c = Consumer({"bootstrap.servers": bootstrap(), "group.id": f"it-{uuid.uuid4()}"})
    md = c.list_topics(topic, timeout=10)
    total = 0
    for p in md.topics[topic].partitions:
        lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        total += hi - lo
    c.close()
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("create")
    a.add_argument("topic")
    a.add_argument("partitions", type=int)
    a = sub.add_parser("produce")
    a.add_argument("file")
    a.add_argument("topic")
    a.add_argument("--from", dest="start", type=int, default=0)
    a.add_argument("--count", type=int)
    a.add_argument("--rate", type=float, default=0.0)
    a = sub.add_parser("consume")
    a.add_argument("topic")
    a.add_argument("out")
    a.add_argument("--idle", type=float, default=5.0)
    a.add_argument("--expect", type=int)
    a.add_argument("--timeout", type=float, default=120.0)
    a.add_argument("--raw", action="store_true")
    a = sub.add_parser("count")
    a.add_argument("topic")
    args = ap.parse_args(argv)
    if args.cmd == "create":
        create(args.topic, args.partitions)
    elif args.cmd == "produce":
        print(produce(args.file, args.topic, args.start, args.count, args.rate))
    elif args.cmd == "consume":
        print(consume(args.topic, args.out, args.idle, args.expect, args.timeout, args.raw))
    else:
        print(count(args.topic))
    return 0


if __name__ == "__main__":
    sys.exit(main())
