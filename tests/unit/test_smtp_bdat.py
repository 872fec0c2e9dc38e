"""BDAT / CHUNKING and BINARYMIME (RFC 3030)."""

from __future__ import annotations

from posthouse.smtp import replies
from posthouse.smtp.connection import SmtpServerConnection
from posthouse.smtp.events import BdatChunk, MessageComplete, Rejected, SmtpEvent
from posthouse.smtp.replies import Reply
from posthouse.smtp.states import Phase
from tests.unit.test_smtp_support import CONFIG, auto_reply, bytewise, config, feed, run

TX = b"EHLO c.example\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"


def messages(events: list[SmtpEvent]) -> list[bytes]:
    return [e.data for e in events if isinstance(e, MessageComplete)]


def rejections(events: list[SmtpEvent]) -> list[tuple[int, str | None]]:
    return [(e.reply.code, e.reply.enhanced) for e in events if isinstance(e, Rejected)]


def test_chunks_make_one_message() -> None:
    wire = TX + b"BDAT 6\r\nHello BDAT 8 LAST\r\n\r\n worldQUIT\r\n"
    for chunks in ([wire], bytewise(wire)):
        conn = SmtpServerConnection(CONFIG)
        out = run(conn, chunks)
        assert [e for e in out.events if isinstance(e, BdatChunk)] == [BdatChunk(6)]
        assert messages(out.events) == [b"Hello \r\n world"]
        done = out.of(MessageComplete)
        assert isinstance(done[0], MessageComplete)
        assert done[0].via == "BDAT"
        assert out.codes == [250, 250, 250, 250, 250, 221]


def test_bdat_zero_last() -> None:
    _, out = feed(TX + b"BDAT 3\r\nabcBDAT 0 LAST\r\n")
    assert messages(out.events) == [b"abc"]
    _, out = feed(TX + b"BDAT 0 last\r\n")
    assert messages(out.events) == [b""]


def test_chunk_octets_are_never_commands_or_dot_handled() -> None:
    payload = b"\r\n.\r\nQUIT\r\n\n.\n..x\x00"
    conn, out = feed(TX + b"BDAT %d LAST\r\n" % len(payload) + payload + b"NOOP\r\n")
    assert messages(out.events) == [payload]
    assert out.codes == [250, 250, 250, 250, 250]
    assert not conn.closed


def test_chunk_split_across_reads_waits_for_all_octets() -> None:
    conn = SmtpServerConnection(CONFIG)
    out = run(conn, [TX + b"BDAT 10 LAST\r\n01234", b"567", b"89"])
    assert messages(out.events) == [b"0123456789"]


def test_oversized_chunk_is_consumed_and_fails_the_transaction() -> None:
    cfg = config(max_message_size=10)
    wire = (TX + b"BDAT 6\r\n123456BDAT 6\r\n789012BDAT 2 LAST\r\nxy"
            b"MAIL FROM:<a@b.example>\r\n")
    conn, out = feed(wire, config=cfg)
    # The second chunk crosses the limit: 552, then the third has no transaction any more.
    assert rejections(out.events) == [(552, "5.3.4"), (503, "5.5.1")]
    assert out.codes == [250, 250, 250, 250, 552, 503, 250]
    assert not messages(out.events)
    assert conn.phase is Phase.MAIL


def test_huge_declared_chunk_is_streamed_not_buffered() -> None:
    conn = SmtpServerConnection(config(max_message_size=10))
    out = run(conn, [TX + b"BDAT 100000 LAST\r\n"] + [b"z" * 10_000] * 10 + [b"NOOP\r\n"])
    assert rejections(out.events) == [(552, "5.3.4")]
    assert out.codes[-2:] == [552, 250]


def test_refused_bdat_still_consumes_its_octets() -> None:
    # BDAT before MAIL, and BDAT with no accepted recipient: the octets are skipped.
    _, out = feed(b"EHLO c\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
    assert out.codes == [250, 503, 250]
    _, out = feed(b"EHLO c\r\nMAIL FROM:<>\r\nBDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
    assert rejections(out.events) == [(554, "5.5.1")]
    assert out.codes == [250, 250, 554, 250]


def test_bdat_disabled_or_after_helo() -> None:
    _, out = feed(TX + b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n", config=config(chunking=False))
    assert out.codes == [250, 250, 250, 502, 250]
    helo = b"HELO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"
    _, out = feed(helo + b"BDAT 6 LAST\r\nQUIT\r\nNOOP\r\n")
    assert out.codes == [250, 250, 250, 503, 250]


def test_bad_bdat_syntax_consumes_nothing() -> None:
    for line in (b"BDAT", b"BDAT x", b"BDAT -1", b"BDAT 1 FIRST", b"BDAT 1 LAST x",
                 b"BDAT " + b"9" * 19):
        _, out = feed(TX + line + b"\r\nNOOP\r\n")
        assert out.codes == [250, 250, 250, 501, 250], line


def test_data_after_bdat_is_503() -> None:
    _, out = feed(TX + b"BDAT 1\r\nxDATA\r\nRSET\r\n")
    assert out.codes == [250, 250, 250, 250, 503, 250]


def test_rcpt_after_bdat_is_503() -> None:
    _, out = feed(TX + b"BDAT 1\r\nxRCPT TO:<e@f.example>\r\n")
    assert out.codes[-1] == 503


def test_binarymime_needs_bdat() -> None:
    tx = b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\nRCPT TO:<c@d.example>\r\n"
    _, out = feed(tx + b"DATA\r\nBDAT 2 LAST\r\n\x00\xff")
    assert out.codes == [250, 250, 250, 503, 250]
    assert messages(out.events) == [b"\x00\xff"]


def test_binarymime_not_offered_without_chunking() -> None:
    tx = b"EHLO c\r\nMAIL FROM:<a@b.example> BODY=BINARYMIME\r\n"
    _, out = feed(tx, config=config(chunking=False))
    assert out.codes == [250, 501]


def test_adapter_refusing_a_chunk_ends_the_transaction() -> None:
    def refuse_chunks(conn: SmtpServerConnection, event: SmtpEvent) -> Reply:
        if isinstance(event, BdatChunk):
            return replies.temporary_failure()
        return auto_reply(conn, event)

    conn, out = feed(TX + b"BDAT 2\r\nabBDAT 2 LAST\r\ncd", answer=refuse_chunks)
    assert out.codes == [250, 250, 250, 451, 503]
    assert conn.phase is Phase.GREETED
    assert not messages(out.events)
