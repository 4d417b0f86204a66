"""Fault injection: spec parsing and per-measurement effects.

Spec syntax (one ``--fault`` per fault, repeatable)::

    KIND[:key=value[,key=value...]]

Unit filters (a unit is affected when all given filters match; values are globs
where only ``*`` and ``?`` are special):
    station=ST-03  fixture=FX-2B  fw=3.5.0  operator=anna.berg  product=PCBA-100
    rev=C  socket=1
Onset window (global unit index, 0-based, in production order):
    from=N (default 0)   to=N (exclusive, default: end of run)
Measurement filter:
    step=GLOB[|GLOB...]  matched against ``test_step`` and ``test_step/measurement``
    (e.g. ``step=Power/VCC*``, ``step=Analog/ADC Gain Error/CH3``,
    ``step=SubUnit[Module]/Selftest/*``); ``*`` matches any characters, ``/`` included.
    Default: every numeric measurement (for fixture_contact: the contact-sensitive ones).

Kinds and their parameters (σ = the measurement's in-control standard deviation):
    shift            sigma=2.0         mean offset of ``sigma`` σ (negative = down)
    fw_shift         sigma=2.0         same, requires ``fw=``
    drift            rate=0.5          offset grows by ``rate`` σ per 100 units after onset
    variance         factor=2.0        σ multiplied by ``factor``
    stuck            value=<number>    reading frozen (default: the first affected reading)
    fixture_contact  offset=1.5 noise=2.0 fail_rate=0.03
                                       requires ``fixture=``; contact-sensitive readings move
                                       ``offset`` σ in their contact direction, σ x ``noise``,
                                       and a unit fails (one reading beyond its limit) with
                                       probability ``fail_rate``
    yield_drop       rate=0.1          a unit fails (one affected reading beyond its limit,
                                       or a pass/fail step fails) with probability ``rate``

Examples::

    fixture_contact:fixture=FX-2B,from=300
    fw_shift:fw=3.5.0,step=Power/VCC 3V3,sigma=2
    drift:step=Analog/Vref*,from=200,rate=0.8
    variance:station=ST-02,step=RF/TX Power/*,factor=2
    stuck:station=ST-03,step=Digital/Boot Time,from=150
    yield_drop:station=ST-01,from=400,rate=0.1
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .catalog import KeyedMeas

FILTER_KEYS = ("station", "fixture", "fw", "operator", "product", "rev", "socket")
#: meta field names of the spcstream flat event for each filter (subgroup dimension)
DIMENSION = {
    "station": "station",
    "fixture": "fixture",
    "fw": "fw",
    "operator": "operator",
    "rev": "hw_rev",
    "socket": "socket",
    "product": "test_plan",
}
#: most specific first: the subgroup reported in the ground truth
DIMENSION_ORDER = ("fixture", "socket", "fw", "operator", "rev", "station", "product")

KINDS: dict[str, dict[str, float | None]] = {
    "shift": {"sigma": 2.0},
    "fw_shift": {"sigma": 2.0},
    "drift": {"rate": 0.5},
    "variance": {"factor": 2.0},
    "stuck": {"value": None},
    "fixture_contact": {"offset": 1.5, "noise": 2.0, "fail_rate": 0.03},
    "yield_drop": {"rate": 0.1},
}
REQUIRED = {"fw_shift": ("fw",), "fixture_contact": ("fixture",)}


class FaultSpecError(ValueError):
    """A malformed ``--fault`` specification."""


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob where ``*`` matches any run of characters (``/`` included), ``?``
    one character, and everything else (``[``, ``]`` too) is literal.
    """
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out) + r"\Z", re.S)


