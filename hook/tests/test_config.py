"""Configuration from arguments and SPCSTREAM_* variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from spcstream_pywats.config import HookConfig, kafka_passthrough, redact


def test_from_env_defaults(tmp_path: Path) -> None:
    cfg = HookConfig.from_env({"SPCSTREAM_BOOTSTRAP_SERVERS": "k:9092"})
    assert cfg.bootstrap_servers == "k:9092"
    assert cfg.topic == "wats.reports"
    assert cfg.incidents is True
    assert cfg.incidents_topic == "spc.incidents"
    assert cfg.spool_dir.name == "spool"


def test_from_env_all(tmp_path: Path) -> None:
    env = {
        "SPCSTREAM_BOOTSTRAP_SERVERS": "a:1,b:2",
        "SPCSTREAM_TOPIC": "x",
        "SPCSTREAM_SPOOL_DIR": str(tmp_path),
        "SPCSTREAM_SPOOL_MAX_BYTES": "1000",
        "SPCSTREAM_SPOOL_MAX_FILES": "7",
        "SPCSTREAM_FLUSH_TIMEOUT": "0.5",
        "SPCSTREAM_INCIDENTS": "0",
        "SPCSTREAM_STATION": "ST-01, ST-02",
        "SPCSTREAM_KAFKA_SASL_PASSWORD": "hunter2",
        "SPCSTREAM_KAFKA_LINGER_MS": "20",
    }
    cfg = HookConfig.from_env(env)
    assert cfg.topic == "x" and cfg.spool_dir == tmp_path
    assert (cfg.spool_max_bytes, cfg.spool_max_files, cfg.flush_timeout) == (1000, 7, 0.5)
    assert cfg.incidents is False
    assert cfg.stations == ("ST-01", "ST-02")
    assert cfg.kafka == {"sasl.password": "hunter2", "linger.ms": "20"}
    assert "hunter2" not in cfg.describe()


def test_overrides_win_and_merge_kafka() -> None:
    env = {"SPCSTREAM_BOOTSTRAP_SERVERS": "env:1", "SPCSTREAM_KAFKA_LINGER_MS": "20"}
    cfg = HookConfig.from_env(env, bootstrap_servers="arg:2", kafka={"acks": "1"})
    assert cfg.bootstrap_servers == "arg:2"
    assert cfg.kafka == {"linger.ms": "20", "acks": "1"}


def test_missing_bootstrap_is_an_error() -> None:
    with pytest.raises(ValueError, match="bootstrap"):
        HookConfig.from_env({})


@pytest.mark.parametrize(
    "name,value",
    [
        ("SPCSTREAM_SPOOL_MAX_FILES", "x"),
        ("SPCSTREAM_SPOOL_MAX_BYTES", "-1"),
        ("SPCSTREAM_FLUSH_TIMEOUT", "soon"),
    ],
)
def test_bad_numbers(name: str, value: str) -> None:
    with pytest.raises(ValueError, match=name):
        HookConfig.from_env({"SPCSTREAM_BOOTSTRAP_SERVERS": "k:1", name: value})


def test_passthrough_names() -> None:
    env = {
        "SPCSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "SPCSTREAM_KAFKA_SSL_CA_LOCATION": "/ca.pem",
        "SPCSTREAM_KAFKA_SOME__UNDERSCORE_PROP": "v",
        "SPCSTREAM_KAFKA_": "ignored",
        "OTHER": "x",
    }
    assert kafka_passthrough(env) == {
        "security.protocol": "SASL_SSL",
        "ssl.ca.location": "/ca.pem",
        "some_underscore.prop": "v",
    }


def test_redact_masks_secrets() -> None:
    out = redact(
        {
            "sasl.password": "p",
            "ssl.key.password": "k",
            "sasl.username": "u",
            "sasl.oauthbearer.client.secret": "s",
            "ssl.key.pem": "pem",
            "error_cb": print,
        }
    )
    assert out["sasl.password"] == out["ssl.key.password"] == "***"
    assert out["sasl.oauthbearer.client.secret"] == out["ssl.key.pem"] == "***"
    assert out["sasl.username"] == "u"
    assert out["error_cb"] == "<print>"
