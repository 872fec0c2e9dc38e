"""``posthouse user export FILE`` and ``user import FILE``: every account as JSON.

The file holds password hashes: it is written owner-only. Import adds what is missing,
leaves alone what is already there unchanged, and refuses (changing nothing) on conflicts.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.mailfiles.accounts import (
    AccountConflict,
    AccountsFileError,
    export_accounts,
    import_accounts,
)


def register(cmds: Any) -> None:
    """Add ``export`` and ``import`` to the ``user`` commands."""
    c = cmds.add_parser("export", help="write every account, alias and domain as JSON",
                        description="Write domains, catch-alls, accounts (with password "
                        "hashes), aliases and server METADATA to FILE ('-': stdout).")
    c.add_argument("file", help="the JSON file to write")
    add_location_args(c)
    c.set_defaults(run=_export)
    c = cmds.add_parser("import", help="create the accounts of a JSON export",
                        description="Create what an export file has and this server lacks; "
                        "refuses, changing nothing, if anything exists with other values.")
    c.add_argument("file", type=Path)
    add_location_args(c)
    c.set_defaults(run=_import)


async def _export(args: argparse.Namespace) -> int:
    async with open_store(resolve_config(args)) as store:
        data = await export_accounts(store)
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    if args.file == "-":
        print(text, end="")
        return 0
    fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    print(f"{len(data['users'])} accounts, {len(data['aliases'])} aliases and "
          f"{len(data['domains'])} domains written to {args.file}")
    return 0


async def _import(args: argparse.Namespace) -> int:
    try:
        raw = json.loads(args.file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from None
    async with open_store(resolve_config(args)) as store:
        try:
            done = await import_accounts(store, raw)
        except AccountsFileError as exc:
            raise CliError(f"{args.file}: {exc}") from None
        except AccountConflict as exc:
            for line in exc.conflicts:
                print(f"posthouse: conflict: {line}")
            raise CliError(f"{args.file}: nothing imported: {len(exc.conflicts)} "
                           "conflict(s)") from None
    added = ", ".join(f"{n} {what}" for what, n in done.added.items())
    print(f"added {added}; {done.unchanged} accounts were there already")
    return 0
