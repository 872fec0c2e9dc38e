"""Response encoding: the value encoder (atom / quoted / literal / NIL / lists) and lines."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.imap.replies import ImapError, ParseError, ResponseCode, error_response, server_bug
from posthouse.imap.responses import (
    QUOTED_MAX,
    Atom,
    Bye,
    Code,
    Continuation,
    Literal8,
    Status,
    Tagged,
    Untagged,
    UntaggedStatus,
    Value,
    encode_chunks,
    encode_response,
    encode_value,
    exists,
    expunge,
    fetch,
    flag_list,
    recent,
    response_chunks,
)
from posthouse.sasl import Challenge
from posthouse.store import errors as se

VALUES: list[tuple[Value, bytes]] = [
    (None, b"NIL"),
    (0, b"0"),
    (4294967295, b"4294967295"),
    (Atom("\\Seen"), b"\\Seen"),
    (Atom("BODY[HEADER.FIELDS (FROM)]"), b"BODY[HEADER.FIELDS (FROM)]"),
    ("", b'""'),
    ("hello world", b'"hello world"'),
    ('say "hi" \\o/', b'"say \\"hi\\" \\\\o/"'),
    ("NIL", b'"NIL"'),
    ("line\r\nbreak", b"{11}\r\nline\r\nbreak"),
    ("tab\there", b"{8}\r\ntab\there"),
    ("Grüße", b"{7}\r\nGr\xc3\xbc\xc3\x9fe"),
    ("x" * QUOTED_MAX, b'"' + b"x" * QUOTED_MAX + b'"'),
    ("x" * (QUOTED_MAX + 1), b"{1025}\r\n" + b"x" * (QUOTED_MAX + 1)),
    (b"short", b'"short"'),
    (b"", b'""'),
    (b"a\r\nb", b"{4}\r\na\r\nb"),
    (b"x" * 65, b"{65}\r\n" + b"x" * 65),
    (Literal8(b"\x00\x01"), b"~{2}\r\n\x00\x01"),
    ([], b"()"),
    ([1, "a", None, [Atom("X"), []]], b'(1 "a" NIL (X ()))'),
    (("a", ("b",)), b'("a" ("b"))'),
]


@pytest.mark.parametrize(("value", "wire"), VALUES)
def test_encode_value(value: Value, wire: bytes) -> None:
    assert encode_value(value) == wire


def test_utf8_strings_are_quoted_when_allowed() -> None:
    assert encode_value("Grüße", utf8=True) == '"Grüße"'.encode()
    assert encode_value("a\x7fb", utf8=True) == b"{3}\r\na\x7fb"


@pytest.mark.parametrize("bad", [True, -1, 1.5, {"a": 1}, object()])
def test_encode_refuses_other_types(bad: object) -> None:
    with pytest.raises((TypeError, ValueError)):
        encode_value(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", ["", "a\r\nb", "x\x00"])
def test_atom_must_be_valid(text: str) -> None:
    with pytest.raises(ValueError, match="not an atom"):
        Atom(text)


def test_envelope_like_nesting() -> None:
    envelope: Value = [
        "Mon, 7 Feb 1994 21:52:25 -0800", "afternoon meeting",
        [[None, None, "fred", "example.com"]], None, None, None, None, "<B27397@example.com>",
    ]
    assert encode_value(envelope) == (
        b'("Mon, 7 Feb 1994 21:52:25 -0800" "afternoon meeting" ((NIL NIL "fred" '
        b'"example.com")) NIL NIL NIL NIL "<B27397@example.com>")'
    )


def test_large_payload_is_its_own_chunk() -> None:
    body = b"x" * 100_000
    chunks = encode_chunks([Atom("BODY[]"), body])
    assert any(chunk is body for chunk in chunks)
    assert b"".join(chunks) == b"(BODY[] {100000}\r\n" + body + b")"
    response = fetch(3, [Atom("UID"), 9, Atom("BODY[]"), body])
    pieces = response_chunks(response)
    assert any(p is body for p in pieces)
    assert b"".join(pieces) == b"* 3 FETCH (UID 9 BODY[] {100000}\r\n" + body + b")\r\n"


RESPONSES = [
    (Tagged("a1", Status.OK, "LOGIN completed"), b"a1 OK LOGIN completed\r\n"),
    (Tagged("a2", Status.NO, "No such mailbox", ResponseCode.NONEXISTENT.code()),
     b"a2 NO [NONEXISTENT] No such mailbox\r\n"),
    (Tagged("a3", Status.OK, "done", Code("APPENDUID", (38505, Atom("3955")))),
     b"a3 OK [APPENDUID 38505 3955] done\r\n"),
    (UntaggedStatus(Status.OK, "flags", Code("PERMANENTFLAGS", (flag_list(["\\Seen", "\\*"]),))),
     b"* OK [PERMANENTFLAGS (\\* \\Seen)] flags\r\n"),
    (UntaggedStatus(Status.PREAUTH, "hi"), b"* PREAUTH hi\r\n"),
    (Bye("Logging out"), b"* BYE Logging out\r\n"),
    (Bye("idle", Code("UNAVAILABLE")), b"* BYE [UNAVAILABLE] idle\r\n"),
    (Continuation(), b"+ Ready\r\n"),
    (Continuation(""), b"+ \r\n"),
    (Continuation.challenge(Challenge(b"\x00hi")), b"+ AGhp\r\n"),
    (Tagged("t", Status.BAD, "evil\r\ninjection"), b"t BAD evil  injection\r\n"),
    (exists(23), b"* 23 EXISTS\r\n"),
    (recent(1), b"* 1 RECENT\r\n"),
    (expunge(4), b"* 4 EXPUNGE\r\n"),
    (Untagged((Atom("LIST"), [Atom("\\HasNoChildren")], "/", "INBOX")),
     b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n'),
    (Untagged((Atom("SEARCH"), 2, 3, 6)), b"* SEARCH 2 3 6\r\n"),
    (Untagged((Atom("CAPABILITY"), Atom("IMAP4rev1"), Atom("IDLE"))),
     b"* CAPABILITY IMAP4rev1 IDLE\r\n"),
]


@pytest.mark.parametrize(("response", "wire"), RESPONSES)
def test_encode_response(response: object, wire: bytes) -> None:
    assert encode_response(response) == wire  # type: ignore[arg-type]


@given(st.recursive(
    st.one_of(st.none(), st.integers(0, 2**63), st.text(max_size=20), st.binary(max_size=80)),
    lambda inner: st.lists(inner, max_size=4),
    max_leaves=20,
))
def test_chunks_and_value_agree(value: Value) -> None:
    assert b"".join(encode_chunks(value)) == encode_value(value)


ERRORS = [
    (se.NoSuchMailbox(), b"t NO [NONEXISTENT] No such mailbox\r\n"),
    (se.MailboxExists(), b"t NO [ALREADYEXISTS] Mailbox exists\r\n"),
    (se.InvalidMailboxName(), b"t NO [CANNOT] Invalid mailbox name\r\n"),
    (se.MailboxNotDeletable(), b"t NO [CANNOT] Cannot delete INBOX\r\n"),
    (se.QuotaExceeded(), b"t NO [OVERQUOTA] Quota exceeded\r\n"),
    (se.StorageFailure(), b"t NO [UNAVAILABLE] Storage unavailable\r\n"),
    (se.NotFound(), b"t NO [NONEXISTENT] Not found\r\n"),
    (se.StoreError(), b"t NO [SERVERBUG] Internal error\r\n"),
    (ParseError("Bad syntax"), b"t BAD Bad syntax\r\n"),
    (ImapError("Nope", code=ResponseCode.NOPERM.code()), b"t NO [NOPERM] Nope\r\n"),
]


@pytest.mark.parametrize(("exc", "wire"), ERRORS)
def test_error_table(exc: Exception, wire: bytes) -> None:
    response = error_response("t", exc)
    assert response is not None
    assert encode_response(response) == wire


def test_error_table_special_cases() -> None:
    response = error_response("t", se.NoSuchMailbox(), target=True)
    assert response is not None
    assert encode_response(response) == b"t NO [TRYCREATE] No such mailbox\r\n"
    assert error_response("t", KeyError("x")) is None
    assert encode_response(server_bug("t")) == b"t NO [SERVERBUG] Internal server error\r\n"
    assert ResponseCode.READ_ONLY.code().name == "READ-ONLY"
