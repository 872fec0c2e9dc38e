"""``posthouse verify [--repair]``: check the store's invariants (engine in maint/verify.py)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posthouse.cli.common import CliError, add_location_args, resolve_config
from posthouse.cli.progress import terminal_bar
from posthouse.config import uses_postgres
from posthouse.maint.verify import SELF_HEALING, VerifyRefused, run_verify


def register(sub: Any) -> None:
    """Add the verify command."""
    p = sub.add_parser(
        "verify", help="check the store (integrity, blobs, counters, index); --repair fixes",
        description="Check SQLite integrity, every blob's hash and size, reference counts, "
        "usage and mailbox counters, uid/modseq order, orphans and the search index. Runs "
        "online against a serving data dir (read-only snapshot) or offline. --repair (server "
        "stopped) recomputes counters, rebuilds the index, files orphans into a 'Recovered' "
        "mailbox and puts back damaged blobs from --spare-blobs; exit status 1 while "
        "problems remain.")
    add_location_args(p)
    p.add_argument("--repair", action="store_true",
                   help="fix what can be fixed without losing mail (server stopped)")
    p.add_argument("--recover-to", metavar="ADDRESS",
                   help="the user whose 'Recovered' mailbox gets orphans "
                   "(default: a postmaster, else the first user)")
    p.add_argument("--spare-blobs", type=Path, action="append", default=[], metavar="BACKUP",
                   help="where good copies of damaged blobs are: a backup repository (its "
                   "blobs and its snapshots' databases) or a blob directory; repeatable")
    p.set_defaults(run=run_verify_cmd)


def spare_sources(path: Path) -> list[Path]:
    """A backup repository's blob directory and snapshot databases (newest first), or the
    blob directory given."""
    if not (path / "blobs").is_dir():
        return [path]
    snaps = sorted((path / "snapshots").glob("*/posthouse.sqlite3"), reverse=True)
    return [path / "blobs", *snaps]


def run_verify_cmd(args: argparse.Namespace) -> int:
    """Check (and repair); 0 when nothing is left to fix."""
    cfg = resolve_config(args)
    if uses_postgres(cfg):
        raise CliError("verify: the store is PostgreSQL ([store] url): use the database's own "
                       "tools (pg_dump, amcheck); posthouse verify works on the SQLite store")
    spares = tuple(s for p in args.spare_blobs for s in spare_sources(p))
    try:
        done = run_verify(cfg.data_path, repair=args.repair, now=datetime.now(UTC),
                          recover_to=args.recover_to, spares=spares, progress=terminal_bar)
    except VerifyRefused as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"verify {cfg.data_path}: {exc}") from None
    mode = "online (a server is running; read-only snapshot)" if done.online else "offline"
    print(f"verify {cfg.data_path}, {mode}: {done.found.messages} messages, "
          f"{done.found.blobs} blobs checked")
    for problem in done.found.problems:
        if problem.kind in SELF_HEALING:
            print(f"  note {problem.kind}: {problem.where}: {problem.detail}")
        else:
            print(f"  found {problem.line()}")
    if done.backup is not None:
        print(f"database copied to {done.backup} before repairing")
    for line in done.repaired:
        print(f"  repaired {line}")
    if args.repair:
        for problem in done.remaining:
            print(f"  REMAINS {problem.line()}")
    if not done.remaining:
        repaired = args.repair and any(p.kind not in SELF_HEALING for p in done.found.problems)
        print("ok after repair" if repaired else "ok")
        return 0
    print(f"{len(done.remaining)} problems remain"
          + ("" if args.repair else "; 'posthouse verify --repair' (server stopped) fixes "
             "the repairable ones"))
    return 1
