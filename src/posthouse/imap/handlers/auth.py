"""STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 6.2; SASL-IR RFC 4959; RFC 8314).

Passwords are accepted only on a secure channel: TLS, or a loopback peer when the operator
allows plaintext there. LOGIN or AUTHENTICATE elsewhere is refused with ``NO
[PRIVACYREQUIRED]`` (the capability list says LOGINDISABLED). Passwords never reach a log line.
A login the password-hash queue has no room for gets ``NO [UNAVAILABLE]`` (RFC 5530 3: the
server cannot process it now; the credentials were not checked).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from posthouse import sasl
from posthouse.auth.sasl_exchange import ExchangeResult, SaslExchange, SaslOutcome
from posthouse.auth.scheduler import HashBusy
from posthouse.imap import commands as c
from posthouse.imap.capabilities import capability_code
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Continuation, Response, Status

if TYPE_CHECKING:
    from posthouse.auth.authenticator import Principal

_FAILED = "Authentication failed"


def _unavailable() -> ImapError:
    return ImapError("Too many logins in progress, try again later",
                     code=ResponseCode.UNAVAILABLE.code())


async def handle_starttls(
    ctx: HandlerContext, tag: str, cmd: c.StartTLSCommand
) -> AsyncIterator[Response]:
    """OK, then the handshake; pipelined plaintext is dropped (RFC 9051 6.2.1)."""
    if ctx.port.is_tls:
        raise ImapError("TLS is already active", status=Status.BAD)
    if ctx.port.is_compressed:  # after COMPRESS and UNAUTHENTICATE: TLS would go under DEFLATE
        raise ImapError("STARTTLS is not possible after COMPRESS", status=Status.BAD)
    yield ok(tag, "Begin TLS negotiation now")
    await ctx.port.start_tls()
    ctx.log.info("tls started")


async def _logged_in(
    ctx: HandlerContext, tag: str, principal: Principal
) -> AsyncIterator[Response]:
    ctx.login(principal)
    ctx.log.info("login user=%s", principal.address)
    yield ok(tag, "Logged in", capability_code(ctx.capabilities()))


async def handle_login(
    ctx: HandlerContext, tag: str, cmd: c.LoginCommand
) -> AsyncIterator[Response]:
    """LOGIN user password (RFC 9051 6.2.3)."""
    if not ctx.port.secure:
        raise ImapError("Login only after STARTTLS", code=ResponseCode.PRIVACYREQUIRED.code())
    try:
        principal = await ctx.services.authenticator.authenticate(
            cmd.user, cmd.password, remote_ip=ctx.port.remote_ip
        )
    except HashBusy:
        raise _unavailable() from None
    if principal is None:
        ctx.log.info("login failed for %r", cmd.user[:100])
        raise ImapError(_FAILED, code=ResponseCode.AUTHENTICATIONFAILED.code())
    async for response in _logged_in(ctx, tag, principal):
        yield response


async def _start(exchange: SaslExchange, cmd: c.AuthenticateCommand) -> ExchangeResult:
    try:
        return await exchange.start(cmd.mechanism, cmd.initial_response)
    except sasl.MechanismNotAllowed:
        raise ImapError(
            f"{cmd.mechanism} only after STARTTLS", code=ResponseCode.PRIVACYREQUIRED.code()
        ) from None
    except sasl.UnknownMechanism:
        raise ImapError(
            "Unsupported authentication mechanism", code=ResponseCode.CANNOT.code()
        ) from None


def _refusal(outcome: SaslOutcome, exchange: SaslExchange, *, initial: bool) -> ImapError:
    """The tagged response for an exchange that ended without a principal."""
    if outcome is SaslOutcome.CANCELLED:
        return ImapError("Authentication cancelled", status=Status.BAD)
    if outcome is SaslOutcome.BAD_BASE64:
        where = "initial response" if initial else "response"
        return ImapError(f"Invalid base64 in {where}", status=Status.BAD)
    if outcome is SaslOutcome.UNAVAILABLE:
        return _unavailable()
    if outcome is SaslOutcome.MALFORMED:
        detail = exchange.failure.detail if exchange.failure else "unreadable"
        return ImapError(f"Malformed response: {detail}", status=Status.BAD)
    return ImapError(_FAILED, code=ResponseCode.AUTHENTICATIONFAILED.code())


async def handle_authenticate(
    ctx: HandlerContext, tag: str, cmd: c.AuthenticateCommand
) -> AsyncIterator[Response]:
    """AUTHENTICATE mech [initial-response] (RFC 9051 6.2.2): SCRAM-SHA-256, PLAIN, LOGIN,
    through the SASL exchange SMTP and POP3 use; the client's lines go to it as sent."""
    exchange = SaslExchange(
        ctx.services.authenticator,
        remote_ip=ctx.port.remote_ip,
        allowed=ctx.sasl_mechanisms(),
    )
    result = await _start(exchange, cmd)
    initial = cmd.initial_response is not None  # a failure now is the initial response's
    while isinstance(result, sasl.Challenge):
        yield Continuation.challenge(result)
        answer = await ctx.port.read_auth_line()
        result = await exchange.step(answer.line)
        initial = False
    if isinstance(result, SaslOutcome):
        if result is SaslOutcome.REJECTED:
            ctx.log.info("login failed for %r (AUTHENTICATE %s)", exchange.authcid[:100],
                         cmd.mechanism)
        raise _refusal(result, exchange, initial=initial)
    async for response in _logged_in(ctx, tag, result):
        yield response


async def handle_unauthenticate(
    ctx: HandlerContext, tag: str, cmd: c.UnauthenticateCommand
) -> AsyncIterator[Response]:
    """Back to the not authenticated state on the same connection (RFC 8437 3): the
    mailbox is deselected without expunging and the user's state and ENABLEd extensions
    are forgotten; TLS stays."""
    ctx.logout()
    ctx.log.info("unauthenticated")
    yield ok(tag, "UNAUTHENTICATE completed")


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.StartTLSCommand: handle_starttls,
    c.UnauthenticateCommand: handle_unauthenticate,
    c.LoginCommand: handle_login,
    c.AuthenticateCommand: handle_authenticate,
}
