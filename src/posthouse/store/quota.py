"""The quota rule, one place for every check (SMTP at RCPT and at commit, the store itself)."""

from __future__ import annotations


def fits_quota(used: int, size: int, quota_bytes: int) -> bool:
    """Whether ``size`` more octets fit a quota of ``quota_bytes`` with ``used`` in use.

    A quota of 0 is no quota: everything fits. Otherwise the sum may reach the quota but not
    pass it. A caller that does not know the size yet passes 1 (any message has at least one
    octet), so a mailbox exactly at its quota is full.
    """
    return not quota_bytes or used + size <= quota_bytes
