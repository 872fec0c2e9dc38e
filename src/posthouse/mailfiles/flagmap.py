"""What the file formats share: keyword checks, line endings, the problem record."""

from __future__ import annotations

import re
from dataclasses import dataclass

from posthouse.imap.parser.cursor import ATOM_CHARS
from posthouse.store.models import is_system_flag

_BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing that went wrong with one file or message: ``where`` names it, ``what``
    says what happened and what was done (skipped, or imported without a flag)."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def is_keyword(name: str) -> bool:
    """Whether ``name`` can be an IMAP keyword: an atom (RFC 9051 9, flag-keyword), not a
    system flag."""
    return bool(name) and all(ord(c) in ATOM_CHARS for c in name) and not is_system_flag(name)


def to_crlf(data: bytes) -> bytes:
    """Unix line ends (Maildir and mbox files) to the CRLF the store serves (RFC 5322 2.1)."""
    return _BARE_LF.sub(b"\r\n", data)


def to_lf(data: bytes) -> bytes:
    """CRLF to the Unix line ends Maildir and mbox files hold."""
    return data.replace(b"\r\n", b"\n")
