"""An RFC 5322 message built from a JMAP Email object (RFC 8621 4.6, Email/set create).

``build_message`` turns the header properties (convenience ones and ``header:Name[:form]``)
and the body (``bodyStructure``, or ``textBody``/``htmlBody``/``attachments`` with
``bodyValues`` and blobs) into bytes: non-ASCII header text as RFC 2047 encoded words,
text parts quoted-printable or base64 as the stdlib policy picks, attachments base64. It
never stores anything; blobs come in through the ``blobs`` callback's bytes, fetched before.
"""

from __future__ import annotations

import email.policy
from collections.abc import Mapping
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

_POLICY = email.policy.SMTP.clone(max_line_length=78, cte_type="7bit")
# properties the client may not set on create (RFC 8621 4.6: server-set or immutable)
SERVER_SET = ("id", "blobId", "threadId", "size", "hasAttachment", "preview")
MAPPED = {"messageId": "Message-ID", "inReplyTo": "In-Reply-To", "references": "References",
          "sender": "Sender", "from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc",
          "replyTo": "Reply-To", "subject": "Subject", "sentAt": "Date"}
META = ("mailboxIds", "keywords", "receivedAt")
BODY = ("bodyStructure", "bodyValues", "textBody", "htmlBody", "attachments", "headers")


class BuildError(Exception):
    """The Email object cannot become a message; ``properties`` names the culprits."""

    def __init__(self, description: str, properties: list[str]) -> None:
        super().__init__(description)
        self.properties = properties


def _addresses(value: Any, prop: str) -> str:
    if not isinstance(value, list) or not value:
        raise BuildError(f"{prop} must be a non-empty list of EmailAddress", [prop])
    out = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            raise BuildError(f"{prop} holds an address without email", [prop])
        mail = item["email"]
        if "@" not in mail or any(c in mail for c in " <>\r\n,"):
            raise BuildError(f"{prop}: {mail!r} is not an address", [prop])
        name = item.get("name") or ""
        if not isinstance(name, str):
            raise BuildError(f"{prop}: name must be a string", [prop])
        out.append(formataddr((name, mail), charset="utf-8"))
    return ", ".join(out)


def _message_ids(value: Any, prop: str) -> str:
    if not isinstance(value, list) or not value or not all(
            isinstance(v, str) and v and not any(c in v for c in " <>\r\n") for v in value):
        raise BuildError(f"{prop} must be a list of message ids without <>", [prop])
    return " ".join(f"<{v}>" for v in value)


def _date(value: Any, prop: str) -> str:
    if not isinstance(value, str):
        raise BuildError(f"{prop} must be a date string", [prop])
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BuildError(f"{prop} is not an RFC 3339 date", [prop]) from None
    if when.tzinfo is None:
        raise BuildError(f"{prop} needs a time zone", [prop])
    return format_datetime(when)


def _text(value: Any, prop: str) -> str:
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise BuildError(f"{prop} must be a one-line string", [prop])
    return value


def _header_form(name: str, form: str, value: Any, prop: str) -> str:
    """A ``header:Name:form`` value as header text (RFC 8621 4.1.2)."""
    if form == "Raw":
        if not isinstance(value, str):
            raise BuildError(f"{prop} must be a string", [prop])
        return value.strip()
    if form == "Text":
        return _text(value, prop)
    if form == "Addresses":
        return _addresses(value, prop)
    if form == "MessageIds":
        return _message_ids(value, prop)
    if form == "Date":
        return _date(value, prop)
    if form == "URLs":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise BuildError(f"{prop} must be a list of URLs", [prop])
        return ", ".join(f"<{v}>" for v in value)
    raise BuildError(f"{prop}: the {form} form cannot be set", [prop])


