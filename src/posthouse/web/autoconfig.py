"""Thunderbird's autoconfiguration file (config-v1.1.xml) for every local domain.

Thunderbird asks ``https://autoconfig.<domain>/mail/config-v1.1.xml?emailaddress=<addr>``
and ``https://<domain>/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=<addr>`` (and
the same over http). The answer is a ``clientConfig`` (version 1.1) with one
``emailProvider`` for the domain: incoming IMAP (SSL, then STARTTLS) and POP3 (SSL), outgoing
SMTP (SSL on 465, then STARTTLS on 587), each with the whole address as user name
(``%EMAILADDRESS%``) and a password over TLS (``password-cleartext``: the client sends the
password as is, inside TLS). Servers in a list are in order of preference. An unknown
domain, or a malformed address, is 404, whatever the user part.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET

from posthouse.web.client_ports import ClientPorts, MailServer
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HttpRoutes

WELL_KNOWN_PATH = "/.well-known/autoconfig/mail/config-v1.1.xml"
HOST_FORM_PATH = "/mail/config-v1.1.xml"


def register(routes: HttpRoutes, server: MailServer) -> None:
    """Add both forms of the autoconfig URL."""

    async def page(request: HttpRequest) -> HttpResponse:
        domain = await server.domain_for(request.param("emailaddress"), request.host)
        if domain is None:
            return HttpResponse.error(404)
        body = config_xml(domain, server.hostname, server.ports())
        return HttpResponse.xml(body).with_header("Cache-Control", "max-age=3600")

    routes.add("GET", WELL_KNOWN_PATH, page)
    routes.add("GET", HOST_FORM_PATH, page, host="autoconfig.*")


def config_xml(domain: str, hostname: str, ports: ClientPorts) -> bytes:
    """The clientConfig document for ``domain`` served by ``hostname``."""
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    ET.SubElement(provider, "displayName").text = f"{domain} mail"
    ET.SubElement(provider, "displayShortName").text = domain
    servers = (
        ("incomingServer", "imap", ports.imaps, "SSL"),
        ("incomingServer", "imap", ports.imap, "STARTTLS"),
        ("incomingServer", "pop3", ports.pop3s, "SSL"),
        ("outgoingServer", "smtp", ports.submissions, "SSL"),
        ("outgoingServer", "smtp", ports.submission, "STARTTLS"),
    )
    for tag, kind, port, socket_type in servers:
        if port is None:
            continue
        node = ET.SubElement(provider, tag, type=kind)
        ET.SubElement(node, "hostname").text = hostname
        ET.SubElement(node, "port").text = str(port)
        ET.SubElement(node, "socketType").text = socket_type
        ET.SubElement(node, "username").text = "%EMAILADDRESS%"
        ET.SubElement(node, "authentication").text = "password-cleartext"
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
