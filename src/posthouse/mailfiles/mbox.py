"""mbox (RFC 4155): reading mboxrd and mboxo, writing mboxrd.

A message starts at a ``From `` line at the start of the file or after an empty line (the
From_ line: ``From <sender> <asctime date>``); it ends with the empty line before the next.
Body lines that begin with ``From `` were quoted with ``>`` when written; the two common
variants unquote differently (RFC 4155 appendix A):
- mboxrd quotes ``>*From `` by one more ``>``, so reading strips one ``>`` from ``>+From ``
  and every message comes back byte for byte;
- mboxo quotes only ``From ``, so reading strips one ``>`` from ``>From `` only (a line that
  really began with ``>From `` cannot be told apart).
Flags travel in ``Status`` (R: \\Seen), ``X-Status`` (A \\Answered, F \\Flagged, T \\Draft,
D \\Deleted) and ``X-Keywords`` headers; they are read into flags and removed, as mbox
servers do, and written back on export.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from posthouse.mailfiles.flagmap import is_keyword
from posthouse.store.models import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

FORMATS = ("mboxrd", "mboxo")
_QUOTED = {"mboxrd": re.compile(rb"^>(>*From )", re.M), "mboxo": re.compile(rb"^>(From )", re.M)}
_TO_QUOTE = re.compile(rb"^(>*From )", re.M)
_X_STATUS = {"A": ANSWERED, "F": FLAGGED, "T": DRAFT, "D": DELETED}
_X_LETTERS = {flag: letter for letter, flag in _X_STATUS.items()}
_FLAG_HEADERS = (b"status", b"x-status", b"x-keywords", b"x-uid", b"x-imap", b"x-imapbase")
# asctime, with an optional zone after the time or the year (seen in the wild)
_FROM_DATE = re.compile(
    r"(?:[A-Z][a-z]{2} )?([A-Z][a-z]{2}) +(\d{1,2}) (\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?: ([+-]\d{4}|[A-Z]{1,5}))? (\d{4})(?: ([+-]\d{4}))?\s*$"
)
_HEADER_LINE = re.compile(rb"^[!-9;-~]+:")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True, slots=True)
class MboxMessage:
    """One message read from an mbox: where it starts, its bytes (LF line ends, From_ line
    and flag headers removed, unquoted), its flags, its date and what was wrong with it."""

    number: int
    line: int
    data: bytes
    flags: frozenset[str]
    date: datetime | None
    problem: str | None = None


def split_messages(lines: Iterable[bytes], fmt: str = "mboxrd") -> Iterator[MboxMessage]:
    """Every message of an mbox in order, from its lines (a file opened in binary mode: read
    as it goes, never whole). Text before the first From_ line comes out as message 0 with a
    problem (the caller reports it; it is not mail)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown mbox format {fmt!r}")
    source = iter(lines)
    current: list[bytes] = []
    start = number = 0
    prev_blank = True
    line = next(source, None)
    index = 0
    while line is not None:
        following = next(source, None)  # one line of lookahead: see _starts_message
        if line.startswith(b"From ") and prev_blank and _starts_message(line, following):
            if current:
                yield _message(current, start, number, fmt)
            number += 1
            current, start = [], index
        current.append(line)
        prev_blank = line in (b"\n", b"\r\n")
        line, index = following, index + 1
    if current:
        yield _message(current, start, number, fmt)


def _starts_message(line: bytes, following: bytes | None) -> bool:
    """A From_ line with a date, or (a broken one) followed by a header line. Else it is an
    mboxo writer's unquoted body line, and stays text."""
    if from_line_date(line.decode("latin-1").rstrip("\r\n")) is not None:
        return True
    return following is not None and _HEADER_LINE.match(following) is not None


def _message(lines: list[bytes], start: int, number: int, fmt: str) -> MboxMessage:
    if number == 0:
        return MboxMessage(0, start + 1, b"", frozenset(), None,
                           "text before the first From_ line: skipped (not an mbox message)")
    from_line = lines[0].decode("latin-1").rstrip("\r\n")
    body = b"".join(lines[1:]).replace(b"\r\n", b"\n")
    if body.endswith(b"\n\n"):
        body = body[:-1]  # the empty line that separates messages
    body = _QUOTED[fmt].sub(rb"\1", body)
    body, flags = _take_flag_headers(body)
    date = from_line_date(from_line)
    problem = None if date is not None else f"From_ line without a readable date: {from_line!r}"
    if not body.strip():
        problem = "empty message: skipped"
    return MboxMessage(number, start + 1, body, flags, date, problem)


