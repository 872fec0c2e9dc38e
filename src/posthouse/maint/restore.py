"""``posthouse restore SRC DATADIR``: check a backup snapshot whole, then put it in place.

Refused while a server holds DATADIR's lock (store/datalock.py), and for a non-empty DATADIR
unless forced (the old one is then kept beside it, renamed, never deleted). Every file and
every blob is hashed against the manifest while it is copied into a staging directory next
to DATADIR; any mismatch stops the restore with the damaged file's name and DATADIR is
untouched. Only a complete, fsynced staging directory is renamed into place, then made the
owner's only (and handed to the service user when run as root), as provision.py does for a
served data dir.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posthouse.maint.files import copy_durably, digest, fsync_tree
from posthouse.maint.manifest import MANIFEST, BackupError, Manifest, find_snapshot, load_manifest
from posthouse.maint.progress import QUIET, Progress
from posthouse.provision import give_to, make_private
from posthouse.store import blobs
from posthouse.store.blobs import fsync_dir
from posthouse.store.datalock import held_by
from posthouse.store.sqlite import schema

_DB_FILES = (schema.DB_FILE, "search.sqlite3")


@dataclass(frozen=True, slots=True)
class RestoreDone:
    """What a restore did."""

    snapshot: Path
    manifest: Manifest
    replaced: Path | None  # where the old data dir went (--force)


def check_target(data_dir: Path, *, force: bool) -> None:
    """Refuse a data dir a server serves, or one with data in it (unless ``force``)."""
    pid = held_by(data_dir) if data_dir.is_dir() else None
    if pid is not None:
        who = f" (pid {pid})" if pid else ""
        raise BackupError(f"{data_dir} is in use by a running posthouse server{who}: stop it "
                          "before restoring")
    if data_dir.is_dir() and any(data_dir.iterdir()) and not force:
        raise BackupError(f"{data_dir} is not empty: restore into an empty directory, or "
                          "pass --force (the old one is kept, renamed)")
    if data_dir.exists() and not data_dir.is_dir():
        raise BackupError(f"{data_dir} exists and is not a directory")


def verify_snapshot(src: Path, progress: Progress = QUIET) -> tuple[Path, Path, Manifest]:
    """Hash every file and blob of a snapshot against its manifest (BackupError naming the
    first damaged file). Returns (snapshot dir, repository, manifest)."""
    snap, repo = find_snapshot(src)
    manifest = load_manifest(snap / MANIFEST)
    _check_manifest(snap, manifest)
    for entry in manifest.files:
        _check_file(snap / entry.path, entry.sha256, entry.size)
    with progress("verify blobs", sum(manifest.blobs.values()), "B") as advance:
        for blob_id, size in sorted(manifest.blobs.items()):
            _blob_bytes(repo, blob_id, size)
            advance(size)
    return snap, repo, manifest


def _check_manifest(snap: Path, manifest: Manifest) -> None:
    if schema.DB_FILE not in {f.path for f in manifest.files}:
        raise BackupError(f"{snap / MANIFEST}: lists no {schema.DB_FILE}")
    if manifest.schema_version > schema.LATEST_VERSION:
        raise BackupError(f"{snap}: made with schema version {manifest.schema_version}, newer "
                          f"than this posthouse knows ({schema.LATEST_VERSION})")
    for blob_id in manifest.blobs:
        if not blobs.is_blob_id(blob_id):
            raise BackupError(f"{snap / MANIFEST}: {blob_id!r} is not a blob id")


def _check_file(path: Path, sha256: str, size: int) -> None:
    try:
        found = digest(path)
    except FileNotFoundError:
        raise BackupError(f"{path}: missing from the backup") from None
    if found.size != size:
        raise BackupError(f"{path}: damaged, {found.size} bytes where the manifest says {size}"
                          " (truncated?)")
    if found.sha256 != sha256:
        raise BackupError(f"{path}: damaged, its sha256 does not match the manifest")


def _blob_bytes(repo: Path, blob_id: str, size: int) -> bytes:
    path = blobs.blob_path(repo / "blobs", blob_id)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BackupError(f"{path}: missing from the backup") from None
    if len(data) != size:
        raise BackupError(f"{path}: damaged, {len(data)} bytes where the manifest says {size}"
                          " (truncated?)")
    if hashlib.sha256(data).hexdigest() != blob_id:
        raise BackupError(f"{path}: damaged, its content does not hash to its name")
    return data


def run_restore(src: Path, data_dir: Path, *, now: datetime, force: bool = False,
                owner: tuple[int, int] | None = None,
                progress: Progress = QUIET) -> RestoreDone:
    """Verify the snapshot, then restore it into ``data_dir``."""
    data_dir = data_dir.absolute()
    check_target(data_dir, force=force)
    snap, repo, manifest = verify_snapshot(src, progress)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    stage = data_dir.with_name(f".{data_dir.name}.restore-{stamp}")
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True, mode=0o700)
    try:
        _fill(stage, snap, repo, manifest, progress)
        check_target(data_dir, force=force)  # a server may have started meanwhile
        replaced = None
        if data_dir.is_dir() and any(data_dir.iterdir()):
            replaced = data_dir.with_name(f"{data_dir.name}.replaced-{stamp}")
            os.replace(data_dir, replaced)
        elif data_dir.is_dir():
            data_dir.rmdir()
        os.replace(stage, data_dir)
        fsync_dir(data_dir.parent)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    make_private(data_dir)
    if owner is not None:
        give_to(data_dir, *owner)
    return RestoreDone(snap, manifest, replaced)


def _fill(stage: Path, snap: Path, repo: Path, manifest: Manifest, progress: Progress) -> None:
    """Copy every file (hashed again as written) and blob into the staging directory."""
    for entry in manifest.files:
        rel = entry.path if entry.path in _DB_FILES else entry.path.removeprefix("files/")
        written = copy_durably(snap / entry.path, stage / rel)
        if (written.sha256, written.size) != (entry.sha256, entry.size):
            raise BackupError(f"{snap / entry.path}: changed while it was restored")
    root = stage / "blobs"
    root.mkdir(mode=0o700)
    with progress("restore blobs", sum(manifest.blobs.values()), "B") as advance:
        for blob_id, size in sorted(manifest.blobs.items()):
            blobs.write_blob_file(root, blob_id, _blob_bytes(repo, blob_id, size))
            advance(size)
    fsync_tree(stage)
