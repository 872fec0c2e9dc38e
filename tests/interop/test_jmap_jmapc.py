"""Interop: jmapc (an independent JMAP client library from PyPI) against posthouse over
HTTPS: it reads the session resource, finds the inbox by role, queries Emails with a result
reference, fetches them, sets a keyword, follows Email/changes and reads the event source."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jmapc import Client, Ref
from jmapc.methods import (
    EmailChanges,
    EmailGet,
    EmailQuery,
    EmailSet,
    MailboxGet,
    MailboxQuery,
    ThreadGet,
)
from jmapc.models import EmailQueryFilterCondition, MailboxQueryFilterCondition

from posthouse.config import tls_paths
from tests.support.jmap import append, imap_login, message
from tests.support.server import PASSWORD, ServerThread, make_config

USER = "alice@example.test"


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user(USER)
        # the self-signed certificate names 127.0.0.1; requests (under jmapc) trusts it so
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_paths(srv.cfg)[0]))
        yield srv


@pytest.fixture
def client(server: ServerThread) -> Iterator[Client]:
    jmap = Client.create_with_password(f"127.0.0.1:{server.port('https')}", USER, PASSWORD)
    yield jmap
    stream = jmap._events  # the event source's open response (sseclient)
    if stream is not None:
        stream.resp.close()
    jmap.requests_session.close()


def test_jmapc_mailboxes_query_and_get(server: ServerThread, client: Client) -> None:
    for i in range(3):
        append(server, USER, message(f"note {i}", body=f"body number {i}\r\n"))
    append(server, USER, message("archived"), mailbox="Archive")
    assert client.jmap_session.username == USER
    assert client.account_id
    mailboxes = client.request(MailboxGet(ids=None), raise_errors=True, single_response=True)
    by_role = {m.role: m for m in mailboxes.data}  # type: ignore[union-attr]
    assert by_role["inbox"].name == "INBOX"
    assert by_role["inbox"].total_emails == 3
    assert by_role["archive"].total_emails == 1
    results = client.request([
        MailboxQuery(filter=MailboxQueryFilterCondition(role="inbox")),
        EmailQuery(filter=EmailQueryFilterCondition(in_mailbox=Ref("/ids/0"))),
        EmailGet(ids=Ref("/ids"), properties=["id", "subject", "from", "receivedAt",
                                              "keywords", "mailboxIds", "threadId",
                                              "preview"]),
    ], raise_errors=True)
    emails = results[2].response.data  # type: ignore[union-attr]
    assert sorted(e.subject for e in emails) == ["note 0", "note 1", "note 2"]
    assert all(e.mail_from[0].email == "bob@example.test" for e in emails)
    assert all(e.mailbox_ids == {by_role["inbox"].id: True} for e in emails)
    threads = client.request(ThreadGet(ids=[emails[0].thread_id]), raise_errors=True,
                             single_response=True)
    assert threads.data[0].email_ids == [emails[0].id]  # type: ignore[union-attr]


def test_jmapc_set_keyword_and_follow_changes(server: ServerThread, client: Client) -> None:
    append(server, USER, message("to be read"))
    got: Any = client.request(EmailGet(ids=None, properties=["id", "keywords"]),
                              raise_errors=True, single_response=True)
    (email,) = got.data
    state = got.state
    done = client.request(EmailSet(update={email.id: {"keywords/$seen": True}}),
                          raise_errors=True, single_response=True)
    assert email.id in done.updated  # type: ignore[union-attr]
    imap = imap_login(server, USER)
    imap.select("INBOX")
    _typ, data = imap.uid("FETCH", "1", "(FLAGS)")
    imap.logout()
    assert b"\\Seen" in data[0]
    changes: Any = client.request(EmailChanges(since_state=state), raise_errors=True,
                                  single_response=True)
    assert changes.updated == [email.id]
    assert changes.created == []


def test_jmapc_event_source(server: ServerThread, client: Client) -> None:
    events = client.events
    first = next(events)
    assert client.account_id in first.data.changed
    # a delivery while the client listens
    threading.Timer(0.2, append, (server, USER, message("pushed"))).start()
    second = next(events)
    assert (second.data.changed[client.account_id].email
            != first.data.changed[client.account_id].email)
