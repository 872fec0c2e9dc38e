"""DeliveryTransaction checks quotas with the accounts read while routing each RCPT."""

from __future__ import annotations

import asyncio

from posthouse.delivery.router import Route, RoutedUser
from posthouse.delivery.transaction import AcceptedRecipient, DeliveryTransaction


class UsageOnly:
    """A store that only knows usage: looking a user up again would fail the test."""

    def __init__(self, used: dict[int, int]) -> None:
        self.used = used
        self.asked: list[int] = []

    async def quota_usage(self, user_id: int) -> tuple[int, int]:
        self.asked.append(user_id)
        return self.used[user_id], 1


def _txn(*routes: Route) -> DeliveryTransaction:
    txn = DeliveryTransaction(mail_from="s@remote.example")
    for i, route in enumerate(routes):
        txn.add_recipient(AcceptedRecipient(f"r{i}@example.org", route))
    return txn


ANN = RoutedUser(1, quota_bytes=1000)
BOB = RoutedUser(2)  # no quota
CY = RoutedUser(3, quota_bytes=5000)


def test_over_quota_reads_usage_only_for_users_with_a_quota() -> None:
    store = UsageOnly({1: 900, 3: 100})
    txn = _txn(Route((ANN, BOB)), Route((CY, ANN)), Route(remote=("x@remote.example",)))
    assert asyncio.run(txn.over_quota(store, 200)) == [1]  # type: ignore[arg-type]
    assert store.asked == [1, 3]


def test_each_local_user_once_in_recipient_order() -> None:
    txn = _txn(Route((CY,)), Route((ANN, CY)), Route((BOB,)))
    assert txn.local_user_ids() == [3, 1, 2]
    assert txn.recipients_of(3) == [txn.recipients[0], txn.recipients[1]]
