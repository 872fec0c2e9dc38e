"""JMAP Mail (RFC 8621) over real sockets on one store with IMAP: Mailbox, Email, Thread,
keywords <-> flags, ids shared with IMAP OBJECTID, /changes from the store's modseqs."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jmap import JmapTestClient, append, imap_login, message
from tests.support.server import ServerThread, make_config

MULTIPART = (
    b"From: =?utf-8?q?Caf=C3=A9?= <cafe@example.test>\r\n"
    b"To: alice@example.test, Group: x@example.test, y@example.test;\r\n"
    b"Subject: With attachment\r\n"
    b"Date: Tue, 01 Dec 2026 10:00:00 +0200\r\n"
    b"Message-ID: <multi@example.test>\r\n"
    b"In-Reply-To: <root@example.test>\r\n"
    b"References: <root@example.test> <mid@example.test>\r\n"
    b"List-Unsubscribe: <mailto:leave@example.test>, <https://example.test/leave>\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
    b"--b1\r\n"
    b'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n'
    b"--b2\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\nPlain caf=C3=A9 text\r\n"
    b"--b2\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML text</p>\r\n"
    b"--b2--\r\n"
    b"--b1\r\nContent-Type: application/pdf; name=report.pdf\r\n"
    b"Content-Disposition: attachment; filename=report.pdf\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n"
    b"--b1--\r\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


def mailboxes(client: JmapTestClient) -> dict[str, dict[str, Any]]:
    result = client.call("Mailbox/get", {})
    return {m["name"]: m for m in result["list"]}


def test_mailbox_get_roles_counts_rights(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("one"), flags="\\Seen")
    append(server, alice.user, message("two"))
    boxes = mailboxes(alice)
    assert {n: b["role"] for n, b in boxes.items()} == {
        "INBOX": "inbox", "Drafts": "drafts", "Sent": "sent", "Trash": "trash",
        "Junk": "junk", "Archive": "archive"}
    inbox = boxes["INBOX"]
    assert (inbox["totalEmails"], inbox["unreadEmails"]) == (2, 1)
    assert (inbox["totalThreads"], inbox["unreadThreads"]) == (2, 1)
    assert inbox["myRights"]["mayDelete"] is False
    assert inbox["myRights"]["mayRename"] is False
    assert boxes["Sent"]["myRights"]["mayDelete"] is True
    assert inbox["parentId"] is None
    assert isinstance(inbox["sortOrder"], int)
    # the id is the IMAP MAILBOXID (RFC 8474)
    imap = imap_login(server, alice.user)
    _typ, data = imap.status("INBOX", "(MAILBOXID)")
    imap.logout()
    assert inbox["id"] in data[0].decode()


def test_mailbox_set_create_rename_subscribe_destroy(server: ServerThread,
                                                     alice: JmapTestClient) -> None:
    boxes = mailboxes(alice)
    result = alice.call("Mailbox/set", {
        "create": {"p": {"name": "Projects", "isSubscribed": True},
                   "c": {"name": "Child", "parentId": "#p"}}})
    assert set(result["created"]) == {"p", "c"}, result
    boxes = mailboxes(alice)
    assert boxes["Child"]["parentId"] == boxes["Projects"]["id"]
    assert boxes["Projects"]["isSubscribed"] is True
    imap = imap_login(server, alice.user)
    _typ, listing = imap.list()
    assert any(b"Projects/Child" in line for line in listing)
    result = alice.call("Mailbox/set", {"update": {boxes["Child"]["id"]: {"name": "Kid"}}})
    assert result["updated"] == {boxes["Child"]["id"]: None}
    _typ, listing = imap.list()
    assert any(b"Projects/Kid" in line for line in listing)
    result = alice.call("Mailbox/set", {"destroy": [boxes["Projects"]["id"],
                                                    boxes["INBOX"]["id"], "Fnope"]})
    assert result["notDestroyed"][boxes["Projects"]["id"]]["type"] == "mailboxHasChild"
    assert result["notDestroyed"][boxes["INBOX"]["id"]]["type"] == "forbidden"
    assert result["notDestroyed"]["Fnope"]["type"] == "notFound"
    result = alice.call("Mailbox/set", {"destroy": [boxes["Child"]["id"]]})
    assert result["destroyed"] == [boxes["Child"]["id"]]
    imap.logout()
    stale = alice.call("Mailbox/set", {"ifInState": "s1", "destroy": []})
    assert stale["error"]["type"] == "stateMismatch"


def test_mailbox_changes_and_query(server: ServerThread, alice: JmapTestClient) -> None:
    state = alice.call("Mailbox/get", {"ids": []})["state"]
    imap = imap_login(server, alice.user)
    imap.create("Lists")
    imap.logout()
    append(server, alice.user, message("new"))
    changes = alice.call("Mailbox/changes", {"sinceState": state})
    boxes = mailboxes(alice)
    assert changes["created"] == [boxes["Lists"]["id"]]
    assert changes["updated"] == [boxes["INBOX"]["id"]]
    assert changes["destroyed"] == []
    assert changes["updatedProperties"] == ["totalEmails", "unreadEmails", "totalThreads",
                                            "unreadThreads"]
    again = alice.call("Mailbox/changes", {"sinceState": changes["newState"]})
    assert again["created"] == again["updated"] == again["destroyed"] == []
    query = alice.call("Mailbox/query", {"filter": {"role": "inbox"}})
    assert query["ids"] == [boxes["INBOX"]["id"]]
    sorted_names = alice.call("Mailbox/query", {"sort": [{"property": "name"}]})
    names = {b["id"]: n for n, b in boxes.items()}
    assert [names[i] for i in sorted_names["ids"]] == sorted(names.values(), key=str.lower)
    bad = alice.call("Mailbox/query", {"sort": [{"property": "colour"}]})
    assert bad["error"]["type"] == "unsupportedSort"


def test_email_query_and_get(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("first", body="apples and pears\r\n"))
    append(server, alice.user, MULTIPART)
    inbox = mailboxes(alice)["INBOX"]["id"]
    responses = alice.calls(
        ["Email/query", {"accountId": alice.account_id, "filter": {"inMailbox": inbox},
                         "sort": [{"property": "receivedAt", "isAscending": True}],
                         "calculateTotal": True}, "q"],
        ["Email/get", {"accountId": alice.account_id,
                       "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                       "properties": ["subject", "from", "to", "mailboxIds", "keywords",
                                      "messageId", "inReplyTo", "references", "sentAt",
                                      "receivedAt", "size", "hasAttachment", "preview",
                                      "textBody", "htmlBody", "attachments", "bodyValues",
                                      "bodyStructure", "threadId", "blobId",
                                      "header:List-Unsubscribe:asURLs",
                                      "header:To:asGroupedAddresses", "header:Subject",
                                      "header:X-None:all"],
                       "fetchAllBodyValues": True}, "g"])
    query, get = responses[0][1], responses[1][1]
    assert query["total"] == 2
    assert query["position"] == 0
    first, multi = get["list"]
    assert first["subject"] == "first"
    assert first["from"] == [{"name": "Bob", "email": "bob@example.test"}]
    assert first["mailboxIds"] == {inbox: True}
    assert first["keywords"] == {}
    assert first["hasAttachment"] is False
    assert first["preview"] == "apples and pears"
    assert multi["from"] == [{"name": "Café", "email": "cafe@example.test"}]
    assert [a["email"] for a in multi["to"]] == ["alice@example.test", "x@example.test",
                                                 "y@example.test"]
    assert multi["header:To:asGroupedAddresses"][1]["name"] == "Group"
    assert multi["messageId"] == ["multi@example.test"]
    assert multi["inReplyTo"] == ["root@example.test"]
    assert multi["references"] == ["root@example.test", "mid@example.test"]
    assert multi["sentAt"] == "2026-12-01T10:00:00+02:00"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", multi["receivedAt"])
    assert multi["header:List-Unsubscribe:asURLs"] == ["mailto:leave@example.test",
                                                       "https://example.test/leave"]
    assert multi["header:Subject"] == " With attachment"
    assert multi["header:X-None:all"] == []
    assert multi["hasAttachment"] is True
    assert [p["type"] for p in multi["textBody"]] == ["text/plain"]
    assert [p["type"] for p in multi["htmlBody"]] == ["text/html"]
    (pdf,) = multi["attachments"]
    assert (pdf["name"], pdf["type"], pdf["disposition"]) == ("report.pdf",
                                                              "application/pdf", "attachment")
    text_part = multi["textBody"][0]["partId"]
    assert multi["bodyValues"][text_part]["value"].startswith("Plain café text")
    assert multi["bodyStructure"]["type"] == "multipart/mixed"
    assert multi["preview"].startswith("Plain café text")
    # the attachment downloads decoded, with the type asked for
    status, headers, data = alice.request(
        "GET", f"/jmap/download/{alice.account_id}/{pdf['blobId']}/report.pdf"
        "?accept=application/pdf")
    assert status == 200
    assert data == b"%PDF-1.4\n"
    assert headers["content-type"] == "application/pdf"
    # the whole message
    status, _, data = alice.request(
        "GET", f"/jmap/download/{alice.account_id}/{multi['blobId']}/m.eml?accept=message/rfc822")
    assert status == 200
    assert data == MULTIPART
    # the ids are the IMAP OBJECTIDs
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    _typ, data = imap.uid("FETCH", "1:*", "(EMAILID THREADID)")
    imap.logout()
    text = b" ".join(d for d in data if isinstance(d, bytes)).decode()
    assert first["id"] in text
    assert multi["id"] in text
    assert multi["threadId"] in text


def test_email_query_filters_and_sorts(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("alpha", sender="Zed <zed@example.test>",
                                       body="the word kumquat\r\n"), flags="\\Flagged")
    append(server, alice.user, message("beta", body="nothing here " * 40 + "\r\n"))
    append(server, alice.user, message("gamma", to="carol@example.test"), mailbox="Archive")
    ids = {e["subject"]: e["id"] for e in alice.call(
        "Email/get", {"properties": ["subject"]})["list"]}
    boxes = mailboxes(alice)

    def query(flt: Any, **extra: Any) -> list[str]:
        result = alice.call("Email/query", {"filter": flt, **extra})
        assert "error" not in result, result
        names = {v: k for k, v in ids.items()}
        return [names[i] for i in result["ids"]]

    assert sorted(query({"inMailbox": boxes["Archive"]["id"]})) == ["gamma"]
    assert sorted(query({"inMailboxOtherThan": [boxes["Archive"]["id"]]})) == ["alpha", "beta"]
    assert query({"hasKeyword": "$flagged"}) == ["alpha"]
    assert sorted(query({"notKeyword": "$flagged"})) == ["beta", "gamma"]
    assert query({"from": "zed"}) == ["alpha"]
    assert query({"to": "carol"}) == ["gamma"]
    assert query({"subject": "BET"}) == ["beta"]
    assert query({"body": "kumquat"}) == ["alpha"]
    assert query({"text": "kumquat"}) == ["alpha"]
    assert query({"minSize": 500}) == ["beta"]
    assert sorted(query({"maxSize": 500})) == ["alpha", "gamma"]
    assert query({"before": "2000-01-01T00:00:00Z"}) == []
    assert len(query({"after": "2000-01-01T00:00:00Z"})) == 3
    assert query({"operator": "OR", "conditions": [{"from": "zed"}, {"to": "carol"}]},
                 sort=[{"property": "subject"}]) == ["alpha", "gamma"]
    assert sorted(query({"operator": "NOT", "conditions": [{"from": "zed"}]})) == [
        "beta", "gamma"]
    assert query(None, sort=[{"property": "subject", "isAscending": False}]) == [
        "gamma", "beta", "alpha"]
    assert query(None, sort=[{"property": "size", "isAscending": False}])[0] == "beta"
    assert query(None, sort=[{"property": "subject"}], position=1, limit=1) == ["beta"]
    assert query(None, sort=[{"property": "subject"}], anchor=ids["beta"],
                 anchorOffset=1) == ["gamma"]
    missing = alice.call("Email/query", {"anchor": "Mnothere"})
    assert missing["error"]["type"] == "anchorNotFound"
    bad = alice.call("Email/query", {"filter": {"colour": "red"}})
    assert bad["error"]["type"] == "unsupportedFilter"


def test_same_content_in_two_mailboxes_is_one_email(server: ServerThread,
                                                    alice: JmapTestClient) -> None:
    append(server, alice.user, message("twice"))
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("COPY", "1", "Archive")
    imap.logout()
    (email,) = alice.call("Email/get", {"properties": ["mailboxIds"]})["list"]
    boxes = mailboxes(alice)
    assert email["mailboxIds"] == {boxes["INBOX"]["id"]: True, boxes["Archive"]["id"]: True}


def test_threads(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("root", extra=""))
    append(server, alice.user, MULTIPART)
    reply = message("re: multi", extra="References: <root@example.test>\r\n")
    append(server, alice.user, reply)
    emails = alice.call("Email/get", {"properties": ["threadId", "subject"]})["list"]
    by_subject = {e["subject"]: e for e in emails}
    assert by_subject["With attachment"]["threadId"] == by_subject["re: multi"]["threadId"]
    thread = by_subject["re: multi"]["threadId"]
    got = alice.call("Thread/get", {"ids": [thread, "Tnope"]})
    assert got["list"][0]["emailIds"] == [by_subject["With attachment"]["id"],
                                          by_subject["re: multi"]["id"]]
    assert got["notFound"] == ["Tnope"]
    collapsed = alice.call("Email/query", {"collapseThreads": True, "calculateTotal": True})
    assert collapsed["total"] == 2


def test_email_set_keywords_reach_imap(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("flag me"))
    (email,) = alice.call("Email/get", {"properties": ["keywords"]})["list"]
    result = alice.call("Email/set", {"update": {email["id"]: {
        "keywords/$seen": True, "keywords/$flagged": True, "keywords/project-x": True}}})
    assert result["updated"] == {email["id"]: None}, result
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    _typ, data = imap.uid("FETCH", "1", "(FLAGS)")
    flags = data[0].decode()
    assert "\\Seen" in flags
    assert "\\Flagged" in flags
    assert "project-x" in flags
    result = alice.call("Email/set", {"update": {email["id"]: {"keywords": {"$answered": True}}}})
    assert result["updated"] == {email["id"]: None}
    _typ, data = imap.uid("FETCH", "1", "(FLAGS)")
    assert "\\Answered" in data[0].decode()
    assert "\\Seen" not in data[0].decode()
    imap.logout()
    bad = alice.call("Email/set", {"update": {
        email["id"]: {"keywords/bad(word": True}, "Mnothere": {"keywords": {}}}})
    assert bad["notUpdated"][email["id"]]["type"] == "invalidProperties"
    assert bad["notUpdated"]["Mnothere"]["type"] == "notFound"
    immutable = alice.call("Email/set", {"update": {email["id"]: {"subject": "x"}}})
    assert immutable["notUpdated"][email["id"]]["type"] == "invalidProperties"


def test_email_set_mailbox_ids_moves_and_destroy(server: ServerThread,
                                                 alice: JmapTestClient) -> None:
    append(server, alice.user, message("move me"))
    boxes = mailboxes(alice)
    (email,) = alice.call("Email/get", {"properties": ["id"]})["list"]
    result = alice.call("Email/set", {"update": {email["id"]: {
        f"mailboxIds/{boxes['INBOX']['id']}": None,
        f"mailboxIds/{boxes['Archive']['id']}": True}}})
    assert result["updated"] == {email["id"]: None}, result
    assert server.inbox(alice.user) == []
    assert len(server.inbox(alice.user, "Archive")) == 1
    empty = alice.call("Email/set", {"update": {email["id"]: {"mailboxIds": {}}}})
    assert empty["notUpdated"][email["id"]]["type"] == "invalidProperties"
    gone = alice.call("Email/set", {"destroy": [email["id"], "Mnothere"]})
    assert gone["destroyed"] == [email["id"]]
    assert gone["notDestroyed"]["Mnothere"]["type"] == "notFound"
    assert server.inbox(alice.user, "Archive") == []
    created = alice.call("Email/set", {"create": {"k": {"subject": "x"}}})
    # Email/set create exists now (test_jmap_compose.py): an Email needs a mailbox
    assert created["notCreated"]["k"]["type"] == "invalidProperties"
    assert created["notCreated"]["k"]["properties"] == ["mailboxIds"]


def test_email_changes(server: ServerThread, alice: JmapTestClient) -> None:
    append(server, alice.user, message("old"))
    state = alice.call("Email/get", {"ids": []})["state"]
    (old,) = alice.call("Email/get", {"properties": ["id"]})["list"]
    append(server, alice.user, message("new"))
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("STORE", "1", "+FLAGS", "(\\Seen)")
    changes = alice.call("Email/changes", {"sinceState": state})
    new = [e["id"] for e in alice.call("Email/get", {"properties": ["id"]})["list"]
           if e["id"] != old["id"]]
    assert changes["created"] == new
    assert changes["updated"] == [old["id"]]
    assert changes["destroyed"] == []
    threads = alice.call("Thread/changes", {"sinceState": state})
    assert len(threads["created"]) == 1
    assert len(threads["updated"]) == 1
    too_many = alice.call("Email/changes", {"sinceState": state, "maxChanges": 1})
    assert too_many["error"]["type"] == "cannotCalculateChanges"
    # an expunge: the content left no copy, so the Email is destroyed
    gone_id = new[0]
    imap.uid("STORE", "2", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    after = alice.call("Email/changes", {"sinceState": changes["newState"]})
    assert after["destroyed"] == [gone_id]
    assert after["created"] == after["updated"] == []
    # a MOVE: the Email is updated (its mailboxIds), neither created nor destroyed
    imap.uid("MOVE", "1", "Archive")
    imap.logout()
    moved = alice.call("Email/changes", {"sinceState": after["newState"]})
    assert moved["updated"] == [old["id"]]
    moved_thread = alice.call("Email/get", {"ids": [old["id"]],
                                            "properties": ["threadId"]})["list"][0]["threadId"]
    assert moved["created"] == moved["destroyed"] == []
    # created and destroyed since the state: not reported at all (RFC 8620 5.2)
    append(server, alice.user, message("brief"))
    (brief,) = [e for e in alice.call("Email/get", {"properties": ["subject"]})["list"]
                if e["subject"] == "brief"]
    alice.call("Email/set", {"destroy": [brief["id"]]})
    quiet = alice.call("Email/changes", {"sinceState": moved["newState"]})
    assert quiet["created"] == quiet["updated"] == quiet["destroyed"] == []
    # the destroyed Email's thread is known: this server saw it go (AccountView.departed)
    threads = alice.call("Thread/changes", {"sinceState": changes["newState"]})
    assert threads["updated"] == [moved_thread]
    assert len(threads["destroyed"]) == 1
    assert threads["destroyed"] != [moved_thread]
    assert threads["created"] == []


def test_get_all_over_the_limit(server: ServerThread, alice: JmapTestClient) -> None:
    _status, _, body = alice.post({"using": ["urn:ietf:params:jmap:core",
                                            "urn:ietf:params:jmap:mail"],
                                  "methodCalls": [["Email/get", {"accountId": alice.account_id,
                                                                 "ids": ["M1"] * 501}, "a"]]})
    assert body["methodResponses"][0][1]["type"] == "requestTooLarge"
    assert json.dumps(body)


def test_a_refreshed_view_equals_a_fresh_read(server: ServerThread,
                                              alice: JmapTestClient) -> None:
    """jmap/account.py brings its cached view up to date from changed_since and the
    tombstones; after every kind of change, what JMAP shows is what a full read shows."""
    from posthouse.jmap.account import AccountView

    def shown() -> dict[str, Any]:
        got = alice.call("Email/get", {"properties": ["mailboxIds", "keywords", "threadId"]})
        return {e["id"]: (e["mailboxIds"], e["keywords"], e["threadId"]) for e in got["list"]}

    def fresh() -> dict[str, Any]:
        user = server.call(server.store.get_user(alice.user))
        view = server.call(AccountView.load(server.store, user.id))
        threads = alice.call("Thread/get", {})["list"]
        assert {t["id"]: t["emailIds"] for t in threads} == view.threads
        newest = alice.call("Email/query", {"sort": [{"property": "receivedAt",
                                                      "isAscending": False}]})["ids"]
        assert newest == [i for _when, i in reversed(view.arrival)]
        return {r.id: (view.mailbox_ids(r), r.keywords, r.thread_id)
                for r in view.emails.values()}

    def contents(view: AccountView) -> Any:
        return ({i: (r.copies, r.flags) for i, r in view.emails.items()},
                {t: list(m) for t, m in view.threads.items()})

    user_id = server.call(server.store.get_user(alice.user)).id
    for i in range(2):
        append(server, alice.user, message(f"early{i}"))
    older = server.call(AccountView.load(server.store, user_id))
    before = contents(older)

    for i in range(4):
        append(server, alice.user, message(f"m{i}"))
    assert shown() == fresh()
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("STORE", "1", "+FLAGS", "(\\Seen $Work)")
    assert shown() == fresh()
    imap.uid("COPY", "2", "Archive")
    imap.uid("MOVE", "3", "Trash")
    assert shown() == fresh()
    imap.uid("STORE", "4", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.create("Later")
    imap.rename("Later", "Later2")
    append(server, alice.user, message("m5"), mailbox="Later2")
    assert shown() == fresh()
    imap.select("Archive")
    imap.uid("STORE", "1", "-FLAGS", "(\\Seen)")
    imap.delete("Later2")
    imap.logout()
    assert shown() == fresh()
    # a refreshed view shares the older one's records until it changes them: the older
    # view stays as it was (a request may still be reading it)
    boxes = server.call(server.store.list_mailboxes(user_id))
    newer = server.call(AccountView.refresh(server.store, older, boxes))
    assert newer is not None
    assert contents(older) == before
    assert set(newer.emails) == set(shown())
    assert newer.arrival == server.call(AccountView.load(server.store, user_id)).arrival


def test_a_load_reads_summaries_only_when_asked(server: ServerThread,
                                                 alice: JmapTestClient) -> None:
    """jmap/account.py loads an account from ``message_list`` (metadata and the thread's
    header fields, no summary); a summary is read when a method needs it, and the thread
    ids are those IMAP's THREADID derives from the whole summary."""
    from posthouse.imap import objectid
    from posthouse.jmap.account import AccountView

    append(server, alice.user, message("root"))
    append(server, alice.user, message("re: root", extra=(
        "In-Reply-To: <other@example.test>\r\nReferences: <first@example.test>\r\n")))
    append(server, alice.user, message("filed twice"), mailbox="Archive")
    append(server, alice.user, message("filed twice"))
    user_id = server.call(server.store.get_user(alice.user)).id
    view = server.call(AccountView.load(server.store, user_id))
    assert len(view.emails) == 3
    assert not any(r.summary_read or r.summary for r in view.emails.values())
    chosen = next(r for r in view.emails.values() if len(r.copies) == 2)
    server.call(view.read_summaries(server.store, [chosen]))
    assert chosen.summary_read
    assert [r.summary_read for r in view.emails.values()].count(True) == 1
    server.call(view.read_summaries(server.store))
    for record in view.emails.values():
        copy = record.copies[0]
        (meta,) = server.call(server.store.fetch_meta(copy.mailbox_id, [copy.uid],
                                                      with_summary=True))
        assert meta.summary is not None
        assert record.summary == meta.summary
        assert record.thread_id == objectid.thread_id(meta.summary, meta.blob_id)
    reply = next(r for r in view.emails.values()
                 if r.summary is not None and r.summary.headers["subject"] == "re: root")
    assert reply.thread_id == objectid.thread_id_of("<first@example.test>", reply.blob_id)
    # what the methods answer from a view whose summaries were never read
    got = alice.call("Email/query", {"filter": {"subject": "twice"},
                                     "sort": [{"property": "subject"}]})
    assert got["ids"] == [chosen.id]
    listing = alice.call("Email/get", {"ids": [chosen.id],
                                       "properties": ["hasAttachment", "threadId"]})["list"]
    assert listing == [{"id": chosen.id, "hasAttachment": False,
                        "threadId": chosen.thread_id}]
