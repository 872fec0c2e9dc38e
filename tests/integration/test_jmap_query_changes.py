"""JMAP /queryChanges (RFC 8620 5.6), Email/copy's errors (RFC 8620 5.4, RFC 8621 4.7),
the hasAttachment filter and property (RFC 8621 4.1.1, 4.4.1) and the keyword sorts
(4.4.2), over real sockets; the changes are made over IMAP and SMTP, as another client
would make them."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.jmap import JmapTestClient, append, imap_login, message
from tests.support.server import ServerThread, make_config

ATTACHED = (
    b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: attached\r\n"
    b"Message-ID: <attached@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
    b"--b\r\nContent-Type: application/pdf; name=a.pdf\r\n"
    b"Content-Disposition: attachment; filename=a.pdf\r\n\r\n%PDF\r\n--b--\r\n")
INLINE_IMAGE = (
    b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: inline image\r\n"
    b"Message-ID: <inline@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nlook\r\n"
    b"--b\r\nContent-Type: image/png\r\nContent-Disposition: inline\r\n\r\nPNG\r\n--b--\r\n")
INLINE_PDF = (  # in the attachments list, but Content-Disposition: inline (4.1.1 SHOULD)
    b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: inline pdf\r\n"
    b"Message-ID: <inlinepdf@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nread\r\n"
    b"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: inline; filename=b.pdf"
    b"\r\n\r\n%PDF\r\n--b--\r\n")
ATTACHED_INSIDE_ALTERNATIVE = (
    b"From: bob@example.test\r\nTo: alice@example.test\r\nSubject: nested\r\n"
    b"Message-ID: <nested@example.test>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="o"\r\n\r\n'
    b'--o\r\nContent-Type: multipart/alternative; boundary="i"\r\n\r\n'
    b"--i\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
    b"--i\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--i--\r\n"
    b"--o\r\nContent-Type: message/rfc822\r\n\r\n"
    b"Subject: forwarded\r\n\r\nold mail\r\n--o--\r\n")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        srv.add_user("carol@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


def replay(old: list[str], changes: dict[str, Any]) -> list[str]:
    """RFC 8620 5.6's client side: remove ``removed``, splice ``added`` in by index."""
    out = [i for i in old if i not in set(changes["removed"])]
    for item in sorted(changes["added"], key=lambda a: a["index"]):
        out.insert(item["index"], item["id"])
    return out


def inbox_id(client: JmapTestClient) -> str:
    found = client.call("Mailbox/query", {"filter": {"role": "inbox"}})
    return str(found["ids"][0])


def subjects(client: JmapTestClient) -> dict[str, str]:
    listing = client.call("Email/get", {"properties": ["subject"]})["list"]
    return {e["subject"]: e["id"] for e in listing}


