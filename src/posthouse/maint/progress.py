"""How the maintenance engines report progress without knowing who shows it.

An engine asks its ``Progress`` for a bar (a label, a total, a unit) and calls the function
it gets with each step done. The CLI gives a rich one (cli/progress.py); tests and library
callers give ``QUIET``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Progress(Protocol):
    """A maker of progress bars."""

    def __call__(self, label: str, total: int, unit: str) -> AbstractContextManager[Advance]:
        """A bar for ``total`` steps of ``unit``; the context yields the advance function."""
        ...


@contextmanager
def _quiet(label: str, total: int, unit: str) -> Iterator[Advance]:
    del label, total, unit
    yield lambda n: None


QUIET: Progress = _quiet
