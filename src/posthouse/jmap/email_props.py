"""The Email object's properties computed from a message's bytes (RFC 8621 4.1). Pure.

Headers are parsed forms of the raw fields (4.1.2: asRaw, asText, asAddresses,
asGroupedAddresses, asMessageIds, asDate, asURLs, with ``:all``); body parts come from the
one MIME parser (message/mime.py) with partIds that are the IMAP section numbers ("1.2"),
and blobIds that name the message's blob and the part ("G<sha256>" for the whole message,
"G<sha256>P1_2" for a part, decoded from its transfer encoding when downloaded).
textBody, htmlBody and attachments follow the algorithm of RFC 8621 4.1.4.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from posthouse.message.address import parse_addresses
from posthouse.message.headers import (
    Field,
    Header,
    decode_bytes,
    decode_words,
    field_text,
    split_header,
    unfold,
)
from posthouse.message.mime import Part, parse
from posthouse.message.params import param_text
from posthouse.message.summary import parse_date
from posthouse.message.transfer import body_text, decode_transfer

_MSG_ID = re.compile(r"<([^<>\s]+)>")
_URL = re.compile(r"<([^<>\s]+)>")
_HEADER_PROP = re.compile(r"^header:([!-9;-~]+)((?::as[A-Za-z]+)?)(:all)?$")
FORMS = ("Raw", "Text", "Addresses", "GroupedAddresses", "MessageIds", "Date", "URLs")
# RFC 8621 4.1.2.*: the forms a known field may be asked in (others: Raw and Text too)
_ADDRESS_FIELDS = {"from", "sender", "reply-to", "to", "cc", "bcc", "resent-from",
                   "resent-sender", "resent-reply-to", "resent-to", "resent-cc", "resent-bcc"}
_ID_FIELDS = {"message-id", "in-reply-to", "references", "resent-message-id"}
_DATE_FIELDS = {"date", "resent-date"}
_URL_FIELDS = {"list-help", "list-id", "list-unsubscribe", "list-subscribe", "list-post",
               "list-owner", "list-archive"}


def parse_header_property(prop: str) -> tuple[str, str, bool] | None:
    """(field name, form, all) of a ``header:Name:asForm:all`` property, or None when the
    property is malformed or asks a form the field does not allow (RFC 8621 4.1.2)."""
    found = _HEADER_PROP.match(prop)
    if found is None:
        return None
    name, form = found[1], (found[2][3:] if found[2] else "Raw")
    if form not in FORMS:
        return None
    lowered = name.lower()
    allowed = {"Raw", "Text"} if lowered not in _ADDRESS_FIELDS | _ID_FIELDS | _DATE_FIELDS \
        | _URL_FIELDS else {"Raw"}
    if lowered in _ADDRESS_FIELDS:
        allowed |= {"Addresses", "GroupedAddresses"}
    elif lowered in _ID_FIELDS:
        allowed |= {"MessageIds"}
    elif lowered in _DATE_FIELDS:
        allowed |= {"Date"}
    elif lowered in _URL_FIELDS:
        allowed |= {"URLs"}
    elif lowered in {"subject", "comments", "keywords", "list-id"}:
        allowed |= {"Text"}
    if form not in allowed:
        return None
    return name, form, bool(found[3])


def utc_date(value: datetime) -> str:
    """A UTCDate (RFC 8620 1.4): "2014-10-30T06:12:00Z"."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_date(value: datetime) -> str:
    """A Date with its zone offset (RFC 3339), as asDate gives it."""
    return value.isoformat(timespec="seconds").replace("+00:00", "Z")


def _raw_value(field: Field) -> str:
    return decode_bytes(field.value)


def _text(field: Field) -> str:
    return " ".join(decode_words(field_text(field)).split())


def _addresses(field: Field) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for name, _adl, mailbox, host in parse_addresses(decode_bytes(unfold(field.value))):
        if host is None:  # a group marker
            continue
        email = f"{mailbox}@{host}" if host else (mailbox or "")
        out.append({"name": decode_words(name) if name else None, "email": email})
    return out


def _grouped(field: Field) -> list[dict[str, Any]]:
    groups: list[dict[str, Any]] = [{"name": None, "addresses": []}]
    for name, _adl, mailbox, host in parse_addresses(decode_bytes(unfold(field.value))):
        if host is None and mailbox is not None:  # group start
            groups.append({"name": decode_words(mailbox), "addresses": []})
        elif host is None:  # group end
            groups.append({"name": None, "addresses": []})
        else:
            groups[-1]["addresses"].append(
                {"name": decode_words(name) if name else None,
                 "email": f"{mailbox}@{host}" if host else (mailbox or "")})
    return [g for g in groups if g["name"] is not None or g["addresses"]]


def _message_ids(field: Field) -> list[str] | None:
    ids = _MSG_ID.findall(field_text(field))
    return ids or None


def _date(field: Field) -> str | None:
    parsed = parse_date(field_text(field))
    return local_date(parsed) if parsed else None


def _urls(field: Field) -> list[str] | None:
    urls = _URL.findall(field_text(field))
    return urls or None


_FORM_FUNCTIONS = {"Raw": _raw_value, "Text": _text, "Addresses": _addresses,
                   "GroupedAddresses": _grouped, "MessageIds": _message_ids, "Date": _date,
                   "URLs": _urls}


def header_value(header: Header, name: str, form: str, all_values: bool) -> Any:
    """The value of a ``header:`` property (the last field unless ``:all``; RFC 8621
    4.1.3: null, or [] with ``:all``, when the field is absent)."""
    fields = list(header.get_all(name))
    convert = _FORM_FUNCTIONS[form]
    if all_values:
        return [convert(f) for f in fields]
    return convert(fields[-1]) if fields else None


