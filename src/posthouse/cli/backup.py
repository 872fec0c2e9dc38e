"""``posthouse backup DEST`` and ``posthouse restore SRC DATADIR`` (engines in maint/)."""

from __future__ import annotations

import argparse
import os
import pwd
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from posthouse.cli.common import CliError, add_location_args, resolve_config
from posthouse.cli.privileges import service_user_name
from posthouse.cli.progress import terminal_bar
from posthouse.config import uses_postgres
from posthouse.maint.backup import run_backup
from posthouse.maint.manifest import BackupError
from posthouse.maint.restore import run_restore, verify_snapshot


def register(sub: Any) -> None:
    """Add the backup and restore commands."""
    p = sub.add_parser(
        "backup", help="snapshot the data dir into a backup repository (online)",
        description="Take a consistent snapshot of the store, its search index, the blobs it "
        "references and the data dir's other files into DEST, while the server keeps "
        "serving. DEST is a repository: every backup adds DEST/snapshots/<date>/ and shares "
        "DEST/blobs/, so a backup into the same DEST copies only new blobs.")
    add_location_args(p)
    p.add_argument("dest", type=Path, metavar="DEST", help="backup repository directory")
    p.set_defaults(run=run_backup_cmd)

    p = sub.add_parser(
        "restore", help="restore a backup snapshot into a data dir (server stopped)",
        description="Check every file and blob of the snapshot against its manifest, then "
        "restore it into DATADIR. SRC is a repository (its newest snapshot) or one snapshot "
        "directory. Refuses a data dir a running server uses, and a non-empty one without "
        "--force (the old one is then kept as DATADIR.replaced-<date>).")
    p.add_argument("src", type=Path, metavar="SRC", help="backup repository or snapshot dir")
    p.add_argument("datadir", type=Path, metavar="DATADIR", help="data directory to restore")
    p.add_argument("--force", action="store_true",
                   help="replace a non-empty DATADIR (it is renamed, not deleted)")
    p.add_argument("--check-only", action="store_true",
                   help="only verify the snapshot against its manifest; write nothing")
    p.set_defaults(run=run_restore_cmd)


def run_backup_cmd(args: argparse.Namespace) -> int:
    """Back up the configured data dir."""
    cfg = resolve_config(args)
    if uses_postgres(cfg):
        raise CliError("backup: the store is PostgreSQL ([store] url): use the database's own "
                       "tools (pg_dump, amcheck); posthouse backup works on the SQLite store")
    try:
        done = run_backup(cfg.data_path, args.dest, now=datetime.now(UTC),
                          progress=terminal_bar)
    except (BackupError, OSError) as exc:
        raise CliError(f"backup failed: {exc}") from None
    m = done.manifest
    print(f"backup {done.snapshot}: {m.users} users, {m.messages} messages, schema "
          f"v{m.schema_version}; blobs: {done.blobs_copied} copied ({done.bytes_copied} "
          f"bytes), {done.blobs_reused} already in the repository")
    if done.attempts > 1:
        print(f"(snapshot taken {done.attempts} times: messages were deleted while blobs "
              "were copied)")
    return 0


def _service_owner(args: argparse.Namespace) -> tuple[int, int] | None:
    """Run as root: the service user the restored data dir is handed to."""
    if os.geteuid() != 0:
        return None
    cfg = resolve_config(argparse.Namespace(config=None, data_dir=args.datadir))
    try:
        entry = pwd.getpwnam(service_user_name(cfg))
    except KeyError:
        return None  # no service user yet: 'posthouse serve' as root hands it over later
    return entry.pw_uid, entry.pw_gid


def run_restore_cmd(args: argparse.Namespace) -> int:
    """Verify, then restore."""
    try:
        if args.check_only:
            snap, _repo, m = verify_snapshot(args.src, terminal_bar)
            print(f"snapshot {snap} is whole: {len(m.files)} files, {len(m.blobs)} blobs "
                  "match the manifest")
            return 0
        done = run_restore(args.src, args.datadir, now=datetime.now(UTC), force=args.force,
                           owner=_service_owner(args), progress=terminal_bar)
    except (BackupError, OSError) as exc:
        raise CliError(f"restore refused: {exc}") from None
    m = done.manifest
    print(f"restored {done.snapshot} into {args.datadir}: {m.users} users, {m.messages} "
          f"messages (made {m.created} by posthouse {m.posthouse_version}, schema "
          f"v{m.schema_version})")
    if done.replaced is not None:
        print(f"the previous data dir is kept as {done.replaced}")
    print(f"start it with: posthouse serve --data-dir {args.datadir}")
    return 0
