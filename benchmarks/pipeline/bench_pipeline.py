"""bench_pipeline: `spcstream run` through a real Kafka broker and redis-server.

Measures, on this machine:
  1. sustained throughput: a backlog of reports of 50 measurements (plus the unit
     result) drained by one process with all stages; reports/s and measurements/s
     between 10 % and 90 % of the backlog (from the Prometheus counters);
  2. end-to-end latency at a fixed offered rate (default 500 reports/s): every 5th
     report carries an out-of-control probe reading, so the probe anomaly's Kafka
     timestamp minus its report's Kafka timestamp is the latency report produced ->
     anomaly produced; p50/p99/max over all probes;
  3. checkpoint overhead: throughput with checkpoints every 5 s (default) against
     every 60 s, interleaved runs, medians.

Services: started here with ops/kafka/kafka.sh (full JIT: KAFKA_JVM_OPTS=-XX:+UseG1GC)
and ops/redis/redis.sh in a temp dir, stopped at the end.

Usage: .venv/bin/python benchmarks/pipeline/bench_pipeline.py [--reports N] [--rate R]
       [--seconds S] [--runs K] [--bin build-rel/consumer/spcstream] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

import kafka_io
from confluent_kafka import Consumer, Producer, TopicPartition

STEPS = 50
PRODUCTS = ["PCBA-100", "PCBA-200", "PCBA-300", "PCBA-400"]
STATIONS = [f"ST-{i:02d}" for i in range(1, 9)]


def report(i: int, rng: random.Random, probe: bool) -> bytes:
    """A WSJF report (as pyWATS submits it) with STEPS numeric steps and a probe."""
    pn = PRODUCTS[i % len(PRODUCTS)]
    st = STATIONS[i % len(STATIONS)]
    groups: list[dict[str, Any]] = []
    for g in range(5):
        steps = []
        for s in range(STEPS // 5):
            k = g * 10 + s
            mu, sd = 1.0 + k, 0.01 * (1 + k % 7)
            v = round(rng.gauss(mu, sd), 6)
            steps.append({"stepType": "ET_NLT", "name": f"M{k:02d}", "status": "P",
                          "numericMeas": [{"status": "P", "value": v, "unit": "V",
                                           "compOp": "GELE", "lowLimit": mu - 8 * sd,
                                           "highLimit": mu + 8 * sd}]})
        groups.append({"stepType": "SequenceCall", "name": f"G{g}", "status": "P",
                       "steps": steps})
    pv = 1000.0 if probe else round(rng.gauss(0, 0.3), 4)
    groups.append({"stepType": "ET_NLT", "name": "Probe", "status": "P",
                   "numericMeas": [{"status": "P", "value": pv, "compOp": "LOG"}]})
    return json.dumps({
        "id": str(uuid.UUID(int=rng.getrandbits(128))), "type": "T", "pn": pn,
        "sn": f"B{i:08d}", "rev": "A", "processCode": 10, "result": "P",
        "machineName": st, "start": "2026-11-01T06:00:00.000Z",
        "uut": {"user": f"op{i % 6}", "fixtureId": f"{st}-F{i % 2}",
                "testSocketIndex": i % 2},
        "miscInfos": [{"description": "FirmwareVersion", "text": "3.4.2"}],
        "root": {"stepType": "SequenceCall", "name": "MainSequence Callback",
                 "status": "P", "seqCall": {"name": f"{pn}.seq", "version": "1.0"},
                 "steps": groups},
    }, separators=(",", ":")).encode()


def sh(script: str, *args: str, env: dict[str, str] | None = None) -> str:
    p = subprocess.run([str(REPO / "ops" / script), *args], capture_output=True,
                       text=True, check=True, timeout=300, env=env)
    return p.stdout


def kv(out: str, key: str) -> str:
    return next(x.split("=", 1)[1] for x in out.splitlines() if x.startswith(key + "="))


class Run:
    def __init__(self, binary: str, work: Path, redis: str, ckpt_ms: int) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.topics = {n: f"b{self.tag}.{n}" for n in
                       ("reports", "measurements", "anomalies", "incidents", "actions", "dlq")}
        host, port = redis.rsplit(":", 1)
        probe_off = {d: {"enabled": False} for d in
                     ("ewma", "cusum", "variance", "trend", "flatline", "robust_z",
                      "subgroup", "near_limit", "yield")}
        cfg = {
            "topics": {**self.topics, "measurements_partitions": 6,
                       "anomalies_partitions": 3, "partitions": 3},
            "run": {"group": f"g{self.tag}", "checkpoint_interval_ms": ckpt_ms,
                    "stats_interval_ms": 1000},
            "redis": {"host": host, "port": int(port), "prefix": f"b{self.tag}:"},
            "steps": [{"match": "*/Probe/Probe", "baseline": {"mean": 0, "sigma": 1},
                       "detectors": probe_off}],
        }
        self.cfg = work / f"bench-{self.tag}.json"
        self.cfg.write_text(json.dumps(cfg))
        self.binary, self.work = binary, work
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        kafka_io.create(self.topics["reports"], 3)

    def start(self) -> None:
        from socket import socket

        with socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.log = (self.work / f"run-{self.tag}.log").open("wb")
        self.proc = subprocess.Popen([self.binary, "run", "-c", str(self.cfg),
                                      "--metrics-port", str(self.port)],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def metrics(self) -> dict[str, float]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics",
                                        timeout=2) as r:
                text = r.read().decode()
        except OSError:
            return {}
        out: dict[str, float] = {}
        for line in text.splitlines():
            m = re.match(r"^(\w+)(?:\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
            if m:
                out[m.group(1)] = float(m.group(2))
        return out

    def stop(self) -> None:
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
            self.proc = None


def produce(topic: str, payloads: list[bytes], rate: float = 0.0) -> None:
    p = Producer({"bootstrap.servers": kafka_io.bootstrap(), "linger.ms": 5,
                  "enable.idempotence": True, "compression.type": "lz4",
                  "queue.buffering.max.kbytes": 1048576})
    t0 = time.monotonic()
    for i, v in enumerate(payloads):
        while True:
            try:
                p.produce(topic, v, key=STATIONS[i % len(STATIONS)].encode())
                break
            except BufferError:
                p.poll(0.02)
        p.poll(0)
        if rate:
            d = t0 + (i + 1) / rate - time.monotonic()
            if d > 0:
                time.sleep(d)
    assert p.flush(120) == 0


def throughput(args: argparse.Namespace, work: Path, redis: str, ckpt_ms: int,
               payloads: list[bytes]) -> dict[str, float]:
    r = Run(args.bin, work, redis, ckpt_ms)
    produce(r.topics["reports"], payloads)
    r.start()
    total = len(payloads)
    samples: list[tuple[float, float, float]] = []
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        m = r.metrics()
        if m:
            samples.append((time.monotonic(), m.get("spcstream_reports_total", 0),
                            m.get("spcstream_events_processed_total", 0)))
            if samples[-1][2] >= total * (STEPS + 2):
                break
        time.sleep(0.25)
    r.stop()
    # the end of the pipeline (DETECT) between 10 % and 90 % of the events:
    # a report is done when its measurements are
    events = total * (STEPS + 2)
    lo = next(s for s in samples if s[2] >= 0.1 * events)
    hi = next(s for s in samples if s[2] >= 0.9 * events)
    secs = hi[0] - lo[0]
    return {"reports_per_s": (hi[2] - lo[2]) / (STEPS + 2) / secs,
            "measurements_per_s": (hi[2] - lo[2]) / secs}


def latency(args: argparse.Namespace, work: Path, redis: str) -> dict[str, float]:
    r = Run(args.bin, work, redis, 5000)
    r.start()
    time.sleep(3)  # joined and assigned
    rng = random.Random(7)
    warm = int(args.rate * args.warmup)
    n = int(args.rate * args.seconds)
    payloads = [report(i, rng, i % 5 == 4) for i in range(warm + n)]
    # the first seconds (JIT of the broker, first transactions) are not
    # measured: probes of the warm-up reports are dropped below
    produce(r.topics["reports"], payloads, rate=args.rate)
    warm_sns = {f"B{i:08d}" for i in range(warm)}
    time.sleep(3)
    r.stop()
    sent: dict[str, int] = {}
    got: dict[str, int] = {}
    for topic, into in ((r.topics["reports"], sent), (r.topics["anomalies"], got)):
        c = Consumer({"bootstrap.servers": kafka_io.bootstrap(),
                      "group.id": f"lat-{uuid.uuid4()}", "auto.offset.reset": "earliest"})
        md = c.list_topics(topic, timeout=10)
        parts = [TopicPartition(topic, p, 0) for p in md.topics[topic].partitions]
        c.assign(parts)
        idle = time.monotonic()
        while time.monotonic() - idle < 3:
            m = c.poll(0.2)
            if m is None or m.error():
                continue
            idle = time.monotonic()
            if dict(m.headers() or []).get("spc-control"):
                continue
            ts = m.timestamp()[1]
            if topic == r.topics["reports"]:
                sn = json.loads(m.value())["sn"]
                if sn not in warm_sns:
                    into[sn] = ts
            else:
                a = kafka_io.decode(m.value())
                if a["test_step"] == "Probe":
                    into[a["uut_id"]] = ts
        c.close()
    series = sorted((sent[k], got[k] - sent[k]) for k in got if k in sent)
    if args.series:
        Path(args.series).write_text(json.dumps(series))
    lat = sorted(x[1] for x in series)
    if not lat:
        raise SystemExit("no probe anomalies: see " + str(r.log.name))
    return {"probes": len(lat), "expected_probes": n // 5,
            "p50_ms": statistics.median(lat), "p99_ms": lat[int(0.99 * (len(lat) - 1))],
            "max_ms": lat[-1], "offered_rate": args.rate}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reports", type=int, default=30000)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--bin", default=str(REPO / "build-rel" / "consumer" / "spcstream"))
    ap.add_argument("--json")
    ap.add_argument("--series", help="write (report time, latency ms) pairs here")
    ap.add_argument("--latency-only", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spc-bench-"))
    env = dict(os.environ, KAFKA_JVM_OPTS=os.environ.get("KAFKA_JVM_OPTS", "-XX:+UseG1GC"))
    kafka_state, redis_state = work / "kafka", work / "redis"
    os.environ["SPCSTREAM_BOOTSTRAP_SERVERS"] = kv(sh("kafka/kafka.sh", "start",
                                                      str(kafka_state), env=env), "BOOTSTRAP")
    redis = kv(sh("redis/redis.sh", "start", str(redis_state)), "REDIS")
    try:
        res: dict[str, Any] = {"runs": []}
        if args.latency_only:
            res["latency"] = lt = latency(args, work, redis)
            print(f"latency at {args.rate:.0f} reports/s: p50 {lt['p50_ms']:.0f} ms, "
                  f"p99 {lt['p99_ms']:.0f} ms, max {lt['max_ms']:.0f} ms", flush=True)
            return 0
        rng = random.Random(1)
        payloads = [report(i, rng, False) for i in range(args.reports)]
        print(f"{len(payloads)} reports of {STEPS} measurements "
              f"({sum(map(len, payloads)) / len(payloads) / 1024:.1f} KiB each)", flush=True)
        for k in range(args.runs):  # interleaved: default vs rare checkpoints
            for ck in (5000, 60000):
                t = throughput(args, work, redis, ck, payloads)
                t["checkpoint_interval_ms"] = ck
                res["runs"].append(t)
                print(f"run {k + 1}, checkpoints every {ck / 1000:.0f} s: "
                      f"{t['reports_per_s']:.0f} reports/s, "
                      f"{t['measurements_per_s']:.0f} measurements/s", flush=True)
        for ck in (5000, 60000):
            rs = [x["reports_per_s"] for x in res["runs"] if x["checkpoint_interval_ms"] == ck]
            ms = [x["measurements_per_s"] for x in res["runs"]
                  if x["checkpoint_interval_ms"] == ck]
            res[f"median_{ck}"] = {"reports_per_s": statistics.median(rs),
                                   "measurements_per_s": statistics.median(ms)}
        d, r = res["median_5000"]["reports_per_s"], res["median_60000"]["reports_per_s"]
        res["checkpoint_overhead_pct"] = 100.0 * (r - d) / r
        print(f"median: {d:.0f} reports/s ({res['median_5000']['measurements_per_s']:.0f} "
              f"measurements/s) with 5 s checkpoints, {r:.0f} with 60 s: checkpoint "
              f"overhead {res['checkpoint_overhead_pct']:.1f} %", flush=True)
        res["latency"] = latency(args, work, redis)
        lt = res["latency"]
        print(f"latency at {args.rate:.0f} reports/s: p50 {lt['p50_ms']:.0f} ms, "
              f"p99 {lt['p99_ms']:.0f} ms, max {lt['max_ms']:.0f} ms "
              f"({lt['probes']} of {lt['expected_probes']} probes)", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(res, indent=1))
    finally:
        sh("redis/redis.sh", "stop", str(redis_state))
        sh("kafka/kafka.sh", "stop", str(kafka_state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
