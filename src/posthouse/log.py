"""Structured logging with a per-session id carried in a contextvar.

Two formats (``[log] format``): ``text``, one line per record (LINE_FORMAT: time, level,
logger, ``sid=``, then the message's own ``key=value`` words); ``json``, one JSON object per
line with the same fields (``time``, ``level``, ``logger``, ``sid``, ``message``, and
``exception`` with the traceback when there is one), for log collectors."""

from __future__ import annotations

import contextvars
import itertools
import json
import logging
import secrets
import sys
import time
from collections import deque

session_id: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="-")
_counter = itertools.count(1)
# A random part per process keeps ids unique across restarts (logs, Received ids).
_PROCESS = secrets.token_hex(3)
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s sid=%(session)s %(message)s"


def new_session_id(prefix: str) -> str:
    """Allocate a short unique id for one connection, set it in the context, return it."""
    sid = f"{prefix}{_PROCESS}{next(_counter):x}"
    session_id.set(sid)
    return sid


class _SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session = session_id.get()
        return True


class _LineFormatter(logging.Formatter):
    """LINE_FORMAT, with the date and time of day formatted once per second, not per line."""

    def __init__(self) -> None:
        super().__init__(LINE_FORMAT)
        self._second = -1
        self._second_text = ""

    def formatTime(  # noqa: N802 (overrides logging's name)
            self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """What logging.Formatter.formatTime writes ("2024-05-01 12:00:00,123")."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%d %H:%M:%S",
                                              self.converter(record.created))
            self._second = second
        return f"{self._second_text},{int(record.msecs):03d}"


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in the message are escaped)."""

    def __init__(self) -> None:
        super().__init__()
        self._times = _LineFormatter()  # the same time text as the text format

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON object."""
        entry = {
            "time": self._times.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "sid": getattr(record, "session", session_id.get()),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(level: str, log_format: str = "text") -> None:
    """Send posthouse logs to stderr, as key=value lines or JSON objects (``log_format``,
    ``[log] format``), with the session id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SessionFilter())
    handler.setFormatter(JsonLineFormatter() if log_format == "json" else _LineFormatter())
    root = logging.getLogger("posthouse")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # LINE_FORMAT uses no thread, process or caller fields: do not collect them for every
    # record (the logging HOWTO's "Optimization" section).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None


class RecentLines(logging.Handler):
    """The last ``size`` log lines, formatted as the text logs are, kept in memory for the
    web admin's log page. App attaches one to the "posthouse" logger while it runs."""

    def __init__(self, size: int = 500) -> None:
        super().__init__()
        self._lines: deque[str] = deque(maxlen=size)
        self.addFilter(_SessionFilter())
        self.setFormatter(_LineFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        """Keep the formatted line (deque appends are atomic: any thread may log)."""
        try:
            self._lines.append(self.format(record))
        except Exception:
            self.handleError(record)

    def tail(self, count: int) -> list[str]:
        """The last ``count`` lines, oldest first."""
        lines = list(self._lines)
        return lines[-count:] if count > 0 else []
