"""``posthouse alias add|list|remove`` and ``alias catchall``."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.dns.idn import canonical_address, canonical_domain
from posthouse.message.address import split_address


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


def _addr(text: str) -> str:
    local, domain = split_address(text)
    if not local or not domain or text.startswith("@"):
        raise CliError(f"'{text}' is not an address (local@domain)")
    return canonical_address(text)


async def _add(args: argparse.Namespace) -> int:
    address = _addr(args.address)
    targets = [_addr(t) for t in args.targets]
    async with open_store(resolve_config(args)) as store:
        await store.add_alias(address, targets)
    print(f"alias {address} -> {', '.join(targets)}")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        await store.remove_alias(_addr(args.address))
    print(f"alias {args.address.lower()} removed")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for a in await store.list_aliases(args.domain):
            print(f"{a.address}\t{', '.join(a.targets)}")
        for d in await store.list_domains():
            if args.domain in (None, d) and (t := await store.get_catchall(d)):
                print(f"@{d}\t{t}")
    return 0


async def _catchall(args: argparse.Namespace) -> int:
    target = _addr(args.target) if args.target else None
    async with open_store(resolve_config(args)) as store:
        await store.set_catchall(domain := canonical_domain(args.domain), target)
    print(f"catch-all of {domain}: {target or 'none'}")
    return 0
