"""JMAP over WebSocket (RFC 8887) with an independent client (the websockets library):
the handshake with the jmap subprotocol, Request/Response with requestId, RequestError,
and StateChange pushes after WebSocketPushEnable for a change made over IMAP."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.support.jmap import CORE, MAIL, JmapTestClient, append, imap_login, message
from tests.support.server import PASSWORD, ServerThread, make_config

USER = "alice@example.test"
WS = "urn:ietf:params:jmap:websocket"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(USER)
        yield srv


def auth_header(password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()}


def url(server: ServerThread) -> str:
    return f"wss://127.0.0.1:{server.port('https')}/jmap/ws/"


async def recv(ws: Any) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


def test_session_names_the_websocket(server: ServerThread) -> None:
    session = JmapTestClient(server, USER).session()
    assert session["capabilities"][WS] == {"url": url(server), "supportsPush": True}


def test_requests_and_errors_over_websocket(server: ServerThread) -> None:
    account = JmapTestClient(server, USER).account_id

    async def talk() -> None:
        async with connect(url(server), ssl=server.client_tls(), subprotocols=["jmap"],
                           additional_headers=auth_header()) as ws:
            assert ws.subprotocol == "jmap"
            await ws.send(json.dumps({"@type": "Request", "id": "r1", "using": [CORE, MAIL],
                                      "methodCalls": [["Core/echo", {"a": 1}, "c0"],
                                                      ["Mailbox/get", {"accountId": account,
                                                                       "ids": []}, "c1"]]}))
            reply = await recv(ws)
            assert reply["@type"] == "Response"
            assert reply["requestId"] == "r1"
            assert reply["methodResponses"][0] == ["Core/echo", {"a": 1}, "c0"]
            assert reply["methodResponses"][1][0] == "Mailbox/get"
            await ws.send("not json")
            error = await recv(ws)
            assert error["@type"] == "RequestError"
            assert error["type"] == "urn:ietf:params:jmap:error:notJSON"
            await ws.send(json.dumps({"@type": "Request", "id": "r2", "using": ["urn:x"],
                                      "methodCalls": []}))
            error = await recv(ws)
            assert error["requestId"] == "r2"
            assert error["type"] == "urn:ietf:params:jmap:error:unknownCapability"

    asyncio.run(talk())


def test_push_over_websocket(server: ServerThread) -> None:
    account = JmapTestClient(server, USER).account_id

    async def talk() -> None:
        async with connect(url(server), ssl=server.client_tls(), subprotocols=["jmap"],
                           additional_headers=auth_header()) as ws:
            await ws.send(json.dumps({"@type": "WebSocketPushEnable",
                                      "dataTypes": ["Email"]}))
            await asyncio.sleep(0.2)  # the push is on once the server has read the message
            await asyncio.to_thread(append, server, USER, message("over the socket"))
            change = await recv(ws)
            assert change["@type"] == "StateChange"
            assert set(change["changed"][account]) == {"Email"}
            state = change["changed"][account]["Email"]

            def flag() -> None:
                imap = imap_login(server, USER)
                imap.select("INBOX")
                imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")
                imap.logout()

            await asyncio.to_thread(flag)
            change = await recv(ws)
            assert change["changed"][account]["Email"] != state

    asyncio.run(talk())


def test_handshake_refusals(server: ServerThread) -> None:
    async def refused(**kwargs: Any) -> int:
        try:
            async with connect(url(server), ssl=server.client_tls(), **kwargs):
                return 101
        except InvalidStatus as exc:
            return exc.response.status_code

    assert asyncio.run(refused(subprotocols=["jmap"])) == 401
    assert asyncio.run(refused(subprotocols=["jmap"],
                               additional_headers=auth_header("wrong"))) == 401
    assert asyncio.run(refused(subprotocols=["chat"], additional_headers=auth_header())) == 400