def _header_fields(obj: Mapping[str, Any], where: str = "") -> list[tuple[str, str]]:
    """(name, value) of every header property of an Email or an EmailBodyPart."""
    from posthouse.jmap.email_props import parse_header_property

    fields: list[tuple[str, str]] = []
    for prop, value in obj.items():
        if value is None:
            continue
        if prop in MAPPED:
            name = MAPPED[prop]
            if prop in ("messageId", "inReplyTo", "references"):
                fields.append((name, _message_ids(value, where + prop)))
            elif prop == "subject":
                fields.append((name, _text(value, where + prop)))
            elif prop == "sentAt":
                fields.append((name, _date(value, where + prop)))
            else:
                fields.append((name, _addresses(value, where + prop)))
        elif prop.startswith("header:"):
            found = parse_header_property(prop)
            if found is None:
                raise BuildError(f"{prop} is not a header property", [where + prop])
            name, form, every = found
            if name.lower().startswith("content-"):
                raise BuildError("Content-* headers come from the body", [where + prop])
            values = value if every else [value]
            if every and not isinstance(value, list):
                raise BuildError(f"{prop} must be a list", [where + prop])
            fields += [(name, _header_form(name, form, v, where + prop)) for v in values]
    return fields


class _BodyMaker:
    """Builds the MIME tree of one Email from its body properties."""

    def __init__(self, values: Mapping[str, Any], blobs: Mapping[str, bytes]) -> None:
        self.values = values
        self.blobs = blobs
        self.used: set[str] = set()

    def leaf(self, part: Mapping[str, Any], default_type: str) -> EmailMessage:
        if not isinstance(part, Mapping):
            raise BuildError("a body part must be an object", ["bodyStructure"])
        kind = part.get("type") or default_type
        if not isinstance(kind, str) or kind.count("/") != 1:
            raise BuildError(f"bad part type {kind!r}", ["type"])
        maintype, subtype = kind.lower().split("/")
        msg = EmailMessage(policy=_POLICY)
        disposition = part.get("disposition")
        filename = part.get("name")
        if part.get("partId") is not None:
            if part.get("blobId") is not None:
                raise BuildError("a part has partId or blobId, not both", ["partId"])
            value = self.values.get(part["partId"])
            if not isinstance(value, Mapping) or not isinstance(value.get("value"), str):
                raise BuildError(f"no bodyValue {part['partId']}", ["bodyValues"])
            if value.get("isTruncated") or value.get("isEncodingProblem"):
                raise BuildError("a bodyValue to create is truncated", ["bodyValues"])
            if maintype != "text":
                raise BuildError("a partId part must be text/*", ["type"])
            if part.get("charset") not in (None, "utf-8", "UTF-8"):
                raise BuildError("charset must be utf-8 with partId (RFC 8621 4.6)",
                                 ["charset"])
            self.used.add(part["partId"])
            text = value["value"].replace("\r\n", "\n")
            msg.set_content(text, subtype=subtype, charset="utf-8",
                            disposition=disposition, filename=filename)
        elif isinstance(part.get("blobId"), str):
            data = self.blobs.get(part["blobId"])
            if data is None:
                raise BuildError(f"no blob {part['blobId']}", ["blobId"])
            msg.set_content(data, maintype, subtype, disposition=disposition or "attachment",
                            filename=filename)
            if maintype == "text" and isinstance(part.get("charset"), str):
                msg.set_param("charset", part["charset"])
        else:
            raise BuildError("a leaf part needs partId or blobId", ["bodyStructure"])
        if isinstance(part.get("cid"), str):
            msg["Content-ID"] = f"<{part['cid'].strip('<>')}>"
        if isinstance(part.get("language"), list):
            msg["Content-Language"] = ", ".join(map(str, part["language"]))
        if isinstance(part.get("location"), str):
            msg["Content-Location"] = part["location"]
        for name, text in _header_fields(part, "bodyStructure/"):
            msg[name] = text
        return msg

    def tree(self, part: Mapping[str, Any]) -> EmailMessage:
        """A whole ``bodyStructure`` (RFC 8621 4.6: subParts make a multipart)."""
        subs = part.get("subParts") if isinstance(part, Mapping) else None
        if subs is None:
            return self.leaf(part, "text/plain")
        kind = part.get("type") or "multipart/mixed"
        if not isinstance(subs, list) or not str(kind).lower().startswith("multipart/"):
            raise BuildError("subParts go with a multipart type", ["bodyStructure"])
        msg = EmailMessage(policy=_POLICY)
        msg.set_type(str(kind).lower())
        for sub in subs:
            msg.attach(self.tree(sub))
        return msg

    def from_lists(self, obj: Mapping[str, Any]) -> EmailMessage:
        """textBody/htmlBody/attachments as RFC 8621 4.6 arranges them: the text and HTML
        alternatives, then the attachments beside them in a multipart/mixed."""
        def parts(prop: str) -> list[Any]:
            got = obj.get(prop) or []
            if not isinstance(got, list):
                raise BuildError(f"{prop} must be a list", [prop])
            return got

        text, html, attached = parts("textBody"), parts("htmlBody"), parts("attachments")
        if len(text) > 1 or len(html) > 1:
            raise BuildError("at most one textBody and one htmlBody part", ["textBody"])
        bodies = ([self.leaf(text[0], "text/plain")] if text else []) + (
            [self.leaf(html[0], "text/html")] if html else [])
        if len(bodies) == 2:
            body = EmailMessage(policy=_POLICY)
            body.set_type("multipart/alternative")
            for one in bodies:
                body.attach(one)
        elif bodies:
            body = bodies[0]
        else:
            body = EmailMessage(policy=_POLICY)
            body.set_content("", charset="utf-8")
        if not attached:
            return body
        mixed = EmailMessage(policy=_POLICY)
        mixed.set_type("multipart/mixed")
        if bodies:
            mixed.attach(body)
        for one in attached:
            mixed.attach(self.leaf(one, "application/octet-stream"))
        return mixed


