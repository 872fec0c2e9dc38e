"""The low-space guard (store/space.py) on an injected statvfs and clock, the mapping of
"disk full" errors to StorageFull, and the indexer's back-off while space is tight."""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from posthouse.config import ConfigError, load_config
from posthouse.message.summary import message_text
from posthouse.store import space as mod
from posthouse.store.errors import StorageFailure, StorageFull
from posthouse.store.space import SpaceGuard, is_full_error
from posthouse.store.sqlite import indexer as indexer_mod
from posthouse.store.sqlite.indexer import SearchIndexer
from posthouse.store.sqlite.writer import map_error

MIB = 1 << 20


class FakeFs:
    """A filesystem whose free space the test sets; counts statvfs calls."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls = 0
        self.broken = False

    def __call__(self, path: Path) -> os.statvfs_result:
        self.calls += 1
        if self.broken:
            raise OSError(errno.EIO, "statvfs failed")
        # (bsize, frsize, blocks, bfree, bavail, files, ffree, favail, flag, namemax)
        return os.statvfs_result((4096, 1, 1 << 40, self.free, self.free, 0, 0, 0, 0, 255))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def guard(fs: FakeFs, clock: Clock, min_free: int = 10 * MIB) -> SpaceGuard:
    return SpaceGuard(Path("/data"), min_free_bytes=min_free, statvfs=fs, clock=clock)


def messages(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "posthouse.store" and r.levelno == level]


def test_roomy_space_takes_mail_and_reads_statvfs_once_per_interval() -> None:
    fs, clock = FakeFs(100 * MIB), Clock()
    g = guard(fs, clock)
    for _ in range(50):
        g.check(100_000)
    assert fs.calls == 1  # cached: cheap per message
    clock.now = mod.CACHE_SECONDS
    g.check(100_000)
    assert fs.calls == 2


def test_admitted_mail_counts_against_a_cached_reading() -> None:
    """A burst cannot outrun the cache: the estimate shrinks by what was admitted."""
    fs, clock = FakeFs(25 * MIB), Clock()
    g = guard(fs, clock)
    g.check(MIB)
    calls = fs.calls
    for _ in range(6):  # 25 - 6 < 2 * 10: the estimate leaves "roomy", statvfs is read again
        g.check(MIB)
    assert fs.calls > calls


def test_below_the_threshold_mail_is_refused_with_one_warning_and_one_recovery_line(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="posthouse.store")
    fs, clock = FakeFs(100 * MIB), Clock()
    g = guard(fs, clock)
    g.check(MIB)
    fs.free = 9 * MIB
    clock.now = 5.0
    for _ in range(20):
        with pytest.raises(StorageFull):
            g.check(1000)
    assert g.short
    assert not g.has_room()
    warnings = messages(caplog, logging.WARNING)
    assert len(warnings) == 1
    assert warnings[0].startswith("disk full: 9437184 bytes free on /data, below min_free_bytes")
    fs.free = 30 * MIB  # space freed: taken again at once, no cache in the way
    g.check(MIB)
    assert not g.short
    assert len(messages(caplog, logging.INFO)) == 1
    assert len(messages(caplog, logging.WARNING)) == 1


def test_a_message_that_would_go_below_the_threshold_is_refused_without_a_state_change(
        caplog: pytest.LogCaptureFixture) -> None:
    fs, clock = FakeFs(12 * MIB), Clock()
    g = guard(fs, clock)
    g.check(MIB)
    with pytest.raises(StorageFull):
        g.check(3 * MIB)
    assert not g.short
    assert messages(caplog, logging.WARNING) == []


def test_tight_between_the_threshold_and_twice_it() -> None:
    fs, clock = FakeFs(100 * MIB), Clock()
    g = guard(fs, clock)
    assert not g.tight()
    fs.free = 15 * MIB
    clock.now = 10.0
    assert g.tight()
    assert g.has_room(MIB)
    fs.free = 5 * MIB
    assert g.tight()
    assert not g.has_room()


def test_a_real_full_disk_is_short_even_without_a_threshold(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="posthouse.store")
    fs, clock = FakeFs(0), Clock()
    g = guard(fs, clock, min_free=0)
    g.check(0)  # threshold off: nothing refused by the reading alone
    g.note_full(OSError(errno.ENOSPC, "No space left on device"))
    g.note_full(OSError(errno.ENOSPC, "No space left on device"))
    assert g.short
    assert g.tight()
    assert len(messages(caplog, logging.WARNING)) == 1
    fs.free = mod.RECOVERY_MIN_BYTES // 2
    assert not g.has_room()
    fs.free = mod.RECOVERY_MIN_BYTES + 4096
    assert g.has_room(4096)
    assert len(messages(caplog, logging.INFO)) == 1


def test_a_failure_statvfs_cannot_see_is_tried_again_after_the_hold() -> None:
    """A quota (EDQUOT) leaves statvfs unchanged: short until the hold ends, then try."""
    fs, clock = FakeFs(500 * MIB), Clock()
    g = guard(fs, clock)
    g.note_full(OSError(errno.EDQUOT, "Disk quota exceeded"))
    assert not g.has_room()
    clock.now = mod.ERROR_HOLD_SECONDS
    assert g.has_room()


def test_an_unreadable_filesystem_refuses_nothing() -> None:
    fs, clock = FakeFs(0), Clock()
    fs.broken = True
    g = guard(fs, clock)
    g.check(MIB)
    assert not g.tight()


def test_full_errors_are_recognised_through_their_causes() -> None:
    enospc = OSError(errno.ENOSPC, "No space left on device")
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = sqlite3.SQLITE_BUSY
    wrapped = StorageFailure("cannot write blob")
    wrapped.__cause__ = enospc
    assert is_full_error(enospc)
    assert is_full_error(full)
    assert is_full_error(wrapped)
    assert not is_full_error(busy)
    assert not is_full_error(OSError(errno.EIO, "I/O error"))
    assert isinstance(map_error(full), StorageFull)
    assert isinstance(map_error(enospc), StorageFull)
    assert type(map_error(busy)) is StorageFailure


def test_min_free_bytes_is_configurable_and_validated(tmp_path: Path) -> None:
    cfg_file = tmp_path / "posthouse.toml"
    cfg_file.write_text("[limits]\nmin_free_bytes = 5000000\n")
    assert load_config(cfg_file).limits.min_free_bytes == 5_000_000
    cfg_file.write_text("[limits]\nmin_free_bytes = -1\n")
    with pytest.raises(ConfigError, match="min_free_bytes"):
        load_config(cfg_file)


def test_the_indexer_waits_while_space_is_tight_and_backs_off(tmp_path: Path) -> None:
    fs, clock = FakeFs(15 * MIB), Clock()
    idx = SearchIndexer(tmp_path / "db", tmp_path / "search", tmp_path,
                        message_text=message_text, clock=clock, space=guard(fs, clock))
    idx.committed(1)
    clock.now = 10.0
    assert idx._must_wait_for_space()
    pauses = []
    for _ in range(12):
        idx._pause()
        pauses.append(idx._delay(clock.now))
    assert pauses[:3] == [indexer_mod.BACKOFF_MIN, 2 * indexer_mod.BACKOFF_MIN,
                          4 * indexer_mod.BACKOFF_MIN]
    assert pauses[-1] == indexer_mod.BACKOFF_MAX
    idx.committed(1)  # commits do not cut the pause short
    assert idx._delay(clock.now) == indexer_mod.BACKOFF_MAX
    idx.catch_up()  # an explicit request does, and is served even while tight
    assert idx._delay(clock.now) == 0.0
    assert not idx._must_wait_for_space()
