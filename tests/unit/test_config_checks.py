"""The [checks] section: SPF off by default, its time bound positive."""

from __future__ import annotations

import pytest

from posthouse.config import ConfigError, config_from_dict


def test_checks_defaults_and_values() -> None:
    assert config_from_dict({}).checks.spf is False
    cfg = config_from_dict({"checks": {"spf": True, "spf_timeout_seconds": 30}})
    assert (cfg.checks.spf, cfg.checks.spf_timeout_seconds) == (True, 30)


@pytest.mark.parametrize("raw", [{"spf": "yes"}, {"spf_timeout_seconds": 0}, {"dkim": True}])
def test_checks_errors(raw: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[checks\]"):
        config_from_dict({"checks": raw})
