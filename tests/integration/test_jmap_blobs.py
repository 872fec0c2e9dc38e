"""JMAP blobs over real sockets: upload (RFC 8620 6.1), download (6.2), and Email/import
(RFC 8621 4.8) filing an uploaded message that IMAP then sees."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jmap import CORE, JmapTestClient, imap_login, message
from tests.support.server import ServerThread, make_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        srv.add_user("bob@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


def upload(client: JmapTestClient, data: bytes, content_type: str = "message/rfc822",
           account: str | None = None) -> tuple[int, dict[str, object]]:
    status, _, body = client.request("POST", f"/jmap/upload/{account or client.account_id}/",
                                     data, {"Content-Type": content_type})
    return status, json.loads(body) if body.startswith(b"{") else {}


def test_upload_then_download(alice: JmapTestClient) -> None:
    status, blob = upload(alice, b"any bytes at all", "application/octet-stream")
    assert status == 201
    assert blob["size"] == 16
    assert blob["type"] == "application/octet-stream"
    assert blob["accountId"] == alice.account_id
    status, headers, data = alice.request(
        "GET", f"/jmap/download/{alice.account_id}/{blob['blobId']}/x.bin?accept=text/plain")
    assert status == 200
    assert data == b"any bytes at all"
    assert headers["content-type"] == "text/plain"
    assert "x.bin" in headers["content-disposition"]
    again = upload(alice, b"any bytes at all", "application/octet-stream")[1]
    assert again["blobId"] == blob["blobId"]  # same bytes, same blob


def test_blobs_are_per_account(server: ServerThread, alice: JmapTestClient) -> None:
    bob = JmapTestClient(server, "bob@example.test")
    _, blob = upload(alice, b"alice's secret")
    status, _, _ = bob.request(
        "GET", f"/jmap/download/{bob.account_id}/{blob['blobId']}/x?accept=a/b")
    assert status == 404
    status, _, _ = bob.request(
        "GET", f"/jmap/download/{alice.account_id}/{blob['blobId']}/x?accept=a/b")
    assert status == 404
    status, _ = upload(bob, b"x", account=alice.account_id)
    assert status == 404


def test_upload_over_the_limit(server: ServerThread, alice: JmapTestClient) -> None:
    limit = alice.session()["capabilities"][CORE]["maxSizeUpload"]
    # the head alone: the listener refuses the declared body before it is sent
    raw = socket.create_connection(("127.0.0.1", server.port("https")), timeout=30)
    with server.client_tls().wrap_socket(raw) as conn:
        conn.sendall((f"POST /jmap/upload/{alice.account_id}/ HTTP/1.1\r\n"
                      f"Host: 127.0.0.1\r\nAuthorization: {alice.auth}\r\n"
                      f"Content-Type: text/plain\r\nContent-Length: {limit + 1}\r\n\r\n"
                      ).encode())
        assert conn.recv(100).startswith(b"HTTP/1.1 413 ")


def test_email_import(server: ServerThread, alice: JmapTestClient) -> None:
    raw = message("imported", body="brought in over JMAP\r\n")
    _, blob = upload(alice, raw)
    boxes = {m["name"]: m["id"] for m in alice.call("Mailbox/get", {})["list"]}
    result = alice.call("Email/import", {"emails": {
        "i1": {"blobId": blob["blobId"], "mailboxIds": {boxes["INBOX"]: True,
                                                        boxes["Archive"]: True},
               "keywords": {"$seen": True}, "receivedAt": "2026-11-30T12:00:00Z"},
        "i2": {"blobId": "Udeadbeef", "mailboxIds": {boxes["INBOX"]: True}},
        "i3": {"blobId": blob["blobId"], "mailboxIds": {"Fnope": True}}}})
    created = result["created"]["i1"]
    assert created["size"] == len(raw)
    assert result["notCreated"]["i2"]["type"] == "blobNotFound"
    assert result["notCreated"]["i3"]["type"] == "invalidProperties"
    (email,) = alice.call("Email/get", {"ids": [created["id"]],
                                        "properties": ["subject", "mailboxIds", "keywords",
                                                       "receivedAt", "threadId"]})["list"]
    assert email["subject"] == "imported"
    assert email["mailboxIds"] == {boxes["INBOX"]: True, boxes["Archive"]: True}
    assert email["keywords"] == {"$seen": True}
    assert email["receivedAt"] == "2026-11-30T12:00:00Z"
    assert email["threadId"] == created["threadId"]
    assert server.inbox(alice.user) == [raw]
    imap = imap_login(server, alice.user)
    imap.select("Archive")
    _typ, data = imap.uid("FETCH", "1", "(FLAGS INTERNALDATE)")
    imap.logout()
    assert b"\\Seen" in data[0]
    assert b"30-Nov-2026" in data[0]


def test_email_parse(server: ServerThread, alice: JmapTestClient) -> None:
    inner = message("the forwarded one", body="inside\r\n").decode()
    outer = (
        "From: a@example.test\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="x"\r\n\r\n'
        "--x\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        f"--x\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--x--\r\n").encode()
    _, blob = upload(alice, outer)
    _, junk = upload(alice, b"   \r\n")
    result = alice.call("Email/parse", {"blobIds": [blob["blobId"], junk["blobId"], "Unone"],
                                        "fetchTextBodyValues": True})
    parsed = result["parsed"][blob["blobId"]]
    assert parsed["subject"] == "Fwd"
    assert parsed["hasAttachment"] is True
    assert result["notParsable"] == [junk["blobId"]]
    assert result["notFound"] == ["Unone"]
    # import it, then parse the attached message by its part blob
    boxes = {m["name"]: m["id"] for m in alice.call("Mailbox/get", {})["list"]}
    created = alice.call("Email/import", {"emails": {"a": {
        "blobId": blob["blobId"], "mailboxIds": {boxes["INBOX"]: True}}}})["created"]["a"]
    (email,) = alice.call("Email/get", {"ids": [created["id"]],
                                        "properties": ["attachments"]})["list"]
    part_blob = email["attachments"][0]["blobId"]
    again = alice.call("Email/parse", {"blobIds": [part_blob], "properties": ["subject",
                                                                               "size"]})
    assert again["parsed"][part_blob]["subject"] == "the forwarded one"
    bad = alice.call("Email/parse", {"blobIds": [part_blob], "properties": ["mailboxIds"]})
    assert bad["error"]["type"] == "invalidArguments"


def test_search_snippets(server: ServerThread, alice: JmapTestClient) -> None:
    from tests.support.jmap import append

    append(server, alice.user, message("Quarterly <figures>",
                                       body="The figures for the quarter are good.\r\n"))
    (email,) = alice.call("Email/get", {"properties": ["id"]})["list"]
    result = alice.call("SearchSnippet/get", {"emailIds": [email["id"], "Mnone"],
                                              "filter": {"text": "figures"}})
    (snippet,) = result["list"]
    assert snippet["subject"] == "Quarterly &lt;<mark>figures</mark>&gt;"
    assert "<mark>figures</mark>" in snippet["preview"]
    assert result["notFound"] == ["Mnone"]
