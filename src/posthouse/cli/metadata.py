"""``posthouse metadata set|show``: the server's /shared/ METADATA entries (RFC 5464 3.2).

Only the operator writes them (IMAP users get NO); /shared/admin is not stored: the server
answers the postmaster of [server] default_domain.
"""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.imap.parser.metadata import check_entry
from posthouse.imap.replies import ParseError

_SERVER = 0  # the store's mailbox_id and owner of server /shared/ entries


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


def _name(text: str) -> str:
    try:
        name = check_entry(text.encode("utf-8", "replace"), to_set=True)
    except ParseError as exc:
        raise CliError(str(exc)) from None
    if not name.startswith("/shared/"):
        raise CliError("server entries set here are /shared/ ones; /private/ are each user's")
    if name == "/shared/admin":
        raise CliError("/shared/admin is always the postmaster of [server] default_domain")
    return name


async def _set(args: argparse.Namespace) -> int:
    name = _name(args.name)
    value = None if args.value is None else args.value.encode("utf-8")
    async with open_store(resolve_config(args)) as store:
        await store.set_server_metadata(name, value)
    print(f"{name} {'deleted' if value is None else 'set'}")
    return 0


async def _show(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for name, value in await store.get_metadata(_SERVER, _SERVER, ["/shared"], depth=None):
            print(f"{name}\t{value.decode('utf-8', 'replace')}")
    return 0
