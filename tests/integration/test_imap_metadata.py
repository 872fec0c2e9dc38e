"""RFC 5464 METADATA and METADATA-SERVER over real sockets, in IMAP4rev1 and IMAP4rev2:
private and shared entries of mailboxes and of the server, NIL deletes, MAXSIZE and DEPTH,
the size and count limits, entry-name syntax, RENAME and DELETE, a restart."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from posthouse.config import ConfigError, load_config
from tests.integration.imap_msg_support import USER, Connections, RawImap, status
from tests.support.server import ServerThread, make_config

MODES = ["rev1", "rev2"]
OTHER = "bob@example.test"


@pytest.fixture
def conns(server: ServerThread) -> Iterator[Connections]:
    server.add_user(USER)
    server.add_user(OTHER)
    opened = Connections(server)
    yield opened
    opened.close_all()


def _open(conns: Connections, mode: str, user: str = USER) -> RawImap:
    raw = conns.raw(user)
    if mode == "rev2":
        raw.ok("ENABLE IMAP4rev2")
    return raw


def _ok(raw: RawImap, text: str | bytes) -> list[bytes]:
    return [line.rstrip(b"\r\n") for line in raw.ok(text)]


@pytest.mark.parametrize("mode", MODES)
def test_capabilities(conns: Connections, mode: str) -> None:
    caps = _ok(_open(conns, mode), "CAPABILITY")[0].split()
    assert b"METADATA" in caps
    assert b"METADATA-SERVER" in caps


@pytest.mark.parametrize("mode", MODES)
def test_set_get_and_delete_mailbox_entries(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    _ok(raw, 'SETMETADATA INBOX (/private/comment "My own comment"'
             ' /shared/comment "Shared comment")')
    assert _ok(raw, "GETMETADATA INBOX (/shared/comment /private/comment)") == [
        b'* METADATA "INBOX" (/private/comment "My own comment"'
        b' /shared/comment "Shared comment")']
    # case-insensitive names (3.2), one entry without a list
    assert _ok(raw, "GETMETADATA inbox /PRIVATE/Comment") == [
        b'* METADATA "INBOX" (/private/comment "My own comment")']
    # a literal holding CRLF (4.3 example), then NIL deletes it
    raw.ok(b"SETMETADATA INBOX (/private/comment {33+}\r\nMy new comment across\r\n"
           b"two lines.)")
    assert _ok(raw, "GETMETADATA INBOX /private/comment") == [
        b'* METADATA "INBOX" (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)']
    _ok(raw, "SETMETADATA INBOX (/private/comment NIL)")
    assert _ok(raw, "GETMETADATA INBOX /private/comment") == [
        b'* METADATA "INBOX" (/private/comment NIL)']
    # works in the selected state too
    raw.ok("SELECT INBOX")
    assert _ok(raw, "GETMETADATA INBOX /shared/comment") == [
        b'* METADATA "INBOX" (/shared/comment "Shared comment")']


@pytest.mark.parametrize("mode", MODES)
def test_depth_and_maxsize(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    _ok(raw, 'SETMETADATA INBOX (/private/filters/values/small "SMALLER 5000"'
             ' /private/filters/values/boss "FROM \\"boss@example.com\\""'
             ' /private/filters/values/boss/deep "x")')
    assert _ok(raw, "GETMETADATA INBOX (DEPTH 1) (/private/filters/values)") == [
        b'* METADATA "INBOX" (/private/filters/values NIL'
        b' /private/filters/values/boss "FROM \\"boss@example.com\\""'
        b' /private/filters/values/small "SMALLER 5000")']
    deep = _ok(raw, "GETMETADATA INBOX (DEPTH infinity) /private/filters")[0]
    assert b"/private/filters/values/boss/deep" in deep
    # options after the mailbox too (the examples of 4.2); MAXSIZE leaves long values out
    out = raw.command("GETMETADATA INBOX (MAXSIZE 10 DEPTH infinity) (/private)")
    assert out[0] == (b'* METADATA "INBOX" (/private NIL'
                      b' /private/filters/values/boss/deep "x")\r\n')
    assert status(out) == b"OK [METADATA LONGENTRIES 23] GETMETADATA completed"
    # a depth below a sibling is not inside it
    assert _ok(raw, "GETMETADATA INBOX (DEPTH 1) /private/filters/val") == [
        b'* METADATA "INBOX" (/private/filters/val NIL)']


@pytest.mark.parametrize("mode", MODES)
def test_server_entries(conns: Connections, mode: str) -> None:
    """/shared/admin is the postmaster (read-only, 3.2.1.1); server /shared/ entries are
    the operator's; /private/ server entries are each user's own."""
    raw = _open(conns, mode)
    assert _ok(raw, 'GETMETADATA "" /shared/admin') == [
        b'* METADATA "" (/shared/admin "mailto:postmaster@example.test")']
    for entry in ("/shared/admin", "/shared/comment", "/shared/vendor/x/y"):
        out = raw.command(f'SETMETADATA "" ({entry} "mine")')
        assert status(out).startswith(b"NO [NOPERM]"), out
    conns.server.call(conns.server.store.set_server_metadata("/shared/comment",
                                                             b"Maintenance at noon"))
    assert _ok(raw, 'GETMETADATA "" (DEPTH 1) /shared') == [
        b'* METADATA "" (/shared NIL /shared/admin "mailto:postmaster@example.test"'
        b' /shared/comment "Maintenance at noon")']
    _ok(raw, 'SETMETADATA "" (/private/vendor/vendor.posthouse/setting "on")')
    other = _open(conns, mode, OTHER)
    assert _ok(other, 'GETMETADATA "" (/shared/comment /private/vendor/vendor.posthouse/setting)'
               ) == [b'* METADATA "" (/private/vendor/vendor.posthouse/setting NIL'
                     b' /shared/comment "Maintenance at noon")']
    assert _ok(raw, 'GETMETADATA "" /private/vendor/vendor.posthouse/setting') == [
        b'* METADATA "" (/private/vendor/vendor.posthouse/setting "on")']


@pytest.mark.parametrize("mode", MODES)
def test_limits(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    big = "x" * (16 * 1024 + 1)
    out = raw.command(f'SETMETADATA INBOX (/private/comment "ok" /shared/comment "{big}")')
    assert status(out).startswith(b"NO [METADATA MAXSIZE 16384]"), status(out)
    # a synchronizing literal over the limit is refused before it is sent
    raw.sock.sendall(b"L1 SETMETADATA INBOX (/private/comment {20000}\r\n")
    assert raw.response().startswith(b"L1 NO [METADATA MAXSIZE 16384]")
    # nothing of the refused commands was set (all or none, 4.3)
    assert _ok(raw, "GETMETADATA INBOX /private/comment") == [
        b'* METADATA "INBOX" (/private/comment NIL)']
    exact = "y" * (16 * 1024)
    raw.ok(f"SETMETADATA INBOX (/private/comment {{{len(exact)}+}}\r\n{exact})")


def test_too_many_entries(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    limits = cfg.limits.__class__(**{**cfg.limits.__dict__, "metadata_max_entries_per_user": 10})
    cfg = cfg.__class__(**{**cfg.__dict__, "limits": limits})
    with ServerThread(cfg) as server:
        server.add_user(USER)
        with RawImap(server) as raw:
            pairs = " ".join(f'/private/e{n} "v"' for n in range(8))
            raw.ok(f"SETMETADATA INBOX ({pairs})")
            out = raw.command('SETMETADATA "" (/private/a "1" /private/b "2" /private/c "3")')
            assert status(out).startswith(b"NO [METADATA TOOMANY]")
            assert b"/private/a NIL" in raw.ok('GETMETADATA "" /private/a')[0]
            raw.ok('SETMETADATA INBOX (/private/e0 NIL /private/x "2")')  # replacing fits
            raw.ok('SETMETADATA "" (/private/a "1" /private/b "2")')


@pytest.mark.parametrize(
    "entry",
    ["/private/*", "/shared/a%b", "private/comment", "/other/comment", "/private//a",
     "/private/a/", "/private", "/shared/vendor/x", '"/private/\x01"', '"/private/caf\xe9"'],
)
def test_invalid_entry_names_are_bad(conns: Connections, entry: str) -> None:
    raw = conns.raw()
    out = raw.command(f'SETMETADATA INBOX ({entry} "v")'.encode("latin-1"))
    assert status(out).startswith(b"BAD"), (entry, out)


def test_get_needs_an_existing_mailbox_and_a_login(conns: Connections) -> None:
    raw = conns.raw()
    assert status(raw.command("GETMETADATA Nope /private/comment")).startswith(
        b"NO [NONEXISTENT]")
    assert status(raw.command('SETMETADATA Nope (/private/comment "x")')).startswith(
        b"NO [NONEXISTENT]")
    assert status(raw.command("GETMETADATA INBOX (FOO 1) /private/comment")).startswith(b"BAD")
    anon = conns.raw(None)
    assert status(anon.command('GETMETADATA "" /shared/admin')).startswith(b"BAD")


@pytest.mark.parametrize("mode", MODES)
def test_entries_follow_rename_and_go_with_delete(conns: Connections, mode: str) -> None:
    raw = _open(conns, mode)
    raw.ok("CREATE Projects/Old")
    _ok(raw, 'SETMETADATA Projects/Old (/private/comment "child")')
    _ok(raw, 'SETMETADATA Projects (/shared/comment "parent")')
    raw.ok("RENAME Projects Work")
    assert _ok(raw, "GETMETADATA Work/Old /private/comment") == [
        b'* METADATA "Work/Old" (/private/comment "child")']
    assert _ok(raw, "GETMETADATA Work /shared/comment") == [
        b'* METADATA "Work" (/shared/comment "parent")']
    raw.ok("DELETE Work/Old")
    raw.ok("CREATE Work/Old")  # the same name again inherits nothing (4.1)
    assert _ok(raw, "GETMETADATA Work/Old /private/comment") == [
        b'* METADATA "Work/Old" (/private/comment NIL)']
    # RENAME INBOX: the new mailbox gets a copy, INBOX keeps its own (4.1)
    _ok(raw, 'SETMETADATA INBOX (/private/comment "inbox")')
    raw.ok("RENAME INBOX Saved")
    for box in (b"INBOX", b"Saved"):
        assert _ok(raw, b"GETMETADATA " + box + b" /private/comment") == [
            b'* METADATA "' + box + b'" (/private/comment "inbox")']


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    cfg = make_config(tmp_path / "data")
    with ServerThread(cfg) as server:
        server.add_user(USER)
        with RawImap(server) as raw:
            raw.ok('SETMETADATA INBOX (/private/comment "kept")')
            raw.ok(b'SETMETADATA "" (/private/vendor/vendor.x/bin ~{3+}\r\na\x00b)')
    with ServerThread(cfg) as server, RawImap(server) as raw:
        assert raw.ok("GETMETADATA INBOX /private/comment") == [
            b'* METADATA "INBOX" (/private/comment "kept")\r\n']
        assert raw.ok('GETMETADATA "" /private/vendor/vendor.x/bin') == [
            b'* METADATA "" (/private/vendor/vendor.x/bin ~{3}\r\na\x00b)\r\n']


def test_limits_are_configurable_with_the_rfc_minimums(tmp_path: Path) -> None:
    cfg_file = tmp_path / "posthouse.toml"
    cfg_file.write_text("[limits]\nmetadata_max_entry_bytes = 2048\n"
                        "metadata_max_entries_per_user = 50\n")
    limits = load_config(cfg_file).limits
    assert (limits.metadata_max_entry_bytes, limits.metadata_max_entries_per_user) == (2048, 50)
    for line in ("metadata_max_entry_bytes = 1023", "metadata_max_entries_per_user = 9"):
        cfg_file.write_text(f"[limits]\n{line}\n")
        with pytest.raises(ConfigError, match="RFC 5464"):
            load_config(cfg_file)


@pytest.mark.parametrize("mode", MODES)
def test_list_return_metadata(conns: Connections, mode: str) -> None:
    """RFC 9590: each listed mailbox is followed by its METADATA response; MAXSIZE leaves
    long values out and the tagged OK says [METADATA LONGENTRIES n]."""
    raw = _open(conns, mode)
    raw.ok("CREATE Work")
    _ok(raw, 'SETMETADATA INBOX (/private/color "red" /shared/comment "long comment")')
    _ok(raw, 'SETMETADATA Work (/private/color "blue")')
    out = [line.rstrip(b"\r\n") for line in raw.command(
        'LIST "" (INBOX Work) RETURN (CHILDREN METADATA (/private/color /shared/comment'
        ' MAXSIZE 5))')]
    inbox = out.index(next(line for line in out if line.startswith(b"* LIST") and b'"INBOX"'
                           in line))
    assert out[inbox + 1] == b'* METADATA "INBOX" (/private/color "red")'
    work = out.index(next(line for line in out if line.startswith(b"* LIST")
                          and line.endswith(b'"Work"')))
    assert out[work + 1] == b'* METADATA "Work" (/private/color "blue" /shared/comment NIL)'
    assert out[-1].split(b" ", 1)[1] == b"OK [METADATA LONGENTRIES 12] LIST completed"
    out = raw.command('LIST "" INBOX RETURN (STATUS (MESSAGES) METADATA (/private/color))')
    assert [line.split(b" ")[1] for line in out[:-1]] == [b"LIST", b"STATUS", b"METADATA"]
    assert status(raw.command('LIST "" INBOX RETURN (METADATA (/bad))')).startswith(b"BAD")
    assert status(raw.command('LIST "" INBOX RETURN (METADATA ())')).startswith(b"BAD")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``posthouse ARGS`` as a child process (its umask stays its own)."""
    return subprocess.run([sys.executable, "-m", "posthouse", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_operator_sets_server_entries_with_the_cli(conns: Connections) -> None:
    """``posthouse metadata set`` (the operator) writes what IMAP users only read, while the
    server runs."""
    data_dir = ["--data-dir", str(conns.server.cfg.data_path)]
    assert _cli("metadata", "set", "/shared/comment", "Back at six", *data_dir).returncode == 0
    raw = conns.raw()
    assert _ok(raw, 'GETMETADATA "" /shared/comment') == [
        b'* METADATA "" (/shared/comment "Back at six")']
    assert "/shared/comment\tBack at six" in _cli("metadata", "show", *data_dir).stdout
    for bad in ("/shared/admin", "/private/x", "/shared/a*b"):
        refused = _cli("metadata", "set", bad, "x", *data_dir)
        assert refused.returncode == 1
        assert len(refused.stderr.strip().splitlines()) == 1
    assert _cli("metadata", "set", "/shared/comment", *data_dir).returncode == 0
    assert _ok(raw, 'GETMETADATA "" /shared/comment') == [
        b'* METADATA "" (/shared/comment NIL)']
