"""The MIME tree: offsets, boundaries (RFC 2046 5.1.1), defaults and caps."""

from __future__ import annotations

from pathlib import Path

from posthouse.message.headers import MAX_FIELDS
from posthouse.message.mime import MAX_DEPTH, MAX_PARTS, Part, count_lines, parse, split_multipart

DATA = Path(__file__).parent.parent / "data" / "mime"


def _load(name: str) -> bytes:
    return (DATA / name).read_bytes()


def _walk(part: Part) -> list[Part]:
    found = [part]
    for child in part.children:
        found += _walk(child)
    if part.message is not None:
        found += _walk(part.message)
    return found


def test_offsets_of_nested_parts() -> None:
    data = _load("03-mixed-attachments.eml")
    root = parse(data)
    assert root.multipart
    assert (root.header_start, root.end) == (0, len(data))
    related, pdf = root.children
    assert data[related.header_start :].startswith(b"Content-Type: multipart/related;")
    html, png = related.children
    assert data[html.header_start : html.body_start].endswith(b"report.html\r\n\r\n")
    assert data[png.body_start : png.end] == b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJ"
    assert png.content_id == "<photo1@example.net>"
    assert png.disposition == ("inline", (("filename", "photo.png"),))
    assert html.language == ("en", "de")
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert pdf.encoding == "base64"
    # The related body keeps the line end of its close delimiter; the CRLF of the blank
    # line that follows belongs to the outer boundary.
    assert data[: related.end].endswith(b"--rel-b--\r\n")
    assert data[related.end :].startswith(b"\r\n------=_Part_0_1\r\n")


def test_message_rfc822_child() -> None:
    data = _load("04-forwarded.eml")
    root = parse(data)
    forwarded = root.children[1]
    assert forwarded.is_message
    inner = forwarded.message
    assert inner is not None
    assert inner.header_start == forwarded.body_start
    assert inner.end == forwarded.end
    assert data[inner.header_start :].startswith(b"Date: Wed, 9 Apr 2025 17:00:00 +0100")
    assert [c.subtype for c in inner.children] == ["plain", "html"]


def test_split_multipart_rules() -> None:
    body = (
        b"preamble --b not a boundary\r\n"
        b"--b  \r\n"  # transport padding
        b"A: 1\r\n\r\none\r\n"
        b"--bx\r\n"  # a longer line is not this boundary
        b"--b\r\n"
        b"\r\ntwo"
        b"\r\n--b--\r\n"
        b"epilogue\r\n--b\r\nignored\r\n"
    )
    ranges = split_multipart(body, 0, len(body), b"b")
    assert [body[s:e] for s, e in ranges] == [b"A: 1\r\n\r\none\r\n--bx", b"\r\ntwo"]


def test_split_multipart_boundary_at_start_and_empty_parts() -> None:
    body = b"--b\r\n--b\r\n\r\n--b--"
    assert [body[s:e] for s, e in split_multipart(body, 0, len(body), b"b")] == [b"", b""]


def test_split_multipart_missing_close_runs_to_end() -> None:
    body = b"--b\r\nx\r\n"
    assert split_multipart(body, 0, len(body), b"b") == [(5, len(body))]


def test_split_multipart_without_any_boundary() -> None:
    assert split_multipart(b"nothing\r\n", 0, 9, b"b") == []


def test_outer_boundary_ends_unclosed_inner_multipart() -> None:
    data = (
        b"Content-Type: multipart/mixed; boundary=out\r\n\r\n"
        b"--out\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n"
        b"--in\r\n\r\ninner\r\n"
        b"--out\r\n\r\nsecond\r\n--out--\r\n"
    )
    root = parse(data)
    first, second = root.children
    (inner,) = first.children
    assert data[inner.body_start : inner.end] == b"inner"
    assert data[second.body_start : second.end] == b"second"


def test_eight_bit_boundary_in_latin1_header() -> None:
    data = (
        b'Content-Type: multipart/mixed; boundary="\xe9t\xe9"\r\n\r\n'
        b"--\xe9t\xe9\r\n\r\nx\r\n--\xe9t\xe9--\r\n"
    )
    (child,) = parse(data).children
    assert data[child.body_start : child.end] == b"x"


def test_defaults_per_rfc2045() -> None:
    part = parse(b"\r\nbody")
    assert (part.maintype, part.subtype) == ("text", "plain")
    assert part.params == (("charset", "us-ascii"),)
    assert part.encoding is None
    bad = parse(b"Content-Type: garbage\r\n\r\nbody")
    assert (bad.maintype, bad.subtype) == ("text", "plain")


def test_multipart_digest_children_default_to_message() -> None:
    root = parse(_load("18-digest.eml"))
    first, second = root.children
    assert (first.maintype, first.subtype, first.params) == ("message", "rfc822", ())
    assert first.message is not None
    assert (second.maintype, second.subtype) == ("text", "plain")


def test_depth_cap_for_nested_messages() -> None:
    data = b"".join(b"Content-Type: message/rfc822\r\n\r\n" for _ in range(50)) + b"end"
    node = parse(data)
    depth = 0
    while node.message is not None:
        node = node.message
        depth += 1
    assert depth == MAX_DEPTH
    assert (node.maintype, node.subtype) == ("application", "octet-stream")


def test_part_count_cap() -> None:
    parts = b"".join(b"--b\r\n\r\nx\r\n" for _ in range(MAX_PARTS + 500))
    data = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + parts + b"--b--\r\n"
    root = parse(data)
    assert len(root.children) == MAX_PARTS - 1
    assert len(_walk(root)) == MAX_PARTS


def test_count_lines() -> None:
    assert count_lines(b"", 0, 0) == 0
    assert count_lines(b"a", 0, 1) == 1
    assert count_lines(b"a\r\n", 0, 3) == 1
    assert count_lines(b"a\r\nb", 0, 4) == 2
    assert count_lines(b"\r\n\r\n", 0, 4) == 2


def test_offsets_within_message_for_whole_corpus() -> None:
    for path in sorted(DATA.glob("*.eml")):
        data = path.read_bytes()
        for part in _walk(parse(data)):
            assert 0 <= part.header_start <= part.body_start <= part.end <= len(data), path


def test_transfer_encoding_first_token_and_duplicates() -> None:
    data = (
        b"Content-Transfer-Encoding: BASE64 (it is)\r\n"
        b"Content-Type: text/html\r\nContent-Type: image/png\r\n\r\nx"
    )
    part = parse(data)
    assert part.encoding == "BASE64"
    assert (part.maintype, part.subtype, part.params) == ("text", "html", ())


def test_header_block_is_capped() -> None:
    data = b"X: y\r\n" * (MAX_FIELDS + 10) + b"\r\nbody"
    part = parse(data)
    assert part.body_start == len(b"X: y\r\n") * MAX_FIELDS
    assert not part.has_blank_line
