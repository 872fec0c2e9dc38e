"""Maildir import: ``posthouse import maildir`` beside Dovecot's ``doveadm import``.

One source Maildir (INBOX and two folders, mixed sizes, flags and a dovecot-uidlist) is
imported in every round into a fresh account of each side; the figure is wall time of the
whole command (start-up included), as messages per second and MB per second. posthouse runs
without a server (the same writes as with one); doveadm writes into the private Dovecot
peer's mail location (through the running peer's auth service).

    .venv/bin/python -m bench.bench_import --quick
"""

from __future__ import annotations

import os
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
    SIZES,
    Metrics,
    Posthouse,
    Refused,
    Side,
    Table,
    bench,
    parser,
    quick_or,
    rounds,
    try_setup,
    wanted,
)

FOLDERS = ("", ".Lists", ".Lists.Python")  # INBOX and two folders, Maildir++ names


def make_source(root: Path, count: int) -> tuple[int, int]:
    """A Maildir++ tree with ``count`` messages spread over FOLDERS; (messages, bytes)."""
    total = 0
    owner = mail_owner()
    for n, folder in enumerate(FOLDERS):
        path = root / folder if folder else root
        for sub in ("cur", "new", "tmp"):
            (path / sub).mkdir(parents=True, exist_ok=True)
        lines = ["3 V1700000000 N{next} G0123456789abcdef0123456789abcdef"]
        uid = 0
        stamp = 1_700_000_000
        for i in range(n, count, len(FOLDERS)):
            uid += 1
            data = sample_message(i, SIZES[i % len(SIZES)])
            base = f"{stamp + i}.M{i}P1.bench,S={len(data)}"
            flags = "S" if i % 2 else ("FS" if i % 3 else "")
            (path / "cur" / f"{base}:2,{flags}").write_bytes(data)
            lines.append(f"{uid} :{base}")
            total += len(data)
        lines[0] = lines[0].format(next=uid + 1)
        (path / "dovecot-uidlist").write_text("\n".join(lines) + "\n")
    for dirpath, _dirs, files in os.walk(root):
        os.chown(dirpath, owner.uid, owner.gid)
        for name in files:
            os.chown(os.path.join(dirpath, name), owner.uid, owner.gid)
    return count, total


def _rates(seconds: float, count: int, size: int) -> Metrics:
    return {"messages/s": count / seconds, "MB/s": size / 1e6 / seconds}


def main() -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--messages", type=int, help="messages in the source (default 3000)")
    args = p.parse_args()
    count = quick_or(args, args.messages, 300, 3000)
    table = Table(f"Maildir import of {count} messages", "doveadm import")
    with bench(args, "Import maildir", table) as b:
        source = b.lab / "source" / "Maildir"
        count, size = make_source(source, count)
        print(f"  source: {count} messages, {size / 1e6:.1f} MB", flush=True)
        rounds_done = {"posthouse": 0, "doveadm": 0}

        ph = Posthouse(b.lab / "posthouse")
        ph_err = try_setup("posthouse", lambda: ph.setup([])) if wanted(args, "posthouse") \
            else "not run (--only)"

        def posthouse_round() -> Metrics:
            rounds_done["posthouse"] += 1
            user = f"import{rounds_done['posthouse']}@{DOMAIN}"
            ph.cli("user", "add", user, "--password-stdin", stdin=PASSWORD + "\n")
            started = time.perf_counter()
            out = ph.cli("import", "maildir", user, str(source))
            seconds = time.perf_counter() - started
            if f"imported {count} messages" not in out:
                raise Refused(f"posthouse said: {out.strip()}")
            return _rates(seconds, count, size)

        dv = DovecotPeer(b.lab / "dovecot", imap_port=free_port(), pop3_port=free_port(),
                         users={f"import{n}@{DOMAIN}": PASSWORD
                                for n in range(1, rounds(args) + 1)})
        b.peer(dv)  # doveadm asks its auth service for the user
        dv_err = b.peer_err

        def doveadm_round() -> Metrics:
            rounds_done["doveadm"] += 1
            user = f"import{rounds_done['doveadm']}@{DOMAIN}"
            argv = [find_tool("doveadm"), "-c", str(dv.config_path), "import", "-u", user,
                    f"maildir:{source}", "", "all"]
            started = time.perf_counter()
            done = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                                  check=False)
            seconds = time.perf_counter() - started
            if done.returncode != 0:
                raise Refused(f"doveadm import failed: {(done.stdout + done.stderr).strip()}")
            return _rates(seconds, count, size)

        sides: dict[str, Side] = {"posthouse": ph_err or posthouse_round,
                                  "doveadm import": dv_err or doveadm_round}
        b.run([(f"{count} messages, {size / 1e6:.0f} MB, 3 folders", sides)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
