"""COMPRESS (RFC 4978): DEFLATE on the connection; the bytes are net.Connection's concern.

Compression is offered over TLS too. The RFC's security section (6) leaves it to the
implementer; the CRIME-like attacks need a secret and attacker-chosen text in one compressed
stream with the attacker watching the lengths. Here the secret that matters (the password)
is sent before COMPRESS is allowed (authenticated state only), and mail an attacker sends
is readable to the user anyway; so the gain in bandwidth is taken.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Response, Status


async def handle_compress(
    ctx: HandlerContext, tag: str, cmd: c.CompressCommand
) -> AsyncIterator[Response]:
    """OK, then DEFLATE from the next byte; once per connection (RFC 4978 3)."""
    if cmd.mechanism != "DEFLATE":
        raise ImapError(f"Unknown compression mechanism {cmd.mechanism}", status=Status.BAD)
    if ctx.port.is_compressed:
        raise ImapError("Compression is already active",
                        code=ResponseCode.COMPRESSIONACTIVE.code())
    yield ok(tag, "DEFLATE active")
    ctx.port.start_compression()
    ctx.log.info("compression started")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.CompressCommand: handle_compress}
