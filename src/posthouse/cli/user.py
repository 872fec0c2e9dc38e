"""``posthouse user add|list|passwd|remove|set|set-role|export|import``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from posthouse.admin import operations as ops
from posthouse.auth.passwords import PasswordHasher
from posthouse.cli import accounts_io
from posthouse.cli.common import (
    add_location_args,
    open_store,
    read_new_password,
    resolve_config,
)
from posthouse.config import Config
from posthouse.store.models import ROLES


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
    c.add_argument("--admin", action="store_true",
                   help="the account may log in to the web admin (role admin)")
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
    c.add_argument("--disabled", choices=("yes", "no"),
                   help="refuse every login of this account (mail is still accepted)")
    add_location_args(c)
    c.set_defaults(run=_set)
    c = cmds.add_parser("set-role", help="make an account an admin or a plain user",
                        description="Set an account's role: admin (may log in to the web "
                                    "admin at https://HOST/admin) or user.")
    c.add_argument("address")
    c.add_argument("role", choices=ROLES)
    add_location_args(c)
    c.set_defaults(run=_set_role)
    accounts_io.register(cmds)


def _note_scram(scram_ok: bool) -> None:
    if not scram_ok:
        print(f"note: {ops.SCRAM_NOTE}", file=sys.stderr)


def _hasher(cfg: Config) -> PasswordHasher:
    from posthouse.app import build_hasher

    return build_hasher(cfg)


async def _add(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    ops.address(args.address)  # refuse a bad address before prompting
    password = read_new_password(args)
    async with open_store(cfg) as store:
        user, scram_ok = await ops.add_user(store, _hasher(cfg), args.address, password,
                                            quota_mib=args.quota, admin=args.admin)
    _note_scram(scram_ok)
    print(f"user {user.address} added{' (admin)' if args.admin else ''}")
    return 0


async def _passwd(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    ops.address(args.address)
    password = read_new_password(args)
    async with open_store(cfg) as store:
        address, scram_ok = await ops.set_password(store, _hasher(cfg), args.address, password)
    _note_scram(scram_ok)
    print(f"password of {address} changed")
    return 0


async def _remove(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        address = await ops.remove_user(store, args.address)
    print(f"user {address} removed")
    return 0


async def _list(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        for row in await ops.list_accounts(store, args.domain):
            u = row.user
            quota = f"{u.quota_bytes // ops.MIB} MiB" if u.quota_bytes else "none"
            extra = "".join((" pop3-keep" if u.pop3_keep else "",
                             " admin" if u.role == "admin" else "",
                             " disabled" if u.disabled else ""))
            print(f"{u.address}\tmessages={row.messages} used={row.used_bytes} "
                  f"quota={quota}{extra}")
    return 0


async def _set(args: argparse.Namespace) -> int:
    keep = None if args.pop3_keep is None else args.pop3_keep == "yes"
    disabled = None if args.disabled is None else args.disabled == "yes"
    async with open_store(resolve_config(args)) as store:
        u = await ops.set_user_options(store, args.address, quota_mib=args.quota,
                                       pop3_keep=keep, disabled=disabled)
    print(f"user {u.address}: quota={u.quota_bytes} pop3_keep={u.pop3_keep} "
          f"role={u.role} disabled={u.disabled}")
    return 0


async def _set_role(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        u = await ops.set_user_options(store, args.address, role=args.role)
    print(f"user {u.address}: role={u.role}")
    return 0
