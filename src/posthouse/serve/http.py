"""HTTP/1.1 IO adapter (80, and 443 with implicit TLS): drives h11 on a net Connection and
hands each complete request to the route table (web/routes.py).

h11 is the sans-IO core here, as smtp/ and pop3/ are for mail: bytes in, events out. This
module owns the limits the core does not: the request head must be complete within
``[http] header_seconds`` of its first byte (else 408 and the connection is cut as too
slow), a kept-alive connection waits ``idle_seconds`` for the next request, the head is at
most ``max_header_bytes`` (431), the body at most ``max_body_bytes`` (413, refused from
Content-Length before it is sent) and must arrive at the mail listeners' minimum rate.
Malformed input gets h11's 4xx and the connection is closed (RFC 9112 2.2, 3); so is every
error answer. Requests are answered one at a time in the order received (RFC 9112 9.3.2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from email.utils import formatdate
from typing import Any

import h11

from posthouse.log import new_session_id
from posthouse.net.connection import Connection, ConnectionClosed, TooSlow
from posthouse.net.limits import MinRate
from posthouse.net.listeners import Handler, SessionContext
from posthouse.services import Services
from posthouse.web.messages import (
    BadTarget,
    HttpRequest,
    HttpResponse,
    header_pairs,
    host_name,
    reason,
    split_target,
)
from posthouse.web.routes import HttpRoutes

log = logging.getLogger("posthouse.http")

# Sent on every answer unless the handler set its own (web/messages.py documents them).
DEFAULT_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
    b"Connection: close\r\nRetry-After: 10\r\n\r\n"
)


def make_handler(services: Services, routes: HttpRoutes) -> Handler:
    """The listener callback for http and https."""

    async def handle(conn: Connection, ctx: SessionContext) -> None:
        await HttpSession(services, routes, conn, ctx).run()

    return handle


class _Refuse(Exception):
    """End the connection with this error status (after answering it)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HttpSession:
    """One HTTP connection: requests read, dispatched and answered until either side ends."""

    def __init__(
        self, services: Services, routes: HttpRoutes, conn: Connection, ctx: SessionContext
    ) -> None:
        self.services = services
        self.cfg = services.config.http
        self.routes = routes
        self.conn = conn
        self.ctx = ctx
        self.sid = new_session_id("h")
        self.scheme = "https" if ctx.implicit_tls else "http"
        self.core = h11.Connection(h11.SERVER, max_incomplete_event_size=self.cfg.max_header_bytes)
        limits = services.config.limits
        self.rate = MinRate(limits.data_min_bytes_per_second, limits.data_rate_window_seconds)
        self.served = 0

    async def run(self) -> None:
        """Serve requests until close, timeout, an error answer or shutdown."""
        log.debug("connect peer=%s tls=%s", self.conn.peer[0], self.conn.tls_version)
        try:
            while True:
                try:
                    request = await self._read_request()
                except _Refuse as refused:
                    await self._refuse(refused.status, refused.detail)
                    return
                if request is None:
                    return
                response = await self._answer(request)
                if not await self._send(request, response):
                    return
                self.served += 1
                if self.core.our_state is not h11.DONE or self.core.their_state is not h11.DONE:
                    return
                self.core.start_next_cycle()
        finally:
            self.conn.close()

    # -- reading -------------------------------------------------------------------------

    async def _read_request(self) -> HttpRequest | None:
        """The next complete request; None when the client closed or went idle."""
        loop = asyncio.get_running_loop()
        head_started: float | None = None
        head: h11.Request | None = None
        body = bytearray()
        while True:
            try:
                event = self.core.next_event()
            except h11.RemoteProtocolError as exc:
                raise _Refuse(exc.error_status_hint, str(exc)) from None
            if event is h11.NEED_DATA:
                if head is None:
                    if head_started is None and not self._has_buffered_input():
                        data = await self._wait_for_request()
                        if data is None:
                            return None
                        head_started = loop.time()
                    else:
                        head_started = head_started or loop.time()
                        data = await self._read_head(head_started)
                else:
                    data = await self._read_body()
                self.core.receive_data(data)
            elif isinstance(event, h11.Request):
                head = event
                self._check_length(event)
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > self.cfg.max_body_bytes:
                    raise _Refuse(413, "request body too large")
            elif isinstance(event, h11.EndOfMessage):
                assert head is not None
                return self._request(head, bytes(body))
            else:  # ConnectionClosed, or PAUSED (not reached: one request at a time)
                return None

    def _has_buffered_input(self) -> bool:
        """Whether h11 holds bytes of the next request (a pipelined one)."""
        data, _closed = self.core.trailing_data
        return bool(data)

    async def _wait_for_request(self) -> bytes | None:
        """Wait for the first bytes of a request: ``header_seconds`` on a new connection,
        ``idle_seconds`` between kept-alive requests; None on timeout or shutdown (a quiet
        close, RFC 9112 9.5) or at end of stream with nothing sent."""
        if self.ctx.shutting_down.is_set():
            return None
        idle = float(self.cfg.idle_seconds if self.served else self.cfg.header_seconds)
        reading = asyncio.ensure_future(self.conn.read(idle))
        stopping = asyncio.ensure_future(self.ctx.shutting_down.wait())
        try:
            await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            reading.cancel()
            raise
        finally:
            stopping.cancel()
        if not reading.done():
            reading.cancel()
            await asyncio.wait({reading})
            return None
        try:
            data = reading.result()
        except TimeoutError:
            return None
        if not data:
            self.core.receive_data(b"")
            return None
        return data

    async def _read_head(self, started: float) -> bytes:
        """More of a request head, which must be complete ``header_seconds`` after its first
        byte (a slowloris trickling header lines is cut: 408)."""
        left = started + self.cfg.header_seconds - asyncio.get_running_loop().time()
        try:
            if left <= 0:
                raise TimeoutError
            return await self.conn.read(left)
        except TimeoutError:
            self.conn.slow_reason = f"request head not complete within {self.cfg.header_seconds} s"
            raise _Refuse(408, "request head not complete in time") from None

    async def _read_body(self) -> bytes:
        """More of a request body, at the minimum rate of bulk input."""
        try:
            return await self.conn.read(float(self.cfg.header_seconds), min_rate=self.rate)
        except TooSlow:
            raise _Refuse(408, "request body too slow") from None
        except TimeoutError:
            self.conn.slow_reason = "request body stalled"
            raise _Refuse(408, "request body stalled") from None

    def _check_length(self, head: h11.Request) -> None:
        """Refuse a head over the limit (h11 bounds only an incomplete one) and a declared
        body over the limit before the client sends it."""
        size = (
            len(head.method)
            + len(head.target)
            + sum(len(name) + len(value) + 4 for name, value in head.headers)
        )
        if size > self.cfg.max_header_bytes:
            raise _Refuse(431, "request head too large")
        for name, value in head.headers:
            if name == b"content-length" and int(value) > self.cfg.max_body_bytes:
                raise _Refuse(413, "request body too large")
        if self.core.they_are_waiting_for_100_continue:
            self.conn.write(self.core.send(h11.InformationalResponse(status_code=100, headers=[])))

    def _request(self, head: h11.Request, body: bytes) -> HttpRequest | None:
        headers = header_pairs(head.headers)
        target = head.target.decode("ascii", "replace")
        try:
            path, query = split_target(target)
        except BadTarget as exc:
            raise _Refuse(400, str(exc)) from None
        host = host_name(next((v for k, v in headers if k == "host"), None))
        return HttpRequest(
            method=head.method.decode("ascii"),
            target=target,
            path=path,
            query=query,
            headers=headers,
            body=body,
            host=host,
            scheme=self.scheme,
            peer=self.conn.peer[0],
            listener=self.ctx.protocol,
        )

    # -- answering -----------------------------------------------------------------------

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        started = time.monotonic()
        try:
            response = await self.routes.dispatch(request)
        except ConnectionClosed:
            raise
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            response = HttpResponse.error(500)
        self.services.metrics.http_request(self.ctx.protocol, response.status)
        log.info(
            "request peer=%s method=%s host=%s path=%s status=%d bytes=%d ms=%d",
            request.peer,
            request.method,
            request.host or "-",
            request.path,
            response.status,
            len(response.body),
            (time.monotonic() - started) * 1000,
        )
        return response

    async def _send(self, request: HttpRequest, response: HttpResponse) -> bool:
        """Write the response; False when the connection must close after it."""
        if response.status == 101 and response.upgrade is not None:
            return await self._switch(request, response)
        closing = response.status >= 400 and response.status not in (401, 403, 404, 405)
        closing = closing or self.ctx.shutting_down.is_set()
        body = b"" if request.method == "HEAD" else response.body
        headers = self._headers(response, closing)
        try:
            self.conn.write(
                self.core.send(
                    h11.Response(
                        status_code=response.status,
                        headers=headers,
                        reason=reason(response.status).encode(),
                    )
                )
            )
            if body:
                self.conn.write(self.core.send(h11.Data(data=body)))
            if response.stream is not None and request.method != "HEAD":
                await self._stream(response.stream())
                closing = True
            self.conn.write(self.core.send(h11.EndOfMessage()))
        except h11.LocalProtocolError:
            log.exception("response to %s %s could not be framed", request.method, request.path)
            return False
        except (ConnectionClosed, OSError):
            return False
        await self.conn.drain()
        return not closing

    async def _switch(self, request: HttpRequest, response: HttpResponse) -> bool:
        """Answer 101 and hand the connection to the response's upgrade function (RFC 9110
        7.8); the connection closes when it returns."""
        assert response.upgrade is not None
        try:
            self.conn.write(self.core.send(h11.InformationalResponse(
                status_code=101, headers=self._headers(response, False),
                reason=b"Switching Protocols")))
        except h11.LocalProtocolError:
            log.exception("101 to %s %s could not be framed", request.method, request.path)
            return False
        leftover, _closed = self.core.trailing_data
        with contextlib.suppress(ConnectionClosed, OSError):
            await response.upgrade(self.conn, bytes(leftover))
        return False

    async def _stream(self, chunks: AsyncIterator[bytes]) -> None:
        """Send a streamed body's chunks as they come, until it ends, the client goes
        (ConnectionClosed) or the server shuts down."""
        stopping: asyncio.Future[bool] = asyncio.ensure_future(self.ctx.shutting_down.wait())
        try:
            while True:
                chunk = await self.conn.unless_closed(self._next_chunk(chunks, stopping))
                if chunk is None:
                    return
                self.conn.write(self.core.send(h11.Data(data=chunk)))
                await self.conn.drain()
        finally:
            stopping.cancel()
            with contextlib.suppress(Exception):
                await chunks.aclose()  # type: ignore[attr-defined]

    @staticmethod
    async def _next_chunk(chunks: AsyncIterator[bytes],
                          stopping: asyncio.Future[bool]) -> bytes | None:
        waiting: asyncio.Future[bytes | None] = asyncio.ensure_future(anext(chunks, None))
        both: set[asyncio.Future[Any]] = {waiting, stopping}
        try:
            await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the client went, or the server stops: end it here
            waiting.cancel()
            await asyncio.wait({waiting})
            raise
        if not waiting.done():
            waiting.cancel()
            await asyncio.wait({waiting})
            return None
        return waiting.result()

    def _headers(self, response: HttpResponse, closing: bool) -> list[tuple[str, str]]:
        names = {name.lower() for name, _ in response.headers}
        headers = [("Date", formatdate(usegmt=True)), ("Server", "posthouse")]
        headers += [(n, v) for n, v in DEFAULT_HEADERS if n.lower() not in names]
        headers += response.headers
        if response.stream is not None or response.status == 101:
            pass  # chunked (h11 frames it), or no body at all
        elif response.status not in (204, 304):  # RFC 9110 8.6: they carry no Content-Length
            headers.append(("Content-Length", str(len(response.body))))
        if closing:
            headers.append(("Connection", "close"))
        return headers

    async def _refuse(self, status: int, detail: str) -> None:
        """Answer a request that cannot be served, then close (RFC 9112 9.6)."""
        log.info("refused peer=%s status=%d reason=%s", self.conn.peer[0], status, detail)
        self.services.metrics.http_request(self.ctx.protocol, status)
        if self.core.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        response = HttpResponse.error(status, detail)
        try:
            self.conn.write(
                self.core.send(
                    h11.Response(
                        status_code=status,
                        headers=self._headers(response, True),
                        reason=reason(status).encode(),
                    )
                )
            )
            self.conn.write(self.core.send(h11.Data(data=response.body)))
            self.conn.write(self.core.send(h11.EndOfMessage()))
            await self.conn.drain()
        except (h11.LocalProtocolError, ConnectionClosed, OSError):
            pass
