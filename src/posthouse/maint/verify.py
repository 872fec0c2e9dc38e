"""``posthouse verify [--repair]``: the store's checks, online or offline, and the repairs.

Online means a server holds the data dir's lock (store/datalock.py): the checks then read one
snapshot through a read-only connection and change nothing, and a repair is refused (it
would have to go through the server's writer). Offline, ``--repair`` takes the lock itself
for its duration, so a server cannot start in the middle of it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posthouse.maint.progress import QUIET, Progress
from posthouse.provision import give_to
from posthouse.store.datalock import DataDirBusy, DataDirLock, held_by
from posthouse.store.sqlite import checks

Problem = checks.Problem
SELF_HEALING = checks.SELF_HEALING


class VerifyRefused(Exception):
    """verify cannot run as asked (a live data dir and --repair, no store)."""


@dataclass(frozen=True, slots=True)
class VerifyDone:
    """The findings, what a repair did, and what is left after it."""

    online: bool
    found: checks.Report
    repaired: list[str]
    backup: Path | None
    remaining: list[Problem]


def run_verify(data_dir: Path, *, repair: bool, now: datetime, recover_to: str | None = None,
               spares: tuple[Path, ...] = (), progress: Progress = QUIET) -> VerifyDone:
    """Check the data dir; with ``repair``, fix what can be fixed and check again."""
    online = held_by(data_dir) is not None
    if online and repair:
        raise VerifyRefused(f"{data_dir} is served by a running posthouse: --repair needs the "
                            "server stopped (verify without --repair checks it online)")
    lock = DataDirLock(data_dir)
    if repair:
        try:
            lock.acquire()
        except DataDirBusy as exc:
            raise VerifyRefused(str(exc)) from None
    try:
        found = _check(data_dir, online=online, progress=progress)
        if not repair or not any(p.repairable for p in _real(found.problems)):
            return VerifyDone(online, found, [], None, _real(found.problems))
        try:
            done = checks.repair(data_dir, found, now=now, recover_to=recover_to,
                                 spares=spares)
        except checks.RecoveryImpossible as exc:
            raise VerifyRefused(str(exc)) from None
        after = _check(data_dir, online=False, progress=progress)
        # the index is deleted by the repair: the server rebuilds it
        remaining = [p for p in _real(after.problems) if p.kind != "index"]
        return VerifyDone(online, found, done.lines, done.backup, remaining)
    finally:
        lock.release()
        if repair and os.geteuid() == 0:
            _give_back(data_dir)


def _give_back(data_dir: Path) -> None:
    """Run as root, a repair leaves files (the lock, backups/, a rewritten blob) owned by
    root: give them to the data dir's owner, so a server started as that user opens them."""
    owner = data_dir.stat()
    give_to(data_dir, owner.st_uid, owner.st_gid)


def _real(problems: list[Problem]) -> list[Problem]:
    """The problems an operator must act on (not what the server settles at start-up)."""
    return [p for p in problems if p.kind not in checks.SELF_HEALING]


def _check(data_dir: Path, *, online: bool, progress: Progress) -> checks.Report:
    try:
        total = checks.blob_count(data_dir)
    except checks.StoreUnreadable as exc:
        raise VerifyRefused(f"{data_dir}: {exc}") from None
    with progress("check blobs", total, "blob") as advance:
        return checks.check(data_dir, online=online, tick=advance)
