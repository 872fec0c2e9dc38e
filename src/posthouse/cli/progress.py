"""Progress bars for long admin commands (backup, restore, verify), drawn with tqdm.

tqdm (pinned in pyproject.toml): small, no dependencies of its own, maintained for a decade;
``disable=None`` turns a bar off when stderr is not a terminal, so cron jobs and tests get
no bar noise. The engines never import it: they receive this as a ``maint.progress.Progress``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from posthouse.maint.progress import Advance


@contextmanager
def terminal_bar(label: str, total: int, unit: str) -> Iterator[Advance]:
    """A bar on stderr when it is a terminal; silent otherwise."""
    scale = unit == "B"
    with tqdm(total=total, desc=label, unit=unit, unit_scale=scale, unit_divisor=1024,
              disable=None, file=sys.stderr, leave=False) as bar:
        yield bar.update
