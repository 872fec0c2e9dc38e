"""JMAP against IMAP on the same posthouse: the first page of a mail client on an INBOX of
1,000 / 10,000 / 100,000 messages, and the push latency from SMTP 250 to a StateChange.

No JMAP server is packaged for Debian to compare with, so the peer column is IMAP on the
same server doing the same work:

- JMAP "first page": ``Email/query`` (sort receivedAt descending, limit 50) and ``Email/get``
  of those 50 (subject, from, receivedAt, keywords, preview, size) in one request, on a
  keep-alive HTTPS connection.
- IMAP "first page": ``UID SEARCH ALL`` (posthouse has no SORT; the newest 50 by arrival are
  the 50 highest uids) and ``UID FETCH`` of those 50 (ENVELOPE FLAGS RFC822.SIZE
  INTERNALDATE) on a logged-in connection with INBOX selected.

Rows per size: "after a change" (a flag set and cleared over IMAP first, untimed: JMAP must
bring its cached account view up to date, IMAP has the untagged FETCHes to read), and
"unchanged" (the same request again). "JMAP first request" is the first JMAP request after
the server started (the whole account read once; one sample per size), beside IMAP LOGIN +
SELECT: once right after the import (the full-text indexer is still taking in the imported
messages then, and IMAP's SELECT follows an earlier one), and once more at the end, after a
restart of the idle server (the index caught up: what a restart costs a user; JMAP first,
then IMAP's first SELECT of the new process). The INBOX grows
from one size to the next with ``posthouse import mbox`` while the server is stopped (not
over SMTP: 100,000 messages take a minute or two that way).

"push": an event source is open (``types=Email&closeafter=state``); one message is sent over
SMTP; the time from the 250 to the StateChange line, over --pushes deliveries (the IMAP
column: the same with IDLE, from the 250 to the untagged EXISTS).

    .venv/bin/python -m bench.bench_jmap --quick              # 1,000 and 10,000
    .venv/bin/python -m bench.bench_jmap                      # 100,000
    .venv/bin/python -m bench.bench_jmap --sizes 1000,10000,100000 --runs 5
"""

from __future__ import annotations

import base64
import http.client
import imaplib
import json
import os
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    REPO,
    SIZES,
    VENV_PYTHON,
    Metrics,
    Posthouse,
    Refused,
    SideResult,
    Table,
    bench,
    compare,
    parser,
    rounds,
)
from posthouse.mailfiles.mbox import format_message

