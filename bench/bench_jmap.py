"""JMAP: the first page of a mail client, Email/query (50 newest) + Email/get of those 50, on
one INBOX of --messages messages, and the push latency from SMTP 250 to the event source's
StateChange. posthouse only: no JMAP server is packaged for Debian to compare against (the
peer column says so).

- "query+get 50, cold": a flag changed over IMAP first (untimed), so the request reads the
  account again (jmap/account.py AccountView: every message's metadata through the store).
- "query+get 50, warm": the same request again, state unchanged (the cached view).
- "push after SMTP 250": an event source is open; one message over SMTP; the time from the
  250 to the StateChange line.

    .venv/bin/python -m bench.bench_jmap --quick
    .venv/bin/python -m bench.bench_jmap --messages 10000
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import json
import smtplib
import ssl
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK

from bench.common import (
    DOMAIN,
    PASSWORD,
    Metrics,
    Posthouse,
    Table,
    bench,
    fill_posthouse,
    mailbox,
    parser,
    quick_or,
)

USER = f"reader@{DOMAIN}"
HTTPS = 443  # the port-base offset of the HTTPS listener (config.STANDARD_PORTS)


class JmapClient:
    """Keep-alive HTTPS to posthouse's JMAP API (the self-signed certificate not verified:
    this is a benchmark on loopback)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.context = ssl.create_default_context()
        self.context.check_hostname = False
        self.context.verify_mode = ssl.CERT_NONE
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPSConnection(LOOPBACK, port, context=self.context,
                                                timeout=300)
        self.account = ""
        self.conn.request("GET", "/.well-known/jmap", headers=self.headers)
        session = json.loads(self.conn.getresponse().read())
        self.account = session["primaryAccounts"]["urn:ietf:params:jmap:mail"]

    def calls(self, *calls: list[Any]) -> list[Any]:
        body = json.dumps({"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                           "methodCalls": list(calls)})
        self.conn.request("POST", "/jmap/api/", body=body, headers=self.headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:200]!r}")
        return list(json.loads(data)["methodResponses"])

    def first_page(self) -> list[Any]:
        return self.calls(
            ["Email/query", {"accountId": self.account, "limit": 50,
                             "sort": [{"property": "receivedAt", "isAscending": False}]}, "q"],
            ["Email/get", {"accountId": self.account,
                           "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                           "properties": ["subject", "from", "receivedAt", "keywords",
                                          "preview", "threadId", "mailboxIds"]}, "g"])



def touch(ph: Posthouse) -> None:
    """Change the account's state over IMAP (a flag on and off the newest message), so the
    next JMAP request must read the account again."""
    client = imaplib.IMAP4(LOOPBACK, ph.port("imap"), timeout=60)
    client.login(USER, PASSWORD)
    client.select("INBOX")
    client.store("*", "+FLAGS.SILENT", "(\\Flagged)")
    client.store("*", "-FLAGS.SILENT", "(\\Flagged)")
    client.logout()


def page_timer(client: JmapClient, cold: Posthouse | None) -> Metrics:
    if cold is not None:
        touch(cold)
    started = time.perf_counter()
    responses = client.first_page()
    elapsed = time.perf_counter() - started
    if len(responses[1][1]["list"]) != 50:
        raise RuntimeError("Email/get did not return 50 Emails")
    return {"ms": elapsed * 1000}


def push_timer(ph: Posthouse, client: JmapClient) -> Metrics:
    conn = http.client.HTTPSConnection(LOOPBACK, client.port, context=client.context,
                                       timeout=60)
    conn.request("GET", "/jmap/eventsource/?types=Email&closeafter=state&ping=0",
                 headers=client.headers)
    stream = conn.getresponse()
    while stream.readline().strip() != b"":  # the first (current) state event
        pass
    with smtplib.SMTP(LOOPBACK, ph.port("smtp"), timeout=60) as smtp:
        smtp.sendmail("push@source.test", [USER], b"Subject: push\r\n\r\nnow\r\n")
        sent = time.perf_counter()
    while not stream.readline().startswith(b"data:"):
        pass
    elapsed = time.perf_counter() - sent
    conn.close()
    return {"ms": elapsed * 1000}


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--messages", type=int, default=None, help="messages in the INBOX")
    args = p.parse_args()
    count = quick_or(args, args.messages, 500, 5000)
    table = Table(f"JMAP on a {count}-message INBOX (posthouse only)", "no JMAP peer")
    with bench(args, "JMAP", table) as b:
        ph = b.posthouse([USER], lambda ph: fill_posthouse(ph, [USER], mailbox(count), "smtp"))
        if b.ph_err:
            b.run([("query+get 50", {"posthouse": b.ph_err, "no JMAP peer": "none"})])
            return
        client = JmapClient(ph.port_base + HTTPS)
        none = "no JMAP server to compare with"
        b.run([
            ("Email/query 50 + Email/get, cold", {
                "posthouse": lambda: page_timer(client, cold=ph), "no JMAP peer": none}),
            ("Email/query 50 + Email/get, warm", {
                "posthouse": lambda: page_timer(client, cold=None), "no JMAP peer": none}),
            ("push: SMTP 250 -> StateChange", {
                "posthouse": lambda: push_timer(ph, client), "no JMAP peer": none}),
        ])


if __name__ == "__main__":
    main()
