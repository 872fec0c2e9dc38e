"""``posthouse domain add|list|remove``."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.admin import operations as ops
from posthouse.cli.common import add_location_args, open_store, resolve_config


def register(sub: Any) -> None:
    """Add the domain commands."""
    p = sub.add_parser("domain", help="manage local domains", description="Manage the "
                       "domains this server receives mail for.")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, helptext, func in (("add", "add a local domain", _add),
                                 ("remove", "remove a domain with its users and mail", _remove)):
        c = cmds.add_parser(name, help=helptext, description=helptext)
        c.add_argument("domain")
        add_location_args(c)
        c.set_defaults(run=func)
    c = cmds.add_parser("list", help="list local domains", description="List local domains.")
    add_location_args(c)
    c.set_defaults(run=_list)


async def _add(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        domain = await ops.add_domain(store, args.domain)
    print(f"domain {domain} added")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        domain = await ops.remove_domain(store, args.domain)
    print(f"domain {domain} removed")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for name in await store.list_domains():
            print(name)
    return 0
