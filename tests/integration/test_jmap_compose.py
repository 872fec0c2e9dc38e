"""JMAP Email/set create (RFC 8621 4.6) over real sockets: a draft composed over JMAP is
stored as an RFC 5322 message that IMAP sees in Drafts, with its keywords as flags."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jmap import JmapTestClient, imap_login
from tests.support.server import ServerThread, make_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


def box_ids(client: JmapTestClient) -> dict[str, str]:
    result = client.call("Mailbox/get", {})
    return {m["name"]: m["id"] for m in result["list"]}


def upload(client: JmapTestClient, data: bytes, content_type: str) -> str:
    status, _, body = client.request("POST", f"/jmap/upload/{client.account_id}/", data,
                                     {"Content-Type": content_type})
    assert status == 201, body
    return str(json.loads(body)["blobId"])


def draft(boxes: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {"mailboxIds": {boxes["Drafts"]: True}, "keywords": {"$draft": True, "$seen": True},
            "from": [{"name": "Alice Liddell", "email": "alice@example.test"}],
            "to": [{"name": "Zoë Ünter", "email": "zoe@example.test"}],
            "subject": "Café plans ☕", **extra}


def test_a_draft_with_text_html_and_attachment_reaches_imap_drafts(
        server: ServerThread, alice: JmapTestClient) -> None:
    boxes = box_ids(alice)
    blob = upload(alice, b"%PDF-1.4 binary \x00\xff", "application/pdf")
    obj = draft(boxes, cc=[{"email": "carol@example.test"}],
                inReplyTo=["root@example.test"], references=["root@example.test"],
                sentAt="2026-12-03T07:00:00Z", messageId=["draft1@example.test"],
                **{"header:X-Mailer:asText": "posthouse tests"},
                bodyValues={"t": {"value": "Café at noon?\nLong line " + "x" * 100},
                            "h": {"value": "<p>Café at <b>noon</b>?</p>"}},
                textBody=[{"partId": "t", "type": "text/plain"}],
                htmlBody=[{"partId": "h", "type": "text/html"}],
                attachments=[{"blobId": blob, "type": "application/pdf",
                              "name": "plan.pdf"}])
    result = alice.call("Email/set", {"create": {"d1": obj}})
    assert result["notCreated"] is None, result
    created = result["created"]["d1"]
    assert created["id"].startswith("M")
    assert created["blobId"].startswith("G")
    got = alice.call("Email/get", {"ids": [created["id"]],
                                   "properties": ["subject", "from", "to", "keywords",
                                                  "mailboxIds", "sentAt", "inReplyTo",
                                                  "attachments", "textBody", "htmlBody",
                                                  "bodyValues"],
                                   "fetchAllBodyValues": True})["list"][0]
    assert got["subject"] == "Café plans ☕"
    assert got["to"] == [{"name": "Zoë Ünter", "email": "zoe@example.test"}]
    assert got["keywords"] == {"$draft": True, "$seen": True}
    assert got["mailboxIds"] == {boxes["Drafts"]: True}
    assert got["sentAt"] == "2026-12-03T07:00:00Z"
    assert got["inReplyTo"] == ["root@example.test"]
    assert [a["name"] for a in got["attachments"]] == ["plan.pdf"]
    values = got["bodyValues"]
    assert values[got["textBody"][0]["partId"]]["value"].startswith("Café at noon?")
    assert "<b>noon</b>" in values[got["htmlBody"][0]["partId"]]["value"]

    imap = imap_login(server, alice.user)
    try:
        typ, data = imap.select("Drafts")
        assert typ == "OK"
        assert data == [b"1"]
        typ, fetched = imap.fetch("1", "(FLAGS RFC822)")
        assert typ == "OK"
        flags, raw = fetched[0][0], fetched[0][1]
    finally:
        imap.logout()
    assert b"\\Draft" in flags
    assert b"\\Seen" in flags
    assert isinstance(raw, bytes)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    raw.decode("ascii")  # 7-bit on the wire: RFC 2047 headers, QP/base64 bodies
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert str(parsed["Subject"]) == "Café plans ☕"
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n")[0]
    assert parsed["X-Mailer"] == "posthouse tests"
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, attachment = parsed.get_payload()
    assert alternative.get_content_type() == "multipart/alternative"
    assert attachment.get_content() == b"%PDF-1.4 binary \x00\xff"
    assert attachment["Content-Transfer-Encoding"] == "base64"


def test_a_body_structure(alice: JmapTestClient) -> None:
    boxes = box_ids(alice)
    obj = draft(boxes, bodyValues={"1": {"value": "only text"}},
                bodyStructure={"type": "multipart/mixed", "subParts": [
                    {"partId": "1", "type": "text/plain"}]})
    created = alice.call("Email/set", {"create": {"k": obj}})["created"]["k"]
    got = alice.call("Email/get", {"ids": [created["id"]],
                                   "properties": ["bodyStructure", "preview"]})["list"][0]
    assert got["bodyStructure"]["type"] == "multipart/mixed"
    assert got["preview"] == "only text"


def test_bad_objects_are_refused_with_the_property(alice: JmapTestClient) -> None:
    boxes = box_ids(alice)
    result = alice.call("Email/set", {"create": {
        "noBox": {**draft(boxes), "mailboxIds": {}},
        "badAddr": draft(boxes, to=[{"email": "not an address"}]),
        "serverSet": draft(boxes, size=5),
        "noBlob": draft(boxes, attachments=[{"blobId": "Bnothere", "type": "text/plain"}]),
        "noValue": draft(boxes, textBody=[{"partId": "x", "type": "text/plain"}]),
    }})
    refused = result["notCreated"]
    assert refused["noBox"]["properties"] == ["mailboxIds"]
    assert refused["badAddr"]["properties"] == ["to"]
    assert refused["serverSet"]["properties"] == ["size"]
    assert refused["noBlob"]["type"] == "blobNotFound"
    assert refused["noValue"]["properties"] == ["bodyValues"]
    assert result["created"] is None
