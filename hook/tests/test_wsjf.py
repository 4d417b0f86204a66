"""WSJF serialization: the bytes must be what pyWATS/httpx put on the wire."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from spcstream_pywats import wsjf


def _httpx_body(data: object) -> bytes:
    req = httpx.Request("POST", "http://x/api/Report/WSJF", json=data)
    return req.read()


def test_encode_matches_httpx_request_body() -> None:
    data = {"pn": "PCBA-100", "sn": "Ü-1", "v": [1, 2.5, "NaN", None, True], "n": {"é": "ß"}}
    assert wsjf.encode(data) == _httpx_body(data)


def test_encode_is_compact_utf8() -> None:
    assert wsjf.encode({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


def test_encode_rejects_float_nan_like_httpx() -> None:
    with pytest.raises(ValueError):
        wsjf.encode({"v": math.nan})


def test_model_serialized_like_pywats(reports) -> None:
    report = reports(1)[0]
    expected = _httpx_body(report.model_dump(mode="json", by_alias=True, exclude_none=True))
    assert wsjf.to_wsjf_bytes(report) == expected
    # a dict is sent as given
    as_dict = json.loads(expected)
    assert wsjf.to_wsjf_bytes(as_dict) == expected


def test_metadata_from_model_and_dict(reports) -> None:
    report = reports(1)[0]
    data = wsjf.to_wsjf_dict(report)
    assert wsjf.station_name(report) == report.station_name == data["machineName"]
    assert wsjf.report_id(report) == str(report.id) == data["id"]
    assert wsjf.station_name(data) == data["machineName"]
    assert wsjf.report_id(data) == data["id"]
    assert wsjf.report_type(report) == "T"
    assert not wsjf.is_repair(report)
    assert not wsjf.is_repair(data)


def test_repair_reports_recognized() -> None:
    from pywats.domains.report.report_models import UURReport

    uur = UURReport(
        pn="P",
        sn="S",
        rev="A",
        process_code=500,
        station_name="ST",
        location="L",
        purpose="Repair",
        type="R",
    )
    assert wsjf.is_repair(uur)
    assert wsjf.is_repair({"type": "R", "pn": "P"})
    assert wsjf.is_repair({"pn": "P", "uur": {}})


def test_not_a_report() -> None:
    with pytest.raises(TypeError):
        wsjf.to_wsjf_dict(42)
