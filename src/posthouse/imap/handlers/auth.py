"""STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 6.2; SASL-IR RFC 4959; RFC 8314).

Passwords are accepted only on a secure channel: TLS, or a loopback peer when the operator
allows plaintext there. LOGIN elsewhere is refused with ``NO [PRIVACYREQUIRED]`` (the
capability list says LOGINDISABLED). Passwords never reach a log line.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

from posthouse import sasl
from posthouse.imap import commands as c
from posthouse.imap.capabilities import capability_code
from posthouse.imap.handlers.context import Handler, HandlerContext, ok
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Continuation, Response, Status

_FAILED = "Authentication failed"


async def starttls(
    ctx: HandlerContext, tag: str, cmd: c.StartTLSCommand
) -> AsyncIterator[Response]:
    """OK, then the handshake; pipelined plaintext is dropped (RFC 9051 6.2.1)."""
    if ctx.port.is_tls:
        raise ImapError("TLS is already active", status=Status.BAD)
    yield ok(tag, "Begin TLS negotiation now")
    await ctx.port.start_tls()
    ctx.log.info("tls started")


async def _finish_login(
    ctx: HandlerContext, tag: str, username: str, password: str
) -> AsyncIterator[Response]:
    principal = await ctx.services.authenticator.authenticate(
        username, password, remote_ip=ctx.port.remote_ip
    )
    if principal is None:
        ctx.log.info("login failed for %r", username[:100])
        raise ImapError(_FAILED, code=ResponseCode.AUTHENTICATIONFAILED.code())
    ctx.login(principal)
    ctx.log.info("login user=%s", principal.address)
    yield ok(tag, "Logged in", capability_code(ctx.capabilities()))


async def login(ctx: HandlerContext, tag: str, cmd: c.LoginCommand) -> AsyncIterator[Response]:
    """LOGIN user password (RFC 9051 6.2.3)."""
    if not ctx.port.secure:
        raise ImapError("Login only after STARTTLS", code=ResponseCode.PRIVACYREQUIRED.code())
    async for response in _finish_login(ctx, tag, cmd.user, cmd.password):
        yield response


def _wire(data: bytes | None, *, initial: bool) -> bytes | None:
    """The reader decoded base64; SASL machines take the client's text as sent."""
    if data is None:
        return None
    if initial and not data:
        return b"="  # RFC 4959: "=" is an empty initial response
    return base64.b64encode(data)


def _start(ctx: HandlerContext, name: str) -> sasl.Mechanism:
    try:
        return sasl.start(name, allowed=sasl.mechanisms(secure=ctx.port.secure))
    except sasl.MechanismNotAllowed:
        raise ImapError(
            f"{name} only after STARTTLS", code=ResponseCode.PRIVACYREQUIRED.code()
        ) from None
    except sasl.UnknownMechanism:
        raise ImapError(
            "Unsupported authentication mechanism", code=ResponseCode.CANNOT.code()
        ) from None


async def authenticate(
    ctx: HandlerContext, tag: str, cmd: c.AuthenticateCommand
) -> AsyncIterator[Response]:
    """AUTHENTICATE mech [initial-response] with PLAIN or LOGIN (RFC 9051 6.2.2)."""
    mech = _start(ctx, cmd.mechanism)
    result = mech.step(_wire(cmd.initial_response, initial=True))
    while isinstance(result, sasl.Challenge):
        yield Continuation.challenge(result.data)
        line = await ctx.port.read_auth_line()
        if line.cancelled:
            result = mech.step(b"*")
        elif line.data is None:
            raise ImapError("Invalid base64 in response", status=Status.BAD)
        else:
            result = mech.step(_wire(line.data, initial=False))
    if isinstance(result, sasl.Failure):
        if result.reason is sasl.FailureReason.CANCELLED:
            raise ImapError("Authentication cancelled", status=Status.BAD)
        if result.reason in (sasl.FailureReason.MALFORMED, sasl.FailureReason.TOO_LONG):
            raise ImapError(f"Malformed response: {result.detail}", status=Status.BAD)
        raise ImapError(_FAILED, code=ResponseCode.AUTHENTICATIONFAILED.code())
    if not isinstance(result, sasl.Credentials):  # SCRAM results: not offered here
        raise ImapError(_FAILED, code=ResponseCode.AUTHENTICATIONFAILED.code())
    async for response in _finish_login(ctx, tag, result.authcid, result.password):
        yield response


HANDLERS: dict[type[c.ImapCommand], Handler] = {
    c.StartTLSCommand: starttls,
    c.LoginCommand: login,
    c.AuthenticateCommand: authenticate,
}
