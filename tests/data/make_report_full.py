"""Build tests/data/report_full.json with the real pyWATS report models.

The file exercises every flattening rule of DESIGN section 5: nested
sequences, a multi-numeric step, LE / LT / GE / GELE / GELT / EQ / LOG limits,
loop iterations plus a loop-summary entry, a boolean step, a skipped step, a
sub-unit with its own root sequence, string values ("NaN", "Infinity"), misc
infos with the firmware version, and the UUT header fields mapped to metadata.

Run: .venv/bin/python tests/data/make_report_full.py > tests/data/report_full.json
"""

import datetime
import json
import uuid

from pywats.domains.report.report_models.binary_data import LoopInfo
from pywats.domains.report.report_models.common_types import CompOp
from pywats.domains.report.report_models.uut.steps.sequence_call import (
    SequenceCall,
)
from pywats.domains.report.report_models.uut.uut_info import UUTInfo
from pywats.domains.report.report_models.uut.uut_report import UUTReport


def build() -> dict:
    tz = datetime.timezone(datetime.timedelta(hours=1))
    r = UUTReport(
        id=uuid.UUID("0b7e4c52-6f0e-4f3a-9d7e-2a1c5e8f9b01"),
        pn="PCBA-100",
        sn="SN000123",
        rev="B",
        process_code=10,
        station_name="ST-02",
        location="Line 1",
        purpose="Production",
        result="F",
        start=datetime.datetime(2026, 11, 1, 8, 30, 15, 250000, tzinfo=tz),
    )
    r.info = UUTInfo(operator="alice", fixture_id="FX-2B", socket_index=1)
    r.add_misc_info("FirmwareVersion", "3.5.0")
    r.add_misc_info("BootloaderVersion", "1.1")
    root = r.get_root_sequence_call()
    root.sequence.file_name = "PCBA-100_final.seq"
    root.sequence.version = "2.4.1"

    power = root.add_sequence_call("Power", file_name="power.seq", version="1.2.0")
    power.add_numeric_step(name="VCC 3V3", value=3.301, unit="V",
                           comp_op=CompOp.GELE, low_limit=3.2, high_limit=3.4,
                           status="P")
    power.add_numeric_step(name="Ripple", value=12.5, unit="mV",
                           comp_op=CompOp.LE, low_limit=50, status="P")
    power.add_numeric_step(name="Leakage", value=1.7, unit="uA",
                           comp_op=CompOp.LT, low_limit=1.0, status="F")
    rails = power.add_multi_numeric_step(name="Rails", status="F")
    rails.add_measurement(name="5V", value=5.01, unit="V", comp_op=CompOp.GELE,
                          low_limit=4.9, high_limit=5.1, status="P")
    rails.add_measurement(name="1V8", value="NaN", unit="V",
                          comp_op=CompOp.GELT, low_limit=1.7, high_limit=1.9,
                          status="F")
    rails.add_measurement(name="12V", value=12.02, unit="V",
                          comp_op=CompOp.GE, low_limit=11.5, status="P")
    power.add_boolean_step(name="PowerGood", status="P")

    clock = root.add_sequence_call("Clock", file_name="clock.seq", version="1.0.3")
    osc = clock.add_sequence_call("Oscillator", file_name="osc.seq",
                                  version="1.0.0")
    osc.add_numeric_step(name="Frequency", value=24.000012, unit="MHz",
                         comp_op=CompOp.GELE, low_limit=23.9999,
                         high_limit=24.0001, status="P")
    osc.add_numeric_step(name="Startup", value=1.25, unit="ms",
                         comp_op=CompOp.LOG, status="P")
    osc.add_numeric_step(name="Divider", value=4, unit="NA",
                         comp_op=CompOp.EQ, low_limit=4, status="P")
    osc.add_numeric_step(name="Jitter", value="Infinity", unit="ps",
                         comp_op=CompOp.LE, low_limit=50, status="E")
    osc.add_numeric_step(name="Spare", value=0.0, unit="V",
                         comp_op=CompOp.LOG, status="S")

    # Loop: three iterations of the same step plus the loop-summary entry
    # (index null) that WATS writes for the loop as a whole.
    for i, v in enumerate([0.101, 0.099, 0.103]):
        s = root.add_numeric_step(name="Current", value=v, unit="A",
                                  comp_op=CompOp.GELE, low_limit=0.05,
                                  high_limit=0.15, status="P")
        s.loop = LoopInfo(index=i, count=3)
    summary = root.add_numeric_step(name="Current", value=0.101, unit="A",
                                    comp_op=CompOp.GELE, low_limit=0.05,
                                    high_limit=0.15, status="P")
    summary.loop = LoopInfo(count=3)

    sub = r.add_sub_unit("Module", "MOD-SN-77", "MOD-7", "A")
    sub.root = SequenceCall(name="MainSequence Callback")
    st = sub.root.add_sequence_call("Selftest", file_name="mod.seq",
                                    version="0.9.0")
    st.add_numeric_step(name="Temp", value=41.5, unit="degC",
                        comp_op=CompOp.GELT, low_limit=10, high_limit=70,
                        status="P")
    return r.model_dump(mode="json", by_alias=True, exclude_none=True)


if __name__ == "__main__":
    print(json.dumps(build(), indent=1))
