"""Progress bars for long admin commands (backup, restore, verify), drawn with rich.

rich (pinned in pyproject.toml) also draws the import/export and migration bars, so one
library draws every bar. A bar is shown only when stderr is a terminal, so cron jobs and
tests get no bar noise. The engines never import it: they receive this as a
``maint.progress.Progress``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from posthouse.maint.progress import Advance


@contextmanager
def terminal_bar(label: str, total: int, unit: str) -> Iterator[Advance]:
    """A bar on stderr when it is a terminal; silent otherwise."""
    count: ProgressColumn = DownloadColumn(binary_units=True) if unit == "B" else (
        MofNCompleteColumn())
    with Progress(TextColumn("{task.description}"), BarColumn(), count,
                  TextColumn(unit if unit != "B" else ""), TimeRemainingColumn(),
                  console=Console(stderr=True), disable=not sys.stderr.isatty(),
                  transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)
