"""What the port 25 checks cost: SPF + DKIM + DMARC (+ ARC, iprev) on vs off, beside Postfix.

smtp-source -F sends one DKIM-signed (RSA 2048, relaxed/relaxed) 1 KB message whose From
domain publishes SPF (ip4:127.0.0.0/8), its DKIM key and DMARC p=reject, from a loopback DNS
server (tests/support/dnsserver.py, about a millisecond an answer) that the "checks on"
server uses as its [dns] resolver. Three sides, one new connection per message:

- posthouse with every check on (the default), its resolver cache warm after round 1;
- posthouse with every check off;
- Postfix delivering to a Maildir without checks (the same message, for scale).

    .venv/bin/python -m bench.bench_trust --quick
"""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.peers import PostfixPeer, find_tool, free_port, wait_until

from bench.common import (
    Metrics,
    Posthouse,
    Refused,
    Runner,
    Table,
    compare,
    header,
    parser,
    rounds,
    scratch_dir,
)
from posthouse.mailauth.dkim import DkimKeys, sign

RECIPIENT = "bench@example.test"
SENDER = "bench@source.test"


def signed_message(key: rsa.RSAPrivateKey, size: int) -> bytes:
    """A DKIM-signed message of about ``size`` bytes from source.test."""
    line = b"The quick brown fox jumps over the lazy dog, again and again.\r\n"
    body = line * max(1, size // len(line))
    data = (f"From: Bench <{SENDER}>\r\nTo: <{RECIPIENT}>\r\nSubject: trust bench\r\n"
            "Date: Wed, 2 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bench@source.test>\r\n"
            "MIME-Version: 1.0\r\n\r\n").encode() + body
    return sign(data, keys=DkimKeys("sel", key), domain="source.test",
                timestamp=int(time.time()))


def zone(key: rsa.RSAPrivateKey) -> DnsServer:
    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    dkim = "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()
    return DnsServer({
        # The client's PTR and the HELO name's address: iprev and the HELO check pass and are
        # cached like the rest (the test server sends no SOA, so negative answers would not be).
        "source.test": {"TXT": [txt_rdata("v=spf1 ip4:127.0.0.0/8 -all")],
                        "A": ["127.0.0.1"]},
        "1.0.0.127.in-addr.arpa": {"PTR": ["source.test."]},
        "sel._domainkey.source.test": {"TXT": [txt_rdata(dkim)]},
        "_dmarc.source.test": {"TXT": [txt_rdata("v=DMARC1; p=reject")]},
    })


def source(port: int, message: Path, sessions: int, messages: int) -> float:
    """smtp-source -F: the pre-formatted message; wall seconds, Refused on a failure."""
    import subprocess

    argv = [find_tool("smtp-source"), "-s", str(sessions), "-m", str(messages), "-F",
            str(message), "-f", SENDER, "-t", RECIPIENT, "-M", "source.test",
            f"127.0.0.1:{port}"]
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise Refused(f"smtp-source exit {proc.returncode}: {proc.stdout}{proc.stderr}")
    return time.perf_counter() - started


def posthouse_side(ph: Posthouse, message: Path, sessions: int, messages: int) -> Runner:
    def run() -> Metrics:
        before = ph.message_count(RECIPIENT)
        seconds = source(ph.require("smtp"), message, sessions, messages)
        after = ph.message_count(RECIPIENT)
        if before is not None and after is not None and after - before != messages:
            raise Refused(f"accepted {messages} but the store gained {after - before}\n"
                          f"{ph.tail(5)}")
        return {"msg/s": messages / seconds}
    return run


def postfix_side(pf: PostfixPeer, message: Path, sessions: int, messages: int) -> Runner:
    def run() -> Metrics:
        before = pf.maildir_count(RECIPIENT)
        started = time.perf_counter()
        source(pf.smtp_port, message, sessions, messages)
        if not wait_until(lambda: pf.maildir_count(RECIPIENT) >= before + messages, 600, 0.02):
            raise Refused("not every message reached the Maildir")
        return {"msg/s": messages / (time.perf_counter() - started)}
    return run


def main(argv: list[str] | None = None) -> int:
    p = parser("port 25 with the sender checks on and off, beside Postfix")
    args = p.parse_args(argv)
    plan = [(1, 100), (10, 300)] if args.quick else [(1, 500), (10, 2000)]
    header("SMTP inbound with sender checks", args)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    dns = zone(key).start()
    on_table = Table("Port 25: every check on vs every check off (ratio = on/off)",
                     "checks off")
    peer_table = Table("Port 25 with every check on vs Postfix without checks", "postfix")
    try:
        with scratch_dir("posthouse-bench-trust-") as lab:
            message = lab / "message.eml"
            message.write_bytes(signed_message(key, 1024).replace(b"\r\n", b"\n"))
            dns_toml = f"\n[dns]\nresolver = \"{dns.address}\"\n"
            on = Posthouse(lab / "on", extra_toml=dns_toml, checks=True)
            off = Posthouse(lab / "off", extra_toml=dns_toml)
            pf = PostfixPeer(lab / "postfix", smtp_port=free_port(), mailboxes=[RECIPIENT])
            try:
                for ph in (on, off):
                    ph.setup([RECIPIENT])
                    ph.start()
                pf.start()
                for sessions, messages in plan:
                    label = f"-s {sessions} -m {messages}, 1 KB signed"
                    print(f"- {label}", flush=True)
                    results = compare(rounds(args), {
                        "posthouse": posthouse_side(on, message, sessions, messages),
                        "checks off": posthouse_side(off, message, sessions, messages),
                        "postfix": postfix_side(pf, message, sessions, messages)})
                    on_table.add(label, results)
                    peer_table.add(label, results)
            finally:
                on.stop()
                off.stop()
                pf.stop()
    finally:
        dns.stop()
    on_table.print()
    peer_table.print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
