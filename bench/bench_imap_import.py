"""IMAP migration rate: ``posthouse import imap`` beside Dovecot's own migration tool
(``doveadm sync -1 -R ... imapc:``, dsync pulling over IMAP), from the same source.

The source is a private Dovecot holding --per-folder messages (default 250; --quick 50) in
each of 20 folders (tests/support/imap_source.py: flags, keywords, nested and special-use
folders, one message in 97 of 300 KB). Each round copies the whole account into a fresh,
empty local account on each side (posthouse: a running server, the import writing through
its store; Dovecot: a second private Dovecot's Maildir), timed from the command's start to
its exit (process start included on both sides). Then, on the last round's account, a run
with nothing new: what a second migration pass costs.

    .venv/bin/python -m bench.bench_imap_import --quick
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support import imap_source
from tests.support.peers import DovecotPeer, find_tool, free_port

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Posthouse,
    Refused,
    Table,
    bench,
    parser,
    quick_or,
    rounds,
)

SOURCE_USER = f"source@{DOMAIN}"


class Migration:
    """One side's fresh target accounts, one per round, and its timed copy."""

    def __init__(self, copy: Callable[[str], None], targets: list[str], messages: int,
                 size: int) -> None:
        self.copy = copy
        self.targets = list(targets)
        self.messages = messages
        self.size = size
        self.last: str | None = None

    def first(self) -> Metrics:
        """Copy everything into the next empty account."""
        if not self.targets:
            raise Refused("no fresh target account left")
        self.last = self.targets.pop(0)
        seconds = self._timed(self.last)
        return {"msg/s": self.messages / seconds, "MB/s": self.size / 1e6 / seconds,
                "s": seconds}

    def again(self) -> Metrics:
        """The same copy again: nothing is new."""
        if self.last is None:
            raise Refused("no first copy to repeat")
        return {"s": self._timed(self.last)}

    def _timed(self, target: str) -> float:
        started = time.perf_counter()
        self.copy(target)
        return time.perf_counter() - started


def posthouse_copy(ph: Posthouse, source_port: int) -> Callable[[str], None]:
    """``posthouse import imap`` into a running posthouse's data dir."""
    def copy(target: str) -> None:
        out = ph.cli("import", "imap", "--host", "127.0.0.1", "--port", str(source_port),
                     "--plain", "--user", SOURCE_USER, "--to", target)
        if " 0 failed" not in out:
            raise Refused(f"posthouse import: {out.strip()}")
    return copy


def doveadm_copy(dest: DovecotPeer, source_port: int) -> Callable[[str], None]:
    """dsync one way from the source over IMAP (imapc) into the destination's Maildir."""
    def copy(target: str) -> None:
        proc = subprocess.run(
            [find_tool("doveadm"), "-c", str(dest.config_path),
             "-o", "imapc_host=127.0.0.1", "-o", f"imapc_port={source_port}",
             "-o", f"imapc_user={SOURCE_USER}", "-o", f"imapc_password={PASSWORD}",
             "-o", "imapc_features=rfc822.size fetch-headers",
             "sync", "-1", "-R", "-u", target, "imapc:"],
            capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0:
            raise Refused(f"doveadm sync failed ({proc.returncode}): {proc.stderr[-500:]}")
    return copy


def main(argv: list[str] | None = None) -> int:
    p = parser("IMAP migration rate: posthouse import imap vs doveadm sync (imapc)")
    p.add_argument("--per-folder", type=int, help="messages per folder, 20 folders "
                   "(default 250, quick 50)")
    args = p.parse_args(argv)
    per_folder = quick_or(args, args.per_folder, 50, 250)
    count = per_folder * len(imap_source.FOLDERS)
    targets = [f"target{i}@{DOMAIN}" for i in range(rounds(args) + 1)]
    os.environ["POSTHOUSE_IMPORT_PASSWORD"] = PASSWORD
    table = Table(f"IMAP migration of {count} messages in 20 folders -> posthouse vs "
                  "doveadm sync (imapc)", "doveadm")
    with bench(args, "IMAP import", table) as b:
        source = DovecotPeer(b.lab / "source", imap_port=free_port(), pop3_port=free_port(),
                             users={SOURCE_USER: PASSWORD},
                             extra_config=imap_source.DOVECOT_NAMESPACE)
        b.enter(source)
        written = imap_source.fill_dovecot(source, SOURCE_USER, per_folder, big_every=97)
        size = sum(len(m.data) for m in written)
        warm = imap_source.open_imap(source.imap_port, SOURCE_USER, PASSWORD)
        imap_source.snapshot(warm)  # untimed: Dovecot builds its indexes, the cache warms
        warm.logout()
        ph = b.posthouse(targets)
        dest = DovecotPeer(b.lab / "dest", imap_port=free_port(), pop3_port=free_port(),
                           users=dict.fromkeys(targets, PASSWORD))
        b.peer(dest)
        ours = Migration(posthouse_copy(ph, source.imap_port), targets, count, size)
        theirs = Migration(doveadm_copy(dest, source.imap_port), targets, count, size)
        b.run([
            ("first copy into an empty account", b.sides(ours.first, theirs.first)),
            ("again, nothing new", b.sides(ours.again, theirs.again)),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
