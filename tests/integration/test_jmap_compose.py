"""JMAP Email/set create (RFC 8621 4.6) over real sockets: a draft composed over JMAP is
stored as an RFC 5322 message that IMAP sees in Drafts, with its keywords as flags."""

from __future__ import annotations

import email
import email.policy
import json
import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jmap import JmapTestClient, append, imap_login
from tests.support.peer_smtp import PeerSmtp
from tests.support.server import ServerThread, make_config
from tests.support.signing import dkim_valid, signing_config


@pytest.fixture
def server(tmp_path: Path, peer: PeerSmtp) -> Iterator[ServerThread]:
    with ServerThread(signing_config(tmp_path / "data", peer.port)) as srv:
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


SUBMISSION = "urn:ietf:params:jmap:submission"
USING = ("urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail", SUBMISSION)


def identity_of(client: JmapTestClient) -> dict[str, Any]:
    (response,) = client.calls(
        ["Identity/get", {"accountId": client.account_id}, "i"], using=USING)
    (identity,) = response[1]["list"]
    return dict(identity)


def send(client: JmapTestClient, obj: dict[str, Any], identity_id: str,
         **extra: Any) -> list[list[Any]]:
    """Email/set create then EmailSubmission/set with the draft moved to Sent (RFC 8621
    7.5's onSuccessUpdateEmail)."""
    boxes = box_ids(client)
    account = client.account_id
    return client.calls(
        ["Email/set", {"accountId": account, "create": {"draft": obj}}, "0"],
        ["EmailSubmission/set", {
            "accountId": account,
            "create": {"send": {"identityId": identity_id, "emailId": "#draft", **extra}},
            "onSuccessUpdateEmail": {"#send": {
                f"mailboxIds/{boxes['Drafts']}": None, f"mailboxIds/{boxes['Sent']}": True,
                "keywords/$draft": None}}}, "1"],
        using=USING)


def test_session_and_identity(alice: JmapTestClient) -> None:
    session = alice.session()
    assert SUBMISSION in session["capabilities"]
    assert session["primaryAccounts"][SUBMISSION] == alice.account_id
    identity = identity_of(alice)
    assert identity["email"] == "alice@example.test"
    assert identity["mayDelete"] is False
    (refused,) = alice.calls(["Identity/set", {
        "accountId": alice.account_id, "create": {"x": {"email": "eve@example.test"}}}, "s"],
        using=USING)
    assert refused[1]["notCreated"]["x"]["type"] == "forbidden"


def test_submission_to_a_local_user_moves_the_draft_to_sent(
        server: ServerThread, alice: JmapTestClient) -> None:
    server.add_user("bob@example.test")
    boxes = box_ids(alice)
    identity = identity_of(alice)
    obj = draft(boxes, to=[{"name": "Bob", "email": "bob@example.test"}],
                bcc=[{"email": "bob+hidden@example.test"}],
                bodyValues={"t": {"value": "See you at noon."}},
                textBody=[{"partId": "t", "type": "text/plain"}])
    responses = send(alice, obj, identity["id"])
    assert [r[0] for r in responses] == ["Email/set", "EmailSubmission/set", "Email/set"]
    created = responses[1][1]["created"]["send"]
    assert created["undoStatus"] == "final"
    email_id = responses[0][1]["created"]["draft"]["id"]
    assert responses[2][1]["updated"] == {email_id: None}
    got = alice.call("Email/get", {"ids": [email_id], "properties": ["mailboxIds",
                                                                     "keywords"]})["list"][0]
    assert got["mailboxIds"] == {boxes["Sent"]: True}
    assert got["keywords"] == {"$seen": True}

    inbox = server.inbox("bob@example.test")
    assert len(inbox) == 1  # To and the Bcc +tag address are one user: one copy
    delivered = email.message_from_bytes(inbox[0], policy=email.policy.default)
    assert str(delivered["Subject"]) == "Café plans ☕"
    assert delivered["Bcc"] is None  # RFC 5322 3.6.3: the Bcc field is not sent
    assert delivered["Received"] is not None
    assert delivered["Return-Path"] == "<alice@example.test>"

    (got_sub,) = alice.calls(["EmailSubmission/get", {"accountId": alice.account_id,
                                                      "ids": [created["id"]]}, "g"],
                             using=USING)
    sub = got_sub[1]["list"][0]
    assert sub["emailId"] == email_id
    assert sub["deliveryStatus"]["bob@example.test"]["delivered"] == "yes"
    assert sub["envelope"]["mailFrom"]["email"] == "alice@example.test"
    assert {r["email"] for r in sub["envelope"]["rcptTo"]} == {
        "bob@example.test", "bob+hidden@example.test"}
    (queried,) = alice.calls(["EmailSubmission/query", {
        "accountId": alice.account_id, "filter": {"emailIds": [email_id]}}, "q"], using=USING)
    assert queried[1]["ids"] == [created["id"]]


