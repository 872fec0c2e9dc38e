"""``posthouse export maildir|mbox USER|--all DEST``: an account's mail out to files.

One user: DEST is the Maildir (or the directory of mbox files); ``--all``: one such
directory per account, DEST/<address>. DEST must not exist or be empty.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.cli.importing import summary
from posthouse.mailfiles.exporter import export_maildir, export_mbox
from posthouse.mailfiles.importer import TransferReport
from posthouse.mailfiles.progress import TransferProgress


def register(sub: Any) -> None:
    """Add the ``export`` group."""
    p = sub.add_parser("export", help="export mail to Maildir or mbox",
                       description="Export mail to files, while the server runs or not.")
    cmds = p.add_subparsers(dest="target", metavar="FORMAT", required=True)
    for name, helptext in (
        ("maildir", "a Maildir++ tree Dovecot reads (with dovecot-uidlist and -keywords)"),
        ("mbox", "mboxrd files, one per mailbox (A/B as A.sbd/B)"),
    ):
        c = cmds.add_parser(name, help=helptext, description=f"Export to {helptext}.")
        who = c.add_mutually_exclusive_group(required=True)
        who.add_argument("user", nargs="?", help="the account (address)")
        who.add_argument("--all", action="store_true", help="every account: DEST/<address>")
        c.add_argument("dest", type=Path)
        add_location_args(c)
        c.set_defaults(run=_export, fmt=name)


async def _export(args: argparse.Namespace) -> int:
    run = export_maildir if args.fmt == "maildir" else export_mbox
    total = TransferReport()
    async with open_store(resolve_config(args)) as store:
        if args.all:
            users = [(u, args.dest / u.address) for u in await store.list_users()]
        else:
            user = await store.get_user(args.user)
            if user is None:
                raise CliError(f"no user {args.user}")
            users = [(user, args.dest)]
        with TransferProgress("exporting") as progress:
            for user, dest in users:
                try:
                    report = await run(store, user, dest, progress)
                except (FileExistsError, OSError) as exc:
                    raise CliError(f"cannot export {user.address} to {dest}: {exc}") from None
                total.messages += report.messages
                total.size += report.size
                total.mailboxes += report.mailboxes
                total.problems += report.problems
    return summary("exported", total)