USER = f"reader@{DOMAIN}"
HTTPS = 443  # the port-base offset of the HTTPS listener (config.STANDARD_PORTS)
PAGE = 50
PEER = "IMAP, same posthouse"
JMAP_PROPERTIES = ["subject", "from", "receivedAt", "keywords", "preview", "size"]
FIRST_DAY = datetime(2024, 1, 1, tzinfo=UTC)


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
                                                timeout=600)
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
            raise Refused(f"{response.status}: {data[:200]!r}")
        return list(json.loads(data)["methodResponses"])

    def first_page(self) -> list[Any]:
        return self.calls(
            ["Email/query", {"accountId": self.account, "limit": PAGE,
                             "sort": [{"property": "receivedAt", "isAscending": False}]}, "q"],
            ["Email/get", {"accountId": self.account,
                           "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                           "properties": JMAP_PROPERTIES}, "g"])

    def close(self) -> None:
        self.conn.close()


class ImapClient:
    """One logged-in IMAP connection with INBOX selected."""

    def __init__(self, port: int) -> None:
        self.client = imaplib.IMAP4(LOOPBACK, port, timeout=600)
        self.client.login(USER, PASSWORD)
        self.client.select("INBOX")

    def first_page(self) -> int:
        """The newest PAGE messages' envelope, flags, size and date; how many came."""
        typ, data = self.client.uid("SEARCH", "ALL")
        if typ != "OK":
            raise Refused(f"UID SEARCH: {typ} {data!r}")
        uids = (data[0] or b"").split()[-PAGE:]
        typ, fetched = self.client.uid("FETCH", b",".join(uids).decode(),
                                       "(ENVELOPE FLAGS RFC822.SIZE INTERNALDATE)")
        if typ != "OK":
            raise Refused(f"UID FETCH: {typ} {fetched!r}")
        return sum(1 for item in fetched if isinstance(item, bytes) and b"ENVELOPE" in item)

    def touch(self) -> None:
        """A flag on and off the newest message (the account's state moves)."""
        self.client.store("*", "+FLAGS.SILENT", "(\\Flagged)")
        self.client.store("*", "-FLAGS.SILENT", "(\\Flagged)")

    def close(self) -> None:
        self.client.logout()


# --- filling the INBOX ----------------------------------------------------------------------


def write_mbox(path: Path, start: int, stop: int) -> int:
    """Messages start..stop-1 as one mboxrd file, a minute apart (receivedAt sorts them);
    its size in bytes."""
    with path.open("wb") as out:
        for i in range(start, stop):
            data = sample_message(i, SIZES[i % len(SIZES)], recipient=USER)
            out.write(format_message(data, (), FIRST_DAY + timedelta(minutes=i)))
    return path.stat().st_size


def grow(ph: Posthouse, scratch: Path, have: int, want: int) -> float:
    """Import messages have..want-1 into the stopped server's INBOX; seconds taken."""
    mbox = scratch / "fill.mbox"
    write_mbox(mbox, have, want)
    argv = [str(VENV_PYTHON), "-m", "posthouse", "import", "mbox", USER, str(mbox),
            "--data-dir", str(ph.data_dir)]
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=3600, cwd=REPO,
                          check=False)
    seconds = time.perf_counter() - started
    mbox.unlink()
    if done.returncode != 0 or f"imported {want - have} messages" not in done.stdout:
        raise Refused(f"import mbox: {(done.stdout + done.stderr).strip()[-400:]}")
    return seconds


# --- one size -------------------------------------------------------------------------------


def jmap_page(client: JmapClient, imap: ImapClient | None) -> Metrics:
    if imap is not None:
        imap.touch()
    started = time.perf_counter()
    responses = client.first_page()
    elapsed = time.perf_counter() - started
    if len(responses[1][1].get("list", [])) != PAGE:
        raise Refused(f"Email/get did not return {PAGE} Emails: {responses[-1]!r:.200}")
    return {"ms": elapsed * 1000}


def imap_page(client: ImapClient, touch: bool) -> Metrics:
    if touch:
        client.touch()
    started = time.perf_counter()
    got = client.first_page()
    elapsed = time.perf_counter() - started
    if got != PAGE:
        raise Refused(f"UID FETCH returned {got} messages, not {PAGE}")
    return {"ms": elapsed * 1000}


def jmap_push(ph: Posthouse, client: JmapClient) -> float:
    """Milliseconds from the SMTP 250 to the event source's StateChange."""
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
    return elapsed * 1000


def imap_push(ph: Posthouse) -> float:
    """Milliseconds from the SMTP 250 to IDLE's untagged EXISTS."""
    with socket.create_connection((LOOPBACK, ph.port("imap")), timeout=60) as sock:
        reader = sock.makefile("rb")
        reader.readline()

        def command(line: str) -> None:
            sock.sendall(line.encode() + b"\r\n")
            tag = line.split()[0].encode()
            while not reader.readline().startswith(tag):
                pass

        command(f'a LOGIN "{USER}" "{PASSWORD}"')
        command("b SELECT INBOX")
        sock.sendall(b"c IDLE\r\n")
        reader.readline()  # "+ idling"
        with smtplib.SMTP(LOOPBACK, ph.port("smtp"), timeout=60) as smtp:
            smtp.sendmail("push@source.test", [USER], b"Subject: push\r\n\r\nnow\r\n")
            sent = time.perf_counter()
        while not re.match(rb"\* \d+ EXISTS", reader.readline()):
            pass
        elapsed = time.perf_counter() - sent
        sock.sendall(b"DONE\r\n")
        while not reader.readline().startswith(b"c "):
            pass
    return elapsed * 1000


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user + system, from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_idle(ph: Posthouse, most: float = 900) -> float:
    """Wait until the server uses under a tenth of a core over two seconds (the indexer
    done); the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < most:
        before = cpu_seconds(ph.pid)
        time.sleep(2)
        if cpu_seconds(ph.pid) - before < 0.2:
            break
    return time.perf_counter() - started


def first_after_restart(ph: Posthouse, table: Table, size: int) -> None:
    """The first JMAP request, then the first IMAP LOGIN+SELECT, of a restarted idle server."""
    waited = wait_idle(ph)
    ph.stop()
    ph.start()
    waited += wait_idle(ph)
    started = time.perf_counter()
    client = JmapClient(ph.port_base + HTTPS)
    jmap_page(client, None)
    first = SideResult()
    first.add({"ms": (time.perf_counter() - started) * 1000})
    client.close()
    started = time.perf_counter()
    ImapClient(ph.port("imap")).close()
    select = SideResult()
    select.add({"ms": (time.perf_counter() - started) * 1000})
    print(f"- {size:,}: after a restart of the idle server (waited {waited:.0f} s): first JMAP "
          f"request {first.cell('ms')} ms; IMAP LOGIN+SELECT {select.cell('ms')} ms", flush=True)
    table.add(f"{size:,}: first request after a restart (JMAP) / LOGIN+SELECT (IMAP)",
              {"posthouse": first, PEER: select})


def measure_size(ph: Posthouse, table: Table, size: int, runs: int, pushes: int) -> None:
    imap = ImapClient(ph.port("imap"))
    client = JmapClient(ph.port_base + HTTPS)
    started = time.perf_counter()
    jmap_page(client, None)
    first = SideResult()
    first.add({"ms": (time.perf_counter() - started) * 1000})
    started = time.perf_counter()
    ImapClient(ph.port("imap")).close()  # login + SELECT of the INBOX
    select = SideResult()
    select.add({"ms": (time.perf_counter() - started) * 1000})
    print(f"- {size:,}: first JMAP request {first.cell('ms')} ms; IMAP LOGIN+SELECT "
          f"{select.cell('ms')} ms", flush=True)
    table.add(f"{size:,}: first request (JMAP) / LOGIN+SELECT (IMAP)",
              {"posthouse": first, PEER: select})
    for label, touched in (("after a change", True), ("unchanged", False)):
        print(f"- {size:,}: first page, {label}", flush=True)
        table.add(f"{size:,}: first page, {label}", compare(runs, {
            "posthouse": lambda t=touched: jmap_page(client, imap if t else None),
            PEER: lambda t=touched: imap_page(imap, t)}))
    imap.close()
    print(f"- {size:,}: push over {pushes} deliveries", flush=True)
    jmap, idle = SideResult(), SideResult()
    for _ in range(pushes):
        jmap.add({"ms": jmap_push(ph, client)})
        idle.add({"ms": imap_push(ph)})
    table.add(f"{size:,}: push, SMTP 250 -> StateChange (JMAP) / EXISTS (IDLE)",
              {"posthouse": jmap, PEER: idle})
    print(f"  JMAP {jmap.cell('ms')} ms, IDLE {idle.cell('ms')} ms", flush=True)
    client.close()
    first_after_restart(ph, table, size)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--sizes", help="INBOX sizes, comma separated, grown in turn "
                   "(default 100000; --quick 1000,10000)")
    p.add_argument("--pushes", type=int, default=20, help="deliveries timed for push")
    args = p.parse_args()
    sizes = [int(s) for s in (args.sizes or ("1000,10000" if args.quick else "100000"))
             .split(",")]
    load = os.getloadavg()
    table = Table(f"JMAP beside IMAP on one posthouse (load {load[0]:.1f} at the start)",
                  PEER)
    with bench(args, "JMAP", table) as b:
        ph = b.posthouse([USER])
        if b.ph_err:
            raise SystemExit(b.ph_err)
        have = 0
        for size in sorted(sizes):
            ph.stop()
            seconds = grow(ph, b.lab, have, size)
            print(f"- INBOX grown {have:,} -> {size:,} by import mbox in {seconds:.1f} s "
                  f"(load {os.getloadavg()[0]:.1f})", flush=True)
            have = size
            ph.start()
            measure_size(ph, table, size, rounds(args), args.pushes)
            have += args.pushes * 2  # the pushed messages are in the INBOX too
        print(f"  load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
