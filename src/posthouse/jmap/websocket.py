"""JMAP over WebSocket (RFC 8887) on the upgraded HTTPS connection.

``GET /jmap/ws/`` with ``Upgrade: websocket`` and the ``jmap`` subprotocol (RFC 8887 4.1)
is answered 101 by the page; serve/http.py then hands the connection here. wsproto is the
sans-IO frame core (like h11 for HTTP): bytes in, events out. The client sends Request
objects (4.3.1) and gets Response or RequestError objects (4.3.2, 4.3.4) with its ``id`` as
``requestId``; ``WebSocketPushEnable`` / ``WebSocketPushDisable`` (4.3.5) turn StateChange
pushes on and off, fed by the store's event hub as the event source is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
from typing import Any

from wsproto.connection import Connection as WsConnection
from wsproto.connection import ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Ping, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from posthouse.jmap.api import JmapApi, account_id_of
from posthouse.jmap.errors import JmapRequestProblem
from posthouse.jmap.push import TYPES
from posthouse.jmap.state import encode_state
from posthouse.net.connection import Connection
from posthouse.store.api import Store
from posthouse.web.messages import HttpRequest, HttpResponse

log = logging.getLogger("posthouse.jmap")

WEBSOCKET_PATH = "/jmap/ws/"
SUBPROTOCOL = "jmap"
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 1.3
IDLE_SECONDS = 600.0  # clients ping; a silent socket this long is closed
MAX_MESSAGE = 1024 * 1024


def handshake(request: HttpRequest, run: Any) -> HttpResponse:
    """The 101 answer to a WebSocket upgrade for JMAP (RFC 6455 4.2.2, RFC 8887 4.1), or a
    400/426 when the request is not one."""
    upgrade = (request.header("upgrade") or "").lower()
    connection = {t.strip().lower() for t in (request.header("connection") or "").split(",")}
    key = request.header("sec-websocket-key") or ""
    protocols = {p.strip() for p in (request.header("sec-websocket-protocol") or "").split(",")}
    if upgrade != "websocket" or "upgrade" not in connection:
        return HttpResponse.error(426).with_header("Upgrade", "websocket")
    if request.header("sec-websocket-version") != "13" or len(key.strip()) != 24:
        return HttpResponse.error(400, "a WebSocket version 13 handshake is needed")
    if SUBPROTOCOL not in protocols:
        return HttpResponse.error(400, "the jmap subprotocol is needed (RFC 8887 4.1)")
    # RFC 6455 4.2.2: SHA-1 is what the handshake defines (a proof of WebSocket, no secret)
    digest = hashlib.sha1(key.strip().encode() + _GUID, usedforsecurity=False).digest()
    accept = base64.b64encode(digest).decode()
    return HttpResponse(101, b"", [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                   ("Sec-WebSocket-Accept", accept),
                                   ("Sec-WebSocket-Protocol", SUBPROTOCOL)], upgrade=run)


class JmapWebSocket:
    """One upgraded connection of one authenticated user."""

    def __init__(self, api: JmapApi, store: Store, user_id: int, address: str) -> None:
        self.api = api
        self.store = store
        self.user_id = user_id
        self.address = address
        self.ws = WsConnection(ConnectionType.SERVER)
        self.conn: Connection | None = None
        self.pusher: asyncio.Task[None] | None = None
        self.text = ""

    async def run(self, conn: Connection, leftover: bytes) -> None:
        """Serve frames until either side closes."""
        self.conn = conn
        try:
            if leftover:
                self.ws.receive_data(leftover)
                await self._handle_events()
            while self.ws.state is ConnectionState.OPEN:
                try:
                    data = await conn.read(IDLE_SECONDS)
                except TimeoutError:
                    self._send(CloseConnection(code=1001, reason="idle"))
                    return
                self.ws.receive_data(data or None)
                await self._handle_events()
                if not data:
                    return
        except RemoteProtocolError as exc:
            log.info("websocket protocol error: %s", exc)
            with contextlib.suppress(LocalProtocolError):
                self._send(CloseConnection(code=1002, reason="protocol error"))
        finally:
            if self.pusher is not None:
                self.pusher.cancel()
                await asyncio.wait({self.pusher})
            with contextlib.suppress(Exception):
                await conn.drain()

    def _send(self, event: Any) -> None:
        assert self.conn is not None
        self.conn.write(self.ws.send(event))

    def _send_json(self, value: dict[str, Any]) -> None:
        if self.ws.state is ConnectionState.OPEN:
            self._send(TextMessage(data=json.dumps(value, separators=(",", ":"))))

    async def _handle_events(self) -> None:
        for event in self.ws.events():
            if isinstance(event, CloseConnection):
                if self.ws.state is not ConnectionState.CLOSED:
                    self._send(event.response())
            elif isinstance(event, Ping):
                self._send(event.response())
            elif isinstance(event, TextMessage):
                self.text += event.data
                if len(self.text) > MAX_MESSAGE:
                    self._send(CloseConnection(code=1009, reason="message too big"))
                    return
                if event.message_finished:
                    text, self.text = self.text, ""
                    await self._message(text)
            elif isinstance(event, BytesMessage):
                # RFC 8887 4.2: JMAP messages are text; binary ones are refused alike
                self._problem(None, JmapRequestProblem("notJSON", "binary messages are not JMAP"))
        assert self.conn is not None
        await self.conn.drain()

    def _problem(self, request_id: Any, problem: JmapRequestProblem) -> None:
        """A RequestError (RFC 8887 4.3.4)."""
        self._send_json({"@type": "RequestError", "requestId": request_id,
                         **problem.document()})

    async def _message(self, text: str) -> None:
        try:
            value = json.loads(text)
        except ValueError:
            self._problem(None, JmapRequestProblem("notJSON", "the message is not JSON"))
            return
        kind = value.get("@type") if isinstance(value, dict) else None
        request_id = value.get("id") if isinstance(value, dict) else None
        if kind == "Request":
            await self._request(value, request_id)
        elif kind == "WebSocketPushEnable":
            types = value.get("dataTypes")
            wanted = TYPES if types is None else tuple(
                t for t in types if t in TYPES) if isinstance(types, list) else TYPES
            if self.pusher is not None:
                self.pusher.cancel()
            self.pusher = asyncio.create_task(self._push(wanted))
        elif kind == "WebSocketPushDisable":
            if self.pusher is not None:
                self.pusher.cancel()
                self.pusher = None
        else:
            self._problem(request_id, JmapRequestProblem(
                "notRequest", "the message is not a Request or a push control"))

    async def _request(self, value: dict[str, Any], request_id: Any) -> None:
        body = {k: v for k, v in value.items() if k not in ("@type", "id")}
        try:
            parsed = self.api.parse(json.dumps(body).encode())
        except JmapRequestProblem as problem:
            self._problem(request_id, problem)
            return
        result = await self.api.run(parsed, self.user_id, self.address, origin=object())
        response: dict[str, Any] = {"@type": "Response", **result}
        if request_id is not None:
            response["requestId"] = request_id
        self._send_json(response)

    async def _push(self, types: tuple[str, ...]) -> None:
        """StateChange objects after every committed change of the user (RFC 8887 4.3.5)."""
        subscription = self.store.subscribe(self.user_id)
        account = account_id_of(self.user_id)
        try:
            last = encode_state(await self.store.list_mailboxes(self.user_id))
            while True:
                await subscription.get()
                subscription.drain()
                state = encode_state(await self.store.list_mailboxes(self.user_id))
                if state != last and types:
                    last = state
                    self._send_json({"@type": "StateChange",
                                     "changed": {account: dict.fromkeys(types, state)}})
                    assert self.conn is not None
                    await self.conn.drain()
        finally:
            subscription.close()
