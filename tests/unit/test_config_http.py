"""The [http] section, the http/https listeners and [log] format."""

from __future__ import annotations

import pytest

from posthouse.config import STANDARD_PORTS, ConfigError, config_from_dict


def test_http_defaults() -> None:
    cfg = config_from_dict({})
    assert cfg.listen.http == ["0.0.0.0:80"]
    assert cfg.listen.https == ["0.0.0.0:443"]
    assert (STANDARD_PORTS["http"], STANDARD_PORTS["https"]) == (80, 443)
    assert cfg.http.enabled
    assert cfg.http.metrics_networks == ["127.0.0.0/8", "::1/128"]
    assert cfg.http.metrics_token == ""
    assert cfg.http.mta_sts_mode == "testing"
    assert cfg.log.format == "text"


def test_http_values() -> None:
    cfg = config_from_dict({
        "listen": {"https": ["[::]:8443"], "http": []},
        "http": {"mta_sts_mode": "enforce", "metrics_networks": ["10.0.0.0/8"],
                 "metrics_token": "t", "max_body_bytes": 10},
        "log": {"format": "json"}})
    assert cfg.listen.https == ["[::]:8443"]
    assert cfg.http.mta_sts_mode == "enforce"
    assert cfg.log.format == "json"


@pytest.mark.parametrize("raw", [
    {"mta_sts_mode": "strict"}, {"mta_sts_max_age": 31557601}, {"mta_sts_max_age": 0},
    {"metrics_networks": ["not-a-net"]}, {"metrics_networks": "127.0.0.1"},
    {"header_seconds": 0}, {"idle_seconds": -1}, {"max_header_bytes": 100},
    {"max_body_bytes": 0}, {"enabled": "yes"}, {"unknown": 1},
])
def test_http_errors(raw: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[http\]"):
        config_from_dict({"http": raw})


def test_listen_errors_name_the_http_listeners() -> None:
    with pytest.raises(ConfigError, match=r"\[listen\] key 'https'"):
        config_from_dict({"listen": {"https": ["nohostport"]}})


def test_log_format_error() -> None:
    with pytest.raises(ConfigError, match=r"\[log\] key 'format'"):
        config_from_dict({"log": {"format": "xml"}})
