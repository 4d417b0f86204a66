"""Hook configuration: explicit arguments, environment variables, Kafka passthrough.

Environment variables (all optional except the first for zero-touch activation):

=================================  ==========================================================
``SPCSTREAM_BOOTSTRAP_SERVERS``    Kafka bootstrap servers; setting it activates the hook in
                                   every Python process of the environment (``.pth`` file)
``SPCSTREAM_TOPIC``                report topic (default ``wats.reports``)
``SPCSTREAM_SPOOL_DIR``            spool directory (default ``$XDG_CACHE_HOME/spcstream-pywats
                                   /spool`` or ``~/.cache/spcstream-pywats/spool``)
``SPCSTREAM_SPOOL_MAX_BYTES``      spool size bound in bytes (default 256 MiB)
``SPCSTREAM_SPOOL_MAX_FILES``      spool entry count bound (default 100000)
``SPCSTREAM_FLUSH_TIMEOUT``        seconds to wait for delivery at exit (default 5)
``SPCSTREAM_INCIDENTS``            ``0`` disables the incident listener (default on)
``SPCSTREAM_INCIDENTS_TOPIC``      incident topic (default ``spc.incidents``)
``SPCSTREAM_STATION``              station name(s) to listen for, comma separated (default:
                                   the ``machineName`` of the reports this process submits)
``SPCSTREAM_KAFKA_<PROP>``         any librdkafka property, e.g. ``SPCSTREAM_KAFKA_SASL_USERNAME``
                                   -> ``sasl.username`` (``_`` -> ``.``, ``__`` -> ``_``); applied
                                   to the producer and the incident consumer
``SPCSTREAM_PREDUMP``              ``0`` makes pyWATS serialize report models itself (the hook
                                   then serializes them a second time; default 1)
``SPCSTREAM_DISABLE``              ``1`` keeps the hook off even when the bootstrap is set
=================================  ==========================================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .incidents import Incident

ENV_PREFIX = "SPCSTREAM_"
KAFKA_ENV_PREFIX = "SPCSTREAM_KAFKA_"
DEFAULT_TOPIC = "wats.reports"
DEFAULT_INCIDENTS_TOPIC = "spc.incidents"
DEFAULT_SPOOL_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_SPOOL_MAX_FILES = 100_000
DEFAULT_FLUSH_TIMEOUT = 5.0

_SECRET_RE = re.compile(r"(password|secret|token|credential|\.pem$|key\.pem|jaas|private)", re.I)
_FALSE = {"0", "false", "no", "off", ""}


def default_spool_dir() -> Path:
    """Return the per-user default spool directory."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "spcstream-pywats" / "spool"


def is_secret_key(key: str) -> bool:
    """Tell whether a librdkafka property name holds a secret (never logged)."""
    return bool(_SECRET_RE.search(key))


