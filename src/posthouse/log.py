"""Structured logging with a per-session id carried in a contextvar."""

from __future__ import annotations

import contextvars
import itertools
import logging
import secrets
import sys

session_id: contextvars.ContextVar[str] = contextvars.ContextVar("session_id", default="-")
_counter = itertools.count(1)
# A random part per process keeps ids unique across restarts (logs, Received ids).
_PROCESS = secrets.token_hex(3)


def new_session_id(prefix: str) -> str:
    """Allocate a short unique id for one connection, set it in the context, return it."""
    sid = f"{prefix}{_PROCESS}{next(_counter):x}"
    session_id.set(sid)
    return sid


class _SessionFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.session = session_id.get()
        return True


def setup_logging(level: str) -> None:
    """Send posthouse logs to stderr as key=value lines with the session id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_SessionFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s sid=%(session)s %(message)s")
    )
    root = logging.getLogger("posthouse")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
