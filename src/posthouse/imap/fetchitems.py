"""Typed FETCH data items (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Attr(enum.Enum):
    """FETCH items without a section. The value is the item name on the wire."""

    FLAGS = "FLAGS"
    INTERNALDATE = "INTERNALDATE"
    RFC822_SIZE = "RFC822.SIZE"
    ENVELOPE = "ENVELOPE"
    BODY = "BODY"  # the non-extensible BODYSTRUCTURE
    BODYSTRUCTURE = "BODYSTRUCTURE"
    UID = "UID"
    MODSEQ = "MODSEQ"  # CONDSTORE hook (RFC 7162 3.1.4)
    SAVEDATE = "SAVEDATE"  # when it was filed into this mailbox (RFC 8514 4.3)
    PREVIEW = "PREVIEW"  # a short text of the message (RFC 8970 3)
    EMAILID = "EMAILID"  # RFC 8474 5.1
    THREADID = "THREADID"  # RFC 8474 5.2
    RFC822 = "RFC822"  # = BODY[] (sets \Seen), answered as RFC822
    RFC822_HEADER = "RFC822.HEADER"  # = BODY.PEEK[HEADER], answered as RFC822.HEADER
    RFC822_TEXT = "RFC822.TEXT"  # = BODY[TEXT] (sets \Seen), answered as RFC822.TEXT

    @property
    def sets_seen(self) -> bool:
        """Whether fetching it sets \\Seen in a read-write mailbox."""
        return self in (Attr.RFC822, Attr.RFC822_TEXT)


MACROS: dict[str, tuple[Attr, ...]] = {
    "ALL": (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE, Attr.ENVELOPE),
    "FAST": (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE),
    "FULL": (Attr.FLAGS, Attr.INTERNALDATE, Attr.RFC822_SIZE, Attr.ENVELOPE, Attr.BODY),
}

SECTION_TEXTS = ("HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME")
_ASTRING = frozenset("!#$&'+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`"
                     "abcdefghijklmnopqrstuvwxyz|}~")


def _field_name(name: str) -> str:
    if name and set(name) <= _ASTRING:
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class Section:
    """``[1.2.HEADER.FIELDS (From To)]``: a part path and what of it (None = everything).

    ``text`` is one of SECTION_TEXTS or None; ``fields`` only for HEADER.FIELDS[.NOT].
    """

    parts: tuple[int, ...] = ()
    text: str | None = None
    fields: tuple[str, ...] = ()

    def __str__(self) -> str:
        spec = ".".join(str(p) for p in self.parts)
        if self.text:
            spec = f"{spec}.{self.text}" if spec else self.text
        if self.fields:
            spec += " (" + " ".join(_field_name(f) for f in self.fields) + ")"
        return spec


@dataclass(frozen=True, slots=True)
class BodySection:
    """``BODY[...]``, ``BODY.PEEK[...]``, ``BINARY[...]``, ``BINARY.PEEK[...]`` with an
    optional ``<origin.count>`` partial range."""

    section: Section = Section()
    partial: tuple[int, int] | None = None
    peek: bool = False
    binary: bool = False

    @property
    def sets_seen(self) -> bool:
        """Whether fetching it sets \\Seen in a read-write mailbox."""
        return not self.peek

    def response_name(self) -> str:
        """The item name in the FETCH response: no PEEK, partial as ``<origin>`` only."""
        name = "BINARY" if self.binary else "BODY"
        origin = f"<{self.partial[0]}>" if self.partial is not None else ""
        return f"{name}[{self.section}]{origin}"


@dataclass(frozen=True, slots=True)
class BinarySize:
    """``BINARY.SIZE[part]`` (RFC 3516 4.2)."""

    parts: tuple[int, ...] = ()

    def response_name(self) -> str:
        """The item name in the FETCH response."""
        return "BINARY.SIZE[" + ".".join(str(p) for p in self.parts) + "]"


FetchItem = Attr | BodySection | BinarySize