def deliver(server: ServerThread, user: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as smtp:
        smtp.sendmail("bob@example.org", [user], data)


def test_email_query_changes_replays_add_flag_and_expunge(server: ServerThread,
                                                          alice: JmapTestClient) -> None:
    for n in range(1, 6):
        append(server, alice.user, message(f"m{n}"))
    query = {"filter": {"inMailbox": inbox_id(alice), "notKeyword": "$flagged"},
             "sort": [{"property": "receivedAt", "isAscending": False},
                      {"property": "subject"}]}
    before = alice.call("Email/query", query)
    assert before["canCalculateChanges"] is True
    assert len(before["ids"]) == 5
    ids = subjects(alice)
    # another client works over SMTP and IMAP meanwhile
    deliver(server, alice.user, message("m6"))
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("STORE", "2", "+FLAGS", "(\\Flagged)")  # m2 leaves the filter
    imap.uid("STORE", "4", "+FLAGS", "(\\Deleted)")  # m4 is expunged
    imap.expunge()
    imap.uid("STORE", "3", "+FLAGS", "(\\Seen)")  # m3 changes but stays
    imap.logout()
    after = alice.call("Email/query", query)
    changes = alice.call("Email/queryChanges", {**query,
                                                "sinceQueryState": before["queryState"],
                                                "calculateTotal": True})
    assert changes["oldQueryState"] == before["queryState"]
    assert changes["newQueryState"] == after["queryState"]
    assert changes["total"] == len(after["ids"]) == 4
    assert replay(before["ids"], changes) == after["ids"]
    assert {ids["m2"], ids["m4"]} <= set(changes["removed"])
    assert ids["m4"] not in after["ids"]
    assert ids["m2"] not in after["ids"]
    assert subjects(alice)["m6"] in [a["id"] for a in changes["added"]]
    # nothing changed since: nothing to replay
    same = alice.call("Email/queryChanges", {**query,
                                             "sinceQueryState": after["queryState"]})
    assert same["removed"] == same["added"] == []
    # maxChanges (5.6): past it, tooManyChanges
    too_many = alice.call("Email/queryChanges", {**query, "maxChanges": 1,
                                                 "sinceQueryState": before["queryState"]})
    assert too_many["error"]["type"] == "tooManyChanges"
    unknown = alice.call("Email/queryChanges", {**query, "sinceQueryState": "nonsense"})
    assert unknown["error"]["type"] == "cannotCalculateChanges"
    bad = alice.call("Email/queryChanges", {**query, "sinceQueryState": 5})
    assert bad["error"]["type"] == "invalidArguments"


def test_an_immutable_query_ignores_flags_and_honours_up_to_id(
        server: ServerThread, alice: JmapTestClient) -> None:
    for n in range(1, 5):
        append(server, alice.user, message(f"m{n}", body=f"body {n}\r\n"))
    query = {"sort": [{"property": "subject", "isAscending": True}]}
    before = alice.call("Email/query", query)
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("STORE", "1:*", "+FLAGS", "(\\Seen)")  # no filter or sort reads keywords
    imap.logout()
    quiet = alice.call("Email/queryChanges", {**query,
                                              "sinceQueryState": before["queryState"]})
    assert quiet["removed"] == quiet["added"] == []
    append(server, alice.user, message("a0"))  # sorts first
    append(server, alice.user, message("z9"))  # sorts last
    after = alice.call("Email/query", query)
    full = alice.call("Email/queryChanges", {**query, "sinceQueryState": before["queryState"]})
    assert replay(before["ids"], full) == after["ids"]
    # the client holds the results up to m2: z9, past it, is left out
    ids = subjects(alice)
    partial = alice.call("Email/queryChanges", {**query, "upToId": ids["m2"],
                                                "sinceQueryState": before["queryState"]})
    assert partial["added"] == [{"id": ids["a0"], "index": 0}]
    held = before["ids"][:before["ids"].index(ids["m2"]) + 1]
    assert replay(held, partial) == after["ids"][:len(held) + 1]


def test_collapsed_threads_and_keyword_sorts(server: ServerThread,
                                             alice: JmapTestClient) -> None:
    append(server, alice.user, message("root"))
    root_id = subjects(alice)["root"]
    root = alice.call("Email/get", {"ids": [root_id], "properties": ["messageId"]})
    references = f"References: <{root['list'][0]['messageId'][0]}>\r\n"
    append(server, alice.user, message("lone"))
    query = {"collapseThreads": True,
             "sort": [{"property": "hasKeyword", "keyword": "$flagged",
                       "isAscending": False},
                      {"property": "receivedAt", "isAscending": False}]}
    before = alice.call("Email/query", query)
    assert len(before["ids"]) == 2
    # a reply joins root's thread and is flagged: it now stands for the thread, first
    append(server, alice.user, message("re: root", extra=references), flags="\\Flagged")
    after = alice.call("Email/query", query)
    ids = subjects(alice)
    assert after["ids"] == [ids["re: root"], ids["lone"]]
    changes = alice.call("Email/queryChanges", {**query,
                                                "sinceQueryState": before["queryState"]})
    assert replay(before["ids"], changes) == after["ids"]
    # the reply is destroyed over IMAP: root stands for its thread again
    imap = imap_login(server, alice.user)
    imap.select("INBOX")
    imap.uid("STORE", "3", "+FLAGS", "(\\Deleted)")
    imap.expunge()
    imap.logout()
    last = alice.call("Email/query", query)
    assert last["ids"] == [ids["lone"], ids["root"]]
    changes = alice.call("Email/queryChanges", {**query,
                                                "sinceQueryState": after["queryState"]})
    assert replay(after["ids"], changes) == last["ids"]
    # someInThreadHaveKeyword / allInThreadHaveKeyword as sorts (4.4.2)
    some = alice.call("Email/query", {"sort": [
        {"property": "someInThreadHaveKeyword", "keyword": "$seen", "isAscending": False},
        {"property": "subject"}]})
    assert some["ids"] == [ids["lone"], ids["root"]]
    no_keyword = alice.call("Email/query", {"sort": [{"property": "hasKeyword"}]})
    assert no_keyword["error"]["type"] == "invalidArguments"


def test_mailbox_query_changes(server: ServerThread, alice: JmapTestClient) -> None:
    query = {"sort": [{"property": "name"}]}
    before = alice.call("Mailbox/query", query)
    assert before["canCalculateChanges"] is True
    imap = imap_login(server, alice.user)
    imap.create("Projects")
    imap.create("Projects/Alpha")
    imap.rename("Archive", "Zarchive")
    imap.delete("Junk")
    imap.logout()
    after = alice.call("Mailbox/query", query)
    changes = alice.call("Mailbox/queryChanges", {**query,
                                                  "sinceQueryState": before["queryState"]})
    assert replay(before["ids"], changes) == after["ids"]
    filtered = {"filter": {"isSubscribed": True}, "sort": [{"property": "name"}]}
    subscribed = alice.call("Mailbox/query", filtered)
    imap = imap_login(server, alice.user)
    imap.subscribe("Projects/Alpha")
    imap.unsubscribe("Drafts")
    imap.logout()
    now = alice.call("Mailbox/query", filtered)
    changes = alice.call("Mailbox/queryChanges", {**filtered, "calculateTotal": True,
                                                  "sinceQueryState": subscribed["queryState"]})
    assert replay(subscribed["ids"], changes) == now["ids"]
    assert changes["total"] == len(now["ids"])
    too_many = alice.call("Mailbox/queryChanges", {**filtered, "maxChanges": 1,
                                                   "sinceQueryState": before["queryState"]})
    assert too_many["error"]["type"] == "tooManyChanges"


def test_email_copy_errors_and_unknown_copies(server: ServerThread,
                                              alice: JmapTestClient) -> None:
    append(server, alice.user, message("copy me"))
    email_id = subjects(alice)["copy me"]
    own = alice.account_id
    create = {"c1": {"id": email_id, "mailboxIds": {inbox_id(alice): True}}}
    carol = JmapTestClient(server, "carol@example.test").account_id
    assert carol != own
    # RFC 8620 5.4: fromAccountId must differ from accountId
    same = alice.call("Email/copy", {"fromAccountId": own, "create": create})
    assert same["error"]["type"] == "invalidArguments"
    # another user's account is not readable: there is no shared account
    other = alice.call("Email/copy", {"fromAccountId": carol, "create": create})
    assert other["error"]["type"] == "fromAccountNotFound"
    nobody = alice.call("Email/copy", {"fromAccountId": "Anope", "create": create})
    assert nobody["error"]["type"] == "fromAccountNotFound"
    missing = alice.call("Email/copy", {"create": create})
    assert missing["error"]["type"] == "invalidArguments"
    empty = alice.call("Email/copy", {"fromAccountId": carol, "create": {}})
    assert empty["error"]["type"] == "invalidArguments"
    (wrong,) = alice.calls(["Email/copy", {"accountId": carol, "fromAccountId": own,
                                           "create": create}, "w"])
    assert wrong[1]["type"] == "accountNotFound"
    # no other type has /copy in RFC 8621
    for name in ("Mailbox/copy", "Thread/copy", "Identity/copy", "EmailSubmission/copy"):
        (answer,) = alice.calls([name, {"accountId": own, "fromAccountId": carol,
                                        "create": {}}, "x"],
                                using=("urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
                                       "urn:ietf:params:jmap:submission"))
        assert answer[:2] == ["error", {"type": "unknownMethod",
                                        "description": f"no method {name}"}], name
    # the Email is where it was
    assert subjects(alice) == {"copy me": email_id}


def test_has_attachment_filter_and_property_agree(server: ServerThread,
                                                  alice: JmapTestClient) -> None:
    append(server, alice.user, message("plain"))
    for data in (ATTACHED, INLINE_IMAGE, INLINE_PDF, ATTACHED_INSIDE_ALTERNATIVE):
        deliver(server, alice.user, data)
    listing = alice.call("Email/get", {"properties": ["subject", "hasAttachment"]})["list"]
    flags = {e["subject"]: e["hasAttachment"] for e in listing}
    assert flags == {"plain": False, "attached": True, "inline image": False,
                     "inline pdf": False, "nested": True}
    # the same answer when the bytes are parsed for other properties
    full = alice.call("Email/get", {"properties": ["subject", "hasAttachment",
                                                   "attachments"]})["list"]
    assert {e["subject"]: e["hasAttachment"] for e in full} == flags
    assert [a["type"] for e in full if e["subject"] == "inline pdf"
            for a in e["attachments"]] == ["application/pdf"]
    ids = {e["subject"]: e["id"] for e in listing}
    for value in (True, False):
        found = alice.call("Email/query", {"filter": {"hasAttachment": value}})["ids"]
        assert sorted(found) == sorted(ids[s] for s, f in flags.items() if f is value)
    combined = alice.call("Email/query", {"filter": {"operator": "AND", "conditions": [
        {"hasAttachment": True}, {"subject": "nested"}]}})
    assert combined["ids"] == [ids["nested"]]
    bad = alice.call("Email/query", {"filter": {"hasAttachment": "yes"}})
    assert bad["error"]["type"] == "invalidArguments"


def test_sorts_by_base_subject_and_sender_name(server: ServerThread,
                                               alice: JmapTestClient) -> None:
    """4.4.2: "subject" is RFC 5256's base subject, "from" the first address's name or,
    without one, its email."""
    append(server, alice.user, message("Re: [list] banana", sender="zed@example.test"))
    append(server, alice.user, message("cherry (fwd)", sender="Anna <zz@example.test>"))
    append(server, alice.user, message("Fwd: apple", sender="<mike@example.test>"))
    ids = subjects(alice)
    by_subject = alice.call("Email/query", {"sort": [{"property": "subject"}]})["ids"]
    assert by_subject == [ids["Fwd: apple"], ids["Re: [list] banana"], ids["cherry (fwd)"]]
    by_from = alice.call("Email/query", {"sort": [{"property": "from"}]})["ids"]
    assert by_from == [ids["cherry (fwd)"], ids["Fwd: apple"], ids["Re: [list] banana"]]


def test_mailbox_query_as_a_tree(server: ServerThread, alice: JmapTestClient) -> None:
    """RFC 8621 2.3 sortAsTree / filterAsTree, FilterOperators, and queryChanges with them."""
    imap = imap_login(server, alice.user)
    for name in ("Work", "Work/Zeta", "Work/Alpha", "Work/Alpha/Deep", "Hobby"):
        imap.create(name)
    imap.logout()

    def names(args: dict[str, Any]) -> list[str]:
        got = alice.call("Mailbox/query", args)
        listing = alice.call("Mailbox/get", {"ids": got["ids"], "properties": ["name"]})
        by_id = {m["id"]: m["name"] for m in listing["list"]}
        return [by_id[i] for i in got["ids"]]

    tree = {"sort": [{"property": "name"}], "sortAsTree": True}
    assert names(tree) == ["Archive", "Drafts", "Hobby", "INBOX", "Junk", "Sent", "Trash",
                           "Work", "Alpha", "Deep", "Zeta"]
    # the filter matches Deep and Work but not Alpha: as a tree, Deep goes too
    either = {"operator": "OR", "conditions": [{"name": "deep"}, {"name": "work"}]}
    assert names({"filter": either, "sort": [{"property": "name"}]}) == ["Deep", "Work"]
    assert names({"filter": either, "filterAsTree": True}) == ["Work"]
    no_role = {"operator": "NOT", "conditions": [{"hasAnyRole": True}]}
    assert names({**tree, "filter": no_role}) == ["Hobby", "Work", "Alpha", "Deep", "Zeta"]
    before = alice.call("Mailbox/query", tree)
    imap = imap_login(server, alice.user)
    imap.rename("Work/Alpha", "Work/Zulu")  # now after Zeta, its child with it
    imap.logout()
    after = alice.call("Mailbox/query", tree)
    changes = alice.call("Mailbox/queryChanges", {**tree,
                                                  "sinceQueryState": before["queryState"]})
    assert replay(before["ids"], changes) == after["ids"]
    assert names(tree)[-3:] == ["Zeta", "Zulu", "Deep"]


def test_sort_collations(server: ServerThread, alice: JmapTestClient) -> None:
    """RFC 8620 5.5: the collations the session offers, and unsupportedSort for others."""
    for subject in ("10 items", "9 items", "Émile", "apple"):
        append(server, alice.user, message(subject))
    ids = subjects(alice)

    def order(collation: str) -> list[str]:
        got = alice.call("Email/query", {"sort": [{"property": "subject",
                                                   "collation": collation}]})
        by_id = {v: k for k, v in ids.items()}
        return [by_id[i] for i in got["ids"]]

    assert order("i;ascii-numeric")[:2] == ["9 items", "10 items"]
    assert order("i;ascii-casemap") == ["10 items", "9 items", "apple", "Émile"]
    assert order("i;unicode-casemap")[:3] == ["10 items", "9 items", "apple"]
    wrong = alice.call("Email/query", {"sort": [{"property": "subject",
                                                 "collation": "i;octet-reverse"}]})
    assert wrong["error"]["type"] == "unsupportedSort"
    boxes = alice.call("Mailbox/query", {"sort": [{"property": "name",
                                                   "collation": "nope"}]})
    assert boxes["error"]["type"] == "unsupportedSort"
