"""``posthouse backup DEST``: a consistent snapshot of a data dir, online, into a repository.

The order makes the snapshot consistent while the server keeps serving (manifest.py has the
layout):
1. The search index, then the store, are copied with SQLite's online backup API, each in one
   read transaction (store/sqlite/snapshot.py); the copy of the store is settled (held
   references counted) and lists the file blobs it references.
2. Those blobs are copied into the repository's shared blob directory, skipping every blob
   already there with the right size (incremental: a blob's name is its sha256, so an
   existing one is the same content). Each is hashed on the way: a live blob that does
   not match its name stops the backup (run ``posthouse verify``).
3. A blob the server deleted after step 1 (its message expunged meanwhile) is gone from the
   data dir: the snapshot is discarded and taken again; a new snapshot no longer references
   it. The blobs already copied stay, so a retry is quick.
4. The data dir's other files, the manifest, then the snapshot directory is renamed from its
   temp name into place. Every file and directory is fsynced: a crash leaves either a whole
   snapshot or a temp directory the next backup removes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posthouse import __version__
from posthouse.maint.files import copy_durably, digest, fsync_file, fsync_tree, write_durably
from posthouse.maint.manifest import (
    BLOBS,
    FORMAT,
    MANIFEST,
    MARKER,
    SNAPSHOTS,
    BackupError,
    FileEntry,
    Manifest,
)
from posthouse.maint.progress import QUIET, Progress
from posthouse.store import blobs
from posthouse.store.blobs import fsync_dir
from posthouse.store.datalock import LOCK_FILE, RUN_DIR
from posthouse.store.sqlite import schema, searchdb, snapshot

ATTEMPTS = 5
# Not copied as "other files": the databases (copied by SQLite), the blob files (by id), the
# automatic database backups, the server's lock, the worker processes' sockets and locks.
_SKIP_TOP = {schema.DB_FILE, searchdb.SEARCH_DB_FILE, "blobs", schema.BACKUP_DIR, LOCK_FILE,
             RUN_DIR}
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal")


@dataclass(frozen=True, slots=True)
class BackupDone:
    """What a backup wrote."""

    snapshot: Path
    manifest: Manifest
    blobs_copied: int
    blobs_reused: int
    bytes_copied: int
    attempts: int


class _BlobVanished(Exception):
    """A referenced blob file is gone (deleted after the snapshot): take it again."""


def run_backup(data_dir: Path, dest: Path, *, now: datetime,
               progress: Progress = QUIET) -> BackupDone:
    """Back up ``data_dir`` into the repository ``dest`` (created if needed)."""
    if not (data_dir / schema.DB_FILE).exists():
        raise BackupError(f"{data_dir}: no posthouse store here ({schema.DB_FILE} missing)")
    if dest.resolve().is_relative_to(data_dir.resolve()):
        raise BackupError(f"{dest} is inside the data dir {data_dir}: back up elsewhere")
    _init_repository(dest)
    name = now.strftime("%Y%m%dT%H%M%SZ")
    final = dest / SNAPSHOTS / name
    n = 1
    while final.exists():  # two backups in one second
        n += 1
        final = dest / SNAPSHOTS / f"{name}-{n}"
    name = final.name
    for attempt in range(1, ATTEMPTS + 1):
        stage = dest / SNAPSHOTS / f".tmp-{name}"
        shutil.rmtree(stage, ignore_errors=True)
        stage.mkdir(parents=True)
        try:
            manifest, copied, reused, nbytes = _snapshot(data_dir, dest, stage, now, progress)
        except _BlobVanished:
            shutil.rmtree(stage, ignore_errors=True)
            continue
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        fsync_tree(stage)
        os.replace(stage, final)
        fsync_dir(final.parent)
        return BackupDone(final, manifest, copied, reused, nbytes, attempt)
    raise BackupError(f"blobs kept vanishing during {ATTEMPTS} snapshots of {data_dir}; "
                      "try again when the server is less busy")


def _init_repository(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    marker = dest / MARKER
    if not marker.exists():
        if any(p.name not in (SNAPSHOTS, BLOBS) for p in dest.iterdir()):
            raise BackupError(f"{dest}: not empty and not a posthouse backup repository "
                              f"(no {MARKER} file)")
        write_durably(marker, f"{FORMAT}\n".encode())
    (dest / SNAPSHOTS).mkdir(exist_ok=True)
    (dest / BLOBS).mkdir(exist_ok=True)
    for leftover in (dest / SNAPSHOTS).glob(".tmp-*"):  # a backup that crashed
        shutil.rmtree(leftover, ignore_errors=True)


def _snapshot(data_dir: Path, dest: Path, stage: Path, now: datetime,
              progress: Progress) -> tuple[Manifest, int, int, int]:
    search = data_dir / searchdb.SEARCH_DB_FILE
    search_copy = stage / searchdb.SEARCH_DB_FILE
    if search.exists():
        snapshot.copy_live(search, search_copy)  # first: see searchdb.py on "pending"
    db_copy = stage / schema.DB_FILE
    snapshot.copy_live(data_dir / schema.DB_FILE, db_copy)
    facts = snapshot.settle_copy(db_copy, search_copy, now)
    copied, reused, nbytes = _copy_blobs(data_dir / "blobs", dest / BLOBS, facts.file_blobs,
                                         progress)
    entries: list[FileEntry] = []
    for db_file in (db_copy, search_copy):
        if db_file.exists():
            fsync_file(db_file)
            d = digest(db_file)
            entries.append(FileEntry(db_file.name, d.sha256, d.size))
    for rel in _other_files(data_dir):
        d = copy_durably(data_dir / rel, stage / "files" / rel)
        entries.append(FileEntry(f"files/{rel}", d.sha256, d.size))
    manifest = Manifest(
        posthouse_version=__version__, schema_version=facts.schema_version,
        created=now.strftime("%Y-%m-%dT%H:%M:%SZ"), store_id=facts.store_id,
        messages=facts.messages, users=facts.users, files=tuple(entries),
        blobs=facts.file_blobs)
    write_durably(stage / MANIFEST, manifest.to_json())
    return manifest, copied, reused, nbytes


def _copy_blobs(live: Path, repo: Path, wanted: dict[str, int],
                progress: Progress) -> tuple[int, int, int]:
    copied = reused = nbytes = 0
    todo = []
    for blob_id, size in sorted(wanted.items()):
        path = blobs.blob_path(repo, blob_id)
        try:
            if path.stat().st_size == size:
                reused += 1
                continue
            path.unlink()  # a damaged copy from an earlier backup: replaced below
        except FileNotFoundError:
            pass
        todo.append((blob_id, size))
    with progress("blobs", sum(size for _id, size in todo), "B") as advance:
        for blob_id, size in todo:
            try:
                data = blobs.read_blob_file(live, blob_id)
            except FileNotFoundError:
                raise _BlobVanished(blob_id) from None
            if hashlib.sha256(data).hexdigest() != blob_id or len(data) != size:
                raise BackupError(f"{blobs.blob_path(live, blob_id)}: the content does not "
                                  "match its hash; run 'posthouse verify' on the data dir")
            blobs.write_blob_file(repo, blob_id, data)
            copied += 1
            nbytes += len(data)
            advance(len(data))
    return copied, reused, nbytes


def _other_files(data_dir: Path) -> list[str]:
    """The data dir's files besides the store (config, TLS, DKIM keys, caches), relative."""
    out = []
    for folder, dirs, files in os.walk(data_dir):
        rel_dir = Path(folder).relative_to(data_dir)
        if rel_dir == Path("."):
            dirs[:] = [d for d in dirs if d not in _SKIP_TOP]
            files = [f for f in files if f not in _SKIP_TOP]
        for f in files:
            if f.startswith(".tmp-") or f.endswith(_SKIP_SUFFIXES):
                continue
            if (Path(folder) / f).is_file() and not (Path(folder) / f).is_symlink():
                out.append(str(rel_dir / f) if rel_dir != Path(".") else f)
    return sorted(out)
