"""[auth] max_concurrent_hashes, max_queued_hashes_per_source, max_queued_hashes: checked
when the config is read and handed to the hash scheduler (issue 12, defect 1)."""

from __future__ import annotations

from typing import cast

import pytest

from posthouse.auth import PasswordHasher, build_authenticator
from posthouse.clock import SystemClock
from posthouse.config import ConfigError, config_from_dict
from posthouse.store.api import AccountStore


@pytest.mark.parametrize(("key", "value"), [
    ("max_concurrent_hashes", 0), ("max_queued_hashes_per_source", -1),
    ("max_queued_hashes", -1), ("max_queued_hashes", "64"),
])
def test_bad_values_stop_the_server_naming_the_key(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=key):
        config_from_dict({"auth": {key: value}}, source="t.toml")


def test_the_scheduler_gets_the_configured_bounds() -> None:
    cfg = config_from_dict({"auth": {"max_concurrent_hashes": 3,
                                     "max_queued_hashes_per_source": 0,
                                     "max_queued_hashes": 10}})
    auth = build_authenticator(cast(AccountStore, object()), cfg, PasswordHasher.cheap(),
                               clock=SystemClock())
    scheduler = auth.scheduler
    assert (scheduler.slots, scheduler.per_source, scheduler.total) == (3, 0, 10)
    auth.close()
