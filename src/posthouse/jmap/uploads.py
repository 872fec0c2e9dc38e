"""Uploaded blobs (RFC 8620 6.1): kept as files under ``data_dir/jmap-uploads/<user id>/``
named by their SHA-256, so the same bytes uploaded twice are one blob.

An upload is written to a temporary name, fsynced and renamed, so a blobId handed out always
names complete bytes. Blobs not used are deleted 24 hours after their upload (6.1 allows it
after at least one hour); Email/import copies what it uses into the store, so nothing the
store holds depends on these files.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

KEEP_SECONDS = 24 * 3600
_UPLOAD_ID = re.compile(r"^U([0-9a-f]{64})$")


class UploadArea:
    """One directory per account of uploaded blobs."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def put(self, user_id: int, data: bytes) -> str:
        """Keep ``data`` for the user; its blobId ("U" + SHA-256)."""
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, user_id, digest, data)
        return "U" + digest

    async def get(self, user_id: int, blob_id: str) -> bytes | None:
        """The bytes of one of the user's uploads, or None."""
        found = _UPLOAD_ID.match(blob_id)
        if found is None:
            return None
        path = self.root / str(user_id) / found[1]
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            return None

    def _write(self, user_id: int, digest: str, data: bytes) -> None:
        folder = self.root / str(user_id)
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._expire(folder)
        final = folder / digest
        if final.exists():
            os.utime(final)  # used again: kept another day
            return
        tmp = folder / f".tmp-{digest}-{os.getpid()}"
        with open(tmp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(final)

    @staticmethod
    def _expire(folder: Path) -> None:
        cutoff = time.time() - KEEP_SECONDS
        for entry in folder.iterdir():
            try:
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
            except FileNotFoundError:
                continue
