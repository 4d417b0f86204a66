"""Fleet simulation: schedule units over stations, draw readings, build pyWATS reports.

DETERMINISM  Everything derives from ``seed``: the schedule (one RNG per station), each
             unit's report id, revision, firmware and in-control noise (one RNG per unit,
             ``Random(f"{seed}:unit:{index}")``) and the faults' random draws (separate
             RNGs), so the same seed gives the same reports, and adding a fault changes
             only the readings it affects.
ORDER        Units are numbered 0.. in production order (start time, then station).
GROUND TRUTH For every fault: affected units, step keys, first affected reading per key
             with its ``seq`` (1-based count of events of that key in this run, loop
             iterations and NaN readings included, loop-summary entries excluded, as the
             spcstream engine counts them) and the onset unit's serial and report id.
"""

from __future__ import annotations

import heapq
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from . import __version__
from .catalog import (
    PRODUCTS,
    KeyedMeas,
    LoopStep,
    Meas,
    MultiStep,
    NumStep,
    PassFail,
    Product,
    Seq,
    Step,
    iter_measurements,
    iter_passfail,
)
from .faults import Fault, direction, parse_fault, reading_effect

if TYPE_CHECKING:
    from pywats.domains.report.report_models import SequenceCall, UUTReport

OPERATORS = (
    "anna.berg",
    "ben.ito",
    "chen.li",
    "dara.oyelaran",
    "eli.roth",
    "fay.kim",
    "gus.moreau",
    "hana.sato",
)
DEFAULT_FIRMWARE = ("3.4.2", "3.5.0")
DEFAULT_START = "2026-11-01T06:00:00Z"
SHIFT_HOURS = 8
UUT_KEY = ("<UUT>", "result")


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time (``Z`` allowed); naive times are UTC."""
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class SimOptions:
    """Simulation parameters (see ``python -m spcsim --help``)."""

    stations: int = 4
    fixtures_per_station: int = 2
    products: int = 2
    units: int = 500
    seed: int = 1
    start: str = DEFAULT_START
    faults: tuple[str, ...] = ()
    firmware: tuple[str, ...] = DEFAULT_FIRMWARE
    nan_rate: float = 0.0005
    location: str = "Plant-1/Line-A"

    def validate(self) -> None:
        """Raise ValueError for out-of-range options."""
        if self.stations < 1 or self.stations > 99:
            raise ValueError("--stations must be within 1..99")
        if self.fixtures_per_station < 1 or self.fixtures_per_station > 26:
            raise ValueError("--fixtures-per-station must be within 1..26")
        if not 1 <= self.products <= len(PRODUCTS):
            raise ValueError(f"--products must be within 1..{len(PRODUCTS)}")
        if self.units < 0:
            raise ValueError("--units must be >= 0")
        if not self.firmware:
            raise ValueError("--firmware needs at least one version")
        if not 0 <= self.nan_rate < 1:
            raise ValueError("--nan-rate must be within [0, 1)")
        parse_time(self.start)


@dataclass(frozen=True)
class Station:
    """A test station of the fleet."""

    name: str
    number: int
    product: Product
    fixtures: tuple[str, ...]
    operators: tuple[str, ...]
    cycle_time: float


@dataclass
class Unit:
    """One unit under test (one report)."""

    index: int
    station: Station
    fixture: str
    socket: int
    operator: str
    fw: str
    rev: str
    serial: str
    report_id: uuid.UUID
    start: datetime
    exec_time: float
    fixture_cycles: int

    @property
    def product(self) -> Product:
        """The unit's product."""
        return self.station.product

    def attrs(self) -> dict[str, str]:
        """Attributes fault filters match against."""
        return {
            "station": self.station.name,
            "fixture": self.fixture,
            "fw": self.fw,
            "operator": self.operator,
            "product": self.product.pn,
            "rev": self.rev,
            "socket": str(self.socket),
        }


@dataclass
class _KeyTruth:
    test_plan: str
    test_step: str
    measurement: str
    onset_seq: int
    onset_unit: int
    onset_serial: str
    onset_report_id: str
    direction: str | None
    samples: int = 0


@dataclass
class _FaultTruth:
    fault: Fault
    units: int = 0
    failed_units: int = 0
    first_unit: dict[str, Any] | None = None
    keys: dict[tuple[str, str, str], _KeyTruth] = field(default_factory=dict)


