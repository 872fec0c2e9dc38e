"""Crash safety: SIGKILL a writer mid-batch; every acknowledged write must survive intact."""

from __future__ import annotations

import asyncio
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from posthouse.store.sqlite.backend import SqliteStore
from tests.backends.crash_writer import payload
from tests.backends.sqlite_checks import integrity_problems
from tests.backends.support import new_user
from tests.support.stores import sqlite_store

HELPER = Path(__file__).with_name("crash_writer.py")
DEADLINE = 60.0


@dataclass
class Acks:
    """What the child acknowledged before it died."""

    delivered: list[tuple[int, int, int]] = field(default_factory=list)  # (n, mailbox, uid)
    deleted: set[int] = field(default_factory=set)


def _parse(line: str, acks: Acks) -> None:
    parts = line.split()
    if len(parts) == 4 and parts[0] == "ACK":
        n, box, uid = map(int, parts[1:])
        acks.delivered.append((n, box, uid))
    elif len(parts) == 2 and parts[0] == "DEL":
        acks.deleted.add(int(parts[1]))


def _run_and_kill(
    data_dir: Path, user_id: int, *, first: int, after: int, stderr: Path
) -> Acks:
    """Start the child, read acknowledgements until ``after`` of them, then SIGKILL it."""
    acks = Acks()
    with stderr.open("wb") as err:
        child = subprocess.Popen(
            [sys.executable, str(HELPER), str(data_dir), str(user_id), str(first)],
            stdout=subprocess.PIPE, stderr=err,
        )
        assert child.stdout is not None
        try:
            _read_acks(child, acks, after)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
            tail = child.stdout.read()  # acknowledged before the kill landed
            child.stdout.close()
    for line in tail.decode(errors="replace").splitlines()[:-1]:  # last one may be cut
        _parse(line, acks)
    return acks


def _read_acks(child: subprocess.Popen[bytes], acks: Acks, after: int) -> None:
    assert child.stdout is not None
    fd = child.stdout.fileno()
    os.set_blocking(fd, False)
    buffer = b""
    deadline = time.monotonic() + DEADLINE
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while len(acks.delivered) < after:
            if time.monotonic() > deadline or child.poll() is not None:
                pytest.fail(f"crash child stalled or died (rc={child.poll()})")
            if not selector.select(timeout=1.0):
                continue
            buffer += os.read(fd, 65536)
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                _parse(line.decode(), acks)
    os.set_blocking(fd, True)


async def _verify(store: SqliteStore, acks: Acks) -> int:
    """Every acknowledged delivery is there byte for byte (unless acknowledged deleted)."""
    checked = 0
    for n, box, uid in acks.delivered:
        metas = await store.fetch_meta(box, [uid], with_summary=True)
        if n in acks.deleted and box == acks_inbox(acks, n):
            assert metas == [], (n, box, uid)
            continue
        if n % 10 == 5 and not metas:
            continue  # its delete was in flight: either outcome is fine
        assert metas, f"acknowledged delivery {n} lost ({box}, {uid})"
        assert await store.read_blob(metas[0].blob_id) == payload(n)
        summary = metas[0].summary  # parsed by the store, or given: the same subject
        assert summary is not None
        assert summary.headers.get("subject") == f"crash {n // 2}"
        checked += 1
    return checked


def acks_inbox(acks: Acks, n: int) -> int:
    """The mailbox the first target of delivery n went to (the one it was deleted from)."""
    return next(box for m, box, _ in acks.delivered if m == n)


@pytest.mark.slow
def test_sigkill_mid_batch_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    async def setup() -> int:
        store = sqlite_store(data_dir)
        await store.open()
        try:
            return (await new_user(store)).id
        finally:
            await store.close()

    user_id = asyncio.run(setup())
    total = Acks()
    for round_no, after in enumerate((150, 400)):
        acks = _run_and_kill(
            data_dir, user_id, first=round_no * 1_000_000, after=after,
            stderr=tmp_path / f"err{round_no}",
        )
        total.delivered += acks.delivered
        total.deleted |= acks.deleted

        async def check(current: Acks = total) -> int:
            store = sqlite_store(data_dir)
            await store.open()
            try:
                return await _verify(store, current)
            finally:
                await store.close()

        assert asyncio.run(check()) > after // 2
        assert integrity_problems(data_dir) == []
