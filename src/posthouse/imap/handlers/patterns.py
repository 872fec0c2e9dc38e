"""LIST/LSUB name patterns (RFC 9051 6.3.9): ``*`` matches anything, ``%`` anything but
the hierarchy delimiter.

Matching simulates the pattern as a small automaton whose state set is an int bitmask, so
any pattern costs O(len(name)) big-int operations: no backtracking, no regex blow-up on
hostile patterns such as ``*a*a*a*a*b``.
"""

from __future__ import annotations

from posthouse.store.models import HIERARCHY_DELIMITER, INBOX


def _collapse(pattern: str) -> str:
    """Runs of wildcards become one: ``*`` if the run holds one, else ``%``."""
    out: list[str] = []
    for ch in pattern:
        if ch in "*%" and out and out[-1] in "*%":
            out[-1] = "*" if "*" in (ch, out[-1]) else "%"
        else:
            out.append(ch)
    return "".join(out)


def _canonical_inbox(pattern: str) -> str:
    """INBOX is case-insensitive (RFC 9051 5.1): ``inbox/%`` means ``INBOX/%``."""
    head = pattern[:5]
    if head.upper() == INBOX and (len(pattern) == 5 or pattern[5] in "/*%"):
        return INBOX + pattern[5:]
    return pattern


class Pattern:
    """A compiled pattern; ``matches(name)`` tests a whole name."""

    def __init__(self, text: str) -> None:
        self.text = _canonical_inbox(_collapse(text))
        self.ends_with_percent = self.text.endswith("%")
        self._literals: dict[str, int] = {}
        self._star = 0
        self._percent = 0
        for i, ch in enumerate(self.text):
            if ch == "*":
                self._star |= 1 << i
            elif ch == "%":
                self._percent |= 1 << i
            else:
                self._literals[ch] = self._literals.get(ch, 0) | (1 << i)
        self._wild = self._star | self._percent
        self._accept = 1 << len(self.text)

    def _closure(self, state: int) -> int:
        # A wildcard may match nothing; collapsed patterns never hold two in a row.
        return state | ((state & self._wild) << 1)

    def matches(self, name: str) -> bool:
        """Whether the whole of ``name`` matches."""
        state = self._closure(1)
        for ch in name:
            stay = self._star if ch == HIERARCHY_DELIMITER else self._wild
            state = self._closure(((state & self._literals.get(ch, 0)) << 1) | (state & stay))
            if not state:
                return False
        return bool(state & self._accept)


def combine(reference: str, pattern: str) -> str:
    """Reference and pattern as one pattern (RFC 9051 6.3.9: the reference is a prefix)."""
    if not reference or pattern.startswith(HIERARCHY_DELIMITER):
        return pattern
    return reference + pattern
