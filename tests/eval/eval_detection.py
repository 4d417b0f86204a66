#!/usr/bin/env python3
"""Detection quality of `spcstream replay` at its default configuration, on fleet data it
was never tuned on.

For each scenario the station simulator (ops/sim) writes reports with one injected fault
and its ground truth (the affected step keys and the unit where the fault starts); the
engine runs over the reports with the built-in defaults, and the anomalies are scored:

- caught: the first anomaly on an affected key at or after the onset, and its delay in
  *affected units* (units that match the fault's filters, from the onset to the
  detecting unit, both included);
- named: for a fault confined to one station/fixture/firmware, the first anomaly whose
  `subgroup` is exactly that dimension and value, and its delay;
- other names: subgroups named on affected keys that are not the fault's (a station for
  a fixture's problem, an operator for a station's, anything for a fleet-wide fault);
- false alarms: anomalies on keys no fault touches, or on an affected key before its
  onset, per in-control measurement, pooled over all scenarios plus a fault-free run.

The bounds (see SCENARIOS and MAX_FALSE_ALARM_RATE) are the issue's acceptance
criteria: caught within a few tens of affected units, the subgroup named, fewer than 1
false alarm per 1 000 in-control measurements. Exit 0 when all hold, 1 otherwise; a
table goes to stdout either way (and to --json if given).

Usage: eval_detection.py --spcstream build/consumer/spcstream [--work DIR] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spcsim.faults import glob_to_regex  # the simulator's own filter globs

REPO = Path(__file__).resolve().parents[2]
UNITS = 3000
ONSET = 1200  # global unit index: every key is past warm-up and baseline by then
MAX_FALSE_ALARM_RATE = 1e-3  # per in-control measurement
MAX_OTHER_NAMES = 3  # wrong subgroups named, over all scenarios


@dataclass
class Scenario:
    name: str
    fault: str
    seed: int
    max_delay: int  # affected units until the first anomaly on an affected key
    max_named_delay: int | None = None  # affected units until the subgroup is named


# Seeds 4101.. are used nowhere else (the demo, the docs and the tuning used 1, 7, 23).
# Delays are counted in affected units seen by the detecting key. The bounds are "a few
# tens of affected units"; a drift is only as visible as the distance it has travelled
# (at 1 sigma per 100 units it has moved 0.8 sigma by unit 80).
SCENARIOS = [
    Scenario("sustained 1.5 sigma shift, fleet-wide",
             f"shift:step=Power/VCC 3V3,sigma=1.5,from={ONSET}", 4101, 40),
    Scenario("drift 1 sigma per 100 units, fleet-wide",
             f"drift:step=Analog/Vref*,rate=1,from={ONSET}", 4102, 80),
    Scenario("variance x2 on one station",
             f"variance:station=ST-02,step=RF/TX Power/*,factor=2,from={ONSET}", 4103, 40),
    Scenario("stuck reading on one station",
             f"stuck:station=ST-03,step=Digital/Boot Time,from={ONSET}", 4104, 30),
    Scenario("near-limit creep (2.5 sigma toward the limit)",
             f"shift:step=Digital/Clock*,sigma=2.5,from={ONSET}", 4105, 20),
    Scenario("fixture contact problem on FX-2B",
             f"fixture_contact:fixture=FX-2B,from={ONSET}", 4106, 30, 60),
    Scenario("firmware 3.5.0 shifts one rail by 2 sigma",
             f"fw_shift:fw=3.5.0,step=Power/VCC 3V3,sigma=2,from={ONSET}", 4107, 30, 60),
    Scenario("one station reads 2 sigma high",
             f"shift:station=ST-01,step=Power/VCC*,sigma=2,from={ONSET}", 4108, 30, 60),
    Scenario("yield drop to 90 % on one station",
             f"yield_drop:station=ST-04,rate=0.1,from={ONSET}", 4109, 60),
]
CLEAN_SEEDS = (4201, 4202)


def unit_index(serial: str) -> int:
    """Serials end in the 1-based global unit number (e.g. RF2-0000302 is unit 301)."""
    return int(serial.rsplit("-", 1)[1]) - 1


def read_units(path: Path) -> dict[int, dict[str, str]]:
    """The filter attributes of every unit, by global index."""
    units = {}
    with path.open() as f:
        for line in f:
            r = json.loads(line)
            misc = {m.get("description"): m.get("text") for m in r.get("miscInfos") or []}
            uut = r.get("uut") or {}
            units[unit_index(r["sn"])] = {
                "product": r["pn"], "station": r["machineName"],
                "fixture": str(uut.get("fixtureId")), "operator": str(uut.get("user")),
                "rev": r["rev"], "socket": str(uut.get("testSocketIndex")),
                "fw": str(misc.get("FirmwareVersion")),
            }
    return units


def simulate(work: Path, seed: int, fault: str | None) -> tuple[Path, dict[str, Any]]:
    reports, truth = work / f"reports-{seed}.jsonl", work / f"truth-{seed}.json"
    cmd = [sys.executable, "-m", "spcsim", "--units", str(UNITS), "--seed", str(seed),
           "--output", str(reports), "--truth", str(truth)]
    if fault:
        cmd += ["--fault", fault]
    env = dict(os.environ, PYTHONPATH=str(REPO / "ops" / "sim"))
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return reports, json.loads(truth.read_text())


def replay(spcstream: str, reports: Path, config: str | None
           ) -> tuple[list[dict[str, Any]], int]:
    """Anomalies and the number of measurements (from replay's summary)."""
    p = subprocess.run([spcstream, "replay", "-i", str(reports), "-o", "-"]
                       + (["-c", config] if config else []),
                       check=True, capture_output=True, text=True)
    m = re.search(r"(\d+) measurements", p.stderr)
    if not m:
        raise RuntimeError(f"no measurement count in replay's summary: {p.stderr!r}")
    return [json.loads(x) for x in p.stdout.splitlines()], int(m.group(1))


def key_of(a: dict[str, Any]) -> tuple[str, str, str]:
    return (a["test_plan"], a["test_step"], a["measurement"])


def score(sc: Scenario, truth: dict[str, Any], units: dict[int, dict[str, str]],
          anomalies: list[dict[str, Any]]) -> dict[str, Any]:
    (fault,) = truth["faults"]
    filters = {k: glob_to_regex(v) for k, v in fault["filters"].items()}
    onset = fault["onset_unit"]
    keys = {(k["test_plan"], k["test_step"], k["measurement"]): k for k in fault["step_keys"]}

    def affected_until(a: dict[str, Any]) -> int:
        """Affected units that the anomaly's key saw, up to the anomaly's unit."""
        product = a["test_plan"].split("/")[0]
        return sum(1 for i in range(onset, unit_index(a["uut_id"]) + 1) if i in units
                   and units[i]["product"] == product
                   and all(rx.match(units[i].get(d, "")) for d, rx in filters.items()))

    hits = sorted(((unit_index(a["uut_id"]), a) for a in anomalies
                   if key_of(a) in keys and unit_index(a["uut_id"]) >= onset),
                  key=lambda t: t[0])
    false = [a for a in anomalies
             if key_of(a) not in keys or unit_index(a["uut_id"]) < onset]
    res: dict[str, Any] = {
        "scenario": sc.name, "fault": sc.fault, "seed": sc.seed,
        "affected_keys": len(keys),
        "affected_samples": sum(k["affected_samples"] for k in keys.values()),
        "false_alarms": len(false), "caught": bool(hits), "delay": None,
        "detectors": sorted({a["detector"] for _, a in hits}),
        "subgroup": fault.get("subgroup"), "named_delay": None,
    }
    if hits:
        first = hits[0][1]
        res["delay"] = affected_until(first)
        res["first"] = f"{first['detector']} on {first['test_step']}"
    want = fault.get("subgroup")
    # names of other subgroups (a station for a fixture's problem, the operator of a
    # station's shift, any subgroup for a fleet-wide fault) send the operator elsewhere
    res["other_names"] = sorted({f"{a['subgroup']['dimension']}={a['subgroup']['value']}"
                                 for _, a in hits
                                 if a.get("subgroup") and a["subgroup"] != want})
    if want:
        named = [(u, a) for u, a in hits if a.get("subgroup") == want]
        if named:
            res["named_delay"] = affected_until(named[0][1])
    ok = res["caught"] and res["delay"] <= sc.max_delay
    if sc.max_named_delay is not None:
        ok = ok and res["named_delay"] is not None and res["named_delay"] <= sc.max_named_delay
    res["ok"] = ok
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spcstream", required=True, help="the spcstream binary")
    ap.add_argument("--config", help="a config file instead of the defaults")
    ap.add_argument("--work", help="keep the generated files here")
    ap.add_argument("--json", help="write the results as JSON")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse the reports already in --work (same scenarios)")
    args = ap.parse_args()
    tmp = None
    if args.work:
        work = Path(args.work)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="spc-eval-")
        work = Path(tmp.name)

    results, false_alarms, in_control = [], 0, 0
    for sc in SCENARIOS:
        reports, truth = work / f"reports-{sc.seed}.jsonl", None
        if args.reuse and reports.exists():
            truth = json.loads((work / f"truth-{sc.seed}.json").read_text())
        else:
            reports, truth = simulate(work, sc.seed, sc.fault)
        anomalies, n = replay(args.spcstream, reports, args.config)
        r = score(sc, truth, read_units(reports), anomalies)
        results.append(r)
        false_alarms += r["false_alarms"]
        in_control += n - r["affected_samples"]
    for seed in CLEAN_SEEDS:
        reports = work / f"reports-{seed}.jsonl"
        if not (args.reuse and reports.exists()):
            reports, _ = simulate(work, seed, None)
        anomalies, n = replay(args.spcstream, reports, args.config)
        false_alarms += len(anomalies)
        in_control += n
    rate = false_alarms / in_control

    print(f"{'scenario':48} {'caught':>6} {'delay':>5} {'bound':>5} {'named':>5} "
          f"{'bound':>5}  first / detectors")
    for sc, r in zip(SCENARIOS, results):
        print(f"{r['scenario']:48} {'yes' if r['caught'] else 'NO':>6} "
              f"{r['delay'] if r['delay'] is not None else '-':>5} {sc.max_delay:>5} "
              f"{r['named_delay'] if r['named_delay'] is not None else '-':>5} "
              f"{sc.max_named_delay if sc.max_named_delay is not None else '-':>5}  "
              f"{r.get('first', '-')}; {','.join(r['detectors'])}"
              f"{'' if r['ok'] else '   <-- FAILED'}")
    others = [f"{r['scenario']}: {n}" for r in results for n in r["other_names"]]
    ok_names = len(others) <= MAX_OTHER_NAMES
    print(f"other subgroups named: {len(others)} (bound {MAX_OTHER_NAMES})"
          f"{'' if ok_names else '   <-- FAILED'}")
    for o in others:
        print(f"  {o}")
    ok_rate = rate < MAX_FALSE_ALARM_RATE
    print(f"false alarms: {false_alarms} in {in_control} in-control measurements = "
          f"{rate * 1000:.3f} per 1000 (bound {MAX_FALSE_ALARM_RATE * 1000:g})"
          f"{'' if ok_rate else '   <-- FAILED'}")
    if args.json:
        Path(args.json).write_text(json.dumps(
            {"scenarios": results, "false_alarms": false_alarms,
             "in_control_measurements": in_control, "false_alarm_rate": rate}, indent=1))
    if tmp:
        tmp.cleanup()
    return 0 if ok_rate and ok_names and all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
