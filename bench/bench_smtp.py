"""SMTP inbound: smtp-source into posthouse's port 25 listener and into Postfix (Maildir).

1 KB and 100 KB messages at 1 and 20 sessions, one new connection per message (like MX
traffic; --reuse keeps each session's connection), after an untimed warm-up of 20 messages
into each side. Postfix's figures: "accepted" is
smtp-source's wall time (queued), "in mailbox" waits until virtual(8) wrote every file. posthouse
answers 250 only once the message is in the store, so both of its figures are the same.
posthouse's port 25 sender checks (SPF, DKIM, DMARC, ARC, iprev) are off, as Postfix makes
none here (bench/common.py CHECKS_OFF); bench_trust.py measures what they cost.

    .venv/bin/python -m bench.bench_smtp --quick
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import PostfixPeer, free_port, run_smtp_source, wait_until

from bench.common import Metrics, Posthouse, Refused, Runner, Table, bench, parser

RECIPIENT = "bench@example.test"
QUICK = [(1024, 1, 100), (1024, 20, 300), (102400, 1, 30), (102400, 20, 100)]
FULL = [(1024, 1, 1000), (1024, 20, 5000), (102400, 1, 200), (102400, 20, 1000)]


def postfix_side(pf: PostfixPeer, size: int, sessions: int, messages: int,
                 reuse: bool) -> Runner:
    """One smtp-source run into Postfix, timed until every message is in the Maildir."""
    def run() -> Metrics:
        before = pf.maildir_count(RECIPIENT)
        started = time.perf_counter()
        result = run_smtp_source(pf.smtp_port, sessions=sessions, messages=messages,
                                 size=size, recipient=RECIPIENT, reuse_connection=reuse)
        if result.rc != 0:
            raise Refused(f"smtp-source exit {result.rc}: {result.output}")
        target = before + messages
        if not wait_until(lambda: pf.maildir_count(RECIPIENT) >= target, 600, 0.02):
            got = pf.maildir_count(RECIPIENT) - before
            raise Refused(f"only {got} of {messages} reached the Maildir\n{pf.tail(5)}")
        delivered = time.perf_counter() - started
        return {"accepted msg/s": messages / result.seconds,
                "in mailbox msg/s": messages / delivered}
    return run


def posthouse_side(ph: Posthouse, size: int, sessions: int, messages: int,
                   reuse: bool) -> Runner:
    """One smtp-source run into posthouse, then a check that the store has them all."""
    def run() -> Metrics:
        port = ph.require("smtp")
        before = ph.message_count(RECIPIENT)
        result = run_smtp_source(port, sessions=sessions, messages=messages, size=size,
                                 recipient=RECIPIENT, reuse_connection=reuse)
        if result.rc != 0:
            raise Refused(f"smtp-source exit {result.rc}: {result.output}\n{ph.tail(5)}")
        after = ph.message_count(RECIPIENT)
        if before is not None and after is not None and after - before != messages:
            raise Refused(f"accepted {messages} but the store gained {after - before}")
        rate = messages / result.seconds
        return {"accepted msg/s": rate, "in mailbox msg/s": rate}
    return run


WARM_UP = 20  # untimed messages into each side first: imports, caches, first files


def warm_up_posthouse(ph: Posthouse) -> None:
    result = run_smtp_source(ph.require("smtp"), messages=WARM_UP, recipient=RECIPIENT)
    if result.rc != 0:
        raise Refused(f"warm-up: smtp-source exit {result.rc}: {result.output}")


def warm_up_postfix(pf: PostfixPeer) -> None:
    result = run_smtp_source(pf.smtp_port, messages=WARM_UP, recipient=RECIPIENT)
    if result.rc != 0 or not wait_until(lambda: pf.maildir_count(RECIPIENT) >= WARM_UP, 60,
                                        0.05):
        raise Refused(f"warm-up: smtp-source exit {result.rc}: {result.output}")


def main(argv: list[str] | None = None) -> int:
    p = parser("smtp-source into posthouse and Postfix, side by side")
    p.add_argument("--reuse", action="store_true", help="smtp-source -d: one connection "
                   "per session instead of one per message")
    p.add_argument("--size", type=int, action="append", help="only this message size "
                   "(repeatable)")
    p.add_argument("--sessions", type=int, action="append", help="only this concurrency "
                   "(repeatable)")
    args = p.parse_args(argv)
    plan = [(size, sessions, messages)
            for size, sessions, messages in (QUICK if args.quick else FULL)
            if (not args.size or size in args.size)
            and (not args.sessions or sessions in args.sessions)]
    table = Table("SMTP inbound: smtp-source -> posthouse vs Postfix (Maildir); posthouse's "
                  "port 25 sender checks off, as Postfix makes none", "postfix")
    with bench(args, "SMTP inbound", table) as b:
        ph = b.posthouse([RECIPIENT], warm_up_posthouse)
        pf = PostfixPeer(b.lab / "postfix", smtp_port=free_port(), mailboxes=[RECIPIENT])
        b.peer(pf, lambda: warm_up_postfix(pf))
        b.run((f"-s {sessions} -m {messages} -l {size}{' -d' if args.reuse else ''}", b.sides(
            posthouse_side(ph, size, sessions, messages, args.reuse),
            postfix_side(pf, size, sessions, messages, args.reuse)))
            for size, sessions, messages in plan)
    return 0


if __name__ == "__main__":
    sys.exit(main())
