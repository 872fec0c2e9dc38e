"""CAPABILITY NOOP LOGOUT ID ENABLE NAMESPACE CHECK (RFC 9051 6.1, 6.3.1, 6.3.10, 6.4.1;
RFC 2971 ID; RFC 5161 ENABLE; RFC 6855 UTF8=ACCEPT; RFC 7162 CONDSTORE, QRESYNC; RFC 9586
UIDONLY)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse import __version__
from posthouse.imap import commands as c
from posthouse.imap.capabilities import ENABLEABLE
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.responses import Atom, Bye, Response, Untagged, Value
from posthouse.store.models import HIERARCHY_DELIMITER


async def handle_capability(
    ctx: HandlerContext, tag: str, cmd: c.CapabilityCommand
) -> AsyncIterator[Response]:
    """``* CAPABILITY ...`` for the current state."""
    yield Untagged((Atom("CAPABILITY"), *(Atom(n) for n in ctx.capabilities())))
    yield ok(tag, "CAPABILITY completed")


async def handle_noop(
    ctx: HandlerContext, tag: str, cmd: c.NoopCommand | c.CheckCommand
) -> AsyncIterator[Response]:
    """NOOP and CHECK: nothing to do; the session sends pending updates (RFC 9051 6.1.2)."""
    yield ok(tag, f"{cmd.NAME} completed")


async def handle_logout(
    ctx: HandlerContext, tag: str, cmd: c.LogoutCommand
) -> AsyncIterator[Response]:
    """``* BYE`` then the tagged OK; the session closes the connection (RFC 9051 6.1.3)."""
    yield Bye("posthouse logging out")
    yield ok(tag, "LOGOUT completed")


async def handle_id(ctx: HandlerContext, tag: str, cmd: c.IdCommand) -> AsyncIterator[Response]:
    """RFC 2971: log what the client says about itself, answer with our name."""
    if cmd.params:
        shown = ", ".join(f"{k}={v!r}" for k, v in cmd.params[:10])
        ctx.log.info("client id: %s", shown[:300])
    info: list[Value] = ["name", "posthouse", "version", __version__]
    yield Untagged((Atom("ID"), info))
    yield ok(tag, "ID completed")


async def handle_enable(
    ctx: HandlerContext, tag: str, cmd: c.EnableCommand
) -> AsyncIterator[Response]:
    """Turn on IMAP4rev2, UTF8=ACCEPT, CONDSTORE, QRESYNC, UIDONLY; unknown names are ignored
    (RFC 5161 3.1).

    IMAP4rev2 and UTF8=ACCEPT make mailbox names UTF-8 from now on (RFC 9051 5.1, RFC 6855
    3); IMAP4rev2 also drops \\Recent and RECENT responses. QRESYNC implies CONDSTORE
    (RFC 7162 3.2.3). UIDONLY (RFC 9586 3.1) stays on for the connection: numbered
    commands are refused, FETCH data goes out as UIDFETCH and expunges as VANISHED.
    """
    enabled: list[str] = []
    for name in dict.fromkeys(cmd.capabilities):
        if name not in ENABLEABLE:
            continue
        if name == "IMAP4REV2" and not ctx.rev2:
            ctx.rev2 = True
            enabled.append("IMAP4rev2")
        elif name == "UTF8=ACCEPT" and "UTF8=ACCEPT" not in ctx.enabled:
            enabled.append("UTF8=ACCEPT")
        elif name == "CONDSTORE" and not ctx.condstore:
            ctx.enable_condstore()
            enabled.append("CONDSTORE")
        elif name == "QRESYNC" and not ctx.qresync:
            ctx.qresync = True
            ctx.enable_condstore()
            enabled.append("QRESYNC")
        elif name == "UIDONLY" and not ctx.uidonly:
            ctx.uidonly = True
            enabled.append("UIDONLY")
        ctx.enabled |= {name}
    ctx.utf8 = ctx.rev2 or "UTF8=ACCEPT" in ctx.enabled
    yield Untagged((Atom("ENABLED"), *(Atom(n) for n in enabled)))
    yield ok(tag, "ENABLE completed")


async def handle_namespace(
    ctx: HandlerContext, tag: str, cmd: c.NamespaceCommand
) -> AsyncIterator[Response]:
    """One personal namespace with "/" as delimiter; no shared or other users' (RFC 2342)."""
    personal: list[Value] = [["", HIERARCHY_DELIMITER]]
    yield Untagged((Atom("NAMESPACE"), personal, None, None))
    yield ok(tag, "NAMESPACE completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.CapabilityCommand: handle_capability,
    c.NoopCommand: handle_noop,
    c.CheckCommand: handle_noop,
    c.LogoutCommand: handle_logout,
    c.IdCommand: handle_id,
    c.EnableCommand: handle_enable,
    c.NamespaceCommand: handle_namespace,
}
