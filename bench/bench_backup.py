"""Backup rate: ``posthouse backup`` of a serving data dir beside ``doveadm backup`` of the
same messages in a private Dovecot's Maildirs.

Both sides hold the same messages (mixed sizes, one in 50 a 300 KB message that posthouse
keeps as a blob file): delivered over SMTP to posthouse, written as Maildir files for Dovecot.
Two workloads per round, each side timed from the command's start to its exit:
- full: into an empty destination (posthouse: a new repository; Dovecot: a new Maildir per
  user, ``doveadm -c CONF backup -u USER maildir:DEST``);
- again: the same command into the destination of the full run, nothing new to copy
  (posthouse: the incremental blob copy; Dovecot: its dsync finds every mail in place).
posthouse runs while the server serves (an online snapshot); doveadm runs beside the
running Dovecot. messages/s and MB/s count the messages and their bytes.

    .venv/bin/python -m bench.bench_backup --quick
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import DovecotPeer, find_tool, free_port, mail_owner, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Posthouse,
    Refused,
    Table,
    bench,
    fill_posthouse,
    parser,
    quick_or,
)

SIZES = (1024, 2048, 4096, 16384)
BIG = 300 * 1024


def corpus(count: int) -> list[bytes]:
    """count messages, about 6 KB on average, one in 50 of 300 KB."""
    return [sample_message(i, BIG if i % 50 == 0 else SIZES[i % len(SIZES)])
            for i in range(1, count + 1)]


def rate(count: int, nbytes: int, seconds: float) -> Metrics:
    return {"messages/s": count / seconds, "MB/s": nbytes / seconds / 1e6}


class PosthouseBackups:
    """``posthouse backup`` into fresh repositories, and again into the last one."""

    def __init__(self, ph: Posthouse, lab: Path, count: int, nbytes: int) -> None:
        self.ph, self.lab, self.count, self.nbytes = ph, lab, count, nbytes
        self._n = itertools.count(1)
        self.last: Path | None = None

    def _run(self, dest: Path) -> Metrics:
        started = time.perf_counter()
        out = self.ph.cli("backup", str(dest))
        seconds = time.perf_counter() - started
        if f"{self.count} messages" not in out:
            raise Refused(f"backup holds another message count: {out.strip()}")
        return rate(self.count, self.nbytes, seconds)

    def full(self) -> Metrics:
        if self.last is not None:
            shutil.rmtree(self.last)
        self.last = self.lab / f"ph-backup-{next(self._n)}"
        return self._run(self.last)

    def again(self) -> Metrics:
        if self.last is None:
            raise Refused("no full backup to add to")
        return self._run(self.last)


class DovecotBackups:
    """``doveadm backup`` of every user into fresh Maildirs, and again into the last ones."""

    def __init__(self, dv: DovecotPeer, users: list[str], lab: Path, count: int,
                 nbytes: int) -> None:
        self.dv, self.users, self.lab = dv, users, lab
        self.count, self.nbytes = count, nbytes
        self._n = itertools.count(1)
        self.last: Path | None = None

    def _run(self, dest: Path) -> Metrics:
        doveadm = find_tool("doveadm")
        started = time.perf_counter()
        for user in self.users:
            target = dest / user / "Maildir"
            proc = subprocess.run(
                [doveadm, "-c", str(self.dv.config_path), "backup", "-u", user,
                 f"maildir:{target}"], capture_output=True, text=True, timeout=600,
                check=False)  # as root: doveadm drops to the userdb's uid itself
            if proc.returncode != 0:
                raise Refused(f"doveadm backup failed ({proc.returncode}): "
                              f"{(proc.stdout + proc.stderr).strip()[:300]}")
        seconds = time.perf_counter() - started
        copied = sum(len(list((dest / u / "Maildir" / sub).iterdir()))
                     for u in self.users for sub in ("cur", "new"))
        if copied != self.count:
            raise Refused(f"doveadm backup holds {copied} messages, not {self.count}")
        return rate(self.count, self.nbytes, seconds)

    def _fresh(self) -> Path:
        owner = mail_owner()
        dest = self.lab / f"dv-backup-{next(self._n)}"
        dest.mkdir()
        for user in self.users:
            (dest / user).mkdir()
        for path in (dest, *(dest / u for u in self.users)):
            shutil.chown(path, owner.uid, owner.gid)
        return dest

    def full(self) -> Metrics:
        if self.last is not None:
            shutil.rmtree(self.last)
        self.last = self._fresh()
        return self._run(self.last)

    def again(self) -> Metrics:
        if self.last is None:
            raise Refused("no full backup to add to")
        return self._run(self.last)


def main(argv: list[str] | None = None) -> int:
    p = parser("posthouse backup vs doveadm backup, side by side")
    p.add_argument("--messages", type=int, help="messages in all (default 3000, quick 300)")
    p.add_argument("--users", type=int, default=2, help="users the messages are spread over")
    args = p.parse_args(argv)
    count = quick_or(args, args.messages, 300, 3000)
    users = [f"backup{i}@{DOMAIN}" for i in range(1, args.users + 1)]
    messages = corpus(count // len(users))
    total = len(messages) * len(users)
    nbytes = sum(len(m) for m in messages) * len(users)
    table = Table(f"backup of {total} messages ({nbytes / 1e6:.1f} MB) -> posthouse "
                  "(online) vs doveadm backup", "dovecot")
    with bench(args, "backup", table) as b:
        ph = b.posthouse(users, lambda ph: fill_posthouse(ph, users, messages, "smtp"))
        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users=dict.fromkeys(users, PASSWORD))
        b.peer(dv, *(lambda u=u: dv.add_messages(u, messages) for u in users))
        ours = PosthouseBackups(ph, b.lab, total, nbytes)
        theirs = DovecotBackups(dv, users, b.lab, total, nbytes)
        b.run([
            ("full backup into an empty destination", b.sides(ours.full, theirs.full)),
            ("again into the same destination (nothing new)", b.sides(ours.again,
                                                                     theirs.again)),
        ])
    return 0


if __name__ == "__main__":
    sys.exit(main())
