"""WSJF serialization exactly as pyWATS puts it on the wire.

pyWATS 0.6 (``AsyncReportRepository.post_wsjf``) turns a report model into a dict with
``model_dump(mode="json", by_alias=True, exclude_none=True)`` (a dict report is sent as
given) and hands it to ``AsyncHttpClient.post(..., data=dict)``, which passes it to httpx
as ``json=``.  httpx 0.28 encodes that with
``json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)`` in UTF-8;
older httpx releases used ``json.dumps(obj)`` with default separators.  To be byte-exact
whatever httpx is installed, :func:`encode` calls httpx's own ``encode_json`` when it is
importable and falls back to the 0.28 rules otherwise.

Nothing here imports pyWATS: reports are recognised by duck typing (``model_dump``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"

_Encoder = Callable[[Any], bytes]
_encoder: _Encoder | None = None


def _fallback_encode(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode(
        "utf-8"
    )


def _resolve_encoder() -> _Encoder:
    """Return httpx's JSON body encoder, or the equivalent of httpx 0.28's."""
    try:
        from httpx._content import encode_json
    except Exception:  # httpx missing or reorganised
        logger.debug("httpx encode_json not importable; using json.dumps compact UTF-8")
        return _fallback_encode

    def _httpx_encode(data: Any) -> bytes:
        _headers, stream = encode_json(data)
        return b"".join(stream)  # ByteStream iterates bytes

    try:
        probe = {"a": [1, 2.5, "é"], "b": None}
        _httpx_encode(probe)
    except Exception:
        logger.debug("httpx encode_json unusable; using json.dumps compact UTF-8")
        return _fallback_encode
    return _httpx_encode


def encode(data: Any) -> bytes:
    """Encode a JSON-ready object into the exact bytes httpx would POST.

    Raises:
        ValueError / TypeError: for objects JSON cannot represent (e.g. a float NaN).
    """
    global _encoder
    enc = _encoder
    if enc is None:
        enc = _encoder = _resolve_encoder()
    return enc(data)


def to_wsjf_dict(report: Any) -> Mapping[str, Any]:
    """Return the dict pyWATS sends for ``report`` (a report model or a dict)."""
    if isinstance(report, Mapping):
        return report
    dump = getattr(report, "model_dump", None)
    if dump is None:
        raise TypeError(f"not a report: {type(report).__name__}")
    data: Mapping[str, Any] = dump(mode="json", by_alias=True, exclude_none=True)
    return data


def to_wsjf_bytes(report: Any) -> bytes:
    """Serialize a report model or dict exactly as pyWATS submits it."""
    return encode(to_wsjf_dict(report))


def report_type(report: Any) -> str | None:
    """Return the report type letter (``T`` test, ``R`` repair) if known."""
    value = report.get("type") if isinstance(report, Mapping) else getattr(report, "type", None)
    if value is None:
        return None
    return str(getattr(value, "value", value))


def is_repair(report: Any) -> bool:
    """Tell whether ``report`` is a repair (UUR) report, which the hook never publishes."""
    if report_type(report) == "R":
        return True
    if isinstance(report, Mapping):
        return "uur" in report or "uurInfo" in report
    return type(report).__name__ == "UURReport"


def station_name(report: Any, data: Mapping[str, Any] | None = None) -> str | None:
    """Return the report's ``machineName`` (the Kafka key)."""
    if data is not None:
        value = data.get("machineName")
    elif isinstance(report, Mapping):
        value = report.get("machineName")
    else:
        value = getattr(report, "station_name", None)
    return None if value is None else str(value)


def report_id(report: Any, data: Mapping[str, Any] | None = None) -> str | None:
    """Return the report's own id (UUID string), if any."""
    value = data.get("id") if data is not None else None
    if value is None:
        value = report.get("id") if isinstance(report, Mapping) else getattr(report, "id", None)
    return None if value is None else str(value)
