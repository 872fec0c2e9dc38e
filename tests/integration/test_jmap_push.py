"""JMAP push (RFC 8620 7.3) and one truth across protocols: a change over IMAP reaches a
JMAP event source and Email/changes; a keyword set over JMAP reaches an IMAP IDLE session."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

from tests.support.jmap import JmapTestClient, append, imap_login, message
from tests.support.server import PASSWORD, ServerThread, make_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


class EventStream:
    """A text/event-stream read event by event."""

    def __init__(self, client: JmapTestClient, query: str) -> None:
        self.conn = client.connection()
        self.conn.request("GET", f"/jmap/eventsource/?{query}",
                          headers={"Authorization": client.auth})
        self.response: http.client.HTTPResponse = self.conn.getresponse()

    def next(self) -> tuple[str, Any]:
        """The next event's type and JSON data."""
        fields: dict[str, str] = {}
        while True:
            line = self.response.readline()
            if not line:
                raise EOFError
            text = line.decode().rstrip("\n")
            if not text:
                if fields:
                    return fields["event"], json.loads(fields["data"])
                continue
            name, _, value = text.partition(": ")
            fields[name] = value

    def close(self) -> None:
        self.conn.close()


def test_event_source_sees_imap_changes(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("watched"))
    stream = EventStream(alice, "types=*&closeafter=no&ping=0")
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("content-type") == "text/event-stream"
        kind, first = stream.next()  # the current state, at once (7.3)
        assert kind == "state"
        assert first["@type"] == "StateChange"
        state = first["changed"][alice.account_id]["Email"]
        assert set(first["changed"][alice.account_id]) == {"Mailbox", "Email", "Thread"}
        imap = imap_login(server, alice.user)
        imap.select("INBOX")
        imap.uid("STORE", "1", "+FLAGS", "(\\Flagged)")
        imap.logout()
        kind, change = stream.next()
        assert kind == "state"
        new_state = change["changed"][alice.account_id]["Email"]
        assert new_state != state
        changes = alice.call("Email/changes", {"sinceState": state})
        (email,) = alice.call("Email/get", {"properties": ["keywords"]})["list"]
        assert changes["updated"] == [email["id"]]
        assert changes["newState"] == new_state
        assert email["keywords"] == {"$flagged": True}
        # new mail delivered meanwhile is a state change too
        append(server, alice.user, message("second"))
        kind, change = stream.next()
        assert change["changed"][alice.account_id]["Email"] != new_state
    finally:
        stream.close()


def test_ping_and_types(server: ServerThread, alice: JmapTestClient) -> None:
    stream = EventStream(alice, "types=Mailbox&closeafter=no&ping=1")
    try:
        kind, first = stream.next()
        assert kind == "state"
        assert set(first["changed"][alice.account_id]) == {"Mailbox"}
        kind, ping = stream.next()
        assert kind == "ping"
        assert ping == {"interval": 1}
    finally:
        stream.close()


def test_closeafter_state_ends_after_a_change(server: ServerThread,
                                              alice: JmapTestClient) -> None:
    stream = EventStream(alice, "types=*&closeafter=state&ping=0")
    try:
        stream.next()
        append(server, alice.user, message("wake"))
        kind, _change = stream.next()
        assert kind == "state"
        with pytest.raises(EOFError):
            stream.next()
    finally:
        stream.close()


def test_bad_parameters(alice: JmapTestClient) -> None:
    status, _, _ = alice.request("GET", "/jmap/eventsource/?types=*&closeafter=maybe&ping=0")
    assert status == 400
    status, _, _ = alice.request("GET", "/jmap/eventsource/?types=*&closeafter=no&ping=-1")
    assert status == 400


def test_jmap_keyword_reaches_imap_idle(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("seen from the web"))
    (email,) = alice.call("Email/get", {"properties": ["id"]})["list"]
    imap = IMAPClient("127.0.0.1", port=server.port("imaps"), ssl=True,
                      ssl_context=server.client_tls(), timeout=30)
    imap.login(alice.user, PASSWORD)
    imap.select_folder("INBOX")
    imap.idle()
    try:
        result = alice.call("Email/set", {"update": {email["id"]: {"keywords/$seen": True}}})
        assert result["updated"] == {email["id"]: None}
        seen: list[Any] = []
        for _ in range(10):
            seen += imap.idle_check(timeout=5)
            if any(b"FETCH" in r for r in seen if isinstance(r, tuple)):
                break
        fetches = [r for r in seen if isinstance(r, tuple) and r[1] == b"FETCH"]
        assert fetches, seen
        assert b"\\Seen" in fetches[0][2][fetches[0][2].index(b"FLAGS") + 1]
    finally:
        imap.idle_done()
        imap.logout()


def test_smtp_delivery_and_pop3_deletion_reach_jmap(server: ServerThread,
                                                    alice: JmapTestClient) -> None:
    import poplib
    import smtplib

    stream = EventStream(alice, "types=Email&closeafter=no&ping=0")
    try:
        _kind, first = stream.next()
        state = first["changed"][alice.account_id]["Email"]
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
            smtp.sendmail("bob@example.org", [alice.user], message("by smtp"))
        _kind, delivered = stream.next()
        after_delivery = delivered["changed"][alice.account_id]["Email"]
        changes = alice.call("Email/changes", {"sinceState": state})
        (created,) = changes["created"]
        pop = poplib.POP3_SSL("127.0.0.1", server.port("pop3s"), context=server.client_tls(),
                              timeout=30)
        pop.user(alice.user)
        pop.pass_(PASSWORD)
        pop.dele(1)
        pop.quit()
        _kind, deleted = stream.next()
        assert deleted["changed"][alice.account_id]["Email"] != after_delivery
        gone = alice.call("Email/changes", {"sinceState": after_delivery})
        assert gone["destroyed"] == [created]
    finally:
        stream.close()
