"""A progress bar for imports and exports (``rich``), on stderr and only on a terminal.

Problems are printed as one line each (``posthouse: FILE: what``) whether or not a bar is
shown, so a script's log keeps them.
"""

from __future__ import annotations

import sys
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from posthouse.mailfiles.flagmap import ImportProblem


class TransferProgress:
    """The ``ProgressSink`` the CLI passes: a bar of messages with the bytes moved."""

    def __init__(self, label: str) -> None:
        self._console = Console(stderr=True)
        self._bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[mb]:.1f} MB"), TimeRemainingColumn(),
            console=self._console, disable=not sys.stderr.isatty(), transient=False,
        )
        self._task: TaskID = self._bar.add_task(label, total=0, mb=0.0)
        self._bytes = 0

    def __enter__(self) -> TransferProgress:
        self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._bar.stop()

    def add_total(self, messages: int) -> None:
        """More messages are known to come."""
        total = self._bar.tasks[0].total or 0
        self._bar.update(self._task, total=total + messages)

    def advance(self, messages: int, size: int) -> None:
        """``messages`` were handled."""
        self._bytes += size
        self._bar.update(self._task, advance=messages, mb=self._bytes / 1e6)

    def problem(self, problem: ImportProblem) -> None:
        """One line on stderr, above the bar."""
        line = f"posthouse: {problem}"
        if self._bar.disable:
            print(line, file=sys.stderr, flush=True)
        else:
            self._console.print(line, markup=False, highlight=False)
