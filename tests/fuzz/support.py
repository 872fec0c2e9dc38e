"""What every fuzzer in tests/fuzz shares: the Hypothesis profiles, valid-ish inputs mutated
octet by octet, and arbitrary chunkings of a byte stream.

Profiles (``FUZZ`` is the one in force, applied to each fuzz test as a decorator, so the
rest of the suite keeps Hypothesis's defaults):

- ``fuzz-ci`` (the default): 250 examples per test, derandomized and with no example
  database, so a run on CI is the same run every time and the whole directory stays well under
  a minute.
- ``fuzz-long`` (``POSTHOUSE_FUZZ=long``): 20,000 examples per test, random, with the example
  database in ``.hypothesis/`` so a failure found once is replayed first the next time.
  ``POSTHOUSE_FUZZ_EXAMPLES=n`` sets another count for either profile.

A failure prints the smallest input Hypothesis found; it becomes a regression test in
tests/regressions/ (or tests/unit/) next to the fix.
"""

from __future__ import annotations

import itertools
import os

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large,
                 HealthCheck.filter_too_much]

settings.register_profile(
    "fuzz-ci", max_examples=250, deadline=None, derandomize=True, database=None,
    suppress_health_check=_SLOW_IS_FINE,
)
settings.register_profile(
    "fuzz-long", max_examples=20_000, deadline=None, suppress_health_check=_SLOW_IS_FINE,
)


def _profile() -> settings:
    name = "fuzz-long" if os.environ.get("POSTHOUSE_FUZZ", "") == "long" else "fuzz-ci"
    chosen = settings.get_profile(name)
    count = os.environ.get("POSTHOUSE_FUZZ_EXAMPLES", "")
    return settings(chosen, max_examples=int(count)) if count else chosen


FUZZ = _profile()

# Octets that change how a line-based parser reads what follows.
_SPECIAL = [b"\r\n", b"\r", b"\n", b"\x00", b" ", b"\t", b"\xff", b"\xc3\xa9", b"<", b">",
            b"{", b"}", b"+", b'"', b"\\", b"(", b")", b";", b"=", b"*", b"'", b"%", b":",
            b"@", b".", b"-", b"0", b"9" * 20]


@st.composite
def mutated(draw: st.DrawFn, seeds: st.SearchStrategy[bytes], max_edits: int = 6) -> bytes:
    """A seed (a valid-ish input) with up to ``max_edits`` edits: an octet or a special
    sequence inserted, replaced or deleted, a span duplicated or cut, another seed spliced."""
    data = draw(seeds)
    for _ in range(draw(st.integers(0, max_edits))):
        pos = draw(st.integers(0, len(data)))
        kind = draw(st.integers(0, 5))
        if kind == 0:
            data = data[:pos] + draw(st.sampled_from(_SPECIAL)) + data[pos:]
        elif kind == 1:
            data = data[:pos] + draw(st.binary(min_size=1, max_size=3)) + data[pos + 1 :]
        elif kind == 2:
            data = data[:pos] + data[pos + draw(st.integers(1, 8)) :]
        elif kind == 3:
            end = min(len(data), pos + draw(st.integers(1, 16)))
            data = data[:end] + data[pos:end] + data[end:]
        elif kind == 4:
            data = data[:pos]
        else:
            data = data[:pos] + draw(seeds) + data[pos:]
    return data


def stream(pieces: st.SearchStrategy[bytes], max_pieces: int = 20) -> st.SearchStrategy[bytes]:
    """Several pieces (commands, mutated or not, and raw bytes) one after another."""
    noise = st.binary(max_size=8)
    return st.lists(st.one_of(pieces, pieces, pieces, noise), max_size=max_pieces).map(
        b"".join)


cuts = st.lists(st.integers(min_value=0, max_value=10_000), max_size=16)


def split_at(data: bytes, points: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (taken modulo its length): every piece non-empty."""
    where = sorted({p % (len(data) + 1) for p in points})
    return [data[a:b] for a, b in itertools.pairwise([0, *where, len(data)]) if b > a]


def bytewise(data: bytes) -> list[bytes]:
    """``data`` one octet at a time."""
    return [data[i : i + 1] for i in range(len(data))]