def from_line_date(line: str) -> datetime | None:
    """The date of a From_ line (``From sender Thu Nov 24 18:22:48 1986``), or None."""
    parts = line.split(" ", 2)
    if len(parts) < 3 or parts[0] != "From":
        return None
    match = _FROM_DATE.search(parts[2])
    if match is None or match[1] not in _MONTHS:
        return None
    zone = match[6] if match[6] and match[6][0] in "+-" else match[8]
    tz: timezone = UTC
    if zone:
        sign = -1 if zone[0] == "-" else 1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5])))
    try:
        return datetime(int(match[7]), _MONTHS.index(match[1]) + 1, int(match[2]),
                        int(match[3]), int(match[4]), int(match[5] or 0), tzinfo=tz)
    except ValueError:
        return None


def header_date(data: bytes) -> datetime | None:
    """The Date: header of a message, when it parses (a fallback internal date)."""
    head = data.split(b"\n\n", 1)[0]
    match = re.search(rb"^date:[ \t]*(.+(?:\n[ \t].*)*)", head, re.I | re.M)
    if match is None:
        return None
    try:
        date = parsedate_to_datetime(match[1].decode("latin-1").replace("\n", " "))
    except (TypeError, ValueError, IndexError):
        return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def _take_flag_headers(body: bytes) -> tuple[bytes, frozenset[str]]:
    """Read and remove the mbox flag headers (top level only)."""
    if body.startswith(b"\n"):
        return body, frozenset()  # an empty header section: nothing to read
    head, sep, rest = body.partition(b"\n\n")
    lines = (head + b"\n").splitlines(keepends=True) if sep else body.splitlines(keepends=True)
    tail = b"\n" + rest if sep else b""
    kept: list[bytes] = []
    flags: set[str] = set()
    skipping = False
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            if not skipping:
                kept.append(line)
            continue
        name, colon, value = line.partition(b":")
        skipping = bool(colon) and name.strip().lower() in _FLAG_HEADERS
        if not skipping:
            kept.append(line)
            continue
        text = value.decode("latin-1").strip()
        lower = name.strip().lower()
        if lower == b"status" and "R" in text:
            flags.add(SEEN)
        elif lower == b"x-status":
            flags.update(_X_STATUS[c] for c in text if c in _X_STATUS)
        elif lower == b"x-keywords":
            flags.update(k for k in re.split(r"[,\s]+", text) if is_keyword(k))
    return b"".join(kept) + tail, frozenset(flags)


def format_message(data: bytes, flags: Iterable[str], date: datetime,
                   sender: str = "MAILER-DAEMON") -> bytes:
    """One message as mboxrd: the From_ line, the flag headers at the end of the header,
    the quoted body (LF line ends) and the separating empty line."""
    text = data.replace(b"\r\n", b"\n")
    if not text.endswith(b"\n"):
        text += b"\n"
    if text.startswith(b"\n"):  # an empty header section: the body follows at once
        head, rest = b"", text[1:]
    else:
        head, sep, rest = text.partition(b"\n\n")
        if not sep:
            head, rest = text.rstrip(b"\n"), b""
    flag_set = set(flags)
    extra = [b"Status: " + (b"RO" if SEEN in flag_set else b"O")]
    x_status = "".join(sorted(_X_LETTERS[f] for f in flag_set if f in _X_LETTERS))
    if x_status:
        extra.append(b"X-Status: " + x_status.encode())
    keywords = sorted(f for f in flag_set if is_keyword(f))
    if keywords:
        extra.append(b"X-Keywords: " + " ".join(keywords).encode())
    head = head.rstrip(b"\n") + b"\n" + b"\n".join(extra) if head else b"\n".join(extra)
    whole = head + b"\n\n" + rest
    from_line = f"From {sender} {date.astimezone(UTC).strftime('%a %b %e %H:%M:%S %Y')}\n"
    return from_line.encode() + _TO_QUOTE.sub(rb">\1", whole) + b"\n"
