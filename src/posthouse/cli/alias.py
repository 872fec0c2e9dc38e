"""``posthouse alias add|list|remove`` and ``alias catchall``."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
from posthouse.cli.common import add_location_args, open_store, resolve_config


def register(sub: Any) -> None:
    """Add the alias commands."""
    p = sub.add_parser("alias", help="manage aliases and catch-alls",
                       description="Manage aliases (an address forwarding to one or more "
                       "local or remote addresses) and per-domain catch-alls.")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser("add", help="create or replace an alias",
                        description="Create or replace an alias.")
    c.add_argument("address")
    c.add_argument("targets", nargs="+", help="where its mail goes")
    add_location_args(c)
    c.set_defaults(run=_add)
    c = cmds.add_parser("remove", help="remove an alias", description="Remove an alias.")
    c.add_argument("address")
    add_location_args(c)
    c.set_defaults(run=_remove)
    c = cmds.add_parser("list", help="list aliases", description="List aliases.")
    c.add_argument("domain", nargs="?")
    add_location_args(c)
    c.set_defaults(run=_list)
    c = cmds.add_parser("catchall", help="set or clear a domain's catch-all",
                        description="Mail for unknown users of DOMAIN goes to TARGET "
                        "(omit TARGET to clear).")
    c.add_argument("domain")
    c.add_argument("target", nargs="?")
    add_location_args(c)
    c.set_defaults(run=_catchall)


async def _add(args: argparse.Namespace) -> int:
    ops.address(args.address)
    async with open_store(resolve_config(args)) as store:
        address, targets = await ops.add_alias(store, args.address, args.targets)
    print(f"alias {address} -> {', '.join(targets)}")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        address = await ops.remove_alias(store, args.address)
    print(f"alias {address} removed")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        aliases, catchalls = await ops.list_aliases(store, args.domain)
    for a in aliases:
        print(f"{a.address}\t{', '.join(a.targets)}")
    for domain, target in catchalls:
        print(f"@{domain}\t{target}")
    return 0


async def _catchall(args: argparse.Namespace) -> int:
    if args.target:
        ops.address(args.target)
    async with open_store(resolve_config(args)) as store:
        domain, target = await ops.set_catchall(store, args.domain, args.target)
    print(f"catch-all of {domain}: {target or 'none'}")
    return 0
