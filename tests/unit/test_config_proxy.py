"""[listen] proxy_protocol / proxy_trusted and [limits] proxy_header_seconds."""

from __future__ import annotations

import ipaddress

import pytest

from posthouse.config import ConfigError, config_from_dict, proxy_networks


def test_off_by_default() -> None:
    cfg = config_from_dict({})
    assert cfg.listen.proxy_protocol == []
    assert cfg.listen.proxy_trusted == []
    assert cfg.limits.proxy_header_seconds == 5
    assert proxy_networks(cfg.listen) == ()


def test_values() -> None:
    cfg = config_from_dict({"listen": {"proxy_protocol": ["smtp", "imaps"],
                                       "proxy_trusted": ["10.0.0.0/8", "2001:db8::/32"]},
                            "limits": {"proxy_header_seconds": 2}})
    assert cfg.listen.proxy_protocol == ["smtp", "imaps"]
    assert proxy_networks(cfg.listen) == (ipaddress.ip_network("10.0.0.0/8"),
                                          ipaddress.ip_network("2001:db8::/32"))
    assert cfg.limits.proxy_header_seconds == 2


@pytest.mark.parametrize(("listen", "limits", "message"), [
    ({"proxy_protocol": ["smtps"], "proxy_trusted": ["10.0.0.0/8"]}, {}, "unknown listener"),
    ({"proxy_protocol": ["smtp"]}, {}, "needs 'proxy_trusted'"),
    ({"proxy_protocol": ["smtp"], "proxy_trusted": ["10.0.0.1/8"]}, {}, "host bits set"),
    ({"proxy_protocol": ["smtp"], "proxy_trusted": ["lb.example"]}, {}, "proxy_trusted"),
    ({"proxy_protocol": "smtp"}, {}, "list of a string"),
    ({}, {"proxy_header_seconds": 0}, "proxy_header_seconds"),
])
def test_invalid(listen: dict[str, object], limits: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"listen": listen, "limits": limits})
