"""GETMETADATA / SETMETADATA grammar (RFC 5464 5) and entry names (3.2)."""

from __future__ import annotations

import pytest

from posthouse.imap import commands as c
from posthouse.imap.events import LiteralArg, RawCommand
from posthouse.imap.parser import parse_command
from posthouse.imap.parser.metadata import check_entry
from posthouse.imap.replies import ParseError


def _parse(name: str, *args: bytes | LiteralArg) -> c.ImapCommand:
    return parse_command(RawCommand("t", name, args))


@pytest.mark.parametrize("line", [
    b' (MAXSIZE 1024 DEPTH 1) INBOX (/shared/comment /private/comment)',  # grammar of 5
    b' INBOX (MAXSIZE 1024 DEPTH 1) (/shared/comment /private/comment)',  # examples of 4.2
    b' (maxsize 1024) INBOX (depth 1) (/SHARED/Comment "/private/comment")',
])
def test_options_before_or_after_the_mailbox(line: bytes) -> None:
    assert _parse("GETMETADATA", line) == c.GetMetadataCommand(
        "INBOX", ("/shared/comment", "/private/comment"), 1024, 1)


def test_defaults_server_and_infinity() -> None:
    assert _parse("GETMETADATA", b' "" /shared/admin') == c.GetMetadataCommand(
        "", ("/shared/admin",), None, 0)
    got = _parse("GETMETADATA", b" (DEPTH infinity) inbox /private")
    assert got == c.GetMetadataCommand("INBOX", ("/private",), None, None)


def test_setmetadata_values() -> None:
    got = _parse("SETMETADATA", b" INBOX (/private/comment ", LiteralArg(b"a\r\nb"),
                 b' /shared/comment NIL /private/x "")')
    assert got == c.SetMetadataCommand(
        "INBOX", (("/private/comment", b"a\r\nb"), ("/shared/comment", None),
                  ("/private/x", b"")))
    got = _parse("SETMETADATA", b' "" (/private/vendor/v.x/bin ',
                 LiteralArg(b"\x00", binary=True), b")")
    assert got == c.SetMetadataCommand("", (("/private/vendor/v.x/bin", b"\x00"),))


@pytest.mark.parametrize("line", [
    b" INBOX ()", b" INBOX /private/comment", b" INBOX (/private/comment)",
    b" INBOX (/private/comment x y)",
])
def test_setmetadata_grammar_errors(line: bytes) -> None:
    with pytest.raises(ParseError):
        _parse("SETMETADATA", line)


@pytest.mark.parametrize("line", [
    b" (DEPTH 2) INBOX /private/a", b" (FOO 1) INBOX /private/a", b" () INBOX /private/a",
    b" INBOX (MAXSIZE x) /private/a", b" INBOX", b" INBOX ()",
])
def test_getmetadata_grammar_errors(line: bytes) -> None:
    with pytest.raises(ParseError):
        _parse("GETMETADATA", line)


@pytest.mark.parametrize(("raw", "to_set", "valid"), [
    (b"/private/comment", True, True),
    (b"/Shared/Vendor/vendor.x/y", True, True),
    (b"/shared/vendor/vendor.x", True, False),  # vendor entries: four components (3.2)
    (b"/shared/vendor/vendor.x", False, True),
    (b"/private", False, True),
    (b"/private", True, False),
    (b"/private/", False, False),
    (b"/private//a", False, False),
    (b"/public/a", False, False),
    (b"private/a", False, False),
    (b"/private/a*", False, False),
    (b"/private/a%", False, False),
    (b"/private/\x19", False, False),
    (b"/private/\xc3\xa9", False, False),
    (b"/private/with space", False, True),
])
def test_entry_names(raw: bytes, to_set: bool, valid: bool) -> None:
    if valid:
        assert check_entry(raw, to_set=to_set) == raw.decode().lower()
    else:
        with pytest.raises(ParseError):
            check_entry(raw, to_set=to_set)
