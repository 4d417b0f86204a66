"""Product catalog: test sequences with realistic limits and process parameters.

Every numeric measurement has spec limits and a nominal mean/σ chosen so that the
in-control process capability Cpk lies between 1.3 and 2.0 (a fixed per-measurement
value derived from its name, independent of the run seed), so in-control units
almost always pass.  ``contact`` marks measurements taken through fixture pogo pins:
the sign says which way a worn/dirty contact pulls the reading (-1 low, +1 high).

Step keys follow the spcstream flattening (DESIGN.md §5 and the C normalizer):
test_plan = ``<pn>/<processCode>``; test_step = the '/'-joined step names from the root
sequence's children down to the step (root name excluded; a sub-unit's steps are
prefixed ``SubUnit[<partType>]/``); measurement = the ``numericMeas`` name in a
multi-numeric step, else the step name.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field

# compOp values whose single limit sits in lowLimit (WATS/pyWATS convention)
SINGLE_LIMIT_OPS = {"GE", "GT", "LE", "LT", "EQ", "NE"}


@dataclass(frozen=True)
class Meas:
    """One numeric measurement (one element of ``numericMeas``)."""

    name: str
    unit: str
    comp: str
    low: float | None
    high: float | None
    mean: float
    sigma: float
    decimals: int
    contact: float = 0.0

    def passes(self, value: float) -> bool:
        """Evaluate the limits the way WATS does (LE/LT/GE/GT compare with lowLimit)."""
        lo, hi, c = self.low, self.high, self.comp
        if c == "LOG":
            return True
        checks = {
            "GELE": lambda: lo <= value <= hi,  # type: ignore[operator]
            "GELT": lambda: lo <= value < hi,  # type: ignore[operator]
            "GTLE": lambda: lo < value <= hi,  # type: ignore[operator]
            "GTLT": lambda: lo < value < hi,  # type: ignore[operator]
            "GE": lambda: value >= lo,  # type: ignore[operator]
            "GT": lambda: value > lo,  # type: ignore[operator]
            "LE": lambda: value <= lo,  # type: ignore[operator]
            "LT": lambda: value < lo,  # type: ignore[operator]
        }
        check = checks.get(c)
        return True if check is None else bool(check())

    def fail_value(self, direction: float, magnitude_sigma: float) -> float:
        """A value beyond the spec limit on side ``direction`` (+1 high, -1 low)."""
        lsl, usl = self.spec()
        if direction >= 0 and usl is not None:
            return usl + magnitude_sigma * self.sigma
        if lsl is not None:
            return lsl - magnitude_sigma * self.sigma
        return usl + magnitude_sigma * self.sigma if usl is not None else self.mean

    def spec(self) -> tuple[float | None, float | None]:
        """Return (LSL, USL) per DESIGN.md §5."""
        if self.comp in ("GELE", "GELT", "GTLE", "GTLT"):
            return self.low, self.high
        if self.comp in ("GE", "GT"):
            return self.low, None
        if self.comp in ("LE", "LT"):
            return None, self.low
        return None, None


@dataclass(frozen=True)
class Seq:
    """A SequenceCall with children."""

    name: str
    children: tuple[Step, ...]


@dataclass(frozen=True)
class NumStep:
    """ET_NLT: single numeric limit step."""

    name: str
    meas: Meas


@dataclass(frozen=True)
class MultiStep:
    """ET_MNLT: multi-numeric limit step with named measurements."""

    name: str
    meas: tuple[Meas, ...]


@dataclass(frozen=True)
class LoopStep:
    """A numeric step executed ``n`` times (same-name siblings with loop {i, n}) plus
    the loop-summary entry WATS writes (loop index null).
    """

    name: str
    n: int
    meas: Meas


@dataclass(frozen=True)
class PassFail:
    """ET_PFT boolean step; fails in-control with probability ``fail_rate``."""

    name: str
    fail_rate: float = 0.0005


Step = Seq | NumStep | MultiStep | LoopStep | PassFail


@dataclass(frozen=True)
class SubUnitDef:
    """A sub-assembly with its own root sequence."""

    part_type: str
    pn: str
    rev: str
    sn_prefix: str
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class Product:
    """A product (part number) with its test sequence."""

    pn: str
    title: str
    process_code: int
    revisions: tuple[tuple[str, float], ...]
    seq_file: str
    seq_version: str
    bootloader: str
    sn_prefix: str
    cycle_time: float
    steps: tuple[Step, ...]
    sub_units: tuple[SubUnitDef, ...] = field(default_factory=tuple)

    @property
    def test_plan(self) -> str:
        """``<pn>/<processCode>``."""
        return f"{self.pn}/{self.process_code}"


@dataclass(frozen=True)
class KeyedMeas:
    """A measurement with its spcstream step key."""

    test_plan: str
    test_step: str
    measurement: str
    meas: Meas
    loop: int = 0  # iterations per report (0: not a loop)

    @property
    def key(self) -> str:
        """``test_plan/test_step/measurement`` (the config glob target)."""
        return f"{self.test_plan}/{self.test_step}/{self.measurement}"

    @property
    def step_match(self) -> str:
        """``test_step/measurement`` (what fault ``step=`` globs are matched against)."""
        return f"{self.test_step}/{self.measurement}"


def _cpk_for(name: str) -> float:
    return 1.3 + 0.7 * (zlib.crc32(name.encode()) % 1000) / 999.0


def m(
    name: str,
    unit: str,
    comp: str,
    low: float | None = None,
    high: float | None = None,
    *,
    nominal: float | None = None,
    sigma: float | None = None,
    decimals: int = 4,
    contact: float = 0.0,
) -> Meas:
    """Build a measurement; σ derives from the limits and a Cpk in [1.3, 2.0]."""
    cpk = _cpk_for(f"{name}|{unit}|{low}|{high}")
    if comp in ("GELE", "GELT", "GTLE", "GTLT"):
        assert low is not None and high is not None
        mean = (low + high) / 2 if nominal is None else nominal
        sd = min(mean - low, high - mean) / (3 * cpk)
    elif comp in ("GE", "GT"):
        assert low is not None and nominal is not None
        mean, sd = nominal, (nominal - low) / (3 * cpk)
    elif comp in ("LE", "LT"):
        assert low is not None and nominal is not None
        mean, sd = nominal, (low - nominal) / (3 * cpk)
    else:
        assert nominal is not None and sigma is not None
        mean, sd = nominal, sigma
    if sigma is not None:
        sd = sigma
    return Meas(name, unit, comp, low, high, mean, sd, decimals, contact)


def _pcba100() -> Product:
    power = Seq(
        "Power",
        (
            NumStep("VCC 3V3", m("VCC 3V3", "V", "GELE", 3.20, 3.40, contact=-1)),
            NumStep("VCC 5V0", m("VCC 5V0", "V", "GELE", 4.85, 5.15, contact=-1)),
            NumStep("VCC 1V8", m("VCC 1V8", "V", "GELE", 1.74, 1.86, contact=-1)),
            NumStep("VCC 12V", m("VCC 12V", "V", "GELE", 11.4, 12.6, decimals=3, contact=-1)),
            NumStep("Idle Current", m("Idle Current", "mA", "LE", 120, nominal=92, decimals=2)),
            MultiStep(
                "Ripple",
                (
                    m("3V3 ripple", "mV", "LT", 30, nominal=11, decimals=2),
                    m("5V0 ripple", "mV", "LT", 40, nominal=15, decimals=2),
                    m("1V8 ripple", "mV", "LT", 25, nominal=8, decimals=2),
                ),
            ),
            NumStep("Power Good Delay", m("Power Good Delay", "ms", "GELE", 8, 20, decimals=2)),
            NumStep("Efficiency", m("Efficiency", "%", "GE", 85, nominal=91.5, decimals=2)),
        ),
    )
    analog = Seq(
        "Analog",
        (
            NumStep("Vref 2V5", m("Vref 2V5", "V", "GELE", 2.490, 2.510, decimals=5, contact=-0.5)),
            MultiStep(
                "ADC Gain Error",
                tuple(m(f"CH{i}", "%", "GELE", -0.5, 0.5, decimals=4) for i in range(8)),
            ),
            LoopStep("Channel Offset", 4, m("Channel Offset", "mV", "GELE", -5, 5, decimals=3)),
            NumStep(
                "Board Temp", m("Board Temp", "degC", "LOG", nominal=31, sigma=1.5, decimals=1)
            ),
            MultiStep(
                "Current Sense",
                (
                    m("Gain", "V/V", "GELE", 0.98, 1.02, decimals=5),
                    m("Offset", "mV", "GELE", -2, 2, decimals=3),
                ),
            ),
            NumStep(
                "Shunt Resistance",
                m("Shunt Resistance", "mOhm", "GELE", 9.8, 10.2, decimals=4, contact=1),
            ),
        ),
    )
    digital = Seq(
        "Digital",
        (
            PassFail("Flash CRC"),
            NumStep(
                "Clock Frequency",
                m("Clock Frequency", "MHz", "GELE", 24.9975, 25.0025, decimals=6),
            ),
            MultiStep(
                "IO Levels",
                (
                    m("VOH", "V", "GE", 2.4, nominal=3.15, decimals=3),
                    m("VOL", "V", "LE", 0.4, nominal=0.12, decimals=3),
                ),
            ),
            NumStep("Boot Time", m("Boot Time", "ms", "LT", 1500, nominal=880, decimals=1)),
            NumStep("Active Current", m("Active Current", "mA", "GELE", 180, 260, decimals=2)),
            PassFail("JTAG Chain"),
        ),
    )
    module = SubUnitDef(
        "Module",
        "MOD-50",
        "A",
        "M50",
        (
            Seq(
                "Selftest",
                (
                    NumStep("Temp", m("Temp", "degC", "GELE", 15, 45, decimals=2)),
                    NumStep("Supply 1V0", m("Supply 1V0", "V", "GELE", 0.95, 1.05, decimals=4)),
                ),
            ),
        ),
    )
    return Product(
        pn="PCBA-100",
        title="Power Controller",
        process_code=10,
        revisions=(("C", 0.8), ("B", 0.2)),
        seq_file="PCBA-100_FCT.seq",
        seq_version="4.2.1",
        bootloader="1.2.0",
        sn_prefix="PC1",
        cycle_time=48.0,
        steps=(power, analog, digital),
        sub_units=(module,),
    )


def _pcba200() -> Product:
    chans = ("CH11", "CH15", "CH18", "CH22", "CH26")
    power = Seq(
        "Power",
        (
            NumStep("VCC 3V3", m("VCC 3V3", "V", "GELE", 3.20, 3.40, contact=-1)),
            NumStep("VCC 1V2", m("VCC 1V2", "V", "GELE", 1.14, 1.26, contact=-1)),
            NumStep("PA Supply", m("PA Supply", "V", "GELE", 4.6, 5.0, decimals=3, contact=-1)),
            NumStep("Idle Current", m("Idle Current", "mA", "LE", 85, nominal=60, decimals=2)),
            MultiStep(
                "Ripple",
                (
                    m("3V3 ripple", "mV", "LT", 30, nominal=10, decimals=2),
                    m("PA ripple", "mV", "LT", 50, nominal=18, decimals=2),
                ),
            ),
        ),
    )
    rf = Seq(
        "RF",
        (
            MultiStep("TX Power", tuple(m(c, "dBm", "GELE", 8, 12, decimals=2) for c in chans)),
            MultiStep(
                "Frequency Error", tuple(m(c, "ppm", "GELE", -20, 20, decimals=2) for c in chans)
            ),
            LoopStep("RX Sensitivity", 5, m("RX Sensitivity", "dBm", "LE", -90, nominal=-96.5)),
            NumStep("EVM", m("EVM", "%", "LT", 8, nominal=3.5, decimals=2)),
            NumStep("Harmonic 2nd", m("Harmonic 2nd", "dBc", "LE", -40, nominal=-52, decimals=1)),
            NumStep(
                "Crystal Trim", m("Crystal Trim", "code", "LOG", nominal=128, sigma=6, decimals=0)
            ),
        ),
    )
    digital = Seq(
        "Digital",
        (
            PassFail("Flash CRC"),
            NumStep(
                "Clock Frequency",
                m("Clock Frequency", "MHz", "GELE", 39.996, 40.004, decimals=6),
            ),
            NumStep("Boot Time", m("Boot Time", "ms", "LT", 1200, nominal=650, decimals=1)),
        ),
    )
    antenna = SubUnitDef(
        "Antenna",
        "ANT-7",
        "C",
        "A7",
        (
            Seq(
                "Selftest",
                (
                    NumStep("VSWR", m("VSWR", "ratio", "LT", 2.0, nominal=1.35, contact=1)),
                    NumStep(
                        "Return Loss", m("Return Loss", "dB", "LE", -10, nominal=-16, decimals=2)
                    ),
                ),
            ),
        ),
    )
    return Product(
        pn="PCBA-200",
        title="RF Module",
        process_code=10,
        revisions=(("B", 0.7), ("A", 0.3)),
        seq_file="PCBA-200_RF.seq",
        seq_version="2.7.0",
        bootloader="2.0.3",
        sn_prefix="RF2",
        cycle_time=62.0,
        steps=(power, rf, digital),
        sub_units=(antenna,),
    )


def _pcba300() -> Product:
    power = Seq(
        "Power",
        (
            NumStep("VCC 3V3", m("VCC 3V3", "V", "GELE", 3.20, 3.40, contact=-1)),
            NumStep("VCC 1V8", m("VCC 1V8", "V", "GELE", 1.74, 1.86, contact=-1)),
            NumStep("Sleep Current", m("Sleep Current", "uA", "LT", 50, nominal=22, decimals=2)),
        ),
    )
    analog = Seq(
        "Analog",
        (
            MultiStep(
                "Bridge Offset",
                tuple(m(a, "mV", "GELE", -3, 3, decimals=3) for a in ("X", "Y", "Z")),
            ),
            MultiStep(
                "Sensitivity",
                tuple(m(a, "mV/g", "GELE", 95, 105, decimals=3) for a in ("X", "Y", "Z")),
            ),
            MultiStep(
                "Cross Axis",
                tuple(
                    m(a, "%", "GELE", -2, 2, decimals=3)
                    for a in ("XY", "XZ", "YX", "YZ", "ZX", "ZY")
                ),
            ),
            MultiStep(
                "Self Test Response",
                tuple(
                    m(a, "mg", "GELE", 250, 950, nominal=600, decimals=1) for a in ("X", "Y", "Z")
                ),
            ),
            LoopStep(
                "Calibration Point", 6, m("Calibration Point", "LSB", "GELE", -12, 12, decimals=2)
            ),
            NumStep(
                "Noise Density", m("Noise Density", "ug/rtHz", "LT", 150, nominal=95, decimals=1)
            ),
        ),
    )
    digital = Seq(
        "Digital",
        (
            PassFail("Flash CRC"),
            NumStep("Boot Time", m("Boot Time", "ms", "LT", 500, nominal=240, decimals=1)),
        ),
    )
    sensor = SubUnitDef(
        "Sensor",
        "SEN-3",
        "B",
        "S3",
        (
            Seq(
                "Selftest",
                (
                    NumStep("Die Temp", m("Die Temp", "degC", "GELE", 10, 50, decimals=2)),
                    NumStep("ID Resistor", m("ID Resistor", "kOhm", "GELE", 9.5, 10.5, contact=1)),
                ),
            ),
        ),
    )
    return Product(
        pn="PCBA-300",
        title="Sensor Board",
        process_code=10,
        revisions=(("D", 1.0),),
        seq_file="PCBA-300_FCT.seq",
        seq_version="1.9.4",
        bootloader="0.9.8",
        sn_prefix="SB3",
        cycle_time=38.0,
        steps=(power, analog, digital),
        sub_units=(sensor,),
    )


PRODUCTS: tuple[Product, ...] = (_pcba100(), _pcba200(), _pcba300())


def iter_measurements(product: Product) -> Iterator[KeyedMeas]:
    """Yield every numeric measurement of ``product`` with its step key, in report order."""
    tp = product.test_plan

    def walk(steps: tuple[Step, ...], prefix: str) -> Iterator[KeyedMeas]:
        for st in steps:
            path = f"{prefix}{st.name}"
            if isinstance(st, Seq):
                yield from walk(st.children, path + "/")
            elif isinstance(st, NumStep):
                yield KeyedMeas(tp, path, st.name, st.meas)
            elif isinstance(st, MultiStep):
                for ms in st.meas:
                    yield KeyedMeas(tp, path, ms.name, ms)
            elif isinstance(st, LoopStep):
                yield KeyedMeas(tp, path, st.name, st.meas, loop=st.n)

    yield from walk(product.steps, "")
    for su in product.sub_units:
        yield from walk(su.steps, f"SubUnit[{su.part_type}]/")


def iter_passfail(product: Product) -> Iterator[tuple[str, str]]:
    """Yield (test_step, name) of every pass/fail step of ``product``."""

    def walk(steps: tuple[Step, ...], prefix: str) -> Iterator[tuple[str, str]]:
        for st in steps:
            path = f"{prefix}{st.name}"
            if isinstance(st, Seq):
                yield from walk(st.children, path + "/")
            elif isinstance(st, PassFail):
                yield path, st.name

    yield from walk(product.steps, "")
    for su in product.sub_units:
        yield from walk(su.steps, f"SubUnit[{su.part_type}]/")
