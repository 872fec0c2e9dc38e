"""JMAP keywords <-> IMAP flags (RFC 8621 4.1.1). Pure.

The four system flags JMAP names map both ways: ``$seen`` = \\Seen, ``$flagged`` =
\\Flagged, ``$answered`` = \\Answered, ``$draft`` = \\Draft. \\Deleted has no keyword (JMAP
has no "deleted but present" state); it is kept as it is when JMAP replaces keywords.
Other IMAP keywords are JMAP keywords as they are, lower-cased (keywords are
case-insensitive; RFC 8621 4.1.1 says they SHOULD be sent in lower case).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from posthouse.store.models import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

_TO_FLAG = {"$seen": SEEN, "$flagged": FLAGGED, "$answered": ANSWERED, "$draft": DRAFT}
_TO_KEYWORD = {flag.lower(): kw for kw, flag in _TO_FLAG.items()}
# RFC 8621 4.1.1: keyword characters are those of an IMAP flag-keyword (atom, no "\"),
# 1..255 of ASCII %x21-%x7e except ( ) { ] % * " \
_KEYWORD = re.compile(r'^[!#$&\'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]{1,255}$')
KEEP_FLAGS = frozenset({DELETED})


def keywords_of(flags: Iterable[str]) -> dict[str, bool]:
    """The keywords object of a message with these IMAP flags."""
    out: dict[str, bool] = {}
    for flag in flags:
        lowered = flag.lower()
        if lowered in _TO_KEYWORD:
            out[_TO_KEYWORD[lowered]] = True
        elif not flag.startswith("\\"):
            out[lowered] = True
    return out


def valid_keyword(keyword: str) -> bool:
    """Whether ``keyword`` may be set (and stored as an IMAP flag)."""
    return bool(_KEYWORD.match(keyword))


def flag_of(keyword: str) -> str:
    """The IMAP flag a (valid) keyword is stored as."""
    lowered = keyword.lower()
    return _TO_FLAG.get(lowered, lowered)
