"""kill -9 of the server while IMAP and SMTP clients change mailboxes: afterwards every
mailbox's STATUS counters (MESSAGES, UNSEEN, SIZE; schema v9) equal a recount of its messages.

The counters live in the mailbox row and are changed by triggers in the same transaction as
the message rows, so a kill between or through changes can leave neither half alone. Client
threads keep the server busy over TCP with every kind of change that moves a counter:
deliveries, APPEND with and without \\Seen, STORE +/-FLAGS (\\Seen) and (\\Deleted),
EXPUNGE, COPY and MOVE between two mailboxes. Three kills mid-load; then a clean start, and
each mailbox is checked over IMAP (STATUS against FETCH FLAGS RFC822.SIZE), on disk
(tests/backends/sqlite_checks.py recounts with SQL) and by ``posthouse verify``.
"""

from __future__ import annotations

import contextlib
import imaplib
import random
import smtplib
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.backends.sqlite_checks import integrity_problems
from tests.faults.test_kill9_over_sockets import PY, Server, free_ports

pytestmark = [pytest.mark.faults, pytest.mark.slow]

USER = "cat@example.test"
PASSWORD = "kill-nine-counters"
CYCLES = 3
ANSWERS_PER_CYCLE = 40  # commands answered between two kills
BOUND = 120.0  # only a bound on waiting for the server: no test asserts a duration
BOXES = ("INBOX", "Other")


def message(n: int) -> bytes:
    return (f"From: load@remote.test\r\nTo: {USER}\r\nSubject: counters {n}\r\n\r\n"
            f"body {n}\r\n" + "y" * (n % 700) + "\r\n").encode()


