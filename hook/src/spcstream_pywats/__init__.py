"""spcstream-pywats: publish every accepted pyWATS UUT report to Kafka.

Zero-touch: ``pip install spcstream-pywats`` and set ``SPCSTREAM_BOOTSTRAP_SERVERS``;
existing station scripts calling ``api.report.submit(report)`` need no change.
Explicit::

    import spcstream_pywats
    spcstream_pywats.install(bootstrap_servers="kafka:9092")

The hook never slows down or breaks ``submit()``: it publishes after WATS accepted the
report, with a non-blocking produce, and spools to disk while Kafka is unreachable.
Importing this package imports neither pyWATS nor confluent-kafka.
"""

from __future__ import annotations

from ._version import __version__

TYPE_CHECKING = False  # (not typing.TYPE_CHECKING: keep the .pth import path cheap)
if TYPE_CHECKING:
    from typing import Any

    from .config import HookConfig
    from .hook import Hook, get_hook, install, uninstall
    from .incidents import Incident, IncidentListener, parse_incident
    from .metrics import Snapshot
    from .wsjf import to_wsjf_bytes

# Lazy exports (PEP 562): the .pth autoload imports this package at interpreter start,
# so importing it must stay cheap; submodules load on first attribute access.
_EXPORTS = {
    "Hook": "hook",
    "get_hook": "hook",
    "install": "hook",
    "uninstall": "hook",
    "HookConfig": "config",
    "Incident": "incidents",
    "IncidentListener": "incidents",
    "parse_incident": "incidents",
    "Snapshot": "metrics",
    "to_wsjf_bytes": "wsjf",
}

__all__ = [
    "Hook",
    "HookConfig",
    "Incident",
    "IncidentListener",
    "Snapshot",
    "__version__",
    "get_hook",
    "install",
    "parse_incident",
    "stats",
    "to_wsjf_bytes",
    "uninstall",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def stats() -> Snapshot | None:
    """Return the active hook's counters and added-latency figures (None if not installed)."""
    from .hook import get_hook

    hook = get_hook()
    return None if hook is None else hook.snapshot()
