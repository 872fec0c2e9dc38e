"""curl (Debian) as a POP3 client of posthouse on 995 and 110+STLS: RETR of every message of a
200-message maildrop byte-exact, LIST, UIDL, TOP and DELE, and clean errors (issue 5).

curl's POP3 URLs: ``pop3s://host:port/`` runs LIST, ``/N`` runs RETR N; ``-X CMD`` sends a
custom command whose multi-line answer curl writes out (dot-unstuffed); ``-X CMD -I`` expects a
single-line answer. One curl process with a URL range reuses a single connection (one login).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.mail import deliver, make_mailbox
from tests.support.peers import find_tool
from tests.support.server import PASSWORD, ServerThread

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]

USER = "ann@example.test"
COUNT = 200
CURLE_WEIRD_SERVER_REPLY = 8  # curl(1) EXIT CODES: how curl reports a POP3 -ERR


class Curl:
    """curl against one posthouse listener: implicit TLS (995) or STLS on 110."""

    def __init__(self, server: ServerThread, mode: str) -> None:
        self.binary = find_tool("curl")
        if mode == "995":
            self.base = f"pop3s://127.0.0.1:{server.port('pop3s')}/"
            self.tls: tuple[str, ...] = ()
        else:  # --ssl-reqd: STLS, and fail rather than log in without TLS
            self.base = f"pop3://127.0.0.1:{server.port('pop3')}/"
            self.tls = ("--ssl-reqd",)

    def run(self, path: str = "", *args: str, check: bool = True
            ) -> subprocess.CompletedProcess[bytes]:
        proc = subprocess.run(
            [self.binary, "--silent", "--show-error", "--insecure", *self.tls,
             "--max-time", "60", "--user", f"{USER}:{PASSWORD}", *args, self.base + path],
            capture_output=True, timeout=90, check=False)
        if check:
            assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc

    def listing(self, *args: str) -> list[list[bytes]]:
        """A multi-line answer's lines, split into words."""
        return [line.split() for line in self.run("", *args).stdout.splitlines()]


@pytest.fixture
def mailbox(server: ServerThread) -> list[bytes]:
    server.add_user(USER)
    messages = make_mailbox(COUNT)
    deliver(server, USER, messages)
    return messages


@pytest.fixture(params=["995", "stls"])
def curl(request: pytest.FixtureRequest, server: ServerThread) -> Curl:
    return Curl(server, request.param)


def test_retr_every_message_byte_exact(curl: Curl, mailbox: list[bytes],
                                       tmp_path: Path) -> None:
    curl.run(f"[1-{COUNT}]", "--output", str(tmp_path / "msg-#1"))
    for n, original in enumerate(mailbox, start=1):
        assert (tmp_path / f"msg-{n}").read_bytes() == original, f"message {n}"


def test_list_and_uidl(curl: Curl, mailbox: list[bytes]) -> None:
    assert curl.listing() == [[str(n).encode(), str(len(m)).encode()]
                              for n, m in enumerate(mailbox, start=1)]
    assert curl.listing("--list-only") == curl.listing()
    uidl = curl.listing("--request", "UIDL")
    assert [words[0] for words in uidl] == [str(n).encode() for n in range(1, COUNT + 1)]
    uids = [words[1] for words in uidl]
    assert len(set(uids)) == COUNT
    assert all(0 < len(u) <= 70 and all(0x21 <= c <= 0x7E for c in u) for u in uids)
    assert curl.listing("--request", "UIDL") == uidl  # stable across sessions


@pytest.mark.parametrize(("n", "lines"), [(1, 0), (1, 2), (10, 3), (3, 5), (7, 10**8)])
def test_top(curl: Curl, mailbox: list[bytes], n: int, lines: int) -> None:
    original = mailbox[n - 1]
    head, _, body = original.partition(b"\r\n\r\n")
    expected = head + b"\r\n\r\n" + b"".join(body.splitlines(keepends=True)[:lines])
    assert curl.run("", "--request", f"TOP {n} {lines}").stdout == expected


def test_dele_removes_at_quit(curl: Curl, server: ServerThread, mailbox: list[bytes]) -> None:
    curl.run("", "--request", "DELE 5", "--head")  # a single-line answer, then QUIT
    remaining = server.inbox(USER)
    assert remaining == mailbox[:4] + mailbox[5:]
    assert curl.listing()[4] == [b"5", str(len(mailbox[5])).encode()]  # renumbered


@pytest.mark.usefixtures("mailbox")
def test_errors_are_reported(curl: Curl, server: ServerThread) -> None:
    missing = curl.run(str(COUNT + 1), "--verbose", check=False)
    assert missing.returncode == CURLE_WEIRD_SERVER_REPLY
    assert b"< -ERR no such message" in missing.stderr
    unknown = curl.run("", "--request", "FROB", "--head", "--verbose", check=False)
    assert unknown.returncode == CURLE_WEIRD_SERVER_REPLY
    assert b"< -ERR unknown command" in unknown.stderr
    wrong = subprocess.run(
        [curl.binary, "--silent", "--insecure", *curl.tls, "--max-time", "60", "--verbose",
         "--user", f"{USER}:wrong", curl.base], capture_output=True, timeout=90, check=False)
    assert wrong.returncode != 0
    assert b"< -ERR [AUTH]" in wrong.stderr
    assert len(server.inbox(USER)) == COUNT
