"""The station simulator (ops/sim/spcsim): realism, determinism, faults, ground truth."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from conftest import subprocess_env
from spcsim.catalog import PRODUCTS, iter_measurements
from spcsim.faults import FaultSpecError, glob_to_regex, parse_fault
from spcsim.generator import SimOptions, Simulator
from spcstream_pywats.wsjf import to_wsjf_bytes

SPEC_OPS = {"GELE", "GELT", "GTLE", "GTLT", "GE", "GT", "LE", "LT"}


def run(n: int = 60, **kw: Any) -> tuple[Simulator, list[bytes]]:
    sim = Simulator(SimOptions(units=n, **kw))
    return sim, [to_wsjf_bytes(r) for _u, r in sim.reports()]


def flatten(report: dict) -> list[dict]:
    """Independent re-implementation of the spcstream flattening (DESIGN.md §5)."""
    tp = f"{report['pn']}/{report['processCode']}"
    out: list[dict] = []

    def walk(steps: list[dict], prefix: str) -> None:
        for st in steps:
            path = prefix + st["name"]
            if st["stepType"] == "SequenceCall":
                walk(st.get("steps", []), path + "/")
                continue
            loop = st.get("loop")
            if loop is not None and loop.get("i") is None:
                continue  # loop summary
            for m in st.get("numericMeas", []):
                out.append({"key": (tp, path, m.get("name") or st["name"]), "m": m, "step": st})

    walk(report["root"]["steps"], "")
    for su in report.get("subUnits", []):
        if su.get("root"):
            walk(su["root"]["steps"], f"SubUnit[{su['partType']}]/")
    return out


def passes(m: dict) -> bool:
    v, lo, hi, op = m["value"], m.get("lowLimit"), m.get("highLimit"), m["compOp"]
    return {
        "GELE": lambda: lo <= v <= hi,
        "GE": lambda: v >= lo,
        "LE": lambda: v <= lo,
        "LT": lambda: v < lo,
        "GT": lambda: v > lo,
        "LOG": lambda: True,
    }[op]()


def step_kinds(steps: list[dict], depth: int = 1) -> set[str]:
    kinds: set[str] = set()
    for st in steps:
        kinds.add(st["stepType"])
        if st["stepType"] == "SequenceCall":
            assert depth <= 3
            kinds |= step_kinds(st["steps"], depth + 1)
        if st.get("loop") is not None:
            kinds.add("loop" if "i" in st["loop"] else "loop-summary")
    return kinds


def test_deterministic_given_seed() -> None:
    _s, a = run(40, seed=3)
    _s, b = run(40, seed=3)
    _s, c = run(40, seed=4)
    assert a == b
    assert a != c
    ids = [json.loads(x)["id"] for x in a]
    assert len(set(ids)) == 40


def test_start_times_advance_from_base() -> None:
    _s, reps = run(30, seed=1, start="2026-11-01T06:00:00Z")
    starts = [json.loads(r)["start"] for r in reps]
    assert starts == sorted(starts)
    assert starts[0].startswith("2026-11-01T06:0")


def test_report_structure_is_realistic() -> None:
    _s, reps = run(20, seed=2, stations=3, products=3)
    from pywats.domains.report.report_models import UUTReport

    for raw in reps:
        r = json.loads(raw)
        UUTReport.model_validate(r)  # valid for pyWATS itself
        events = flatten(r)
        assert 25 <= len(events) <= 60, (r["pn"], len(events))
        kinds = step_kinds(r["root"]["steps"])
        assert {"SequenceCall", "ET_NLT", "ET_MNLT", "ET_PFT", "loop", "loop-summary"} <= kinds
        assert r["uut"]["user"] and r["uut"]["fixtureId"].startswith("FX-")
        assert isinstance(r["uut"]["testSocketIndex"], int)
        misc = {m["description"]: m["text"] for m in r["miscInfos"]}
        assert misc["FirmwareVersion"] in ("3.4.2", "3.5.0") and "BootloaderVersion" in misc
        assert r["root"]["seqCall"]["name"].endswith(".seq") and r["root"]["seqCall"]["version"]
        assert r["subUnits"][0]["root"]["steps"], "sub-unit with its own root sequence"
        assert any(k[1].startswith("SubUnit[") for k in (e["key"] for e in events))


def test_statuses_follow_limits_and_in_control_units_mostly_pass() -> None:
    _s, reps = run(300, seed=9, nan_rate=0.0)
    failed_units = 0
    for raw in reps:
        r = json.loads(raw)
        ok = True
        for e in flatten(r):
            m = e["m"]
            assert (m["status"] == "P") == passes(m), (e["key"], m)
            ok = ok and m["status"] == "P"
        failed_units += r["result"] == "F"
    assert failed_units / len(reps) < 0.05


def test_capability_of_every_measurement() -> None:
    for p in PRODUCTS:
        for km in iter_measurements(p):
            lsl, usl = km.meas.spec()
            if km.meas.comp == "LOG":
                continue
            cpk = min(
                ((km.meas.mean - lsl) if lsl is not None else 1e9),
                ((usl - km.meas.mean) if usl is not None else 1e9),
            ) / (3 * km.meas.sigma)
            assert 1.3 - 1e-9 <= cpk <= 2.0 + 1e-9, (km.key, cpk)


def test_nan_values_appear_as_strings() -> None:
    _s, reps = run(50, seed=1, nan_rate=0.05)
    values = [e["m"]["value"] for raw in reps for e in flatten(json.loads(raw))]
    assert "NaN" in values
    assert all(isinstance(v, float | int) or v == "NaN" for v in values)


def test_fault_changes_only_affected_readings() -> None:
    _s, base = run(80, seed=5)
    _s, faulty = run(80, seed=5, faults=("shift:station=ST-02,step=Power/*,sigma=3",))
    for a, b in zip(base, faulty, strict=True):
        ra, rb = json.loads(a), json.loads(b)
        if ra["machineName"] != "ST-02":
            assert a == b
        else:
            ea, eb = flatten(ra), flatten(rb)
            for x, y in zip(ea, eb, strict=True):
                same = x["m"]["value"] == y["m"]["value"]
                assert same != x["key"][1].startswith("Power/") or x["m"]["value"] == "NaN"


def test_fw_shift_moves_the_mean_by_sigma() -> None:
    sim, reps = run(400, seed=8, faults=("fw_shift:fw=3.5.0,step=Power/VCC 3V3,sigma=2",))
    key = ("PCBA-100/10", "Power/VCC 3V3", "VCC 3V3")
    vals: dict[str, list[float]] = {"3.4.2": [], "3.5.0": []}
    for raw in reps:
        r = json.loads(raw)
        fw = next(m["text"] for m in r["miscInfos"] if m["description"] == "FirmwareVersion")
        for e in flatten(r):
            if e["key"] == key and e["m"]["value"] != "NaN":
                vals[fw].append(e["m"]["value"])
    sigma = next(
        km.meas.sigma for km in iter_measurements(PRODUCTS[0]) if km.measurement == "VCC 3V3"
    )
    diff = (statistics.mean(vals["3.5.0"]) - statistics.mean(vals["3.4.2"])) / sigma
    assert 1.6 < diff < 2.4
    truth = sim.truth()["faults"][0]
    assert truth["subgroup"] == {"dimension": "fw", "value": "3.5.0"}
    keys = {(k["test_plan"], k["test_step"], k["measurement"]) for k in truth["step_keys"]}
    assert keys == {key, ("PCBA-200/10", "Power/VCC 3V3", "VCC 3V3")}  # both products have it


def test_truth_onsets_match_the_event_stream() -> None:
    faults = (
        "fixture_contact:fixture=FX-2B,from=50",
        "drift:step=Analog/Vref*,from=100,rate=1",
        "stuck:station=ST-03,step=Digital/Boot Time,from=60",
        "yield_drop:station=ST-01,from=30,rate=0.3",
    )
    sim, reps = run(200, seed=4, faults=faults)
    truth = sim.truth()
    seq: dict[tuple, int] = {}
    first_seen: dict[tuple, tuple[int, str]] = {}
    for raw in reps:
        r = json.loads(raw)
        for e in flatten(r):
            seq[e["key"]] = seq.get(e["key"], 0) + 1
            first_seen.setdefault((e["key"], r["id"]), (seq[e["key"]], r["sn"]))
        uut_key = (f"{r['pn']}/{r['processCode']}", "<UUT>", "result")
        seq[uut_key] = seq.get(uut_key, 0) + 1
        first_seen.setdefault((uut_key, r["id"]), (seq[uut_key], r["sn"]))
    by_id = {json.loads(r)["id"]: json.loads(r) for r in reps}
    for f in truth["faults"]:
        assert f["onset_unit"] is not None and f["affected_units"] > 0
        for k in f["step_keys"]:
            key = (k["test_plan"], k["test_step"], k["measurement"])
            s, sn = first_seen[(key, k["onset_report_id"])]
            assert (s, sn) == (k["onset_seq"], k["onset_serial"]), (f["spec"], key)
            onset = by_id[k["onset_report_id"]]
            if "fixture" in f["filters"]:
                assert onset["uut"]["fixtureId"] == f["filters"]["fixture"]
    stuck = next(f for f in truth["faults"] if f["kind"] == "stuck")
    key = ("PCBA-100/10", "Digital/Boot Time", "Boot Time")
    stuck_vals = {
        e["m"]["value"]
        for raw in reps
        for e in flatten(json.loads(raw))
        if e["key"] == key
        and json.loads(raw)["machineName"] == "ST-03"
        and json.loads(raw)["sn"] >= stuck["onset_serial"]
    }
    assert len(stuck_vals) == 1
    yd = next(f for f in truth["faults"] if f["kind"] == "yield_drop")
    assert yd["failed_units"] > 0
    assert any(k["test_step"] == "<UUT>" for k in yd["step_keys"])


def test_fault_spec_parsing() -> None:
    f = parse_fault("fixture_contact:fixture=FX-2B,from=300")
    assert (f.kind, f.filters, f.start, f.params["offset"]) == (
        "fixture_contact",
        {"fixture": "FX-2B"},
        300,
        1.5,
    )
    g = parse_fault("drift:step=Analog/ADC Gain Error/CH*|Power/*,from=10,to=20,rate=-0.5")
    assert g.steps == ("Analog/ADC Gain Error/CH*", "Power/*") and g.end == 20
    for bad in (
        "nope",
        "shift:sigma",
        "shift:sigma=x",
        "shift:color=red",
        "fw_shift:sigma=1",
        "fixture_contact:from=1",
        "shift:from=5,to=5",
        "yield_drop:rate=2",
    ):
        with pytest.raises(FaultSpecError):
            parse_fault(bad)


def test_glob_brackets_are_literal() -> None:
    rx = glob_to_regex("SubUnit[Module]/Selftest/*")
    assert rx.match("SubUnit[Module]/Selftest/Temp")
    assert not rx.match("SubUnitM/Selftest/Temp")


def test_cli_outputs(tmp_path: Path) -> None:
    out, truth = tmp_path / "r.jsonl", tmp_path / "t.json"
    cmd = [
        sys.executable,
        "-m",
        "spcsim",
        "--units",
        "30",
        "--seed",
        "2",
        "--output",
        str(out),
        "--truth",
        str(truth),
        "--fault",
        "variance:station=ST-02,factor=2",
        "-q",
    ]
    proc = subprocess.run(
        cmd, env=subprocess_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = out.read_bytes().splitlines()
    assert len(lines) == 30
    _s, same = run(30, seed=2, faults=("variance:station=ST-02,factor=2",))
    assert lines == same
    t = json.loads(truth.read_text())
    assert t["units"] == 30 and t["faults"][0]["kind"] == "variance" and t["steps"]
    bad = subprocess.run(
        [sys.executable, "-m", "spcsim", "--fault", "bogus"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2 and "unknown fault kind" in bad.stderr
    steps = subprocess.run(
        [sys.executable, "-m", "spcsim", "--list-steps"],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "PCBA-100/10/Power/VCC 3V3/VCC 3V3" in steps.stdout.splitlines()


def test_standin_server_endpoints(wats) -> None:
    body = b'{"id":"abc","pn":"P","sn":"S"}'
    req = urllib.request.Request(
        wats.url + "/api/Report/WSJF",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert json.loads(resp.read()) == {"ID": "abc", "uuid": "abc"}
    with urllib.request.urlopen(wats.url + "/api/Report/Wsjf/abc", timeout=10) as resp:
        assert resp.read() == body
    with urllib.request.urlopen(wats.url + "/api/App/Version", timeout=10) as resp:
        assert "version" in json.loads(resp.read())
    for path, data, code in (("/api/Nope", None, 404), ("/api/Report/WSJF", b"{bad", 400)):
        r = urllib.request.Request(wats.url + path, data=data, method="POST" if data else "GET")
        with pytest.raises(urllib.error.HTTPError) as exc:
            urllib.request.urlopen(r, timeout=10)
        assert exc.value.code == code
    assert wats.received == [body]