@dataclass
class Fault:
    """One parsed fault."""

    index: int
    spec: str
    kind: str
    params: dict[str, float | None]
    filters: dict[str, str]
    steps: tuple[str, ...]
    start: int = 0
    end: int | None = None
    _filter_re: dict[str, re.Pattern[str]] = field(default_factory=dict, repr=False)
    _step_re: tuple[re.Pattern[str], ...] = field(default_factory=tuple, repr=False)

    def __post_init__(self) -> None:
        self._filter_re = {k: glob_to_regex(v) for k, v in self.filters.items()}
        self._step_re = tuple(glob_to_regex(g) for g in self.steps)

    def unit_matches(self, index: int, attrs: dict[str, str]) -> bool:
        """Whether the unit with global ``index`` and attributes ``attrs`` is affected."""
        if index < self.start or (self.end is not None and index >= self.end):
            return False
        return all(rx.match(attrs.get(k, "")) for k, rx in self._filter_re.items())

    def step_matches(self, test_step: str, measurement: str | None = None) -> bool:
        """Whether a step/measurement is selected by ``step=`` (True when no filter)."""
        if not self._step_re:
            return True
        full = f"{test_step}/{measurement}" if measurement is not None else test_step
        return any(rx.match(test_step) or rx.match(full) for rx in self._step_re)

    def meas_matches(self, km: KeyedMeas) -> bool:
        """Whether numeric measurement ``km`` is affected (given an affected unit)."""
        if self.kind == "fixture_contact" and not self._step_re and km.meas.contact == 0:
            return False
        return self.step_matches(km.test_step, km.measurement)

    def subgroup(self) -> dict[str, str] | None:
        """The most specific (dimension, value) this fault is confined to, if any."""
        for key in DIMENSION_ORDER:
            if key in self.filters and not any(c in self.filters[key] for c in "*?"):
                return {"dimension": DIMENSION[key], "value": self.filters[key]}
        return None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready description (for the ground-truth manifest)."""
        return {
            "index": self.index,
            "spec": self.spec,
            "kind": self.kind,
            "params": self.params,
            "filters": self.filters,
            "steps": list(self.steps),
            "from": self.start,
            "to": self.end,
            "subgroup": self.subgroup(),
        }


def parse_fault(spec: str, index: int = 0) -> Fault:
    """Parse one ``KIND[:k=v,...]`` spec.

    Raises:
        FaultSpecError: unknown kind or key, bad number, missing required filter.
    """
    kind, _, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r} (known: {', '.join(sorted(KINDS))})")
    params: dict[str, float | None] = dict(KINDS[kind])
    filters: dict[str, str] = {}
    steps: tuple[str, ...] = ()
    start, end = 0, None
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise FaultSpecError(f"{spec!r}: expected key=value, got {item!r}")
        try:
            if key in FILTER_KEYS:
                filters[key] = value
            elif key == "step":
                steps = tuple(g.strip() for g in value.split("|") if g.strip())
            elif key == "from":
                start = int(value)
            elif key == "to":
                end = int(value)
            elif key in params:
                params[key] = float(value)
            else:
                allowed = [*FILTER_KEYS, "step", "from", "to", *params]
                raise FaultSpecError(
                    f"{spec!r}: unknown key {key!r} for {kind} (allowed: {', '.join(allowed)})"
                )
        except ValueError as exc:
            if isinstance(exc, FaultSpecError):
                raise
            raise FaultSpecError(f"{spec!r}: bad number for {key}: {value!r}") from exc
    for req in REQUIRED.get(kind, ()):
        if req not in filters:
            raise FaultSpecError(f"{spec!r}: {kind} requires {req}=")
    if start < 0 or (end is not None and end <= start):
        raise FaultSpecError(f"{spec!r}: need 0 <= from < to")
    if kind == "yield_drop" and not 0 <= (params["rate"] or 0) <= 1:
        raise FaultSpecError(f"{spec!r}: rate must be within [0, 1]")
    if kind == "fixture_contact" and not 0 <= (params["fail_rate"] or 0) <= 1:
        raise FaultSpecError(f"{spec!r}: fail_rate must be within [0, 1]")
    return Fault(index, spec, kind, params, filters, steps, start, end)


@dataclass
class Effect:
    """Accumulated fault effect on one reading: value = μ + σ·(shift + factor·z)."""

    shift: float = 0.0
    factor: float = 1.0
    stuck: float | None = None
    stuck_fault: Fault | None = None
    faults: list[Fault] = field(default_factory=list)

    @property
    def active(self) -> bool:
        """Whether any fault touched the reading."""
        return bool(self.faults)


def reading_effect(faults: list[Fault], km: KeyedMeas, unit_index: int) -> Effect:
    """Combine the deterministic effects of the unit's active ``faults`` on ``km``."""
    eff = Effect()
    for f in faults:
        if not f.meas_matches(km):
            continue
        p = f.params
        if f.kind in ("shift", "fw_shift"):
            eff.shift += float(p["sigma"] or 0.0)
        elif f.kind == "drift":
            eff.shift += float(p["rate"] or 0.0) * (unit_index - f.start) / 100.0
        elif f.kind == "variance":
            eff.factor *= float(p["factor"] or 1.0)
        elif f.kind == "fixture_contact":
            sign = km.meas.contact if km.meas.contact != 0 else -1.0
            eff.shift += float(p["offset"] or 0.0) * (1.0 if sign > 0 else -1.0)
            eff.factor *= float(p["noise"] or 1.0)
        elif f.kind == "stuck":
            eff.stuck_fault = f
        elif f.kind == "yield_drop":
            continue  # stochastic whole-unit failures, applied by the generator
        eff.faults.append(f)
    return eff


def direction(fault: Fault, km: KeyedMeas | None) -> str | None:
    """Expected direction of the change for a key: up, down, both or None."""
    p = fault.params
    if fault.kind in ("shift", "fw_shift"):
        return "up" if (p["sigma"] or 0) >= 0 else "down"
    if fault.kind == "drift":
        return "up" if (p["rate"] or 0) >= 0 else "down"
    if fault.kind == "variance":
        return "both"
    if fault.kind == "fixture_contact" and km is not None:
        return "up" if km.meas.contact > 0 else "down"
    return None
