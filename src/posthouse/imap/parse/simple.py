"""Commands without arguments."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parse.cursor import Cursor

_NO_ARGS: tuple[type[c.Command], ...] = (
    c.Capability, c.Noop, c.Logout, c.StartTLS, c.Namespace, c.Idle,
    c.Check, c.Close, c.Unselect, c.Expunge,
)


def _no_args(cls: type[c.Command]) -> Callable[[Cursor], c.Command]:
    def parse(cur: Cursor) -> c.Command:
        del cur  # the caller checks that nothing follows
        return cls()

    return parse


PARSERS: dict[str, Callable[[Cursor], c.Command]] = {cls.NAME: _no_args(cls) for cls in _NO_ARGS}
