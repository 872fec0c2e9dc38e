"""RFC 9586 UIDONLY: the numbered-command gate and the UIDFETCH/VANISHED rendering."""

from __future__ import annotations

import pytest

from posthouse.imap import uidonly
from posthouse.imap.responses import Atom, Status, encode_response, uid_fetch
from posthouse.imap.view import MailboxView
from posthouse.store.events import FlagsChanged, MessagesAdded, MessagesExpunged
from posthouse.store.models import UidFlags
from tests.unit.test_imap_parser import parse

ME = object()
OTHER = object()


@pytest.mark.parametrize("line", [
    b"t FETCH 1 (FLAGS)",
    b"t FETCH 1:* (UID)",
    b"t FETCH $ (FLAGS)",
    b"t STORE 2 +FLAGS (\\Seen)",
    b"t SEARCH ALL",
    b"t SEARCH RETURN (COUNT) UID 1:*",
    b"t COPY 1 Trash",
    b"t MOVE 1:2 Trash",
    b"t UID SEARCH 1:3",
    b"t UID SEARCH NOT 2",
    b"t UID SEARCH OR SEEN (FLAGGED 4)",
    b"t UID SEARCH RETURN (MIN) ANSWERED *",
    b"t SELECT INBOX (QRESYNC (1 2 1:10 (1,5 1,5)))",
    b"t EXAMINE INBOX (QRESYNC (1 2 1:10 (1 1)))",
])
def test_numbered_commands_are_refused_uidrequired(line: bytes) -> None:
    refused = uidonly.refusal(parse(line))
    assert refused is not None
    tagged = refused.response("t")
    assert tagged.status is Status.BAD
    assert encode_response(tagged).startswith(b"t BAD [UIDREQUIRED] ")


@pytest.mark.parametrize("line", [
    b"t UID FETCH 1:* (FLAGS)",
    b"t UID FETCH $ (FLAGS)",
    b"t UID STORE 2 +FLAGS (\\Seen)",
    b"t UID SEARCH ALL",
    b"t UID SEARCH UID 1:* NOT UID 4",
    b"t UID SEARCH $",
    b"t UID SEARCH OR SEEN UID 3",
    b"t UID COPY 1 Trash",
    b"t UID MOVE 1:* Trash",
    b"t UID EXPUNGE 1:3",
    b"t EXPUNGE",
    b"t SELECT INBOX (QRESYNC (1 2 1:10))",
    b"t SELECT INBOX",
    b"t STATUS INBOX (MESSAGES UIDNEXT)",
    b"t NOOP",
])
def test_uid_commands_pass(line: bytes) -> None:
    assert uidonly.refusal(parse(line)) is None


def test_uidfetch_response_encoding() -> None:
    """``* uid UIDFETCH (items)`` (RFC 9586 3.3)."""
    response = uid_fetch(25996, [Atom("FLAGS"), [Atom("\\Flagged"), Atom("\\Answered")],
                                 Atom("MODSEQ"), [12121231000]])
    assert encode_response(response) == (
        b"* 25996 UIDFETCH (FLAGS (\\Flagged \\Answered) MODSEQ (12121231000))\r\n")


def _view(*, uidonly: bool, condstore: bool = False) -> MailboxView:
    messages = [UidFlags(u, 1, frozenset()) for u in (10, 20, 30)]
    return MailboxView(messages, mailbox_id=7, origin=ME, rev2=True, condstore=condstore,
                       uidonly=uidonly)


def _wire(view: MailboxView) -> list[bytes]:
    return [encode_response(r).rstrip(b"\r\n") for r in view.flush(allow_expunge=True)]


def test_view_fetch_response_form() -> None:
    items = [Atom("FLAGS"), [Atom("\\Seen")]]
    plain, only = _view(uidonly=False), _view(uidonly=True)
    assert encode_response(plain.fetch_response(20, items)) == (  # type: ignore[arg-type]
        b"* 2 FETCH (FLAGS (\\Seen))\r\n")
    assert encode_response(only.fetch_response(20, items)) == (  # type: ignore[arg-type]
        b"* 20 UIDFETCH (FLAGS (\\Seen))\r\n")
    assert plain.fetch_response(25, items) is None
    assert only.fetch_response(25, items) is None


def test_view_unsolicited_updates_carry_no_message_numbers() -> None:
    """Another session's flag change goes out as UIDFETCH (no redundant UID item), its
    expunge as VANISHED, new mail as EXISTS (RFC 9586 3, 3.3)."""
    v = _view(uidonly=True, condstore=True)
    v.apply(FlagsChanged(1, 7, (UidFlags(30, 9, frozenset({"\\Answered"})),), 9, OTHER))
    assert _wire(v) == [b"* 30 UIDFETCH (FLAGS (\\Answered) MODSEQ (9))"]
    v.apply(MessagesExpunged(1, 7, (10, 20), 10, OTHER))
    v.apply(MessagesAdded(1, 7, (40,), 11, OTHER))
    assert _wire(v) == [b"* VANISHED 10,20", b"* 2 EXISTS"]
    v.apply(FlagsChanged(1, 7, (UidFlags(40, 12, frozenset({"\\Seen"})),), 12, OTHER))
    assert _wire(v) == [b"* 40 UIDFETCH (FLAGS (\\Seen) MODSEQ (12))"]


def test_view_without_uidonly_keeps_numbers() -> None:
    v = _view(uidonly=False)
    v.apply(FlagsChanged(1, 7, (UidFlags(30, 9, frozenset({"\\Answered"})),), 9, OTHER))
    v.apply(MessagesExpunged(1, 7, (10,), 10, OTHER))
    assert _wire(v) == [b"* 1 EXPUNGE", b"* 2 FETCH (UID 30 FLAGS (\\Answered))"]
