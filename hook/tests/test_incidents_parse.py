"""Parsing spc.incidents values (JSON expected; anything else skipped)."""

from __future__ import annotations

import json

from spcstream_pywats.incidents import parse_incident


def test_full_record() -> None:
    inc = parse_incident(
        json.dumps(
            {
                "incident_id": "INC-1",
                "revision": 3,
                "state": "open",
                "severity": "warning",
                "test_plan": "PCBA-100/10",
                "station": "ST-01",
                "title": "t",
                "summary": "s",
                "extra": [1, 2],
            }
        ).encode()
    )
    assert inc is not None
    assert (inc.incident_id, inc.revision, inc.state, inc.severity) == (
        "INC-1",
        3,
        "open",
        "warning",
    )
    assert inc.raw["extra"] == [1, 2]


def test_missing_fields_tolerated() -> None:
    inc = parse_incident(b'{"incident_id": 42}')
    assert inc is not None and inc.incident_id == "42" and inc.station is None
    assert inc.line() == "SPC incident 42 [?] ?"


def test_avro_json_union_strings() -> None:
    inc = parse_incident(b'{"incident_id": "I", "title": {"string": "hello"}, "revision": "x"}')
    assert inc is not None and inc.title == "hello" and inc.revision is None


def test_junk_skipped() -> None:
    for value in (
        None,
        b"",
        b"\x00\x00\x00\x00\x01abc",
        b"{",
        b"[1,2]",
        b'"str"',
        b'{"no_id": 1}',
        b"\xff\xfe",
    ):
        assert parse_incident(value) is None
