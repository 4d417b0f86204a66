"""The 'done when' scenario: an unchanged station script, one environment variable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import consume, header, subprocess_env
from test_kafka_outage import STATION_SCRIPT

pytestmark = pytest.mark.kafka


def test_unchanged_station_script_with_one_env_var(kafka, topic, wats, tmp_path: Path) -> None:
    script = tmp_path / "station.py"
    script.write_text(STATION_SCRIPT)  # no spcstream import anywhere
    assert "spcstream" not in STATION_SCRIPT
    env = subprocess_env(
        SPCSTREAM_BOOTSTRAP_SERVERS=kafka.bootstrap,
        SPCSTREAM_TOPIC=topic,
        SPCSTREAM_SPOOL_DIR=str(tmp_path / "spool"),
    )
    proc = subprocess.run(
        [sys.executable, str(script), wats.url, "25", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    msgs = consume(kafka.bootstrap, topic, 25, settle=1.0)
    received = {json.loads(b)["id"]: b for b in wats.received}
    assert len(received) == 25
    ids = [header(m, "report-id").decode() for m in msgs]
    assert sorted(ids) == sorted(received)
    assert all(m.value() == received[header(m, "report-id").decode()] for m in msgs)


def test_simulator_drives_fleet_through_hook(kafka, topic, tmp_path: Path) -> None:
    record = tmp_path / "received.jsonl"
    out = tmp_path / "reports.jsonl"
    truth = tmp_path / "truth.json"
    cmd = [
        sys.executable,
        "-m",
        "spcsim",
        "--serve",
        "--serve-record",
        str(record),
        "--output",
        str(out),
        "--truth",
        str(truth),
        "--units",
        "40",
        "--stations",
        "4",
        "--products",
        "2",
        "--seed",
        "5",
        "--kafka",
        kafka.bootstrap,
        "--topic",
        topic,
        "--fault",
        "fixture_contact:fixture=FX-2B,from=10",
        "-q",
    ]
    env = subprocess_env(SPCSTREAM_SPOOL_DIR=str(tmp_path / "spool"), SPCSTREAM_INCIDENTS="0")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "published=40" in proc.stderr
    server_lines = record.read_bytes().splitlines()
    assert server_lines == out.read_bytes().splitlines(), "--output == what pyWATS POSTed"
    msgs = consume(kafka.bootstrap, topic, 40, settle=1.0)
    assert sorted(m.value() for m in msgs) == sorted(server_lines)
    manifest = json.loads(truth.read_text())
    assert manifest["faults"][0]["subgroup"] == {"dimension": "fixture", "value": "FX-2B"}
