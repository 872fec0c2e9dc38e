"""Outlook's Autodiscover for IMAP/SMTP accounts: the POX form and the JSON (v2) lookup.

POX (the "Outlook" provider of Exchange's Autodiscover): Outlook POSTs to
``/autodiscover/autodiscover.xml`` (on ``autodiscover.<domain>`` or the domain itself; the
path's case varies, so it is matched in any case) an ``Autodiscover`` request in the
``.../outlook/requestschema/2006`` namespace naming ``EMailAddress`` and the response schema
it accepts. The answer is an ``Autodiscover`` document (``.../autodiscover/responseschema/
2006``) whose ``Response`` (``.../outlook/responseschema/2006a``) holds one ``Account`` of
type ``email`` with ``Action`` ``settings`` and a ``Protocol`` per service: IMAP (993, SSL),
SMTP (465, SSL), POP3 (995, SSL), each logging in with the whole address.

JSON (``/autodiscover/autodiscover.json?Email=...&Protocol=...`` or
``/autodiscover/autodiscover.json/v1.0/<address>?Protocol=...``): a server without Exchange
Web Services or ActiveSync answers only ``Protocol=AutodiscoverV1``, with the URL of its POX
endpoint (Outlook then POSTs there); every other protocol is 400 ``ProtocolNotSupported``.

The request body is parsed only if it declares no DTD (no entity tricks), within the
listener's body limit. Unknown domains are 404, whatever the user part.
"""

from __future__ import annotations

from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape

from posthouse.web.client_ports import MailServer, parse_address
from posthouse.web.messages import HttpRequest, HttpResponse
from posthouse.web.routes import HttpRoutes

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
POX_PATH = "/autodiscover/autodiscover.xml"
JSON_PATH = "/autodiscover/autodiscover.json"


def register(routes: HttpRoutes, server: MailServer) -> None:
    """Add the POX and JSON endpoints."""

    async def pox(request: HttpRequest) -> HttpResponse:
        address = requested_address(request.body)
        if address is None:
            return HttpResponse.error(400, "expected an Autodiscover request with EMailAddress")
        parsed = parse_address(address)
        domain = await server.domain_for(address, request.host)
        if parsed is None or domain is None:
            return HttpResponse.error(404)
        return HttpResponse.xml(response_xml(parsed, server))

    async def json_lookup(request: HttpRequest) -> HttpResponse:
        rest = request.path[len(JSON_PATH):]
        address = request.param("Email", fold_case=True)
        if rest.lower().startswith("/v1.0/"):
            address = rest[len("/v1.0/"):]
        elif rest:
            return HttpResponse.error(404)
        protocol = request.param("Protocol", fold_case=True) or ""
        if not address or await server.domain_for(address, request.host) is None:
            return HttpResponse.error(404)
        if protocol.lower() != "autodiscoverv1":
            return HttpResponse.json({
                "ErrorCode": "ProtocolNotSupported",
                "ErrorMessage": f"The given protocol value '{protocol[:40]}' is invalid. "
                                "Supported values are 'AutodiscoverV1'"}, 400)
        return HttpResponse.json({"Protocol": "AutodiscoverV1",
                                  "Url": f"https://{server.hostname}{POX_PATH}"})

    routes.add("POST", POX_PATH, pox, fold_case=True)
    routes.add("GET", JSON_PATH, json_lookup, fold_case=True, prefix=True)


def requested_address(body: bytes) -> str | None:
    """The EMailAddress of a POX request, or None when the body is not one."""
    if b"<!" in body:  # a DTD or an entity: refused before any parser sees it
        return None
    try:
        # No DTD got here, so no entity expansion or external entity (what defusedxml forbids).
        root = ET.fromstring(body)  # noqa: S314
    except ET.ParseError:
        return None
    if root.tag != f"{{{REQUEST_NS}}}Autodiscover":
        return None
    node = root.find(f"{{{REQUEST_NS}}}Request/{{{REQUEST_NS}}}EMailAddress")
    if node is None or not node.text:
        return None
    return node.text.strip()


def response_xml(address: str, server: MailServer) -> bytes:
    """The Autodiscover response for ``address``: written out with the two default
    namespaces as Exchange writes them (ElementTree would put a prefix on the inner one)."""
    ports = server.ports()
    protocols = []
    for kind, port in (("IMAP", ports.imaps), ("SMTP", ports.submissions),
                       ("POP3", ports.pop3s)):
        if port is None:
            continue
        fields = [("Type", kind), ("Server", server.hostname), ("Port", str(port)),
                  ("DomainRequired", "off"), ("LoginName", address), ("SPA", "off"),
                  ("SSL", "on"), ("AuthRequired", "on")]
        if kind == "SMTP":
            fields.append(("UsePOPAuth", "on"))
        lines = "".join(f"        <{name}>{escape(value)}</{name}>\n" for name, value in fields)
        protocols.append(f"      <Protocol>\n{lines}      </Protocol>\n")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<Autodiscover xmlns="{RESPONSE_NS}">\n'
        f'  <Response xmlns="{OUTLOOK_NS}">\n'
        "    <Account>\n"
        "      <AccountType>email</AccountType>\n"
        "      <Action>settings</Action>\n"
        + "".join(protocols)
        + "    </Account>\n"
        "  </Response>\n"
        "</Autodiscover>\n"
    ).encode()
