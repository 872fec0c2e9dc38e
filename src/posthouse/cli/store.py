"""``posthouse store migrate --to postgresql://...``: move a SQLite store into PostgreSQL
(engine in maint/store_migrate.py)."""

from __future__ import annotations

import argparse
from typing import Any

from posthouse.cli.common import CliError, add_location_args, resolve_config
from posthouse.cli.progress import terminal_bar
from posthouse.config import POSTGRES_SCHEMES, uses_postgres
from posthouse.maint.store_migrate import (
    StoreCopyReport,
    migrate_to_postgres,
    migrate_to_sqlite,
)


def register(sub: Any) -> None:
    """Add the store commands."""
    p = sub.add_parser("store", help="move the store between SQLite and PostgreSQL",
                       description="Commands on the store as a whole.")
    cmds = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    c = cmds.add_parser(
        "migrate", help="copy a SQLite data dir's store into PostgreSQL, or back",
        description="Copy everything in the data dir's SQLite store (accounts, domains, "
        "aliases, mailboxes with their uid and modseq counters, messages with uids, flags, "
        "modseqs and dates, blobs, expunge tombstones, metadata, the outbound queue) into an "
        "empty PostgreSQL database, then verify the copy (row counts and content hashes). "
        "The server must be stopped; afterwards set [store] url and start it. With --from, "
        "the way back: a PostgreSQL store into the empty SQLite store of --data-dir (stop "
        "every node first).")
    way = c.add_mutually_exclusive_group(required=True)
    way.add_argument("--to", metavar="URL", help="into this postgresql://... database")
    way.add_argument("--from", dest="source", metavar="URL",
                     help="from this postgresql://... database into --data-dir")
    add_location_args(c)
    c.set_defaults(run=_migrate)


async def _migrate(args: argparse.Namespace) -> int:
    cfg = resolve_config(args)
    url = args.to or args.source
    if not url.startswith(POSTGRES_SCHEMES):
        raise CliError("store migrate: --to/--from must be a postgresql:// URI")
    if args.to:
        if uses_postgres(cfg):
            raise CliError("store migrate: this config's store is already PostgreSQL "
                           "([store] url)")
        report = await migrate_to_postgres(cfg.data_path, url, terminal_bar)
        done = "Set [store] url to the database in the config and start the server"
    else:
        report = await migrate_to_sqlite(url, cfg.data_path, terminal_bar)
        done = "Remove [store] url from the config and start the server"
    return _report(report, done)


def _report(report: StoreCopyReport, done: str) -> int:
    counts = ", ".join(f"{n} {table}" for table, n in report.counts.items())
    print(f"copied {counts}")
    if report.mismatches:
        for line in report.mismatches:
            print(f"  MISMATCH {line}")
        print("verification FAILED: keep serving from the source store")
        return 1
    print(f"verified: counts and content hashes match. {done}")
    return 0
