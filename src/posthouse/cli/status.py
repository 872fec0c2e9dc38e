"""``posthouse status``: domains, users, mailbox and queue figures."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import add_location_args, open_store, resolve_config


def register(sub: Any) -> None:
    """Add the status command."""
    p = sub.add_parser("status", help="show store and queue figures",
                       description="Show domains, accounts, stored mail and the queue.")
    add_location_args(p)
    p.set_defaults(run=run)


async def run(args: argparse.Namespace) -> int:
    """Print the figures."""
    cfg = resolve_config(args)
    async with open_store(cfg) as store:
        domains = await store.list_domains()
        users = await store.list_users()
        total_bytes = total_msgs = 0
        for u in users:
            used, count = await store.quota_usage(u.id)
            total_bytes += used
            total_msgs += count
        queued = await store.list_queue()
    pending = sum(1 for q in queued for r in q.recipients if r.state.value == "pending")
    print(f"data directory: {cfg.data_path}")
    print(f"domains: {len(domains)} ({', '.join(domains)})")
    print(f"users: {len(users)}")
    print(f"stored messages: {total_msgs} ({total_bytes} bytes)")
    print(f"queue: {len(queued)} messages, {pending} pending recipients, "
          f"{sum(1 for q in queued if q.held)} held")
    return 0
