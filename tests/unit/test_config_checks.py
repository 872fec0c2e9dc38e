"""The [checks] section: every check on by default, the SPF time bound positive."""

from __future__ import annotations

import pytest

from posthouse.config import ConfigError, config_from_dict


def test_checks_defaults_and_values() -> None:
    checks = config_from_dict({}).checks
    assert (checks.spf, checks.dkim, checks.dmarc, checks.dmarc_reject) == (True,) * 4
    cfg = config_from_dict({"checks": {"spf": True, "spf_timeout_seconds": 30}})
    assert (cfg.checks.spf, cfg.checks.spf_timeout_seconds) == (True, 30)


@pytest.mark.parametrize("raw", [{"spf": "yes"}, {"spf_timeout_seconds": 0}, {"dkim": "no"},
                                 {"unknown": True}])
def test_checks_errors(raw: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match=r"\[checks\]"):
        config_from_dict({"checks": raw})