def raw_headers(header: Header) -> list[dict[str, str]]:
    """The ``headers`` property: every field, name as written, raw value."""
    return [{"name": f.name, "value": _raw_value(f)} for f in header.fields if f.name]


class ParsedEmail:
    """One message's bytes, parsed once for the properties a /get asks."""

    def __init__(self, data: bytes, blob_id: str) -> None:
        self.data = data
        self.blob_id = blob_id
        self.header = split_header(data)
        self.root = parse(data, self.header)
        self.parts: dict[str, Part] = {}
        self.structure = self._body_part(self.root, "", self.header)
        self.text_body: list[dict[str, Any]] = []
        self.html_body: list[dict[str, Any]] = []
        self.attachments: list[dict[str, Any]] = []
        collect_parts([self.structure], "mixed", False, self.html_body, self.text_body,
                      self.attachments)

    def _body_part(self, part: Part, number: str, header: Header | None = None) -> dict[str, Any]:
        head = header or split_header(self.data, part.header_start, part.body_start)
        mime_type = f"{part.maintype}/{part.subtype}".lower()
        out: dict[str, Any] = {
            "partId": None, "blobId": None, "size": 0,
            "headers": raw_headers(head),
            "name": _part_name(part),
            "type": mime_type,
            "charset": param_text(part.params, "charset") if part.maintype.lower() == "text"
            else None,
            "disposition": part.disposition[0].lower() if part.disposition else None,
            "cid": part.content_id.strip("<> ") if part.content_id else None,
            "language": list(part.language) if part.language else None,
            "location": part.location,
        }
        if part.multipart:
            out["subParts"] = [self._body_part(child, f"{number}.{i}".lstrip("."))
                               for i, child in enumerate(part.children, 1)]
            return out
        part_id = number or "1"
        self.parts[part_id] = part
        out["partId"] = part_id
        out["blobId"] = f"G{self.blob_id}P{part_id.replace('.', '_')}"
        decoded = decode_transfer(self.data[part.body_start:part.end], part.encoding)
        out["size"] = len(decoded) if decoded is not None else part.size
        if out["charset"] is None and part.maintype.lower() == "text":
            out["charset"] = "us-ascii"
        return out

    def body_value(self, part_id: str, max_bytes: int, *,
                   plain: bool = False) -> dict[str, Any] | None:
        """An EmailBodyValue (RFC 8621 4.1.4) of a text part; ``plain``: an HTML part
        as its text (for the preview, which is plain text)."""
        part = self.parts.get(part_id)
        if part is None or part.maintype.lower() != "text":
            return None
        html = plain and part.subtype.lower() == "html"
        text = body_text(self.data[part.body_start:part.end], part.encoding,
                         param_text(part.params, "charset"), html_body=html)
        truncated = False
        if max_bytes and len(text.encode("utf-8")) > max_bytes:
            text = text.encode("utf-8")[:max_bytes].decode("utf-8", "ignore")
            truncated = True
        problem = decode_transfer(b"", part.encoding) is None
        return {"value": text, "isEncodingProblem": problem, "isTruncated": truncated}

    def part_bytes(self, part_id: str) -> bytes | None:
        """A leaf part's body without its transfer encoding (a part blob's content)."""
        part = self.parts.get(part_id)
        if part is None:
            return None
        body = self.data[part.body_start:part.end]
        decoded = decode_transfer(body, part.encoding)
        return body if decoded is None else decoded

    def part_type(self, part_id: str) -> str:
        part = self.parts.get(part_id)
        return f"{part.maintype}/{part.subtype}".lower() if part else "application/octet-stream"


def _part_name(part: Part) -> str | None:
    if part.disposition:
        name = param_text(part.disposition[1], "filename")
        if name:
            return name
    return param_text(part.params, "name")


def _inline_media(mime_type: str) -> bool:
    return mime_type.startswith(("image/", "audio/", "video/"))


def collect_parts(parts: list[dict[str, Any]], multipart_type: str, in_alternative: bool,
             html: list[dict[str, Any]] | None, text: list[dict[str, Any]] | None,
             attachments: list[dict[str, Any]]) -> None:
    """RFC 8621 4.1.4's parseStructure: which leaves are the text body, the HTML body and
    attachments. ``html``/``text`` None: that list is no longer being filled here."""
    text_length = len(text) if text is not None else -1
    html_length = len(html) if html is not None else -1
    for index, part in enumerate(parts):
        mime_type = part["type"]
        if "subParts" in part:
            sub = mime_type.partition("/")[2]
            collect_parts(part["subParts"], sub, in_alternative or sub == "alternative",
                     html, text, attachments)
            continue
        inline = (part["disposition"] != "attachment"
                  and (mime_type in ("text/plain", "text/html") or _inline_media(mime_type))
                  and (index == 0 or (multipart_type != "related"
                                      and (_inline_media(mime_type) or not part["name"]))))
        if not inline:
            attachments.append(part)
            continue
        if multipart_type == "alternative":
            if mime_type == "text/plain" and text is not None:
                text.append(part)
            elif mime_type == "text/html" and html is not None:
                html.append(part)
            else:
                attachments.append(part)
            continue
        if in_alternative:
            if mime_type == "text/plain":
                html = None
            if mime_type == "text/html":
                text = None
        if text is not None:
            text.append(part)
        if html is not None:
            html.append(part)
        if (text is None or html is None) and _inline_media(mime_type):
            attachments.append(part)
    if multipart_type == "alternative" and text is not None and html is not None:
        if text_length == len(text) and html_length != len(html):
            text.extend(html[html_length:])
        if html_length == len(html) and text_length != len(text):
            html.extend(text[text_length:])