def test_submission_to_a_remote_address_leaves_dkim_signed(
        server: ServerThread, alice: JmapTestClient, peer: PeerSmtp) -> None:
    boxes = box_ids(alice)
    obj = draft(boxes, to=[{"email": "far@remote.example"}],
                bodyValues={"t": {"value": "Over the hills."}},
                textBody=[{"partId": "t", "type": "text/plain"}])
    responses = send(alice, obj, identity_of(alice)["id"])
    assert responses[1][1]["created"]["send"]["undoStatus"] == "final"
    (got,) = peer.wait_accepted(1)
    assert got.mail_from == "alice@example.test"
    assert got.rcpts == ["far@remote.example"]
    signed = got.data[got.data.index(b"DKIM-Signature:"):]  # below our Received field
    assert b"d=example.test" in signed.split(b"\r\n\r\n")[0]
    assert dkim_valid(server, signed)


def test_a_from_the_user_does_not_own_is_forbidden(server: ServerThread,
                                                   alice: JmapTestClient) -> None:
    server.add_user("bob@example.test")
    boxes = box_ids(alice)
    obj = draft(boxes, **{"from": [{"email": "bob@example.test"}]},
                to=[{"email": "bob@example.test"}])
    responses = send(alice, obj, identity_of(alice)["id"])
    assert responses[1][1]["notCreated"]["send"]["type"] == "forbiddenFrom"
    assert len(responses) == 2  # no implicit Email/set: nothing was sent
    envelope = {"mailFrom": {"email": "bob@example.test"},
                "rcptTo": [{"email": "bob@example.test"}]}
    obj2 = draft(boxes, to=[{"email": "bob@example.test"}])
    responses = send(alice, obj2, identity_of(alice)["id"], envelope=envelope)
    assert responses[1][1]["notCreated"]["send"]["type"] == "forbiddenMailFrom"
    assert server.inbox("bob@example.test") == []


VACATION = "urn:ietf:params:jmap:vacationresponse"


def smtp_send(server: ServerThread, mail_from: str, to: str, extra: str = "",
              subject: str = "Lunch?") -> None:
    body = (f"From: <{mail_from or 'daemon@remote.example'}>\r\nTo: {to}\r\n"
            f"Subject: {subject}\r\nMessage-ID: <{abs(hash(subject + extra))}@remote.example>"
            f"\r\n{extra}\r\nHello.\r\n")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.sendmail(mail_from, [to], body.encode())


