"""Sequence sets (RFC 9051 9: sequence-set; RFC 5182: ``$``).

A parsed set keeps ``*`` symbolic; the per-session view (view.py) resolves it against the
message sequence numbers or uids the client knows.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

MAX_NUMBER = 0xFFFFFFFF  # nz-number is a 32-bit unsigned value
STAR: int | None = None  # ``*``: the largest number in use


class SequenceSyntaxError(ValueError):
    """The text is not a sequence set."""


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """Ranges ``(first, last)`` with ``None`` for ``*``, or the saved search result ``$``.

    A single number ``n`` is the range ``(n, n)``; ``last`` may be below ``first``
    (``5:2`` means ``2:5``).
    """

    ranges: tuple[tuple[int | None, int | None], ...] = ()
    saved: bool = False

    @classmethod
    def parse(cls, text: bytes | str) -> SequenceSet:
        """Parse ``1,3:5,7:*`` or ``$``; raise SequenceSyntaxError."""
        raw = text.encode("ascii", "replace") if isinstance(text, str) else bytes(text)
        if raw == b"$":
            return cls(saved=True)
        if not raw:
            raise SequenceSyntaxError("empty sequence set")
        ranges = []
        for part in raw.split(b","):
            first, sep, last = part.partition(b":")
            low = _number(first)
            ranges.append((low, _number(last) if sep else low))
        return cls(tuple(ranges))

    @classmethod
    def of(cls, *numbers: int) -> SequenceSet:
        """A set of single numbers (for tests and handlers)."""
        return cls(tuple((n, n) for n in numbers))

    def bounds(self, star: int) -> Iterator[tuple[int, int]]:
        """Each range as ``(low, high)`` with ``*`` replaced by ``star``."""
        for first, last in self.ranges:
            a = star if first is None else first
            b = star if last is None else last
            yield (a, b) if a <= b else (b, a)

    def __str__(self) -> str:
        if self.saved:
            return "$"
        return ",".join(_range_text(a, b) for a, b in self.ranges)


def _number(raw: bytes) -> int | None:
    if raw == b"*":
        return STAR
    if not raw or not raw.isdigit() or not raw.isascii() or raw[0] == 0x30 or len(raw) > 10:
        raise SequenceSyntaxError(f"bad number in sequence set: {raw!r}")
    value = int(raw)
    if value > MAX_NUMBER:
        raise SequenceSyntaxError("number in sequence set out of range")
    return value


def _text(n: int | None) -> str:
    return "*" if n is None else str(n)


def _range_text(a: int | None, b: int | None) -> str:
    return _text(a) if a == b else f"{_text(a)}:{_text(b)}"


def compress(numbers: list[int]) -> str:
    """Sorted unique numbers as a compact set text: ``[1, 2, 3, 7]`` -> ``1:3,7``."""
    parts: list[str] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and numbers[j + 1] == numbers[j] + 1:
            j += 1
        parts.append(_range_text(numbers[i], numbers[j]))
        i = j + 1
    return ",".join(parts)


class NumberRanges:
    """``(low, high)`` ranges with an O(log n) membership test."""

    def __init__(self, spans: Iterable[tuple[int, int]]) -> None:
        ordered = sorted(spans)
        self.spans = ordered
        self._lows = [low for low, _ in ordered]
        self._highs = list(itertools.accumulate((high for _, high in ordered), max))

    def __contains__(self, number: int) -> bool:
        i = bisect.bisect_right(self._lows, number) - 1
        return i >= 0 and self._highs[i] >= number
