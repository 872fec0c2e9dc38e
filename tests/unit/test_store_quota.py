"""The one quota rule (store/quota.py) that SMTP, delivery and the store all apply."""

from __future__ import annotations

import pytest

from posthouse.store.quota import fits_quota


@pytest.mark.parametrize(
    ("used", "size", "quota", "fits"),
    [
        (0, 10**12, 0, True),  # quota 0 = unlimited
        (10**12, 1, 0, True),
        (90, 10, 100, True),  # reaching the quota exactly is allowed
        (90, 11, 100, False),  # passing it is not
        (100, 1, 100, False),  # exactly at quota: no message fits
        (100, 0, 100, True),  # nothing added changes nothing
        (101, 0, 100, False),  # already over
        (0, 101, 100, False),  # one message larger than the whole quota
    ],
)
def test_fits_quota(used: int, size: int, quota: int, fits: bool) -> None:
    assert fits_quota(used, size, quota) is fits


@pytest.mark.parametrize("declared", [None, 0])
def test_unknown_or_zero_size_counts_as_one_octet(declared: int | None) -> None:
    """SMTP at RCPT time: SIZE absent or 0 -> at least one octet, so a full box is full."""
    assert not fits_quota(100, max(declared or 0, 1), 100)
    assert fits_quota(99, max(declared or 0, 1), 100)
