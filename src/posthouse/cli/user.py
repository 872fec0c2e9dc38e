"""``posthouse user add|list|passwd|remove|set|export|import``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from posthouse.cli import accounts_io
from posthouse.cli.common import (
    CliError,
    add_location_args,
    open_store,
    read_new_password,
    resolve_config,
)
from posthouse.config import Config
from posthouse.dns.idn import canonical_address
from posthouse.message.address import split_address


def register(sub: Any) -> None:
    """Add the user commands."""
    p = sub.add_parser("user", help="manage mail accounts",
                       description="Manage mail accounts (address = login name).")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser("add", help="create an account", description="Create an account; "
                        "the password is prompted for, or read from stdin with --password-stdin.")
    c.add_argument("address")
    c.add_argument("--quota", type=int, default=0, help="quota in MiB (0: none)")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_location_args(c)
    c.set_defaults(run=_add)
    c = cmds.add_parser("passwd", help="change a password", description="Change a password.")
    c.add_argument("address")
    c.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add_location_args(c)
    c.set_defaults(run=_passwd)
    c = cmds.add_parser("remove", help="delete an account and all its mail",
                        description="Delete an account and all its mail.")
    c.add_argument("address")
    add_location_args(c)
    c.set_defaults(run=_remove)
    c = cmds.add_parser("list", help="list accounts", description="List accounts.")
    c.add_argument("domain", nargs="?")
    add_location_args(c)
    c.set_defaults(run=_list)
    c = cmds.add_parser("set", help="change account options",
                        description="Change account options.")
    c.add_argument("address")
    c.add_argument("--quota", type=int, help="quota in MiB (0: none)")
    c.add_argument("--pop3-keep", choices=("yes", "no"),
                   help="POP3 keeps a copy on the server (marks \\Seen instead of deleting)")
    add_location_args(c)
    c.set_defaults(run=_set)
    accounts_io.register(cmds)


def _secrets(cfg: Config, password: str) -> tuple[str, str | None]:
    """The argon2 hash and the SCRAM-SHA-256 secrets of a new password."""
    from posthouse.app import build_hasher
    from posthouse.auth.passwords import scram_secrets_for

    scram = scram_secrets_for(password)
    if scram is None:
        print("note: this password cannot be used with SCRAM-SHA-256 (SASLprep refuses it)",
              file=sys.stderr)
    return build_hasher(cfg).hash(password), scram


def _check_address(address: str) -> str:
    local, domain = split_address(address)
    if not local or not domain:
        raise CliError(f"'{address}' is not an address (local@domain)")
    return canonical_address(address)  # the domain as A-labels, like the router's lookups


async def _add(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    address = _check_address(args.address)
    pw_hash, scram = _secrets(cfg, read_new_password(args))
    async with open_store(cfg) as store:
        await store.add_user(address, pw_hash, quota_bytes=args.quota * 1024 * 1024,
                             scram_secrets=scram)
    print(f"user {address} added")
    return 0


async def _passwd(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    address = _check_address(args.address)
    pw_hash, scram = _secrets(cfg, read_new_password(args))
    async with open_store(cfg) as store:
        await store.set_password(address, pw_hash, scram_secrets=scram)
    print(f"password of {address} changed")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    address = _check_address(args.address)
    async with open_store(resolve_config(args)) as store:
        await store.remove_user(address)
    print(f"user {address} removed")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for u in await store.list_users(args.domain):
            used, count = await store.quota_usage(u.id)
            quota = f"{u.quota_bytes // 1048576} MiB" if u.quota_bytes else "none"
            keep = " pop3-keep" if u.pop3_keep else ""
            print(f"{u.address}\tmessages={count} used={used} quota={quota}{keep}")
    return 0


async def _set(args: argparse.Namespace) -> int:
    address = _check_address(args.address)
    quota = None if args.quota is None else args.quota * 1024 * 1024
    keep = None if args.pop3_keep is None else args.pop3_keep == "yes"
    async with open_store(resolve_config(args)) as store:
        u = await store.set_user_options(address, quota_bytes=quota, pop3_keep=keep)
    print(f"user {u.address}: quota={u.quota_bytes} pop3_keep={u.pop3_keep}")
    return 0
