"""mbsync (isync) keeps a local Maildir and a posthouse account in step, both ways.

It drives UID FETCH / UID STORE / APPEND / EXPUNGE with UIDPLUS the way a real sync client
does: new mail arrives locally, a flag set locally reaches the server, a message deleted on
the server disappears locally, and a second run changes nothing.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import pytest

from posthouse.config import tls_paths
from tests.integration.imap_msg_support import USER, Connections, fill, message
from tests.support.server import PASSWORD, ServerThread

pytestmark = [
    pytest.mark.interop,
    pytest.mark.timeout(120),
    pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) not installed"),
]


def _config(server: ServerThread, home: Path, *, auth_mechs: str = "") -> Path:
    cert, _ = tls_paths(server.cfg)
    maildir = home / "mail"
    maildir.mkdir()
    cfg = home / "mbsyncrc"
    cfg.write_text(
        f"IMAPAccount posthouse\n"
        # "localhost": isync 1.4 checks DNS names only, and the test certificate has it
        f"Host localhost\nPort {server.port('imaps')}\n"
        f"User {USER}\nPass \"{PASSWORD}\"\n"
        f"SSLType IMAPS\nCertificateFile {cert}\n"  # TLSType from isync 1.5 on
        f"{f'AuthMechs {auth_mechs}' if auth_mechs else ''}\n\n"
        f"IMAPStore far\nAccount posthouse\n\n"
        f"MaildirStore near\nPath {maildir}/\nInbox {maildir}/INBOX\nSubFolders Verbatim\n\n"
        f"Channel sync\nFar :far:\nNear :near:\nPatterns INBOX\nCreate Both\n"
        f"Expunge Both\nSyncState *\nSync All\n"
    )
    return cfg


def _sync(cfg: Path, *debug: str) -> str:
    done = subprocess.run(["mbsync", "-c", str(cfg), "-V", *debug, "sync"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _local(home: Path) -> dict[str, str]:
    """Local INBOX: file name without flags -> Maildir flags."""
    out = {}
    for sub in ("new", "cur"):
        for path in (home / "mail" / "INBOX" / sub).iterdir():
            name, _, flags = path.name.partition(":2,")
            out[name] = flags
    return out


def _server_flags(server: ServerThread) -> list[tuple[int, frozenset[str]]]:
    async def read() -> list[tuple[int, frozenset[str]]]:
        user = await server.store.get_user(USER)
        box = await server.store.get_mailbox(user.id, "INBOX")
        return [(row.uid, row.flags) for row in await server.store.uid_list(box.id)]
    return server.call(read())


@pytest.fixture
def home(server: ServerThread, tmp_path: Path) -> Path:
    """A user on the server and an empty folder for mbsync's config and Maildir."""
    server.add_user(USER)
    path = tmp_path / "home"
    path.mkdir()
    return path


def test_mbsync_both_ways(server: ServerThread, home: Path) -> None:
    for n in (1, 2, 3):
        fill(server, message(n))
    cfg = _config(server, home)
    _sync(cfg)
    assert len(_local(home)) == 3
    # new mail arrives
    fill(server, message(4))
    _sync(cfg)
    local = _local(home)
    assert len(local) == 4
    # a flag set locally reaches the server (Maildir "F" = \Flagged)
    inbox = home / "mail" / "INBOX"
    target = sorted([*(inbox / "cur").iterdir(), *(inbox / "new").iterdir()])[0]
    name, _, flags = target.name.partition(":2,")
    target.rename(inbox / "cur" / f"{name}:2,{''.join(sorted(flags + 'F'))}")
    _sync(cfg)
    flagged = [uid for uid, flags in _server_flags(server) if "\\Flagged" in flags]
    assert len(flagged) == 1
    # a message deleted on the server disappears locally
    opened = Connections(server)
    try:
        imap = opened.imap()
        imap.select_folder("INBOX")
        doomed = next(uid for uid, _ in _server_flags(server) if uid not in flagged)
        imap.delete_messages([doomed])
        imap.expunge()
    finally:
        opened.close_all()
    _sync(cfg)
    assert len(_local(home)) == 3
    assert len(_server_flags(server)) == 3
    # a second run changes nothing
    before = (_local(home), _server_flags(server))
    output = _sync(cfg)
    assert (_local(home), _server_flags(server)) == before
    assert "warning" not in output.lower()


@pytest.mark.skipif(not glob.glob("/usr/lib/*/sasl2/libscram.so*"),
                    reason="Cyrus SASL SCRAM plugin (libsasl2-modules) not installed")
def test_mbsync_logs_in_with_scram_sha_256(server: ServerThread, home: Path) -> None:
    """A real mail client speaking SCRAM-SHA-256 over 993: mbsync through Cyrus SASL (its
    SCRAM plugin comes with Debian's libsasl2-modules) verifies the server signature."""
    for n in (1, 2):
        fill(server, message(n))
    output = _sync(_config(server, home, auth_mechs="SCRAM-SHA-256"), "-Dn")  # -Dn: the wire
    assert ">>> 1 AUTHENTICATE SCRAM-SHA-256 " in output, output  # the first command
    assert "1 OK [CAPABILITY " in output
    assert len(_local(home)) == 2


def test_mbsync_syncs_over_compress_deflate(server: ServerThread, home: Path) -> None:
    """isync 1.4 turns on RFC 4978 COMPRESS=DEFLATE by itself when it is advertised: a whole
    sync, both ways, runs through the DEFLATE layer."""
    for n in (1, 2, 3):
        fill(server, message(n, body="the same words again " * 400))
    cfg = _config(server, home)
    output = _sync(cfg, "-Dn")
    assert "COMPRESS DEFLATE" in output, output
    assert len(_local(home)) == 3
    fill(server, message(4))
    _sync(cfg)
    assert len(_local(home)) == 4
