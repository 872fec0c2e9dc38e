"""``posthouse queue list|show|retry|delete|hold|release``."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
from posthouse.cli.common import add_location_args, open_store, resolve_config
from posthouse.clock import SystemClock
from posthouse.store.models import QueuedMessage


def register(sub: Any) -> None:
    """Add the queue commands."""
    p = sub.add_parser("queue", help="inspect and steer the outbound queue",
                       description="Inspect and steer the outbound queue.")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser("list", help="list queued messages", description="List the queue.")
    add_location_args(c)
    c.set_defaults(run=_list)
    for name, helptext in (("show", "show one queued message"),
                           ("retry", "try again now"),
                           ("delete", "drop from the queue without a bounce"),
                           ("hold", "keep in the queue without trying"),
                           ("release", "undo hold")):
        c = cmds.add_parser(name, help=helptext, description=helptext)
        c.add_argument("id", type=int)
        add_location_args(c)
        c.set_defaults(run=_one, action_name=name)


def _line(q: QueuedMessage) -> str:
    rcpts = ",".join(ops.pending_recipients(q))
    held = " HELD" if q.held else ""
    return (f"{q.id}\t{q.size}\t{q.created:%Y-%m-%d %H:%M}\t<{q.envelope.mail_from}>\t"
            f"{rcpts}\tnext={q.next_attempt:%H:%M:%S} attempts={q.attempts}{held}")


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        items = await store.list_queue()
        for q in items:
            print(_line(q))
        print(f"{len(items)} queued")
    return 0


async def _one(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        action = args.action_name
        if action != "show":
            done = await ops.queue_action(store, args.id, action, SystemClock().now())
            later = " (a running server picks it up within seconds)" if action == "retry" else ""
            print(done + later)
            return 0
        q = await ops.queued(store, args.id)
        print(_line(q))
        for r in q.recipients:
            print(f"  {r.address}\t{r.state.value}\tattempts={r.attempts}\t"
                  f"{r.last_reply or ''}")
        if q.last_error:
            print(f"  last error: {q.last_error}")
    return 0