class Simulator:
    """Deterministic fleet simulator producing pyWATS ``UUTReport`` models."""

    def __init__(self, options: SimOptions) -> None:
        options.validate()
        self.options = options
        self.faults = [parse_fault(s, i) for i, s in enumerate(options.faults)]
        self.base_time = parse_time(options.start)
        self.products = PRODUCTS[: options.products]
        self.stations = self._make_stations()
        self._seq: dict[tuple[str, str, str], int] = {}
        self._truth = [_FaultTruth(f) for f in self.faults]
        self._stuck: dict[tuple[int, str], float] = {}
        self._keyed = {p.pn: list(iter_measurements(p)) for p in self.products}
        self._pf = {p.pn: list(iter_passfail(p)) for p in self.products}
        self._generated = 0

    # ------------------------------------------------------------------ fleet

    def _make_stations(self) -> list[Station]:
        out = []
        n_ops = len(OPERATORS)
        for i in range(1, self.options.stations + 1):
            product = self.products[(i - 1) % len(self.products)]
            fixtures = tuple(
                f"FX-{i}{chr(ord('A') + k)}" for k in range(self.options.fixtures_per_station)
            )
            ops = tuple(OPERATORS[(2 * (i - 1) + k) % n_ops] for k in range(3))
            srng = random.Random(f"{self.options.seed}:station:{i}")
            cycle = product.cycle_time * srng.uniform(0.9, 1.1)
            out.append(Station(f"ST-{i:02d}", i, product, fixtures, ops, round(cycle, 1)))
        return out

    def _schedule(self) -> Iterator[tuple[datetime, Station, int, float]]:
        """Yield (start, station, station-local unit number, exec time) in time order."""
        heap: list[tuple[float, int]] = []
        rngs = {}
        counts = dict.fromkeys(range(len(self.stations)), 0)
        for k, st in enumerate(self.stations):
            rngs[k] = random.Random(f"{self.options.seed}:schedule:{st.number}")
            heapq.heappush(heap, (rngs[k].uniform(0, st.cycle_time), k))
        while True:
            t, k = heapq.heappop(heap)
            st = self.stations[k]
            rng = rngs[k]
            exec_time = max(
                0.5 * st.cycle_time, rng.gauss(0.85 * st.cycle_time, 0.05 * st.cycle_time)
            )
            yield (
                self.base_time + timedelta(seconds=round(t, 3)),
                st,
                counts[k],
                round(exec_time, 2),
            )
            counts[k] += 1
            gap = st.cycle_time + rng.gauss(0, 0.08 * st.cycle_time)
            if rng.random() < 0.01:  # a break, a material shortage
                gap += rng.uniform(300, 1200)
            heapq.heappush(heap, (t + max(0.5 * st.cycle_time, gap), k))

    def units(self) -> Iterator[Unit]:
        """Yield the run's units in production order."""
        sched = self._schedule()
        for index in range(self.options.units):
            start, st, local_n, exec_time = next(sched)
            rng = random.Random(f"{self.options.seed}:unit:{index}")
            rid = uuid.UUID(int=rng.getrandbits(128), version=4)
            rev = _weighted(rng, st.product.revisions)
            fw = rng.choice(self.options.firmware)
            fx_idx = local_n % len(st.fixtures)
            hours = (start - self.base_time).total_seconds() / 3600.0
            operator = st.operators[int(hours // SHIFT_HOURS) % len(st.operators)]
            yield Unit(
                index=index,
                station=st,
                fixture=st.fixtures[fx_idx],
                socket=fx_idx,
                operator=operator,
                fw=fw,
                rev=rev,
                serial=f"{st.product.sn_prefix}-{index + 1:07d}",
                report_id=rid,
                start=start,
                exec_time=exec_time,
                fixture_cycles=1000 * st.number + local_n // len(st.fixtures),
            )

    # ------------------------------------------------------------------ readings

    def _reading(
        self,
        unit: Unit,
        km: KeyedMeas,
        rng: random.Random,
        forced: dict[tuple[str, str], tuple[float, Fault]],
        active: list[Fault],
    ) -> tuple[float | str, bool]:
        """Draw one reading; return (value, passed) and record ground truth."""
        z = rng.gauss(0.0, 1.0)
        nan = rng.random() < self.options.nan_rate
        meas = km.meas
        eff = reading_effect(active, km, unit.index)
        value = meas.mean + meas.sigma * (eff.shift + eff.factor * z)
        if eff.stuck_fault is not None:
            sk = (eff.stuck_fault.index, km.key)
            stuck_val = eff.stuck_fault.params.get("value")
            if stuck_val is None:
                stuck_val = self._stuck.setdefault(sk, value)
            value = float(stuck_val)
        fkey = (km.test_step, km.measurement)
        forced_by: Fault | None = None
        if fkey in forced:
            value, forced_by = forced.pop(fkey)
        value = round(value, meas.decimals)
        if meas.decimals == 0:
            value = float(int(value))
        key = (km.test_plan, km.test_step, km.measurement)
        seq = self._seq[key] = self._seq.get(key, 0) + 1
        for f in eff.faults:
            self._note_key(
                f, km.test_plan, km.test_step, km.measurement, unit, seq, direction(f, km)
            )
        if forced_by is not None and forced_by not in eff.faults:
            self._note_key(forced_by, km.test_plan, km.test_step, km.measurement, unit, seq, None)
        if nan:
            return "NaN", False
        return value, meas.passes(value)

    def _note_key(
        self,
        f: Fault,
        test_plan: str,
        test_step: str,
        measurement: str,
        unit: Unit,
        seq: int,
        direction_: str | None,
    ) -> None:
        t = self._truth[f.index]
        key = (test_plan, test_step, measurement)
        kt = t.keys.get(key)
        if kt is None:
            kt = t.keys[key] = _KeyTruth(
                test_plan,
                test_step,
                measurement,
                seq,
                unit.index,
                unit.serial,
                str(unit.report_id),
                direction_,
            )
        kt.samples += 1

    def _forced_failures(
        self, unit: Unit, active: list[Fault]
    ) -> tuple[dict[tuple[str, str], tuple[float, Fault]], set[str]]:
        """Stochastic failures (contact opens, yield drops) for this unit."""
        forced: dict[tuple[str, str], tuple[float, Fault]] = {}
        failed_pf: set[str] = set()
        keyed = self._keyed[unit.product.pn]
        for f in active:
            if f.kind not in ("fixture_contact", "yield_drop"):
                continue
            frng = random.Random(f"{self.options.seed}:fault:{f.index}:{unit.index}")
            rate = f.params["fail_rate"] if f.kind == "fixture_contact" else f.params["rate"]
            if frng.random() >= float(rate or 0.0):
                continue
            cands: list[tuple[str, Any]] = [
                ("m", km) for km in keyed if f.meas_matches(km) and km.meas.comp != "LOG"
            ]
            if f.kind == "yield_drop":
                cands += [
                    ("p", path) for path, _n in self._pf[unit.product.pn] if f.step_matches(path)
                ]
            if not cands:
                continue
            kind, target = frng.choice(cands)
            self._truth[f.index].failed_units += 1
            if kind == "p":
                failed_pf.add(target)
                continue
            km = target
            sign = (
                km.meas.contact
                if (f.kind == "fixture_contact" and km.meas.contact)
                else frng.choice((-1.0, 1.0))
            )
            forced[(km.test_step, km.measurement)] = (
                km.meas.fail_value(sign, frng.uniform(1.0, 4.0)),
                f,
            )
        return forced, failed_pf

    # ------------------------------------------------------------------ reports

    def build(self, unit: Unit) -> UUTReport:
        """Build the pyWATS report model for ``unit`` (and update the ground truth)."""
        from pywats.domains.report.report_models import UUTInfo, UUTReport
        from pywats.domains.report.report_models.common_types import (
            ReportResult,
        )

        product = unit.product
        attrs = unit.attrs()
        active = [f for f in self.faults if f.unit_matches(unit.index, attrs)]
        for f in active:
            t = self._truth[f.index]
            t.units += 1
            if t.first_unit is None:
                t.first_unit = {
                    "unit": unit.index,
                    "serial": unit.serial,
                    "report_id": str(unit.report_id),
                    "station": unit.station.name,
                    "start": unit.start.isoformat().replace("+00:00", "Z"),
                }
        rng = random.Random(f"{self.options.seed}:unit:{unit.index}")
        rng.getrandbits(128)  # the report id, drawn in units()
        _weighted(rng, product.revisions)
        rng.choice(self.options.firmware)
        forced, failed_pf = self._forced_failures(unit, active)

        report = UUTReport(
            id=unit.report_id,
            pn=product.pn,
            sn=unit.serial,
            rev=unit.rev,
            process_code=product.process_code,
            station_name=unit.station.name,
            location=self.options.location,
            purpose="Production",
            result=ReportResult.Passed,
            start=unit.start,
        )
        report.info = UUTInfo(
            operator=unit.operator,
            fixture_id=unit.fixture,
            socket_index=unit.socket,
            exec_time=unit.exec_time,
        )
        root = report.get_root_sequence_call()
        root.sequence = _seq_info(
            f"C:/TestPrograms/{product.pn}/{product.seq_file}",
            product.seq_file,
            product.seq_version,
        )
        ctx = _BuildCtx(self, unit, rng, forced, failed_pf, active, product.test_plan)
        ok = ctx.add_steps(root, product.steps, "")
        for sud in product.sub_units:
            from pywats.domains.report.report_models import SequenceCall

            su = report.add_sub_unit(
                sud.part_type, f"{sud.sn_prefix}-{unit.index + 1:07d}", sud.pn, sud.rev
            )
            su.root = SequenceCall(
                name="MainSequence Callback",
                sequence=_seq_info(
                    f"C:/TestPrograms/{sud.pn}/{sud.pn}_Selftest.seq",
                    f"{sud.pn}_Selftest.seq",
                    product.seq_version,
                ),
            )
            sub_ok = ctx.add_steps(su.root, sud.steps, f"SubUnit[{sud.part_type}]/")
            if not sub_ok:
                _fail(su.root)
            ok = ok and sub_ok
        report.add_misc_info("FirmwareVersion", unit.fw)
        report.add_misc_info("BootloaderVersion", product.bootloader)
        report.add_misc_info("FixtureCycles", unit.fixture_cycles)
        if not ok:
            _fail(root)
            report.result = ReportResult.Failed
        key = (product.test_plan, *UUT_KEY)
        seq = self._seq[key] = self._seq.get(key, 0) + 1
        for f in active:
            if f.kind in ("yield_drop", "fixture_contact"):
                self._note_key(f, *key, unit, seq, "down")
        self._generated += 1
        return report

    def reports(self) -> Iterator[tuple[Unit, UUTReport]]:
        """Yield (unit, report) for the whole run."""
        for unit in self.units():
            yield unit, self.build(unit)

    # ------------------------------------------------------------------ truth

    def truth(self) -> dict[str, Any]:
        """The ground-truth manifest (valid after the reports were generated)."""
        o = self.options
        faults = []
        for t in self._truth:
            d = t.fault.as_dict()
            d.update(
                {
                    "onset_unit": None if t.first_unit is None else t.first_unit["unit"],
                    "onset_serial": None if t.first_unit is None else t.first_unit["serial"],
                    "onset_report_id": None if t.first_unit is None else t.first_unit["report_id"],
                    "onset_station": None if t.first_unit is None else t.first_unit["station"],
                    "onset_time": None if t.first_unit is None else t.first_unit["start"],
                    "affected_units": t.units,
                    "failed_units": t.failed_units,
                    "step_keys": [
                        {
                            "test_plan": k.test_plan,
                            "test_step": k.test_step,
                            "measurement": k.measurement,
                            "key": f"{k.test_plan}/{k.test_step}/{k.measurement}",
                            "onset_seq": k.onset_seq,
                            "onset_unit": k.onset_unit,
                            "onset_serial": k.onset_serial,
                            "onset_report_id": k.onset_report_id,
                            "direction": k.direction,
                            "affected_samples": k.samples,
                        }
                        for k in t.keys.values()
                    ],
                }
            )
            faults.append(d)
        return {
            "generator": f"spcsim {__version__}",
            "seed": o.seed,
            "units": self._generated,
            "start": o.start,
            "nan_rate": o.nan_rate,
            "firmware": list(o.firmware),
            "stations": [
                {
                    "name": s.name,
                    "product": s.product.pn,
                    "test_plan": s.product.test_plan,
                    "fixtures": list(s.fixtures),
                    "operators": list(s.operators),
                    "cycle_time_s": s.cycle_time,
                }
                for s in self.stations
            ],
            "steps": [
                {
                    "key": km.key,
                    "test_plan": km.test_plan,
                    "test_step": km.test_step,
                    "measurement": km.measurement,
                    "unit": km.meas.unit,
                    "comp_op": km.meas.comp,
                    "lsl": km.meas.spec()[0],
                    "usl": km.meas.spec()[1],
                    "mean": km.meas.mean,
                    "sigma": km.meas.sigma,
                    "loop_iterations": km.loop or None,
                    "contact_sensitive": km.meas.contact != 0,
                }
                for p in self.products
                for km in self._keyed[p.pn]
            ],
            "faults": faults,
        }


def _weighted(rng: random.Random, choices: tuple[tuple[str, float], ...]) -> str:
    x = rng.random() * sum(w for _c, w in choices)
    for c, w in choices:
        x -= w
        if x < 0:
            return c
    return choices[-1][0]


def _seq_info(path: str, file_name: str, version: str) -> Any:
    """Build a SequenceCallInfo.

    pyWATS 0.6.0rc1's ``SequenceCallInfo(file_name=...)`` keeps the default name because
    its before-validator fills the ``name`` alias first, so validate by alias.
    """
    from pywats.domains.report.report_models.common_types import (
        SequenceCallInfo,
    )

    return SequenceCallInfo.model_validate({"path": path, "name": file_name, "version": version})


def _fail(seq: SequenceCall) -> None:
    from pywats.domains.report.report_models.common_types import StepStatus

    seq.status = StepStatus.Failed


@dataclass
class _BuildCtx:
    sim: Simulator
    unit: Unit
    rng: random.Random
    forced: dict[tuple[str, str], tuple[float, Fault]]
    failed_pf: set[str]
    active: list[Fault]
    test_plan: str

    def _km(self, path: str, name: str, meas: Meas, loop: int = 0) -> KeyedMeas:
        return KeyedMeas(self.test_plan, path, name, meas, loop)

    def _tot_time(self) -> float:
        return round(self.rng.uniform(0.005, 0.25), 4)

    def add_steps(self, seq: SequenceCall, steps: tuple[Step, ...], prefix: str) -> bool:
        """Add ``steps`` under ``seq``; return False if any failed."""
        from pywats.domains.report.report_models.common_types import CompOp

        ok_all = True
        for st in steps:
            path = f"{prefix}{st.name}"
            if isinstance(st, Seq):
                fname = f"{st.name.replace(' ', '')}.seq"
                sub = seq.add_sequence_call(st.name)
                sub.sequence = _seq_info(f"C:/TestPrograms/Common/{fname}", fname, "1.0.0")
                if not self.add_steps(sub, st.children, path + "/"):
                    _fail(sub)
                    ok_all = False
            elif isinstance(st, NumStep):
                value, ok = self.sim._reading(
                    self.unit, self._km(path, st.name, st.meas), self.rng, self.forced, self.active
                )
                _add_numeric(seq, st.name, st.meas, value, ok, self._tot_time(), CompOp)
                ok_all = ok_all and ok
            elif isinstance(st, MultiStep):
                readings = [
                    self.sim._reading(
                        self.unit, self._km(path, ms.name, ms), self.rng, self.forced, self.active
                    )
                    for ms in st.meas
                ]
                step_ok = all(ok for _v, ok in readings)
                mstep = seq.add_multi_numeric_step(
                    name=st.name, status="P" if step_ok else "F", tot_time=self._tot_time()
                )
                for ms, (value, ok) in zip(st.meas, readings, strict=True):
                    mstep.add_measurement(
                        name=ms.name,
                        value=value,  # type: ignore[arg-type]
                        unit=ms.unit,
                        status="P" if ok else "F",
                        comp_op=CompOp(ms.comp),
                        low_limit=ms.low,
                        high_limit=ms.high,
                    )
                ok_all = ok_all and step_ok
            elif isinstance(st, LoopStep):
                ok_all = self._add_loop(seq, st, path, CompOp) and ok_all
            elif isinstance(st, PassFail):
                fail = path in self.failed_pf or self.rng.random() < st.fail_rate
                seq.add_boolean_step(
                    name=st.name, status="F" if fail else "P", tot_time=self._tot_time()
                )
                ok_all = ok_all and not fail
        return ok_all

    def _add_loop(self, seq: SequenceCall, st: LoopStep, path: str, comp_op: Any) -> bool:
        from pywats.domains.report.report_models import LoopInfo

        ok_loop = True
        last: float | str = 0.0
        for i in range(st.n):
            value, ok = self.sim._reading(
                self.unit,
                self._km(path, st.name, st.meas, st.n),
                self.rng,
                self.forced,
                self.active,
            )
            step = _add_numeric(seq, st.name, st.meas, value, ok, self._tot_time(), comp_op)
            step.loop = LoopInfo(index=i, count=st.n)
            ok_loop = ok_loop and ok
            last = value
        # WATS's loop-summary entry: same name, loop index null; not a new reading.
        summary = _add_numeric(seq, st.name, st.meas, last, ok_loop, self._tot_time(), comp_op)
        summary.loop = LoopInfo(count=st.n)
        return ok_loop


def _add_numeric(
    seq: SequenceCall,
    name: str,
    meas: Meas,
    value: float | str,
    ok: bool,
    tot_time: float,
    comp_op: Any,
) -> Any:
    kwargs: dict[str, Any] = {}
    if meas.comp != "LOG":
        kwargs["low_limit"] = meas.low
        if meas.high is not None:
            kwargs["high_limit"] = meas.high
    return seq.add_numeric_step(
        name=name,
        value=value,
        unit=meas.unit,
        comp_op=comp_op(meas.comp),
        status="P" if ok else "F",
        tot_time=tot_time,
        **kwargs,
    )
