"""RFC 5321 4.5.1 (postmaster always accepted) and unique per-message ids."""

from __future__ import annotations

import smtplib

from tests.support.server import ServerThread


def test_postmaster_is_accepted_without_an_account(server: ServerThread) -> None:
    server.add_user("zed@example.test")
    server.add_user("amy@example.test")
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=10) as client:
        client.ehlo("peer.test")
        client.mail("peer@remote.test")
        assert client.rcpt("<Postmaster>")[0] == 250  # the bare form, RFC 5321 4.1.1.3
        assert client.rcpt("postmaster@example.test")[0] == 250
        assert client.data(b"Subject: to postmaster\r\n\r\nhi\r\n")[0] == 250
    # No postmaster account: the domain's first account (by address) gets it, once.
    assert len(server.inbox("amy@example.test")) == 1
    assert server.inbox("zed@example.test") == []


def test_every_message_of_a_session_has_its_own_id(server: ServerThread) -> None:
    server.add_user("amy@example.test")
    ids = []
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=10) as client:
        client.ehlo("peer.test")
        for n in range(3):
            client.mail("peer@remote.test")
            client.rcpt("amy@example.test")
            code, text = client.data(f"Subject: {n}\r\n\r\nbody\r\n".encode())
            assert code == 250
            ids.append(text.split()[-1])
    assert len(set(ids)) == 3
    received = [m.split(b"\r\n")[2] for m in server.inbox("amy@example.test")]
    assert len(set(received)) == 3  # the "with ESMTP id ..." line differs too


def test_domain_added_while_running_is_served_within_seconds(server: ServerThread) -> None:
    """Local domains are cached briefly (delivery/router.py DOMAIN_CACHE_SECONDS)."""
    import time

    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=10) as client:
        client.ehlo("peer.test")
        client.mail("peer@remote.test")
        assert client.rcpt("new@late.test")[0] == 554  # not ours: no relay
    server.add_user("new@late.test")
    deadline = time.monotonic() + 30
    while True:
        with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=10) as client:
            client.ehlo("peer.test")
            client.mail("peer@remote.test")
            if client.rcpt("new@late.test")[0] == 250:
                break
        assert time.monotonic() < deadline
        time.sleep(0.5)
