"""swaks (Debian's SMTP test tool) against port 25, 587 (STARTTLS + AUTH) and 465.

Covers PIPELINING (``--pipeline``: MAIL, RCPT and DATA leave in one write before any reply),
8BITMIME and SMTPUTF8 (raw UTF-8 headers and body, a UTF-8 local part), AUTH PLAIN/LOGIN over
TLS, and the refusals a real client sees (exit codes from swaks' manual: 23 MAIL, 24 RCPT,
28 AUTH). swaks 20201014 has no option for MAIL parameters; they are appended to the sender
address (``--from 'a@b> SMTPUTF8 BODY=8BITMIME ENVID=x<'`` becomes ``MAIL FROM:<a@b>
SMTPUTF8 BODY=8BITMIME ENVID=x<>``, and "<>" is valid xtext). It has no BDAT either: CHUNKING
is covered over raw sockets in tests/integration/test_smtp_session.py.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.peers import find_tool
from tests.support.server import PASSWORD, ServerThread
from tests.support.smtp_wire import strip_trace

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60),
              pytest.mark.usefixtures("no_server_errors")]

ANN, BOB, JOSE = "ann@example.test", "bob@example.test", "jösé@example.test"
UTF8_MESSAGE = ("From: Zoë <zoë@remote.test>\r\nTo: José <jösé@example.test>\r\n"
                "Subject: Grüße aus Köln ✓\r\nDate: Tue, 03 Feb 2026 10:00:00 +0100\r\n"
                "Message-ID: <swaks-utf8@remote.test>\r\n\r\n"
                "Ärger über Öl, naïve café\r\n.a line with a leading dot\r\nlast line").encode()


@dataclass(frozen=True)
class Swaks:
    rc: int
    output: str

    def sent_before_first_reply(self, *commands: str) -> bool:
        """True if every command was written before the server's reply to the first one:
        PIPELINING really happened (swaks marks client lines "->" or "~>" with TLS)."""
        lines = self.output.splitlines()
        first = next(i for i, line in enumerate(lines) if line[4:].startswith(commands[0]))
        sent = []
        for line in lines[first:]:
            if line.startswith(("<-", "<~")):
                break
            sent.append(line[4:])
        return all(any(s.startswith(c) for s in sent) for c in commands)


@pytest.fixture
def users(server: ServerThread) -> ServerThread:
    for user in (ANN, BOB, JOSE):
        server.add_user(user)
    return server


def swaks(server: ServerThread, listener: str, *args: str, data: bytes | None = None,
          tmp_path: Path | None = None) -> Swaks:
    argv = [find_tool("swaks"), "--server", f"127.0.0.1:{server.port(listener)}",
            "--helo", "swaks.client.test", "--timeout", "30"]
    if listener == "submission":
        argv += ["-tls"]
    elif listener == "submissions":
        argv += ["-tlsc"]
    if data is not None:
        assert tmp_path is not None
        path = tmp_path / "message.eml"
        path.write_bytes(data)
        argv += ["--data", f"@{path}"]
    proc = subprocess.run([*argv, *args], capture_output=True, timeout=60, check=False)
    return Swaks(proc.returncode, (proc.stdout + proc.stderr).decode("utf-8", "replace"))


def login(user: str = ANN, mechanism: str = "PLAIN") -> list[str]:
    return ["--auth", mechanism, "--auth-user", user, "--auth-password", PASSWORD]


# -- delivery ---------------------------------------------------------------------------------

def test_pipelined_utf8_8bit_message_on_25(users: ServerThread, tmp_path: Path) -> None:
    run = swaks(users, "smtp", "--pipeline", "--to", f"{JOSE},{BOB}",
                "--from", "zoë@remote.test> SMTPUTF8 BODY=8BITMIME ENVID=swaks<",
                data=UTF8_MESSAGE, tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert "PIPELINING" in run.output
    assert "SMTPUTF8" in run.output
    assert "8BITMIME" in run.output
    assert run.sent_before_first_reply("MAIL FROM:", f"RCPT TO:<{JOSE}>", f"RCPT TO:<{BOB}>",
                                       "DATA")
    for user in (JOSE, BOB):
        (stored,) = users.inbox(user)
        assert strip_trace(stored) == UTF8_MESSAGE + b"\r\n"  # swaks ends the last line
        assert stored.startswith("Return-Path: <zoë@remote.test>\r\n".encode())


@pytest.mark.parametrize(("listener", "mechanism"), [("submission", "PLAIN"),
                                                     ("submissions", "LOGIN")])
def test_pipelined_utf8_submission_with_auth(users: ServerThread, tmp_path: Path,
                                             listener: str, mechanism: str) -> None:
    run = swaks(users, listener, "--pipeline", *login(ANN, mechanism), "--to", JOSE,
                "--from", f"{ANN}> SMTPUTF8 BODY=8BITMIME AUTH=<",
                data=UTF8_MESSAGE, tmp_path=tmp_path)
    assert run.rc == 0, run.output
    assert "TLS started with cipher TLSv1.3" in run.output
    assert "235 2.7.0" in run.output
    assert run.sent_before_first_reply("MAIL FROM:", "RCPT TO:", "DATA")
    (stored,) = users.inbox(JOSE)
    assert strip_trace(stored) == UTF8_MESSAGE + b"\r\n"
    assert b" with ESMTPSA id " in stored


def test_swaks_default_message_through_587(users: ServerThread) -> None:
    """swaks' own test message has "Date" and "Message-Id": field names are matched
    case-insensitively, so nothing is added (RFC 5322 1.2.2, RFC 6409 8)."""
    run = swaks(users, "submission", *login(), "--to", BOB, "--from", ANN)
    assert run.rc == 0, run.output
    (stored,) = users.inbox(BOB)
    assert b"This is a test mailing" in stored
    assert stored.lower().count(b"\r\nmessage-id:") == 1
    assert stored.lower().count(b"\r\ndate:") == 1


def test_utf8_recipient_without_smtputf8_is_refused(users: ServerThread) -> None:
    run = swaks(users, "smtp", "--to", JOSE, "--from", "peer@remote.test")
    assert run.rc == 24, run.output  # every RCPT refused
    assert "553 5.6.7" in run.output
    assert users.inbox(JOSE) == []


# -- refusals as swaks sees them ------------------------------------------------------------

def test_relay_attempt_on_25(users: ServerThread) -> None:
    run = swaks(users, "smtp", "--to", "someone@remote.test", "--from", ANN)
    assert run.rc == 24, run.output
    assert "554 5.7.1" in run.output


def test_unknown_user_among_pipelined_recipients(users: ServerThread) -> None:
    run = swaks(users, "smtp", "--pipeline", "--to", f"nobody@example.test,{ANN}",
                "--from", "peer@remote.test")
    assert run.rc == 0, run.output  # one recipient accepted: the message goes through
    assert "550 5.1.1" in run.output
    assert len(users.inbox(ANN)) == 1


def test_auth_is_not_offered_before_tls_on_587(users: ServerThread) -> None:
    argv = [find_tool("swaks"), "--server", f"127.0.0.1:{users.port('submission')}",
            "--timeout", "30", *login(), "--to", BOB, "--from", ANN]
    proc = subprocess.run(argv, capture_output=True, timeout=60, check=False)
    output = (proc.stdout + proc.stderr).decode()
    assert proc.returncode == 28, output  # swaks: AUTH not advertised
    assert "AUTH PLAIN" not in output
    assert users.inbox(BOB) == []


def test_wrong_password(users: ServerThread) -> None:
    run = swaks(users, "submission", "--auth", "PLAIN", "--auth-user", ANN,
                "--auth-password", "wrong", "--to", BOB, "--from", ANN)
    assert run.rc == 28, run.output
    assert "535 5.7.8" in run.output


def test_sender_not_owned(users: ServerThread) -> None:
    run = swaks(users, "submissions", *login(), "--to", BOB, "--from", BOB)
    assert run.rc == 23, run.output
    assert "553 5.7.1" in run.output
    assert users.inbox(BOB) == []