def blob_ids_of(obj: Mapping[str, Any]) -> list[str]:
    """The blobIds an Email object's body parts name (to fetch before building)."""
    found: list[str] = []

    def walk(part: Any) -> None:
        if isinstance(part, Mapping):
            if isinstance(part.get("blobId"), str):
                found.append(part["blobId"])
            for sub in part.get("subParts") or []:
                walk(sub)

    walk(obj.get("bodyStructure"))
    for prop in ("textBody", "htmlBody", "attachments"):
        for part in obj.get(prop) or [] if isinstance(obj.get(prop), list) else []:
            walk(part)
    return found


def build_message(obj: Mapping[str, Any], blobs: Mapping[str, bytes], domain: str,
                  now: datetime) -> bytes:
    """The message bytes of an Email object (BuildError if it cannot be one)."""
    for prop in obj:
        if prop in SERVER_SET:
            raise BuildError(f"{prop} is set by the server", [prop])
        if not (prop in MAPPED or prop in META or prop in BODY or prop.startswith("header:")):
            raise BuildError(f"unknown property {prop}", [prop])
    if obj.get("headers"):
        raise BuildError("use header:Name properties to set headers", ["headers"])
    values = obj.get("bodyValues") or {}
    if not isinstance(values, Mapping):
        raise BuildError("bodyValues must be an object", ["bodyValues"])
    maker = _BodyMaker(values, blobs)
    if obj.get("bodyStructure") is not None:
        if any(obj.get(p) for p in ("textBody", "htmlBody", "attachments")):
            raise BuildError("bodyStructure or textBody/htmlBody/attachments, not both",
                             ["bodyStructure"])
        msg = maker.tree(obj["bodyStructure"])
    else:
        msg = maker.from_lists(obj)
    fields = _header_fields(obj)
    names = {n.lower() for n, _v in fields}
    if "date" not in names:
        fields.append(("Date", format_datetime(now)))
    if "message-id" not in names:
        fields.append(("Message-ID", make_msgid(domain=domain)))
    content = list(msg.items())  # the body's own Content-* fields go after the others
    for name in {n for n, _v in content}:
        del msg[name]
    for name, text in [*fields, ("MIME-Version", "1.0"),
                       *((n, v) for n, v in content if n.lower() != "mime-version")]:
        msg[name] = text
    return msg.as_bytes(policy=_POLICY)
