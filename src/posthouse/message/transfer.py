"""Content-Transfer-Encoding decoding (RFC 2045 6) and text extraction helpers."""

from __future__ import annotations

import binascii
import html
import re

from posthouse.message.headers import decode_base64, decode_charset

IDENTITY_ENCODINGS = frozenset({"7bit", "8bit", "binary"})
_TRAILING_SPACE = re.compile(rb"[ \t]+(?=\r?\n|\Z)")
_BLOCK_TAGS = ("br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table")


def decode_quoted_printable(body: bytes) -> bytes:
    """Quoted-printable decoding; trailing whitespace on lines is dropped (RFC 2045 6.7)."""
    return binascii.a2b_qp(_TRAILING_SPACE.sub(b"", body))


def decode_transfer(body: bytes, encoding: str | None) -> bytes | None:
    """The body with its transfer encoding removed; None for an unknown encoding.

    An absent encoding means 7bit (RFC 2045 6.1). Identity encodings are returned as is.
    """
    name = (encoding or "7bit").strip(" \t").lower()
    if name in IDENTITY_ENCODINGS:
        return body
    if name == "base64":
        return decode_base64(body)
    if name == "quoted-printable":
        return decode_quoted_printable(body)
    return None


def _skip_raw_text(source: str, lowered: str, pos: int, tag: str) -> int:
    """Position after ``</tag>`` for script/style content, or the end of the text."""
    close = lowered.find("</" + tag, pos)
    if close < 0:
        return len(source)
    end = source.find(">", close)
    return len(source) if end < 0 else end + 1


def _tag_name(tag: str) -> str:
    match = re.match(r"/?\s*([A-Za-z0-9]+)", tag)
    return "" if match is None else match.group(1).lower()


def html_to_text(source: str) -> str:
    """Rough text of an HTML document for the search index: tags, comments, scripts and
    styles dropped, entities resolved. Linear in the input, never raises."""
    lowered = source.lower()
    out: list[str] = []
    pos = 0
    while pos < len(source):
        lt = source.find("<", pos)
        if lt < 0:
            out.append(source[pos:])
            break
        out.append(source[pos:lt])
        if source.startswith("<!--", lt):
            close = source.find("-->", lt + 4)
            pos = len(source) if close < 0 else close + 3
            continue
        gt = source.find(">", lt)
        if gt < 0:
            out.append(source[lt:])
            break
        name = _tag_name(source[lt + 1 : gt])
        pos = gt + 1
        if name in ("script", "style") and not source.startswith("</", lt):
            pos = _skip_raw_text(source, lowered, pos, name)
        out.append("\n" if name in _BLOCK_TAGS else " ")
    text = html.unescape("".join(out))
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())


def body_text(body: bytes, encoding: str | None, charset: str | None, *, html_body: bool) -> str:
    """Decoded text of a text/* body: transfer decoding, then charset decoding with
    replacement characters (an unknown transfer encoding leaves the bytes as they are)."""
    decoded = decode_transfer(body, encoding)
    text = decode_charset(body if decoded is None else decoded, charset or "us-ascii")
    return html_to_text(text) if html_body else text
