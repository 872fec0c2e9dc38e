"""fetchmail (Debian) downloads from posthouse over POP3 on 995 and 110+STLS: keep mode,
delete mode, flush, and UIDL tracking with an idfile (issue 5).

fetchmail hands each message to an MDA (``cat`` into a fresh file) with ``no stripcr`` and
``no rewrite``, so a captured file is the server's message byte for byte behind the one
Received field fetchmail puts on top. (fetchmail 6.4 fetches with "TOP n 99999999", so this
also proves that TOP with a huge line count is the whole message.)
"""

from __future__ import annotations

import getpass
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.mail import deliver, make_mailbox, make_message
from tests.support.peers import find_tool
from tests.support.server import PASSWORD, ServerThread

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(120)]

USER = "ann@example.test"
COUNT = 200
MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)\r$", re.MULTILINE)
# fetchmail exit codes (fetchmail(1) "DIAGNOSTICS"): 0 mail retrieved, 1 no mail.
PS_SUCCESS, PS_NOMAIL = 0, 1


@dataclass
class Run:
    """One fetchmail run: its exit status, verbose log and the messages its MDA received."""

    rc: int
    log: str
    messages: list[bytes]

    def commands(self, verb: str) -> int:
        """How many times fetchmail sent a POP3 command (from its -v protocol trace)."""
        return len(re.findall(rf"POP3> {verb}\b", self.log))


class Fetchmail:
    """Runs fetchmail against a posthouse with its own rcfile, idfile and home directory."""

    def __init__(self, workdir: Path, server: ServerThread) -> None:
        self.home = workdir / "fetchmail"
        self.home.mkdir()
        self.server = server
        self.binary = find_tool("fetchmail")
        self.runs = 0

    @property
    def idfile(self) -> Path:
        return self.home / "ids"

    def run(self, *, mode: str = "995", options: str = "keep", args: tuple[str, ...] = ()
            ) -> Run:
        """One poll; ``options`` go into the rcfile's user line (keep / no keep / flush)."""
        self.runs += 1
        out = self.home / f"out{self.runs}"
        out.mkdir()
        mda = f"cat > $(mktemp {shlex.quote(str(out))}/msg.XXXXXX)"
        rcfile = self.home / f"rc{self.runs}"
        rcfile.write_text(self._rc(mode, options, mda))
        rcfile.chmod(0o600)  # fetchmail refuses a readable rcfile holding a password
        proc = subprocess.run(
            [self.binary, "-f", str(rcfile), "-i", str(self.idfile), "--pidfile",
             str(self.home / "pid"), "--nodetach", "--nosyslog", "-v", *args],
            env={"HOME": str(self.home), "FETCHMAILHOME": str(self.home),
                 "PATH": "/usr/bin:/bin", "LC_ALL": "C"},
            capture_output=True, text=True, timeout=90, check=False)
        log = proc.stdout + proc.stderr
        captured = [strip_received(p.read_bytes()) for p in sorted(out.iterdir())]
        return Run(proc.returncode, log, captured)

    def _rc(self, mode: str, options: str, mda: str) -> str:
        port = self.server.port("pop3s" if mode == "995" else "pop3")
        security = {
            "995": "ssl no sslcertck",  # self-signed test certificate
            "stls": "sslproto tls1.2+ no sslcertck",  # no "ssl": upgrade with STLS
        }[mode]
        return (f"set no syslog\n"
                f"poll 127.0.0.1 service {port} protocol pop3 uidl timeout 30\n"
                f"  user {_q(USER)} there password {_q(PASSWORD)} is {_q(getpass.getuser())}"
                f" here\n"
                f"  {security} {options} no rewrite no stripcr mda {_q(mda)}\n")