def redact(conf: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``conf`` safe to log: secrets masked, callables named."""
    out: dict[str, Any] = {}
    for key, value in conf.items():
        if is_secret_key(key):
            out[key] = "***"
        elif callable(value):
            out[key] = f"<{getattr(value, '__name__', type(value).__name__)}>"
        else:
            out[key] = value
    return out


def kafka_passthrough(environ: Mapping[str, str]) -> dict[str, str]:
    """Map ``SPCSTREAM_KAFKA_FOO_BAR`` to ``foo.bar`` (``__`` becomes ``_``)."""
    out: dict[str, str] = {}
    for name, value in environ.items():
        if not name.startswith(KAFKA_ENV_PREFIX) or len(name) == len(KAFKA_ENV_PREFIX):
            continue
        raw = name[len(KAFKA_ENV_PREFIX) :].lower()
        prop = raw.replace("__", "\0").replace("_", ".").replace("\0", "_")
        out[prop] = value
    return out


def _env_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return value


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def env_flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a boolean environment variable (``0/false/no/off`` are false)."""
    raw = environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in _FALSE


@dataclass(frozen=True)
class HookConfig:
    """Everything the hook needs; build with :meth:`from_env` or directly.

    Attributes:
        bootstrap_servers: Kafka bootstrap servers (``host:port[,host:port]``).
        topic: topic for accepted reports.
        spool_dir: directory of the on-disk spool (created on demand).
        spool_max_bytes: spool size bound; when reached new entries are refused (counted
            as lost, their report ids appended to ``lost.log`` in the spool directory).
        spool_max_files: spool entry count bound, same policy.
        flush_timeout: seconds to wait at exit for outstanding deliveries before the
            remainder is written to the spool.
        kafka: extra librdkafka properties for producer and consumer (override defaults).
        incidents: start the incident listener.
        incidents_topic: topic carrying incidents.
        stations: station names whose incidents are reported; empty means "the
            ``machineName`` values of reports submitted by this process".
        on_incident: callback for incidents (default: one WARNING log line).
        predump: serialize a report model once and hand pyWATS the resulting dict (what
            ``post_wsjf`` does with a model anyway), saving one serialization per submit.
    """

    bootstrap_servers: str
    topic: str = DEFAULT_TOPIC
    spool_dir: Path = field(default_factory=default_spool_dir)
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    spool_max_files: int = DEFAULT_SPOOL_MAX_FILES
    flush_timeout: float = DEFAULT_FLUSH_TIMEOUT
    kafka: Mapping[str, Any] = field(default_factory=dict)
    incidents: bool = True
    incidents_topic: str = DEFAULT_INCIDENTS_TOPIC
    stations: tuple[str, ...] = ()
    on_incident: Callable[[Incident], None] | None = None
    predump: bool = True

    def __post_init__(self) -> None:
        if not self.bootstrap_servers or not self.bootstrap_servers.strip():
            raise ValueError("bootstrap_servers is required")
        if not self.topic:
            raise ValueError("topic must not be empty")
        if self.spool_max_bytes <= 0 or self.spool_max_files <= 0:
            raise ValueError("spool bounds must be positive")
        if self.flush_timeout < 0:
            raise ValueError("flush_timeout must be >= 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HookConfig:
        """Build a config from ``SPCSTREAM_*`` variables; keyword overrides win.

        Raises:
            ValueError: when no bootstrap servers are given or a value is malformed.
        """
        env = os.environ if environ is None else environ
        stations_raw = env.get("SPCSTREAM_STATION", "")
        values: dict[str, Any] = {
            "bootstrap_servers": env.get("SPCSTREAM_BOOTSTRAP_SERVERS", ""),
            "topic": env.get("SPCSTREAM_TOPIC") or DEFAULT_TOPIC,
            "spool_dir": Path(env["SPCSTREAM_SPOOL_DIR"])
            if env.get("SPCSTREAM_SPOOL_DIR")
            else default_spool_dir(),
            "spool_max_bytes": _env_int(env, "SPCSTREAM_SPOOL_MAX_BYTES", DEFAULT_SPOOL_MAX_BYTES),
            "spool_max_files": _env_int(env, "SPCSTREAM_SPOOL_MAX_FILES", DEFAULT_SPOOL_MAX_FILES),
            "flush_timeout": _env_float(env, "SPCSTREAM_FLUSH_TIMEOUT", DEFAULT_FLUSH_TIMEOUT),
            "kafka": kafka_passthrough(env),
            "incidents": env_flag(env, "SPCSTREAM_INCIDENTS", True),
            "incidents_topic": env.get("SPCSTREAM_INCIDENTS_TOPIC") or DEFAULT_INCIDENTS_TOPIC,
            "stations": tuple(s.strip() for s in stations_raw.split(",") if s.strip()),
            "predump": env_flag(env, "SPCSTREAM_PREDUMP", True),
        }
        if "kafka" in overrides and overrides["kafka"] is not None:
            merged = dict(values["kafka"])
            merged.update(overrides.pop("kafka"))
            values["kafka"] = merged
        values.update({k: v for k, v in overrides.items() if v is not None})
        if isinstance(values.get("spool_dir"), str):
            values["spool_dir"] = Path(values["spool_dir"])
        if isinstance(values.get("stations"), str):
            values["stations"] = (values["stations"],)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> HookConfig:
        """Return a copy with some fields replaced."""
        return replace(self, **changes)

    def describe(self) -> str:
        """One-line description safe for logs (no secrets)."""
        kafka = redact(self.kafka)
        return (
            f"bootstrap={self.bootstrap_servers} topic={self.topic} spool={self.spool_dir} "
            f"incidents={'on' if self.incidents else 'off'} kafka={kafka}"
        )
