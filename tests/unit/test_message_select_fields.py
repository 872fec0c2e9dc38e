"""``select_fields`` (the fast HEADER.FIELDS[.NOT] path) picks what ``split_header`` does,
for arbitrary header bytes: folded lines, colons on continuation lines, WSP before the
colon, bare LF, invalid names."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from posthouse.message.headers import MAX_FIELDS, select_fields, split_header
from posthouse.message.sections import Spec, extract_top, top_fields_reader

NAMES = ["From", "to", "SUBJECT", "x-a", "x y", "", "from:", "sübject"]
PIECES = [b"From", b"from", b"To", b"Subject", b"X-A", b"x y", b":", b" ", b"\t", b"\r\n",
          b"\n", b"value", b"\xc3\xbc", b"a:b", b"\r\n ", b"\r\n\t:", b"\r\n\r\n", b"\r",
          b"\n\n", b"x-a :"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40),
       st.lists(st.sampled_from(NAMES), max_size=4), st.booleans())
def test_select_fields_agrees_with_split_header(pieces: list[bytes], names: list[str],
                                                keep: bool) -> None:
    data = b"".join(pieces)
    header = split_header(data)
    lowered = {n.lower() for n in names}
    expected = [f.raw for f in header.fields if bool(f.name and f.name.lower() in lowered)
                == keep]
    assert select_fields(data, names, keep) == (expected, header.has_blank_line)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40),
       st.lists(st.sampled_from(NAMES), max_size=4))
def test_top_fields_reader_agrees_with_extract_top(pieces: list[bytes],
                                                   names: list[str]) -> None:
    """The per-FETCH reader (pattern looked up once) gives extract_top's octets."""
    data = b"".join(pieces)
    read = top_fields_reader(names)
    assert read(data) == extract_top(data, Spec.HEADER_FIELDS, names)


def test_top_fields_reader_past_the_limits() -> None:
    """A header with more fields than MAX_FIELDS goes the general way, as extract_top."""
    data = b"".join(b"X-%d: v\r\n" % i for i in range(MAX_FIELDS + 10)) + b"From: a\r\n\r\nb"
    read = top_fields_reader(["from", "x-1"])
    assert read(data) == extract_top(data, Spec.HEADER_FIELDS, ["from", "x-1"])
