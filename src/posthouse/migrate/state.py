"""What a migration has copied, kept in a JSON file in the data dir (``migrate/``).

One file per (source host, source user, local user). Per source folder it holds the source
UIDVALIDITY, the local mailbox it goes to (id and UIDVALIDITY), the highest source uid copied
and the map source uid -> local uid. A run copies the source uids that are not in the map;
the map is only trusted while both UIDVALIDITYs are the ones recorded (RFC 9051 2.3.1.1),
otherwise the engine matches messages by Message-ID, internal date and size.

The file is replaced atomically (temp file, fsync, rename, fsync of the folder), so a crash
leaves the previous or the next version, never a torn one. A message committed to the store
after the last save is not lost either: the engine recognises it on the next run (local
messages above the recorded local uid are matched before anything is copied). A lock file
keeps two runs of the same migration apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

STATE_DIR = "migrate"
_VERSION = 1


class StateError(Exception):
    """The state file cannot be read or written, or another run holds it."""


@dataclass
class FolderState:
    """One source folder's progress."""

    uidvalidity: int
    mailbox_id: int
    local_uidvalidity: int
    uids: dict[int, int] = field(default_factory=dict)  # source uid -> local uid

    @property
    def highest(self) -> int:
        """The highest source uid copied (0: none)."""
        return max(self.uids, default=0)

    @property
    def highest_local(self) -> int:
        """The highest local uid recorded (0: none)."""
        return max(self.uids.values(), default=0)


class MigrationState:
    """The state file of one migration, loaded, changed in memory and saved."""

    def __init__(self, path: Path, *, host: str, user: str, to: str) -> None:
        self.path = path
        self.host, self.user, self.to = host, user, to
        self.folders: dict[str, FolderState] = {}
        self._lock: IO[bytes] | None = None

    @classmethod
    def path_for(cls, data_dir: Path, *, host: str, user: str, to: str) -> Path:
        """Where the state of this (host, user, local user) lives."""
        key = hashlib.sha256(f"{host.lower()}\0{user}\0{to.lower()}".encode()).hexdigest()
        return data_dir / STATE_DIR / f"imap-{key[:24]}.json"

    def open(self) -> None:
        """Take the lock and load the file if there is one (StateError)."""
        try:
            self.path.parent.mkdir(mode=0o700, exist_ok=True)
            lock = self.path.with_suffix(".lock").open("ab")
        except OSError as exc:
            raise StateError(f"cannot open {self.path}: {exc}") from None
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StateError(f"another import from {self.host} as {self.user} is running "
                             f"(lock {lock.name})") from None
        self._lock = lock
        if self.path.exists():
            try:
                self._load()
            except StateError:
                self.close()
                raise

    def close(self) -> None:
        """Release the lock."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _load(self) -> None:
        try:
            doc: Any = json.loads(self.path.read_text("utf-8"))
            if doc.get("version") != _VERSION:
                raise StateError(f"{self.path}: unknown version {doc.get('version')!r}")
            for name, f in doc["folders"].items():
                self.folders[name] = FolderState(
                    int(f["uidvalidity"]), int(f["mailbox_id"]), int(f["local_uidvalidity"]),
                    {int(s): int(d) for s, d in f["uids"].items()})
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StateError(f"{self.path} is unreadable ({exc}); move it away to start "
                             "over (messages already copied are then matched, not copied "
                             "again)") from None

    def save(self) -> None:
        """Write the file durably (StateError)."""
        doc = {"version": _VERSION, "host": self.host, "user": self.user, "to": self.to,
               "folders": {name: {
                   "uidvalidity": f.uidvalidity, "mailbox_id": f.mailbox_id,
                   "local_uidvalidity": f.local_uidvalidity, "highest": f.highest,
                   "uids": {str(s): d for s, d in sorted(f.uids.items())},
               } for name, f in self.folders.items()}}
        tmp = self.path.with_suffix(".tmp")
        try:
            with tmp.open("w", encoding="utf-8") as out:
                json.dump(doc, out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            tmp.replace(self.path)
            fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StateError(f"cannot write {self.path}: {exc}") from None
