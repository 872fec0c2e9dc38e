"""FETCH item values for one message (handlers/msg_fetchitems.py), without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from posthouse.imap.fetchitems import MACROS, Attr, BinarySize, BodySection, Section
from posthouse.imap.handlers.msg_fetchitems import (
    Body,
    MessageData,
    internaldate_text,
    plan_fetch,
    render_items,
)
from posthouse.imap.replies import ImapError
from posthouse.imap.responses import Atom, Literal8, encode_value
from posthouse.message.summary import summarize
from posthouse.store.models import StoredMessage

DATA = Path(__file__).parent.parent / "data" / "mime"


def _msg(name: str, *, with_summary: bool = True, body: bool = True) -> MessageData:
    data = (DATA / name).read_bytes()
    meta = StoredMessage(
        uid=7, modseq=3, flags=frozenset({"\\Seen"}),
        internaldate=datetime(2025, 4, 7, 8, 15, 0, tzinfo=UTC), size=len(data),
        blob_id="b", summary=summarize(data) if with_summary else None,
    )
    return MessageData(meta, [Atom("\\Seen")], Body(data) if body else None)


def _wire(name: str, *items: object, add_flags: bool = False) -> bytes:
    return encode_value(render_items(_msg(name), items, add_flags=add_flags))  # type: ignore[arg-type]


def test_plan_needs() -> None:
    plan = plan_fetch((Attr.FLAGS,), uid=True, read_only=False)
    assert plan.items == (Attr.UID, Attr.FLAGS)
    assert not (plan.summary)
    assert not (plan.blob)
    assert not (plan.sets_seen)
    plan = plan_fetch(MACROS["FULL"], uid=False, read_only=False)
    assert plan.summary
    assert not plan.blob
    assert not plan.sets_seen
    plan = plan_fetch((BodySection(),), uid=False, read_only=False)
    assert plan.blob
    assert plan.sets_seen
    assert not plan_fetch((BodySection(),), uid=False, read_only=True).sets_seen
    assert not plan_fetch((BodySection(peek=True),), uid=False, read_only=False).sets_seen
    assert plan_fetch((Attr.RFC822_TEXT,), uid=False, read_only=False).sets_seen
    assert not plan_fetch((Attr.RFC822_HEADER,), uid=False, read_only=False).sets_seen
    assert plan_fetch((BinarySize(),), uid=False, read_only=False).blob
    assert plan_fetch((Attr.UID,), uid=True, read_only=False).items == (Attr.UID,)


@pytest.mark.parametrize(
    ("when", "text"),
    [
        (datetime(2025, 4, 7, 8, 5, 9, tzinfo=UTC), " 7-Apr-2025 08:05:09 +0000"),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
         "31-Dec-1999 23:59:59 -0530"),
        (datetime(2025, 1, 17, 0, 0, 0, tzinfo=timezone(timedelta(hours=2))),
         "17-Jan-2025 00:00:00 +0200"),
    ],
)
def test_internaldate_text(when: datetime, text: str) -> None:
    assert internaldate_text(when) == text


def test_simple_attributes() -> None:
    wire = _wire("01-simple.eml", Attr.UID, Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE,
                 Attr.MODSEQ)
    size = (DATA / "01-simple.eml").stat().st_size
    assert wire == (
        b'(UID 7 FLAGS (\\Seen) INTERNALDATE " 7-Apr-2025 08:15:00 +0000" '
        b"RFC822.SIZE %d MODSEQ (3))" % size
    )


def test_envelope_and_structure_come_from_the_summary() -> None:
    wire = _wire("01-simple.eml", Attr.ENVELOPE, Attr.BODY, Attr.BODYSTRUCTURE)
    assert wire.startswith(b'(ENVELOPE ("Mon, 7 Apr 2025 10:14:59 +0200" "Lunch on Thursday?"')
    assert b'BODY ("text" "plain" ("charset" "utf-8" "format" "flowed") NIL NIL "7bit" ' in wire
    assert wire.endswith(b" 5 NIL NIL NIL NIL))")


def test_missing_summary_is_rebuilt_from_the_body() -> None:
    msg = _msg("04-forwarded.eml", with_summary=False)
    assert encode_value(render_items(msg, [Attr.ENVELOPE], add_flags=False)) == \
        encode_value(render_items(_msg("04-forwarded.eml"), [Attr.ENVELOPE], add_flags=False))
    with pytest.raises(ImapError):
        render_items(_msg("04-forwarded.eml", with_summary=False, body=False), [Attr.ENVELOPE],
               add_flags=False)


def test_sections_and_partial() -> None:
    data = (DATA / "01-simple.eml").read_bytes()
    header, _, text = data.partition(b"\r\n\r\n")
    msg = _msg("01-simple.eml")
    values = render_items(msg, [BodySection(Section(text="HEADER")), BodySection(partial=(0, 4)),
                          BodySection(Section((1,)), partial=(3, 100)),
                          BodySection(Section((9,)))], add_flags=False)
    assert values[0] == Atom("BODY[HEADER]")
    assert values[1] == header + b"\r\n\r\n"
    assert values[2:4] == [Atom("BODY[]<0>"), data[:4]]
    assert values[4:6] == [Atom("BODY[1]<3>"), text[3:103]]
    assert values[6:] == [Atom("BODY[9]"), b""]
    fields = BodySection(Section(text="HEADER.FIELDS", fields=("Subject", "X-None")), peek=True)
    name, value = render_items(msg, [fields], add_flags=False)
    assert name == Atom("BODY[HEADER.FIELDS (Subject X-None)]")
    assert isinstance(value, bytes)
    assert value.startswith(b"Subject: Lunch")
    assert value.endswith(b"\r\n\r\n")


def test_rfc822_items_and_added_flags() -> None:
    data = (DATA / "01-simple.eml").read_bytes()
    values = render_items(_msg("01-simple.eml"),
                    [Attr.RFC822, Attr.RFC822_HEADER, Attr.RFC822_TEXT], add_flags=True)
    assert values[0::2] == [Atom("RFC822"), Atom("RFC822.HEADER"), Atom("RFC822.TEXT"),
                            Atom("FLAGS")]
    assert values[1] == data
    assert values[3] + values[5] == data  # type: ignore[operator]
    assert values[7] == [Atom("\\Seen")]


def test_binary_decodes_and_uses_literal8_only_for_nul() -> None:
    msg = _msg("03-mixed-attachments.eml")
    pdf = BodySection(Section((2,)), binary=True)
    name, value = render_items(msg, [pdf], add_flags=False)
    assert name == Atom("BINARY[2]")
    assert isinstance(value, bytes)
    assert value.startswith(b"%PDF-1.4")
    size = render_items(msg, [BinarySize((2,))], add_flags=False)
    assert size == [Atom("BINARY.SIZE[2]"), len(value)]
    part = BodySection(Section((2,)), partial=(0, 4), binary=True, peek=True)
    assert render_items(msg, [part], add_flags=False) == [Atom("BINARY[2]<0>"), b"%PDF"]
    png = render_items(msg, [BodySection(Section((1, 2)), binary=True)], add_flags=False)[1]
    assert isinstance(png, Literal8)  # the PNG has NUL octets
    assert png.data.startswith(b"\x89PNG")


def test_binary_of_unknown_encoding_is_refused() -> None:
    msg = _msg("10-rfc2231.eml")
    for item in (BodySection(Section((3,)), binary=True), BinarySize((3,))):
        with pytest.raises(ImapError) as info:
            render_items(msg, [item], add_flags=False)
        assert info.value.code is not None
        assert info.value.code.name == "UNKNOWN-CTE"