class Answers:
    """How many commands the clients got an answer to (any answer)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.stopping = threading.Event()

    def note(self) -> None:
        with self.lock:
            self.count += 1


def imap_changes(port: int, answers: Answers, seed: int) -> None:
    """One client: random changes in both mailboxes until told to stop; reconnects after
    a kill."""
    rng = random.Random(seed)
    n = seed * 100_000
    while not answers.stopping.is_set():
        try:
            imap = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        except OSError:
            time.sleep(0.05)  # the server is down: try again
            continue
        try:
            imap.login(USER, PASSWORD)
            while not answers.stopping.is_set():
                box = rng.choice(BOXES)
                other = BOXES[1 - BOXES.index(box)]
                n += 1
                flags = rng.choice(["", "(\\Seen)", "(\\Seen \\Deleted)", "($label)"])
                imap.append(box, flags or None, None, message(n))
                answers.note()
                imap.select(box)
                low = rng.randint(1, 5)
                span = f"{low}:{low + rng.randint(0, 6)}"
                op = rng.choice(["+FLAGS", "-FLAGS"])
                flag = rng.choice(["(\\Seen)", "(\\Deleted)", "(\\Seen \\Flagged)"])
                for command in (("STORE", span, op, flag), ("COPY", span, other),
                                ("MOVE", f"{low + 3}", other), ("EXPUNGE",)):
                    imap._simple_command(*command)  # any answer will do: NO is fine
                    answers.note()
                imap.unselect()
        except (OSError, imaplib.IMAP4.error, EOFError):
            time.sleep(0.05)  # the server is down: try again
        finally:
            with contextlib.suppress(OSError):
                imap.shutdown()


def smtp_deliveries(port: int, answers: Answers) -> None:
    n = 0
    while not answers.stopping.is_set():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                while not answers.stopping.is_set():
                    n += 1
                    smtp.sendmail("load@remote.test", [USER], message(n))
                    answers.note()
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)


def counted_over_imap(port: int) -> dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]]:
    """Per mailbox: (MESSAGES, UNSEEN, SIZE) from STATUS, and the same counted from FETCH."""
    imap = imaplib.IMAP4("127.0.0.1", port, timeout=30)
    try:
        imap.login(USER, PASSWORD)
        out = {}
        for box in BOXES:
            _typ, st = imap.status(box, "(MESSAGES UNSEEN SIZE)")
            words = st[0].decode().split("(")[1].rstrip(")").split()
            status = dict(zip(words[::2], map(int, words[1::2]), strict=True))
            imap.select(box, readonly=True)
            total = unseen = size = 0
            if status["MESSAGES"]:
                _typ, items = imap.fetch("1:*", "(FLAGS RFC822.SIZE)")
                for item in items:
                    text = item.decode() if isinstance(item, bytes) else ""
                    if "RFC822.SIZE" not in text:
                        continue
                    total += 1
                    unseen += "\\Seen" not in text.split("FLAGS (")[1].split(")")[0]
                    size += int(text.split("RFC822.SIZE ")[1].split()[0].rstrip(")"))
            out[box] = ((status["MESSAGES"], status["UNSEEN"], status["SIZE"]),
                        (total, unseen, size))
        return out
    finally:
        with contextlib.suppress(OSError, imaplib.IMAP4.error):
            imap.logout()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"

    def cli(*args: str, stdin: str | None = None) -> None:
        done = subprocess.run([*PY, *args], input=stdin, capture_output=True, text=True,
                              timeout=BOUND, check=False)
        assert done.returncode == 0, done.stderr

    cli("init", "--data-dir", str(data), "--hostname", "mx.example.test",
        "--domain", "example.test")
    with (data / "posthouse.toml").open("a") as cfg:  # cheap hashes: many logins below
        cfg.write("\n[auth]\nargon2_time_cost = 1\nargon2_memory_kib = 1024\n"
                  "argon2_parallelism = 1\n")
    cli("user", "add", USER, "--password-stdin", "--data-dir", str(data), stdin=PASSWORD + "\n")
    return data


def wait_for(answers: Answers, server: Server, more: int) -> None:
    with answers.lock:
        target = answers.count + more
    deadline = time.monotonic() + BOUND
    while answers.count < target:
        assert server.proc is not None
        assert server.proc.poll() is None, "the server died"
        assert time.monotonic() < deadline, f"no progress: {answers.count} answers"
        time.sleep(0.02)


def test_kill9_leaves_the_counters_equal_to_a_recount(data_dir: Path) -> None:
    ports = dict(zip(("smtp", "imap", "pop3"), free_ports(3), strict=True))
    server = Server(data_dir, ports)
    server.start()
    imap = imaplib.IMAP4("127.0.0.1", ports["imap"], timeout=30)
    imap.login(USER, PASSWORD)
    imap.create("Other")
    imap.logout()
    answers = Answers()
    threads = [threading.Thread(target=imap_changes, args=(ports["imap"], answers, seed))
               for seed in (1, 2)]
    threads.append(threading.Thread(target=smtp_deliveries, args=(ports["smtp"], answers)))
    for thread in threads:
        thread.start()
    try:
        for _ in range(CYCLES):
            wait_for(answers, server, ANSWERS_PER_CYCLE)
            server.kill9()  # mid-load: some change is in flight or about to be
            server.start()
        wait_for(answers, server, ANSWERS_PER_CYCLE)
    finally:
        answers.stopping.set()
        for thread in threads:
            thread.join(BOUND)
        if server.proc is not None:
            server.stop()

    server.start()  # a clean start on what the last kill left
    try:
        counted = counted_over_imap(ports["imap"])
    finally:
        server.stop()
    print(f"{answers.count} answers; (MESSAGES, UNSEEN, SIZE) per mailbox: {counted}")
    assert sum(status[0] for status, _ in counted.values()) > 0, "the load stored nothing"
    assert any(status[1] < status[0] for status, _ in counted.values()), "nothing was seen"
    for box, (status, recount) in counted.items():
        assert status == recount, box
    assert integrity_problems(data_dir) == []
    verify = subprocess.run([*PY, "verify", "--data-dir", str(data_dir)], capture_output=True,
                            text=True, timeout=BOUND, check=False)
    assert verify.returncode == 0, verify.stdout