def test_vacation_response_answers_once_per_sender_over_smtp(
        server: ServerThread, alice: JmapTestClient, peer: PeerSmtp) -> None:
    account = alice.account_id
    (got,) = alice.calls(["VacationResponse/get", {"accountId": account}, "g"],
                         using=(*USING, VACATION))
    assert got[1]["list"] == [{"id": "singleton", "isEnabled": False, "fromDate": None,
                               "toDate": None, "subject": None, "textBody": None,
                               "htmlBody": None}]
    (done,) = alice.calls(["VacationResponse/set", {"accountId": account, "update": {
        "singleton": {"isEnabled": True, "subject": "Away", "textBody": "Back Monday."}},
        "create": {"x": {}}}, "s"], using=(*USING, VACATION))
    assert done[1]["updated"] == {"singleton": None}
    assert done[1]["notCreated"]["x"]["type"] == "singleton"

    smtp_send(server, "carol@remote.example", "alice@example.test")
    smtp_send(server, "carol@remote.example", "alice@example.test", subject="Again")
    smtp_send(server, "list@remote.example", "alice@example.test",
              extra="List-Id: <news.remote.example>\r\n")
    smtp_send(server, "robot@remote.example", "alice@example.test",
              extra="Auto-Submitted: auto-generated\r\n")
    smtp_send(server, "", "alice@example.test", subject="bounce")
    smtp_send(server, "dave@remote.example", "alice+tag@example.test", subject="to a tag")
    assert len(server.inbox("alice@example.test")) == 6

    replies = peer.wait_accepted(2)
    assert sorted(r.rcpts[0] for r in replies) == ["carol@remote.example",
                                                   "dave@remote.example"]
    first = next(r for r in replies if r.rcpts == ["carol@remote.example"])
    assert first.mail_from == ""  # RFC 3834 3.3: nothing answers the answer
    reply = email.message_from_bytes(first.data, policy=email.policy.default)
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["Subject"] == "Away"
    assert reply["From"] == "alice@example.test"
    assert reply["In-Reply-To"] == f"<{abs(hash('Lunch?'))}@remote.example>"
    assert reply.get_content().strip() == "Back Monday."
    assert dkim_valid(server, first.data[first.data.index(b"DKIM-Signature:"):])


def test_aliases_are_identities_and_destroy_on_success(server: ServerThread,
                                                       alice: JmapTestClient) -> None:
    server.add_user("bob@example.test")
    server.call(server.store.add_alias("sales@example.test", ["alice@example.test"]))
    (got,) = alice.calls(["Identity/get", {"accountId": alice.account_id}, "i"], using=USING)
    emails = sorted(i["email"] for i in got[1]["list"])
    assert emails == ["alice@example.test", "sales@example.test"]
    sales = next(i for i in got[1]["list"] if i["email"] == "sales@example.test")
    boxes = box_ids(alice)
    (before,) = alice.calls(["EmailSubmission/get", {"accountId": alice.account_id}, "g"],
                            using=USING)
    obj = draft(boxes, **{"from": [{"email": "sales@example.test"}]},
                to=[{"email": "bob@example.test"}])
    account = alice.account_id
    responses = alice.calls(
        ["Email/set", {"accountId": account, "create": {"draft": obj}}, "0"],
        ["EmailSubmission/set", {
            "accountId": account,
            "create": {"send": {"identityId": sales["id"], "emailId": "#draft"}},
            "onSuccessDestroyEmail": ["#send"]}, "1"],
        ["EmailSubmission/changes", {"accountId": account,
                                     "sinceState": before[1]["state"]}, "2"],
        using=USING)
    email_id = responses[0][1]["created"]["draft"]["id"]
    assert responses[2][0] == "Email/set"
    assert responses[2][1]["destroyed"] == [email_id]
    sub_id = responses[1][1]["created"]["send"]["id"]
    assert responses[3][1]["created"] == [sub_id]
    assert server.inbox("alice@example.test", "Drafts") == []
    (delivered,) = server.inbox("bob@example.test")
    assert b"From: sales@example.test" in delivered


def test_a_draft_is_updated_and_destroyed_by_creation_id(alice: JmapTestClient) -> None:
    boxes = box_ids(alice)
    account = alice.account_id
    responses = alice.calls(
        ["Email/set", {"accountId": account, "create": {"d": draft(boxes)}}, "0"],
        ["Email/set", {"accountId": account, "update": {"#d": {"keywords/$flagged": True}}},
         "1"],
        ["Email/set", {"accountId": account, "destroy": ["#d"]}, "2"])
    email_id = responses[0][1]["created"]["d"]["id"]
    assert responses[1][1]["updated"] == {email_id: None}
    assert responses[2][1]["destroyed"] == [email_id]


