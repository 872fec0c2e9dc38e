"""The manifest of one backup snapshot (``manifest.json``) and the backup repository layout.

A backup repository (the DEST of ``posthouse backup``)::

    DEST/POSTHOUSE-BACKUP              marks the directory as a repository (format line)
    DEST/blobs/ab/cd/<sha256>          every file blob of every snapshot, content-addressed:
                                       shared, so a later backup copies only new blobs
    DEST/snapshots/<YYYYmmddTHHMMSSZ>/ one snapshot each:
        manifest.json                  what follows, with sha256 and size of every file
        posthouse.sqlite3              the store (a consistent copy; inline blobs inside)
        search.sqlite3                 the search index
        files/...                      the data dir's other files (config, TLS, DKIM keys...)

The manifest lists the blobs the snapshot references by id (their sha256) and size, so a
restore checks every byte before it writes anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "posthouse-backup/1"
MARKER = "POSTHOUSE-BACKUP"
MANIFEST = "manifest.json"
SNAPSHOTS = "snapshots"
BLOBS = "blobs"


class BackupError(Exception):
    """A backup that cannot be made, or one that is damaged (the message names the file)."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a snapshot: its path in the snapshot dir, sha256 and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Manifest:
    """What one snapshot holds."""

    posthouse_version: str
    schema_version: int
    created: str  # ISO 8601, UTC
    store_id: str
    messages: int
    users: int
    files: tuple[FileEntry, ...]
    blobs: dict[str, int]  # file blob id -> size

    def to_json(self) -> bytes:
        doc = {
            "format": FORMAT,
            "posthouse_version": self.posthouse_version,
            "schema_version": self.schema_version,
            "created": self.created,
            "store_id": self.store_id,
            "messages": self.messages,
            "users": self.users,
            "files": {f.path: {"sha256": f.sha256, "size": f.size} for f in self.files},
            "blobs": dict(sorted(self.blobs.items())),
        }
        return (json.dumps(doc, indent=1) + "\n").encode()


def load_manifest(path: Path) -> Manifest:
    """Read and check a manifest; BackupError naming the file when it is not one."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise BackupError(f"{path}: missing (not a posthouse backup snapshot?)") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"{path}: damaged, not readable JSON ({exc})") from None
    try:
        if doc["format"] != FORMAT:
            raise BackupError(f"{path}: unknown backup format {doc['format']!r}")
        files = tuple(FileEntry(_rel(p), str(v["sha256"]), int(v["size"]))
                      for p, v in _obj(doc["files"]).items())
        blobs = {str(k): int(v) for k, v in _obj(doc["blobs"]).items()}
        return Manifest(str(doc["posthouse_version"]), int(doc["schema_version"]),
                        str(doc["created"]), str(doc["store_id"]), int(doc["messages"]),
                        int(doc["users"]), files, blobs)
    except (KeyError, TypeError, ValueError) as exc:
        raise BackupError(f"{path}: damaged, a field is missing or wrong ({exc})") from None


def _obj(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("expected an object")
    return value


def _rel(path: str) -> str:
    """A snapshot-relative path that stays inside the snapshot."""
    parts = Path(path).parts
    if not parts or Path(path).is_absolute() or ".." in parts:
        raise ValueError(f"bad path {path!r}")
    return path


def find_snapshot(src: Path) -> tuple[Path, Path]:
    """(snapshot dir, repository) for a repository (its newest snapshot) or a snapshot dir."""
    if (src / MANIFEST).exists():
        return src, src.parent.parent
    snaps = src / SNAPSHOTS
    names = sorted(p.name for p in snaps.iterdir()
                   if p.is_dir() and not p.name.startswith(".")) if snaps.is_dir() else []
    if not names:
        raise BackupError(f"{src}: no backup snapshot found (expected {src / SNAPSHOTS}/<date> "
                          f"or a directory with {MANIFEST})")
    return snaps / names[-1], src
