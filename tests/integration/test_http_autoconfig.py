"""Client autoconfiguration over real sockets: Thunderbird's config-v1.1.xml (validated
against an XSD of its documented format), Outlook's Autodiscover (POX parsed with namespaces
as Outlook does, and the JSON lookup), and the MTA-STS policy (RFC 8461 3.2, 3.3)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from posthouse.config import load_config
from posthouse.provision import transport_security_records
from posthouse.web.mta_sts import policy_id
from tests.support.server import ServerThread, make_config

XSD = Path(__file__).resolve().parents[1] / "support" / "thunderbird_autoconfig.xsd"
REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path_factory.mktemp("autoconfig") / "data")) as srv:
        srv.add_user("alice@example.test")
        srv.add_domain("other.test")
        yield srv


def get(srv: ServerThread, path: str, *, host: str | None = None, tls: bool = True,
        method: str = "GET", body: bytes | None = None,
        headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    if tls:
        conn: http.client.HTTPConnection = http.client.HTTPSConnection(
            "127.0.0.1", srv.port("https"), context=srv.client_tls(), timeout=30)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", srv.port("http"), timeout=30)
    all_headers = dict(headers or {})
    if host is not None:
        all_headers["Host"] = host
    conn.request(method, path, body=body, headers=all_headers)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


# -- Thunderbird ----------------------------------------------------------------------------

def _servers(doc: etree._Element, tag: str) -> list[tuple[str, int, str, str, str]]:
    return [(s.get("type"), int(s.findtext("port")), s.findtext("socketType"),
             s.findtext("username"), s.findtext("authentication"))
            for s in doc.iter(tag)]


@pytest.mark.parametrize("tls", [True, False], ids=["https", "http"])
def test_thunderbird_well_known_form(server: ServerThread, tls: bool) -> None:
    status, headers, body = get(
        server, "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=alice%40example.test",
        host="example.test", tls=tls)
    assert status == 200
    assert headers["content-type"] == "application/xml"
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    doc = etree.fromstring(body)
    schema.assertValid(doc)
    provider = doc.find("emailProvider")
    assert provider is not None
    assert provider.get("id") == "example.test"
    assert provider.findtext("domain") == "example.test"
    assert {s.findtext("hostname") for s in doc.iter("incomingServer", "outgoingServer")} == {
        "mx.example.test"}
    p = server.port
    assert _servers(doc, "incomingServer") == [
        ("imap", p("imaps"), "SSL", "%EMAILADDRESS%", "password-cleartext"),
        ("imap", p("imap"), "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
        ("pop3", p("pop3s"), "SSL", "%EMAILADDRESS%", "password-cleartext"),
    ]
    assert _servers(doc, "outgoingServer") == [
        ("smtp", p("submissions"), "SSL", "%EMAILADDRESS%", "password-cleartext"),
        ("smtp", p("submission"), "STARTTLS", "%EMAILADDRESS%", "password-cleartext"),
    ]


def test_thunderbird_host_form(server: ServerThread) -> None:
    status, _, body = get(server, "/mail/config-v1.1.xml", host="autoconfig.other.test")
    assert status == 200
    doc = etree.fromstring(body)
    etree.XMLSchema(etree.parse(str(XSD))).assertValid(doc)
    assert doc.find("emailProvider").get("id") == "other.test"  # type: ignore[union-attr]
    # the host form answers only on an autoconfig.* host
    assert get(server, "/mail/config-v1.1.xml", host="other.test")[0] == 404


def test_the_answer_reveals_nothing_about_users(server: ServerThread) -> None:
    path = "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress="
    known = get(server, path + "alice%40example.test")
    unknown = get(server, path + "nobody%40example.test")
    assert known[0] == unknown[0] == 200
    assert known[2] == unknown[2]
    for address in ("alice%40elsewhere.test", "not-an-address", "a%40b%40example.test",
                    "%3Cx%3E%40example.test"):
        status, _, body = get(server, path + address)
        assert status == 404
        assert b"alice" not in body
    assert get(server, "/mail/config-v1.1.xml", host="autoconfig.elsewhere.test")[0] == 404


# -- Outlook --------------------------------------------------------------------------------

def _pox_request(address: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="{REQUEST_NS}">'
            f"<Request><EMailAddress>{address}</EMailAddress>"
            f"<AcceptableResponseSchema>{OUTLOOK_NS}</AcceptableResponseSchema>"
            "</Request></Autodiscover>").encode()


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml",
                                  "/Autodiscover/Autodiscover.xml",
                                  "/AutoDiscover/AUTODISCOVER.XML"])
def test_outlook_pox(server: ServerThread, path: str) -> None:
    status, headers, body = get(server, path, method="POST",
                                host="autodiscover.example.test",
                                body=_pox_request("Alice@Example.TEST"),
                                headers={"Content-Type": "text/xml"})
    assert status == 200
    assert headers["content-type"] == "application/xml"
    root = etree.fromstring(body)
    ns = {"a": RESPONSE_NS, "o": OUTLOOK_NS}
    assert root.tag == f"{{{RESPONSE_NS}}}Autodiscover"
    (account,) = root.xpath("/a:Autodiscover/o:Response/o:Account", namespaces=ns)
    assert account.xpath("string(o:AccountType)", namespaces=ns) == "email"
    assert account.xpath("string(o:Action)", namespaces=ns) == "settings"
    protocols = {
        p.xpath("string(o:Type)", namespaces=ns): {
            field: p.xpath(f"string(o:{field})", namespaces=ns)
            for field in ("Server", "Port", "LoginName", "SSL", "SPA", "AuthRequired")}
        for p in account.xpath("o:Protocol", namespaces=ns)}
    p = server.port
    expected = {"Server": "mx.example.test", "LoginName": "alice@example.test", "SSL": "on",
                "SPA": "off", "AuthRequired": "on"}
    assert protocols == {
        "IMAP": {**expected, "Port": str(p("imaps"))},
        "SMTP": {**expected, "Port": str(p("submissions"))},
        "POP3": {**expected, "Port": str(p("pop3s"))},
    }


def test_outlook_pox_refusals(server: ServerThread) -> None:
    path = "/autodiscover/autodiscover.xml"
    assert get(server, path, method="POST", body=_pox_request("bob@elsewhere.test"))[0] == 404
    assert get(server, path, method="POST", body=b"<not-xml")[0] == 400
    assert get(server, path, method="POST", body=b"<Autodiscover/>")[0] == 400
    entity_bomb = (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "xxxxxxxx">'
                   b'<!ENTITY y "&x;&x;&x;&x;&x;&x;&x;&x;">]>'
                   + _pox_request("&y;@example.test").split(b"?>", 1)[1])
    assert get(server, path, method="POST", body=entity_bomb)[0] == 400
    assert get(server, path)[0] == 405  # Outlook POSTs


def test_outlook_json_lookup(server: ServerThread) -> None:
    for path in ("/autodiscover/autodiscover.json?Email=alice%40example.test"
                 "&Protocol=AutodiscoverV1",
                 "/Autodiscover/Autodiscover.json/v1.0/alice@example.test?Protocol=autodiscoverv1"):
        status, headers, body = get(server, path)
        assert status == 200
        assert headers["content-type"] == "application/json"
        assert json.loads(body) == {"Protocol": "AutodiscoverV1",
                                    "Url": "https://mx.example.test/autodiscover/autodiscover.xml"}
    status, _, body = get(server, "/autodiscover/autodiscover.json/v1.0/alice@example.test"
                                  "?Protocol=ActiveSync")
    assert status == 400
    assert json.loads(body)["ErrorCode"] == "ProtocolNotSupported"
    assert get(server, "/autodiscover/autodiscover.json/v1.0/a@elsewhere.test"
                       "?Protocol=AutodiscoverV1")[0] == 404


# -- MTA-STS ------------------------------------------------------------------------------

def test_mta_sts_policy_matches_what_posthouse_dns_prints(server: ServerThread) -> None:
    status, headers, body = get(server, "/.well-known/mta-sts.txt", host="mta-sts.example.test")
    assert status == 200
    assert headers["content-type"] == "text/plain"
    text = body.decode()
    lines = text.split("\r\n")
    assert lines[:4] == ["version: STSv1", "mode: testing", "mx: mx.example.test",
                         "max_age: 604800"]
    http_cfg = server.cfg.http
    records = transport_security_records(domain="example.test", hostname="mx.example.test",
                                         mode=http_cfg.mta_sts_mode,
                                         max_age=http_cfg.mta_sts_max_age)
    txt = next(r for r in records if r.startswith("_mta-sts."))
    assert re.search(r"id=([0-9a-f]+)", txt).group(1) == policy_id(text)  # type: ignore[union-attr]
    assert "example.test. MX 10 mx.example.test." in _dns_lines()


def _dns_lines() -> str:
    from posthouse.provision import dns_records
    return "\n".join(dns_records(domain="example.test", hostname="mx.example.test",
                                 selector="s", dkim_record="v=DKIM1"))


def test_mta_sts_only_over_https_and_only_for_local_domains(server: ServerThread) -> None:
    path = "/.well-known/mta-sts.txt"
    assert get(server, path, host="mta-sts.example.test", tls=False)[0] == 404
    assert get(server, path, host="mta-sts.elsewhere.test")[0] == 404
    assert get(server, path, host="example.test")[0] == 404
    assert get(server, path, host="mta-sts.")[0] == 404


def test_posthouse_dns_and_the_served_policy_agree_on_enforce(tmp_path: Path) -> None:
    """``[http] mta_sts_mode = "enforce"``: `posthouse dns` prints the id of exactly the text
    the HTTPS listener serves."""
    data = tmp_path / "d"
    cli = [sys.executable, "-m", "posthouse"]
    init = subprocess.run([*cli, "init", "--data-dir", str(data), "--hostname",
                           "mx.example.test"], capture_output=True, text=True, check=False)
    assert init.returncode == 0, init.stderr
    toml = data / "posthouse.toml"
    toml.write_text(toml.read_text() + '[http]\nmta_sts_mode = "enforce"\n')
    out = subprocess.run([*cli, "dns", "example.test", "--data-dir", str(data)],
                         capture_output=True, text=True, check=True).stdout
    printed_id = re.search(r'^_mta-sts\.example\.test\. TXT "v=STSv1; id=(\w+)"$', out, re.M)
    assert printed_id is not None
    assert ";   mode: enforce\n" in out
    loaded = load_config(toml)
    cfg = dataclasses.replace(make_config(data), server=loaded.server, http=loaded.http)
    with ServerThread(cfg) as srv:
        srv.add_domain("example.test")
        status, _, body = get(srv, "/.well-known/mta-sts.txt", host="mta-sts.example.test")
    assert status == 200
    assert b"mode: enforce\r\n" in body
    assert policy_id(body.decode()) == printed_id.group(1)
