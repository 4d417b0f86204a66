"""schemas/config.schema.json stays true to the parser: the samples and shipped configs
validate against the schema and pass `spcstream config --check`; bad configs are
rejected by both, the binary naming the JSON path; every engine default the binary
prints is the schema's default, and every engine key it prints is in the schema."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((REPO / "schemas" / "config.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
BIN = os.environ.get("SPCSTREAM_BIN") or str(REPO / "build" / "consumer" / "spcstream")
GOOD = sorted((REPO / "schemas" / "samples").glob("*.json")) + [
    REPO / "ops" / "production" / "spcstream.json", REPO / "ops" / "demo" / "config.json"]


def check(path: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SPCSTREAM_REDIS_PASSWORD="x")
    return subprocess.run([BIN, "config", "--check", str(path)], capture_output=True,
                          text=True, timeout=30, env=env, check=False)


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_configs_pass_schema_and_binary(path: Path) -> None:
    VALIDATOR.validate(json.loads(path.read_text()))
    r = check(path)
    assert r.returncode == 0, r.stderr


BAD: list[tuple[dict[str, Any], str]] = [
    ({"bufer_size": 256}, "bufer_size"),
    ({"buffer_size": 8}, "buffer_size"),
    ({"detectors": {"ewma": {"lambda": 0}}}, "detectors.ewma.lambda"),
    ({"detectors": {"ewma": {"limits": "tight"}}}, "detectors.ewma.limits"),
    ({"detectors": {"cusum": {"h": "5"}}}, "detectors.cusum.h"),
    ({"detectors": {"runs": {"rules": [9]}}}, "detectors.runs.rules"),
    ({"detectors": {"subgroup": {"tests": ["median"]}}}, "detectors.subgroup.tests"),
    ({"detectors": {"sparkle": {}}}, "detectors.sparkle"),
    ({"steps": [{"baseline": {"mean": 1, "sigma": 1}}]}, "steps[0].match"),
    ({"steps": [{"match": "*", "baseline": {"mean": 1}}]}, "steps[0].baseline.sigma"),
    ({"steps": [{"match": "*", "detectors": {"trend": {"window": 2}}}]},
     "steps[0].detectors.trend.window"),
    ({"alarm_budget": {"false_alarms_per_hour": 0.1, "units_per_hour": 100}},
     "alarm_budget.charted_steps"),
    ({"incidents": {"min_severity": "panic"}}, "incidents.min_severity"),
    ({"llm": {"timeout_ms": 5}}, "llm.timeout_ms"),
    ({"llm": {"endpoint": "ftp://x"}}, "llm.endpoint"),
    ({"run": {"workers": 0}}, "run.workers"),
    ({"run": {"output_format": "xml"}}, "run.output_format"),
    ({"topics": {"anomalies_partitions": 0}}, "topics.anomalies_partitions"),
    ({"redis": {"port": 0}}, "redis.port"),
    ({"redis": {"colour": "red"}}, "redis.colour"),
]


@pytest.mark.parametrize(("cfg", "path"), BAD, ids=[p for _, p in BAD])
def test_bad_configs_rejected_by_both(cfg: dict[str, Any], path: str,
                                      tmp_path: Path) -> None:
    with pytest.raises(jsonschema.ValidationError):
        VALIDATOR.validate(cfg)
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(cfg))
    r = check(f)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert path in r.stderr, r.stderr


def _schema_default(*keys: str) -> Any:
    node: Any = SCHEMA
    for k in keys:
        node = node["properties"][k]
    return node["default"]


def test_defaults_match_the_binary() -> None:
    out = subprocess.run([BIN, "config", "--defaults"], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    d = json.loads(out)
    assert _schema_default("buffer_size") == d["buffer_size"]
    assert _schema_default("test_plan_format") == d["test_plan_format"]
    for k, v in d["baseline"].items():
        assert _schema_default("baseline", k) == v, k
    for det, params in d["detectors"].items():
        for k, v in params.items():
            assert _schema_default("detectors", det, k) == v, f"{det}.{k}"
    # and nothing in the schema's detectors that the binary does not know
    for det, node in SCHEMA["properties"]["detectors"]["properties"].items():
        assert set(node["properties"]) == set(d["detectors"][det]), det
