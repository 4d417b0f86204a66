"""`spcstream run` against a real Kafka broker and redis-server (issue 5's list):
same answers as replay, SIGKILL crashes, Redis and Kafka restarts, two processes with a
rebalance, poison input to the DLQ, and operator actions on incidents.

The expected answers come from `spcstream replay` on the same reports (fixture
``fleet``): anomalies compared record by record, incidents by their final revision.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import urllib.request
from typing import Any

from conftest import REPO, Pipeline, _bin, last_revisions


def final_incidents(p: Pipeline) -> dict[str, dict[str, Any]]:
    return last_revisions([json.dumps(x) for x in p.read("incidents", idle=3.0)])


def assert_anomalies(p: Pipeline, fleet: dict[str, Any]) -> list[dict[str, Any]]:
    """Every expected anomaly, nothing else; repeats (after a crash) identical."""
    got = p.read("anomalies", idle=3.0)
    by_id: dict[str, dict[str, Any]] = {}
    for a in got:
        prev = by_id.setdefault(a["anomaly_id"], a)
        assert prev == a, f"two different records with id {a['anomaly_id']}"
    missing = set(fleet["anomalies"]) - set(by_id)
    extra = set(by_id) - set(fleet["anomalies"])
    assert not missing, f"{len(missing)} anomalies missing, e.g. {sorted(missing)[:3]}"
    assert not extra, f"{len(extra)} unexpected anomalies, e.g. {sorted(extra)[:3]}"
    for aid, a in by_id.items():
        assert a == fleet["anomalies"][aid], f"anomaly {aid} differs from replay"
    return got


def assert_incidents(p: Pipeline, fleet: dict[str, Any]) -> None:
    got = final_incidents(p)
    assert set(got) == set(fleet["incidents"]), (
        f"incident ids differ: only streaming {sorted(set(got) - set(fleet['incidents']))}, "
        f"only replay {sorted(set(fleet['incidents']) - set(got))}")
    for iid, inc in fleet["incidents"].items():
        a, b = dict(inc), dict(got[iid])
        # the revision count depends on when revisions were flushed, not on content
        a.pop("revision")
        b.pop("revision")
        assert a == b, f"incident {iid} differs from replay"


def test_same_answers_json(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """JSON output: the anomaly records are byte-identical to replay's lines."""
    p = pipeline_factory("json")
    p.produce(fleet["reports"])
    p.start()
    p.wait_anomalies(len(fleet["anomalies"]))
    took = p.stop()
    assert took < 20, f"SIGTERM took {took:.1f}s"
    out = p.workdir / "raw.jsonl"
    import kafka_io

    kafka_io.consume(p.topics["anomalies"], str(out), 3.0, None, 60, True)
    lines = sorted(json.loads(x)["value"] for x in out.read_text().splitlines())
    assert lines == fleet["anomaly_lines"]
    assert_incidents(p, fleet)


