"""Sender authentication on port 25 over real sockets: SPF, DKIM, ARC and DMARC against a
loopback DNS server, the Authentication-Results field (RFC 8601), DMARC reject at the end of
DATA (550 5.7.1), quarantine into the user's Junk, forged Authentication-Results removed, and
submission left unchecked."""

from __future__ import annotations

import base64
import re
import smtplib
import time
from collections.abc import Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from posthouse.config import ChecksConfig, DnsConfig, replace_section
from posthouse.mailauth.dkim import DkimKeys, sign
from tests.support.dnsserver import DnsServer, txt_rdata
from tests.support.server import PASSWORD, ServerThread, make_config

ANN = "ann@example.test"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)

pytestmark = pytest.mark.usefixtures("no_server_errors")


def key_record() -> str:
    der = KEY.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    return "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def dns() -> Iterator[DnsServer]:
    spf_loopback = [txt_rdata("v=spf1 ip4:127.0.0.0/8 -all")]
    zone = {
        "signer.test": {"TXT": spf_loopback},
        "sel._domainkey.signer.test": {"TXT": [txt_rdata(key_record())]},
        "_dmarc.signer.test": {"TXT": [txt_rdata("v=DMARC1; p=reject")]},
        "bank.test": {"TXT": [txt_rdata("v=spf1 ip4:192.0.2.0/24 -all")]},
        "_dmarc.bank.test": {"TXT": [txt_rdata("v=DMARC1; p=reject")]},
        "shop.test": {"TXT": [txt_rdata("v=spf1 -all")]},
        "_dmarc.shop.test": {"TXT": [txt_rdata("v=DMARC1; p=quarantine")]},
        "blog.test": {"TXT": [txt_rdata("v=spf1 -all")]},
        "_dmarc.blog.test": {"TXT": [txt_rdata("v=DMARC1; p=none")]},
        "bulk.test": {"TXT": spf_loopback},
        "_dmarc.xn--bnk-qla.test": {"TXT": [txt_rdata("v=DMARC1; p=reject")]},  # bänk.test
        "arc._domainkey.list.test": {"TXT": [txt_rdata(key_record())]},
    }
    server = DnsServer(zone).start()
    yield server
    server.stop()


def start(tmp_path: Path, dns: DnsServer, **checks: object) -> ServerThread:
    checks.setdefault("iprev", False)  # tests/integration/test_antiabuse_smtp.py has it
    cfg = replace_section(make_config(tmp_path / "data"),
                          checks=ChecksConfig(**checks),  # type: ignore[arg-type]
                          dns=DnsConfig(resolver=dns.address, timeout_seconds=2))
    server = ServerThread(cfg).start()
    server.add_user(ANN)
    return server


@pytest.fixture
def server(tmp_path: Path, dns: DnsServer) -> Iterator[ServerThread]:
    running = start(tmp_path, dns)
    yield running
    running.stop()


def message(author: str, subject: str = "hello", extra: bytes = b"") -> bytes:
    return extra + (f"From: <{author}>\r\nTo: <{ANN}>\r\nSubject: {subject}\r\n"
                    f"Message-ID: <{subject}@x>\r\n\r\nbody of {subject}\r\n").encode()


