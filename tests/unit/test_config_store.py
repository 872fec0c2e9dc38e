"""[store]: the URL, the pool and the queue lease are validated."""

from __future__ import annotations

import pytest

from posthouse.config import MIN_QUEUE_LEASE_SECONDS, ConfigError, config_from_dict


def test_queue_lease_defaults_to_ten_minutes_and_is_read() -> None:
    assert config_from_dict({}).store.queue_lease_seconds == 600
    cfg = config_from_dict({"store": {"url": "postgresql://mail@db.example/posthouse",
                                      "queue_lease_seconds": 30}})
    assert cfg.store.queue_lease_seconds == 30


@pytest.mark.parametrize("lease", [0, -1, MIN_QUEUE_LEASE_SECONDS - 1])
def test_a_lease_shorter_than_an_attempt_is_refused(lease: int) -> None:
    with pytest.raises(ConfigError, match=r"\[store\] key 'queue_lease_seconds'"):
        config_from_dict({"store": {"queue_lease_seconds": lease}})


def test_a_lease_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ConfigError, match="queue_lease_seconds"):
        config_from_dict({"store": {"queue_lease_seconds": "soon"}})
