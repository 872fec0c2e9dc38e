"""Commands without arguments, and COMPRESS (one atom)."""

from __future__ import annotations

from collections.abc import Callable

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor

_NO_ARGS: tuple[type[c.ImapCommand], ...] = (
    c.CapabilityCommand,
    c.NoopCommand,
    c.LogoutCommand,
    c.StartTLSCommand,
    c.NamespaceCommand,
    c.IdleCommand,
    c.CheckCommand,
    c.CloseCommand,
    c.UnselectCommand,
    c.UnauthenticateCommand,
    c.ExpungeCommand,
)


def _no_args(cls: type[c.ImapCommand]) -> Callable[[Cursor], c.ImapCommand]:
    def parse(cur: Cursor) -> c.ImapCommand:
        del cur  # the caller checks that nothing follows
        return cls()

    return parse


def _compress(cur: Cursor) -> c.ImapCommand:
    """``COMPRESS SP algorithm`` (RFC 4978 4)."""
    cur.sp()
    return c.CompressCommand(cur.atom("compression mechanism").upper())


PARSERS: dict[str, Callable[[Cursor], c.ImapCommand]] = {
    **{cls.NAME: _no_args(cls) for cls in _NO_ARGS},
    "COMPRESS": _compress,
}
