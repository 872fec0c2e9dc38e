"""Outbound relay: mail submitted for a remote domain, relayed to one smtp-sink.

posthouse takes the mail on its submission port (AUTH PLAIN, plaintext allowed on loopback) and
relays it through its queue to the sink ([queue] smarthost); Postfix (mode "relay") takes the
same mail on its port (trusted by mynetworks: smtp-source cannot authenticate, so both sides are
fed by the same smtplib injector) and relays it to the same sink. "accepted" is the injector's
wall time; "relayed" runs until the sink has counted every message. Each side first relays 20
messages untimed (a warm-up).

    .venv/bin/python -m bench.bench_relay --quick
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.peers import LOOPBACK, PostfixPeer, SmtpSink, free_port, sample_message

from bench.common import (
    DOMAIN,
    PASSWORD,
    Injection,
    Metrics,
    Refused,
    Runner,
    Table,
    bench,
    crlf,
    inject,
    parser,
    split,
)

SENDER = f"sender@{DOMAIN}"
RECIPIENT = "someone@remote.test"
QUICK = [(1024, 1, 50), (1024, 10, 200)]
FULL = [(1024, 1, 500), (1024, 10, 3000), (102400, 10, 500)]


def relay_side(sink: SmtpSink, port: Callable[[], int], login: tuple[str, str] | None,
               size: int, sessions: int, messages: int) -> Runner:
    """Inject messages over sessions connections, then wait for the sink to count them."""
    def run() -> Metrics:
        data = [crlf(sample_message(i, size, sender=SENDER, recipient=RECIPIENT))
                for i in range(messages)]
        jobs = [Injection(port(), SENDER, [RECIPIENT], part, login)
                for part in split(data, sessions)]
        before = sink.delivered()
        started = time.perf_counter()
        accepted = inject(jobs)
        if not sink.wait_delivered(before + messages, timeout=120 + messages / 10):
            raise Refused(f"the sink got {sink.delivered() - before} of {messages} messages")
        relayed = time.perf_counter() - started
        return {"accepted msg/s": messages / accepted, "relayed msg/s": messages / relayed}
    return run


def warm_up(sink: SmtpSink, port: Callable[[], int], login: tuple[str, str] | None) -> None:
    """20 untimed messages through a side (imports, caches, the first connection)."""
    relay_side(sink, port, login, 1024, 1, 20)()


def main(argv: list[str] | None = None) -> int:
    args = parser("relay to smtp-sink through posthouse and Postfix").parse_args(argv)
    table = Table("Relay: submission -> queue -> smtp-sink, posthouse vs Postfix (posthouse "
                  "DKIM-signs every message, Postfix signs none)", "postfix")
    with bench(args, "Relay", table) as b:
        sink = b.enter(SmtpSink(free_port(), workdir=b.lab / "sink"))
        queue = (f'\n[queue]\nsmarthost = "{LOOPBACK}:{sink.port}"\n'
                 'smarthost_tls = "none"\nretry_initial_seconds = 5\n')
        ph = b.posthouse([SENDER], lambda ph: warm_up(
            sink, lambda: ph.require("submission"), (SENDER, PASSWORD)), extra_toml=queue)
        pf = PostfixPeer(b.lab / "postfix", smtp_port=free_port(), mode="relay",
                         relay_to=(LOOPBACK, sink.port), mydomain="relay.test")
        b.peer(pf, lambda: warm_up(sink, lambda: pf.smtp_port, None))
        b.run((f"{sessions} session(s), {messages} x {size} B", b.sides(
            relay_side(sink, lambda: ph.require("submission"), (SENDER, PASSWORD),
                       size, sessions, messages),
            relay_side(sink, lambda: pf.smtp_port, None, size, sessions, messages)))
            for size, sessions, messages in (QUICK if args.quick else FULL))
    return 0


if __name__ == "__main__":
    sys.exit(main())