def _q(text: str) -> str:
    """A double-quoted rcfile string."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def strip_received(data: bytes) -> bytes:
    """The message without the Received field fetchmail prepends (and its folded lines)."""
    assert data.startswith(b"Received: from 127.0.0.1"), data[:200]
    end = 0
    while True:
        end = data.index(b"\r\n", end) + 2
        if data[end:end + 1] not in (b" ", b"\t"):
            break
    assert b"fetchmail" in data[:end]
    return data[end:]


def by_message_id(messages: list[bytes]) -> dict[bytes, bytes]:
    """Messages keyed by Message-ID; every one must have a distinct one."""
    keyed = {}
    for data in messages:
        found = MESSAGE_ID.search(data)
        assert found is not None, data[:300]
        keyed[found.group(1)] = data
    assert len(keyed) == len(messages), "a message was delivered twice"
    return keyed


@pytest.fixture
def mailbox(server: ServerThread) -> list[bytes]:
    server.add_user(USER)
    messages = make_mailbox(COUNT)
    deliver(server, USER, messages)
    return messages


@pytest.fixture
def fetchmail(tmp_path: Path, server: ServerThread) -> Fetchmail:
    return Fetchmail(tmp_path, server)


@pytest.mark.parametrize("mode", ["995", "stls"])
def test_keep_downloads_everything_byte_exact_and_leaves_it(
        fetchmail: Fetchmail, server: ServerThread, mailbox: list[bytes], mode: str) -> None:
    run = fetchmail.run(mode=mode, options="keep")
    assert run.rc == PS_SUCCESS, run.log
    assert by_message_id(run.messages) == by_message_id(mailbox)
    assert run.commands("TOP") + run.commands("RETR") == COUNT  # each fetched once
    assert run.commands("DELE") == 0
    if mode == "stls":
        assert run.commands("STLS") == 1
    assert server.inbox(USER) == mailbox  # keep: nothing removed, nothing changed


def test_keep_with_uidl_rerun_downloads_only_new_mail(
        fetchmail: Fetchmail, server: ServerThread, mailbox: list[bytes]) -> None:
    first = fetchmail.run(options="keep")
    assert first.rc == PS_SUCCESS, first.log
    assert len(first.messages) == COUNT
    ids = fetchmail.idfile.read_text()
    assert ids.count(f"{USER}@127.0.0.1 ") == COUNT  # one UIDL per message remembered

    again = fetchmail.run(options="keep")
    assert again.rc == PS_NOMAIL, again.log
    assert again.messages == []

    new = [make_message(n, subject=f"new mail {n}") for n in range(1001, 1004)]
    deliver(server, USER, new)
    third = fetchmail.run(options="keep")
    assert third.rc == PS_SUCCESS, third.log
    assert by_message_id(third.messages) == by_message_id(new)
    assert server.inbox(USER) == mailbox + new

    # -F (flush) with "no keep": the old messages fetchmail has seen go, then nothing new.
    flushed = fetchmail.run(options="no keep", args=("--flush",))
    assert flushed.rc in (PS_SUCCESS, PS_NOMAIL), flushed.log
    assert flushed.messages == []
    assert flushed.commands("DELE") == COUNT + len(new)
    assert server.inbox(USER) == []


def test_delete_mode_removes_what_it_fetched(fetchmail: Fetchmail, server: ServerThread,
                                             mailbox: list[bytes]) -> None:
    run = fetchmail.run(options="no keep")
    assert run.rc == PS_SUCCESS, run.log
    assert by_message_id(run.messages) == by_message_id(mailbox)
    assert run.commands("DELE") == COUNT
    assert server.inbox(USER) == []
    again = fetchmail.run(options="no keep")
    assert again.rc == PS_NOMAIL, again.log


def test_delete_mode_on_a_keep_account_only_marks_seen(
        fetchmail: Fetchmail, server: ServerThread) -> None:
    server.add_user(USER, pop3_keep=True)
    messages = [make_message(n) for n in range(1, 6)]
    deliver(server, USER, messages)
    run = fetchmail.run(mode="stls", options="no keep")
    assert run.rc == PS_SUCCESS, run.log
    assert by_message_id(run.messages) == by_message_id(messages)
    assert server.inbox(USER) == messages  # the account keeps POP3 mail on the server


@pytest.mark.usefixtures("mailbox")
def test_wrong_password_is_an_auth_error(fetchmail: Fetchmail, server: ServerThread,
                                         tmp_path: Path) -> None:
    rcfile = fetchmail.home / "bad"
    rcfile.write_text(
        f"poll 127.0.0.1 service {server.port('pop3s')} protocol pop3\n"
        f"  user {_q(USER)} there password \"wrong\" ssl no sslcertck keep mda \"cat\"\n")
    rcfile.chmod(0o600)
    proc = subprocess.run(
        [fetchmail.binary, "-f", str(rcfile), "-i", str(fetchmail.idfile), "--pidfile",
         str(tmp_path / "pid"), "--nodetach", "--nosyslog", "-v"],
        env={"HOME": str(fetchmail.home), "PATH": "/usr/bin:/bin", "LC_ALL": "C"},
        capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr  # PS_AUTHFAIL
    assert "-ERR [AUTH]" in proc.stdout + proc.stderr
    assert len(server.inbox(USER)) == COUNT