def test_same_answers_avro_and_crashes(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """Avro output (decoded with fastavro); SIGKILL at random points mid-stream and
    restart: the final anomalies and incidents equal the uninterrupted run's."""
    p = pipeline_factory("avro")
    rng = random.Random(5)
    n = fleet["n_reports"]
    p.start()
    sent = 0
    kills = 0
    while sent < n:  # reports arrive while the processor runs and dies
        chunk = min(n - sent, rng.randint(150, 400))
        p.produce(fleet["reports"], start=sent, count=chunk, rate=600)
        sent += chunk
        time.sleep(rng.uniform(0.2, 1.5))
        if kills < 4:
            p.kill()
            kills += 1
            p.start()
    p.wait_anomalies(len(fleet["anomalies"]), timeout=240)
    p.stop()
    got = assert_anomalies(p, fleet)
    assert kills == 4
    assert len(got) >= len(fleet["anomalies"])
    assert_incidents(p, fleet)


def test_redis_and_kafka_restart(pipeline_factory: Any, fleet: dict[str, Any],
                                 services: dict[str, Any]) -> None:
    """Redis restarted, then Kafka restarted, mid-stream: processing resumes, nothing
    lost, nothing different."""
    p = pipeline_factory("avro")
    n = fleet["n_reports"]
    p.start()
    p.produce(fleet["reports"], start=0, count=n // 3, rate=500)
    services["redis"].run("restart", str(services["redis"].state))
    p.produce(fleet["reports"], start=n // 3, count=n // 3, rate=500)
    services["kafka"].run("restart", str(services["kafka"].state))
    p.produce(fleet["reports"], start=2 * (n // 3))
    p.wait_anomalies(len(fleet["anomalies"]), timeout=300)
    p.stop()
    assert_anomalies(p, fleet)
    assert_incidents(p, fleet)


def test_two_processes_rebalance(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """A second process joins mid-stream, then the first leaves: state moves with the
    partitions (through Redis), results unchanged."""
    p = pipeline_factory("avro")
    n = fleet["n_reports"]
    p.start("a")
    p.produce(fleet["reports"], start=0, count=n // 3, rate=400)
    p.start("b")
    p.produce(fleet["reports"], start=n // 3, count=n // 3, rate=400)
    assert "assigned" in p.log("b")
    p.stop("a")
    p.produce(fleet["reports"], start=2 * (n // 3))
    p.wait_anomalies(len(fleet["anomalies"]), timeout=300)
    p.stop("b")
    assert_anomalies(p, fleet)
    assert_incidents(p, fleet)


POISON = [
    (b'{"id": "r-1", "sn": "X", "root": {"steps": [', "truncated JSON"),
    (b"", "empty message"),
    (b'{"id": 5, "sn": ["not", "a", "string"], "partNumber": "P", "start": 3}',
     "wrong types"),
    (b'{"this": "is not a report"}', "valid JSON, not WSJF"),
    (b"\xff\xfe\x00garbage", "binary garbage"),
]


def test_poison_to_dlq(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """Bad reports go to the DLQ with their reason and source; the good reports around
    them give exactly replay's anomalies.  Odd but valid values (NaN, huge numbers,
    unknown step types) are data, not poison."""
    p = pipeline_factory("avro")
    n = fleet["n_reports"]
    import kafka_io
    from confluent_kafka import Producer

    prod = Producer({"bootstrap.servers": kafka_io.bootstrap()})
    p.start()
    p.produce(fleet["reports"], start=0, count=n // 2)
    for value, _ in POISON:
        prod.produce(p.topics["reports"], value)
    # a valid report with NaN, a huge value and an unknown step type: processed
    odd = json.loads(fleet["reports"].read_text().splitlines()[0])
    odd["id"] = "odd-report"
    odd["root"]["steps"] = [
        {"stepType": "ET_NLT", "name": "Odd/NaN", "status": "P",
         "numericMeas": [{"value": "NaN", "status": "P", "compOp": "LOG"}]},
        {"stepType": "ET_NLT", "name": "Odd/Huge", "status": "P",
         "numericMeas": [{"value": 1e308, "status": "P", "compOp": "LOG"}]},
        {"stepType": "XX_FROM_THE_FUTURE", "name": "Odd/Unknown", "status": "P"},
    ]
    prod.produce(p.topics["reports"], json.dumps(odd).encode())
    assert prod.flush(30) == 0
    p.produce(fleet["reports"], start=n // 2)
    p.wait_anomalies(len(fleet["anomalies"]))
    dlq = p.read("dlq", raw=True, expect=len(POISON), timeout=60)
    p.stop()
    assert len(dlq) == len(POISON), [d["headers"] for d in dlq]
    for rec, (value, _) in zip(sorted(dlq, key=lambda r: int(r["headers"]["spc-source-offset"])),
                               POISON):
        h = rec["headers"]
        assert h["spc-stage"] == "normalize"
        assert h["spc-source-topic"] == p.topics["reports"]
        assert h["spc-error"], h
        assert rec["value"] == value.decode(errors="replace")
    errors = " | ".join(d["headers"]["spc-error"] for d in dlq)
    assert "empty" in errors
    assert_anomalies(p, fleet)


def test_actions_ack_and_rebaseline(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """`spcstream action` acknowledges an incident (a new revision, state acknowledged)
    and re-baselines its steps (DETECT logs the reset)."""
    p = pipeline_factory("json")
    p.produce(fleet["reports"])
    p.start()
    p.wait_anomalies(len(fleet["anomalies"]))
    incs = final_incidents(p)
    target = max(incs.values(), key=lambda x: x["anomaly_count"])
    for kind in ("ack", "rebaseline"):
        r = subprocess.run([_bin(), "action", kind, "--incident", target["incident_id"],
                            "--plan", target["test_plan"], "--user", "qe.test",
                            "-c", str(p.config_path)], capture_output=True, text=True,
                           timeout=60, check=False)
        assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        now = final_incidents(p).get(target["incident_id"], {})
        if now.get("state") == "acknowledged" and any("re-baselined" in x
                                                      for x in now.get("notes", [])):
            break
        time.sleep(1)
    assert now.get("state") == "acknowledged", now.get("state")
    assert now.get("acknowledged_by") == "qe.test"
    deadline = time.monotonic() + 30
    while "re-baselined" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.5)
    p.stop()
    assert "re-baselined" in p.log()


def _llm_stub(mode: str) -> tuple[subprocess.Popen[str], int]:
    stub = subprocess.Popen([sys.executable, str(REPO / "tests" / "llm_stub.py"), "--port", "0",
                             "--mode", mode, "--watch-parent"],
                            stdout=subprocess.PIPE, text=True)
    assert stub.stdout is not None
    port = int(stub.stdout.readline().split()[-1])
    return stub, port


def test_llm_advice(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """With SPCSTREAM_LLM_URL set, qualifying incidents (warning and above) gain a
    revision with LLM advice; the prompt carries the incident's facts; anomalies are
    exactly replay's (the advisor is off the event path)."""
    stub, port = _llm_stub("good")
    try:
        p = pipeline_factory("json")
        p.produce(fleet["reports"])
        p.start(env={"SPCSTREAM_LLM_URL": f"http://127.0.0.1:{port}"})
        p.wait_anomalies(len(fleet["anomalies"]))
        deadline = time.monotonic() + 60
        qualifying: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            incs = final_incidents(p)
            qualifying = [i for i in incs.values()
                          if i["severity"] in ("warning", "critical") and not i["merged_into"]]
            if qualifying and all(i["advice"]["source"] == "llm" for i in qualifying):
                break
            time.sleep(1)
        p.stop()
        assert qualifying, "no qualifying incident"
        for inc in qualifying:
            assert inc["advice"]["source"] == "llm", inc["incident_id"]
            assert inc["rule_advice"]["source"] == "rules"
            assert inc["advice"]["causes"] and inc["advice"]["actions"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stub/requests") as r:
            reqs = json.loads(r.read())
        prompts = " ".join(m["content"] for q in reqs for m in q["body"]["messages"])
        assert any(i["incident_id"][:8] in prompts or i["test_plan"] in prompts
                   for i in qualifying)
        assert_anomalies(p, fleet)
    finally:
        stub.terminate()
        stub.wait(10)


def test_llm_down(pipeline_factory: Any, fleet: dict[str, Any]) -> None:
    """The advisor's endpoint refuses connections: the rule advice stands, the
    failures are counted in the log, nothing else changes."""
    from socket import socket

    with socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    p = pipeline_factory("json")
    p.produce(fleet["reports"])
    p.start(env={"SPCSTREAM_LLM_URL": f"http://127.0.0.1:{dead}"})
    p.wait_anomalies(len(fleet["anomalies"]))
    p.stop()
    assert_anomalies(p, fleet)
    assert_incidents(p, fleet)
    assert "LLM advice failed" in p.log()
