"""``posthouse metadata set|show``: the server's /shared/ METADATA entries (RFC 5464 3.2).

Only the operator writes them (IMAP users get NO); /shared/admin is not stored: the server
answers the postmaster of [server] default_domain.
"""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
from posthouse.cli.common import add_location_args, open_store, resolve_config


def register(sub: Any) -> None:
    """Add the metadata commands."""
    p = sub.add_parser("metadata", help="server METADATA entries (IMAP, RFC 5464)",
                       description="Set or show the server's /shared/ METADATA entries, "
                       "which every IMAP user can read (GETMETADATA \"\" ...).")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser("set", help="set an entry (omit VALUE to delete it)",
                        description="Set a server entry such as /shared/comment; without "
                        "VALUE the entry is deleted.")
    c.add_argument("name", help="entry name, e.g. /shared/comment")
    c.add_argument("value", nargs="?")
    add_location_args(c)
    c.set_defaults(run=_set)
    c = cmds.add_parser("show", help="show the server's /shared/ entries",
                        description="Print every stored server /shared/ entry.")
    add_location_args(c)
    c.set_defaults(run=_show)


async def _set(args: argparse.Namespace) -> int:
    ops.server_entry_name(args.name)
    async with open_store(resolve_config(args)) as store:
        print(await ops.set_server_entry(store, args.name, args.value))
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for name, value in await ops.server_entries(store):
            print(f"{name}\t{value}")
    return 0