def send(server: ServerThread, mail_from: str, data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.sendmail(mail_from, [ANN], data)


def auth_results(stored: bytes) -> str:
    head = stored.split(b"\r\n\r\n", 1)[0].decode()
    found = [f for f in re.split(r"\r\n(?![ \t])", head)
             if f.lower().startswith("authentication-results:")]
    assert len(found) == 1, found
    return " ".join(found[0].split())


def test_signed_aligned_mail_passes(server: ServerThread) -> None:
    signed = sign(message("ceo@signer.test", "signed"), keys=DkimKeys("sel", KEY),
                  domain="signer.test", timestamp=1_900_000_000)
    send(server, "bounces@signer.test", signed)
    results = auth_results(server.inbox(ANN)[-1])
    assert results.startswith("Authentication-Results: mx.example.test; "
                              "spf=pass smtp.mailfrom=bounces@signer.test; "
                              "spf=none smtp.helo=client.test; "
                              "dkim=pass header.d=signer.test header.s=sel header.a=rsa-sha256")
    assert results.endswith("dmarc=pass (p=reject dis=none) header.from=signer.test")


def test_signature_whose_key_is_missing_is_a_permerror(server: ServerThread) -> None:
    signed = sign(message("ceo@blog.test", "nokey"), keys=DkimKeys("gone", KEY),
                  domain="blog.test", timestamp=1_900_000_000)
    send(server, "x@bulk.test", signed)
    results = auth_results(server.inbox(ANN)[-1])
    assert "dkim=permerror (no key for signature) header.d=blog.test header.s=gone" in results
    assert "dmarc=fail (p=none dis=none) header.from=blog.test" in results


def test_dmarc_reject_refuses_at_end_of_data(server: ServerThread) -> None:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(server, "x@bulk.test", message("ceo@bank.test", "phish"))
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 ")
    assert b"bank.test" in refused.value.smtp_error
    assert server.inbox(ANN) == []
    assert server.inbox(ANN, "Junk") == []


def test_modified_signed_mail_fails_dkim_and_is_refused(server: ServerThread) -> None:
    signed = sign(message("ceo@signer.test", "altered"), keys=DkimKeys("sel", KEY),
                  domain="signer.test", timestamp=1_900_000_000)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        # SPF passes for bulk.test, not aligned with signer.test; the signature breaks.
        send(server, "x@bulk.test", signed.replace(b"body of", b"BODY OF"))
    assert refused.value.smtp_code == 550


def test_quarantine_files_in_junk_and_none_delivers(server: ServerThread) -> None:
    send(server, "x@bulk.test", message("news@shop.test", "quarantined"))
    junk = server.inbox(ANN, "Junk")
    assert len(junk) == 1
    assert "dmarc=fail (p=quarantine dis=quarantine) header.from=shop.test" in auth_results(
        junk[0])
    send(server, "x@bulk.test", message("me@blog.test", "monitored"))
    inbox = server.inbox(ANN)
    assert len(inbox) == 1
    assert "dmarc=fail (p=none dis=none) header.from=blog.test" in auth_results(inbox[0])


def test_quarantine_goes_to_the_renamed_junk_mailbox(server: ServerThread) -> None:
    import imaplib

    with imaplib.IMAP4("127.0.0.1", server.port("imap")) as imap:
        imap.starttls(server.client_tls())
        imap.login(ANN, PASSWORD)
        assert imap.rename("Junk", "Spam")[0] == "OK"
    send(server, "x@bulk.test", message("news@shop.test", "renamed"))
    assert len(server.inbox(ANN, "Spam")) == 1
    assert server.inbox(ANN) == []


def test_forged_authentication_results_are_removed(server: ServerThread) -> None:
    forged = (b"Authentication-Results: mx.example.test; dmarc=pass header.from=bank.test\r\n"
              b"Authentication-Results: relay.elsewhere.test; spf=pass\r\n")
    send(server, "x@bulk.test", message("me@bulk.test", "forged", extra=forged))
    stored = server.inbox(ANN)[-1]
    assert b"dmarc=pass header.from=bank.test" not in stored
    assert b"Authentication-Results: relay.elsewhere.test; spf=pass\r\n" in stored
    assert "dmarc=none header.from=bulk.test" in auth_results(
        stored.replace(b"Authentication-Results: relay.elsewhere.test; spf=pass\r\n", b""))


def test_dmarc_reject_can_file_in_junk_instead(tmp_path: Path, dns: DnsServer) -> None:
    server = start(tmp_path, dns, dmarc_reject=False)
    try:
        send(server, "x@bulk.test", message("ceo@bank.test", "kept"))
        assert len(server.inbox(ANN, "Junk")) == 1
    finally:
        server.stop()


def test_submission_is_not_checked(server: ServerThread) -> None:
    server.add_user("bob@example.test")
    with smtplib.SMTP("127.0.0.1", server.port("submission"), timeout=30) as client:
        client.ehlo("laptop")
        client.starttls(context=server.client_tls())
        client.login("bob@example.test", PASSWORD)
        client.sendmail("bob@example.test", [ANN], message("bob@example.test", "internal"))
    assert b"Authentication-Results" not in server.inbox(ANN)[-1]


def test_internationalized_author_domain_is_looked_up_as_a_labels(server: ServerThread,
                                                                  dns: DnsServer) -> None:
    # IDNA 2008: the policy of bänk.test lives at _dmarc.xn--bnk-qla.test.
    data = "From: <ceo@bänk.test>\r\nSubject: idn\r\n\r\nbody\r\n".encode()
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        with pytest.raises(smtplib.SMTPDataError) as refused:
            client.sendmail("x@bulk.test", [ANN], data, mail_options=["SMTPUTF8"])
    assert refused.value.smtp_code == 550
    assert ("_dmarc.xn--bnk-qla.test", "TXT") in dns.queries


def test_mail_to_an_internationalized_domain_in_either_form(server: ServerThread) -> None:
    server.add_user("jo@xn--bcher-kva.test")  # as `posthouse user add jo@bücher.test` stores it
    with smtplib.SMTP("127.0.0.1", server.port("smtp"), timeout=30) as client:
        client.ehlo("client.test")
        client.sendmail("x@bulk.test", ["jo@Bücher.test"], message("a@bulk.test", "u-label"),
                        mail_options=["SMTPUTF8"])
        client.sendmail("x@bulk.test", ["jo@xn--bcher-kva.test"],
                        message("a@bulk.test", "a-label"))
    assert len(server.inbox("jo@xn--bcher-kva.test")) == 2


def list_sealed(data: bytes) -> bytes:
    """``data`` as a mailing list at list.test passes it on: Subject tagged, then sealed
    (RFC 8617 5.1) by dkimpy's ARC signer."""
    data = b"Authentication-Results: list.test; dkim=none\r\n" + data
    data = data.replace(b"Subject: ", b"Subject: [list] ", 1)
    pem = KEY.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fields = dkim.arc_sign(data, b"arc", b"list.test", pem, b"list.test",
                           include_headers=[b"from", b"to", b"subject", b"message-id"],
                           timestamp=int(time.time()))
    return b"".join(fields) + data


def test_arc_chain_is_recorded(server: ServerThread) -> None:
    def ours() -> str:  # this server's field, without the list's own
        stored = server.inbox(ANN)[-1]
        return auth_results(stored.replace(b"Authentication-Results: list.test; dkim=none\r\n",
                                           b""))

    send(server, "x@bulk.test", list_sealed(message("me@blog.test", "sealed")))
    results = ours()
    assert ("arc=pass (i=1; chain list.test) smtp.remote-ip=127.0.0.1 "
            "header.oldest-pass=0;") in results
    assert "dmarc=fail (p=none dis=none) header.from=blog.test" in results
    send(server, "x@bulk.test", list_sealed(message("me@blog.test", "edited")) + b"more\r\n")
    assert ("arc=fail (i=1; chain list.test; ARC-Message-Signature i=1: body hash did not "
            "verify) smtp.remote-ip=127.0.0.1;") in ours()
    send(server, "x@bulk.test", message("me@blog.test", "plain"))
    assert "arc=none;" in auth_results(server.inbox(ANN)[-1])
