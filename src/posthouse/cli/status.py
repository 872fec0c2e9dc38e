"""``posthouse status``: domains, users, mailbox and queue figures."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
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
        f = await ops.store_figures(store)
    print(f"data directory: {cfg.data_path}")
    print(f"domains: {len(f.domains)} ({', '.join(f.domains)})")
    print(f"users: {f.users}")
    print(f"stored messages: {f.messages} ({f.message_bytes} bytes)")
    print(f"queue: {f.queued} messages, {f.pending_recipients} pending recipients, "
          f"{f.held} held")
    return 0