def test_submission_records_survive_a_restart(tmp_path: Path) -> None:
    """EmailSubmission/get and /changes after a restart (the records are in the store)."""
    cfg = make_config(tmp_path / "data")
    first = ServerThread(cfg).start()
    try:
        first.add_user("alice@example.test")
        first.add_user("bob@example.test")
        alice = JmapTestClient(first, "alice@example.test")
        boxes = box_ids(alice)
        obj = draft(boxes, to=[{"name": "Bob", "email": "bob@example.test"}],
                    bodyValues={"t": {"value": "Still there?"}},
                    textBody=[{"partId": "t", "type": "text/plain"}])
        responses = send(alice, obj, identity_of(alice)["id"])
        sub_id = responses[1][1]["created"]["send"]["id"]
        state = responses[1][1]["newState"]
    finally:
        first.stop()
    again = ServerThread(cfg).start()
    try:
        alice = JmapTestClient(again, "alice@example.test")
        account = alice.account_id
        got, changes = alice.calls(
            ["EmailSubmission/get", {"accountId": account, "ids": [sub_id]}, "g"],
            ["EmailSubmission/changes", {"accountId": account, "sinceState": "S0"}, "c"],
            using=USING)
        assert got[1]["state"] == state
        (record,) = got[1]["list"]
        assert record["deliveryStatus"]["bob@example.test"]["delivered"] == "yes"
        assert changes[1]["created"] == [sub_id]
        # the numbering goes on from the kept counter: a new submission gets a new id
        obj = draft(box_ids(alice), to=[{"email": "bob@example.test"}],
                    bodyValues={"t": {"value": "Again."}},
                    textBody=[{"partId": "t", "type": "text/plain"}])
        later = send(alice, obj, identity_of(alice)["id"])[1][1]["created"]["send"]["id"]
        assert later != sub_id
        # /queryChanges (RFC 8620 5.6) from the state before: the new record, last
        (changed,) = alice.calls(["EmailSubmission/queryChanges", {
            "accountId": account, "sinceQueryState": state, "calculateTotal": True}, "q"],
            using=USING)
        assert changed[1]["removed"] == []
        assert changed[1]["added"] == [{"id": later, "index": 1}]
        assert changed[1]["total"] == 2
    finally:
        again.stop()


def test_a_forward_reuses_a_received_attachment_by_its_part_blob_id(
        server: ServerThread, alice: JmapTestClient) -> None:
    """RFC 8621 4.6: any blobId of the account may be a part of a new Email, also the
    blobId Email/get gives an attachment of a stored message (a forward)."""
    append(server, "alice@example.test", (
        b"From: zoe@remote.example\r\nTo: alice@example.test\r\nSubject: plans\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--b\r\nContent-Type: application/pdf; name=plan.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQgAP8=\r\n--b--\r\n"))
    boxes = box_ids(alice)
    (received,) = alice.call("Email/query", {})["ids"]
    (part,) = alice.call("Email/get", {"ids": [received], "properties": ["attachments"]}
                         )["list"][0]["attachments"]
    assert "P" in part["blobId"]
    obj = draft(boxes, subject="Fwd: plans",
                bodyValues={"t": {"value": "Forwarded."}},
                textBody=[{"partId": "t", "type": "text/plain"}],
                attachments=[{"blobId": part["blobId"], "type": "application/pdf",
                              "name": "plan.pdf"}])
    result = alice.call("Email/set", {"create": {"f": obj}})
    assert result["notCreated"] is None, result
    imap = imap_login(server, alice.user)
    try:
        imap.select("Drafts")
        _typ, fetched = imap.fetch("1", "(RFC822)")
    finally:
        imap.logout()
    raw = fetched[0][1]
    assert isinstance(raw, bytes)
    (attached,) = email.message_from_bytes(raw, policy=email.policy.default
                                           ).iter_attachments()
    assert attached.get_content() == b"%PDF-1.4 \x00\xff"
    # a part blobId of another account's message is not found
    server.add_user("bob@example.test")
    bob = JmapTestClient(server, "bob@example.test")
    stolen = bob.call("Email/set", {"create": {"f": draft(
        box_ids(bob), attachments=[{"blobId": part["blobId"], "type": "application/pdf"}],
        **{"from": [{"email": "bob@example.test"}]})}})
    assert stolen["notCreated"]["f"]["type"] == "blobNotFound"
