"""``posthouse import maildir|mbox USER PATH``: mail from files into an account.

The ``import`` group is shared: other sources (``import imap``) add their subcommand to it
with ``register_source``. Works on a live data dir (the store's normal writes).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from posthouse.cli.common import CliError, add_location_args, open_store, resolve_config
from posthouse.mailfiles.importer import TransferReport, import_maildir, import_mbox
from posthouse.mailfiles.mbox import FORMATS
from posthouse.mailfiles.progress import TransferProgress


def register(sub: Any) -> Any:
    """Add the ``import`` group with its file sources; returns the group's subparsers."""
    p = sub.add_parser("import", help="import mail into an account",
                       description="Import mail into an account. A second run imports only "
                       "what is new. Problems are printed one per line; the exit status is 1 "
                       "if there were any.")
    cmds = p.add_subparsers(dest="source", metavar="SOURCE", required=True)
    c = cmds.add_parser("maildir", help="a Maildir++ tree (Dovecot's layout)",
                        description="Import a whole Maildir++ tree: INBOX and every .Folder, "
                        "flags and keywords (dovecot-keywords), and, from dovecot-uidlist, "
                        "the uids and UIDVALIDITY, so IMAP clients need not download again.")
    _common(c)
    c.set_defaults(run=_maildir)
    c = cmds.add_parser("mbox", help="an mbox file, or a directory of them",
                        description="Import an mbox file into one mailbox (default INBOX), "
                        "or a directory of mbox files (A.sbd/B is mailbox A/B).")
    _common(c)
    c.add_argument("--format", choices=FORMATS, default="mboxrd", dest="mbox_format",
                   help="how 'From ' lines were quoted (default mboxrd)")
    c.set_defaults(run=_mbox)
    return cmds


def _common(c: argparse.ArgumentParser) -> None:
    c.add_argument("user", help="the account (address)")
    c.add_argument("path", type=Path)
    c.add_argument("--mailbox", help="import into this mailbox (a tree: below it)")
    add_location_args(c)


def summary(verb: str, report: TransferReport) -> int:
    """Print the closing line; the exit status (1 if anything went wrong)."""
    line = (f"{verb} {report.messages} messages ({report.size / 1e6:.1f} MB) in "
            f"{report.mailboxes} mailboxes")
    if report.present:
        line += f", {report.present} already present"
    if report.problems:
        line += f"; {len(report.problems)} problem(s), listed above"
    print(line)
    return 1 if report.problems else 0


async def _maildir(args: argparse.Namespace) -> int:
    if not any((args.path / sub).is_dir() for sub in ("cur", "new")):
        raise CliError(f"{args.path} is not a Maildir (no cur/ or new/)")
    async with open_store(resolve_config(args)) as store:
        user = await store.get_user(args.user)
        if user is None:
            raise CliError(f"no user {args.user}")
        with TransferProgress("importing") as progress:
            report = await import_maildir(store, user, args.path, progress,
                                          prefix=args.mailbox)
    return summary("imported", report)


async def _mbox(args: argparse.Namespace) -> int:
    if not args.path.exists():
        raise CliError(f"{args.path} does not exist")
    async with open_store(resolve_config(args)) as store:
        user = await store.get_user(args.user)
        if user is None:
            raise CliError(f"no user {args.user}")
        with TransferProgress("importing") as progress:
            report = await import_mbox(store, user, args.path, progress,
                                       mailbox=args.mailbox, fmt=args.mbox_format)
    return summary("imported", report)
