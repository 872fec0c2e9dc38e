"""Email/parse (RFC 8621 4.9) and SearchSnippet/get (RFC 8621 5).

Email/parse reads an uploaded blob, a stored message ("G<sha256>") or an attached message
part of one ("G<sha256>P<part>") as an Email without id, mailboxIds, keywords or
receivedAt. SearchSnippet/get marks the filter's text terms in an Email's subject and in a
stretch of its body text with ``<mark>``, HTML-escaped (RFC 8621 5.1).
"""

from __future__ import annotations

import html
import re
from typing import Any

from posthouse.jmap import errors
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.email_methods import check_properties, content_properties
from posthouse.jmap.email_props import ParsedEmail
from posthouse.jmap.errors import JmapMethodError, invalid
from posthouse.store.errors import NotFound

PARSE_DEFAULT = ("messageId", "inReplyTo", "references", "sender", "from", "to", "cc", "bcc",
                 "replyTo", "subject", "sentAt", "hasAttachment", "preview", "bodyValues",
                 "textBody", "htmlBody", "attachments")
_NOT_IN_PARSE = {"id", "mailboxIds", "keywords", "receivedAt"}
_PART_BLOB = re.compile(r"^G([0-9a-f]{64})(?:P([0-9_]{1,64}))?$")
SNIPPET_CHARS = 255


async def _blob(ctx: CallContext, blob_id: str) -> bytes | None:
    """The bytes a blobId names for this account, or None."""
    uploaded = await ctx.uploads.get(ctx.user_id, blob_id)
    if uploaded is not None:
        return uploaded
    found = _PART_BLOB.match(blob_id)
    if found is None:
        return None
    view = await ctx.view()
    if not any(r.blob_id == found[1] for r in view.emails.values()):
        return None
    try:
        data = await ctx.store.read_blob(found[1])
    except NotFound:
        return None
    if found[2] is None:
        return data
    parsed = ParsedEmail(data, found[1])
    part_id = found[2].replace("_", ".")
    if parsed.part_type(part_id) not in ("message/rfc822", "message/global"):
        return b""  # a part that is not a message: not parsable
    return parsed.part_bytes(part_id)


@method("Email/parse")
async def email_parse(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    blob_ids = args.get("blobIds")
    if not isinstance(blob_ids, list) or not all(isinstance(b, str) for b in blob_ids):
        raise invalid("blobIds must be an array of Ids")
    if len(blob_ids) > ctx.limits.max_objects_in_get:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more blobs than maxObjectsInGet")
    props = check_properties(args, PARSE_DEFAULT)
    if _NOT_IN_PARSE & set(props):
        raise invalid("id, mailboxIds, keywords and receivedAt are not parsed properties")
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "parsed": {},
                           "notParsable": [], "notFound": []}
    for blob_id in dict.fromkeys(blob_ids):
        data = await _blob(ctx, blob_id)
        if data is None:
            out["notFound"].append(blob_id)
            continue
        if not data.strip():
            out["notParsable"].append(blob_id)
            continue
        parsed = ParsedEmail(data, blob_id.lstrip("GU")[:64])
        email = content_properties(parsed, props, args)
        for prop in ("blobId", "threadId", "size"):
            if prop in props:
                email[prop] = {"blobId": blob_id, "threadId": None, "size": len(data)}[prop]
        out["parsed"][blob_id] = email
    for key in ("parsed", "notParsable", "notFound"):
        if not out[key]:
            out[key] = None
    return out


def _terms(node: Any, fields: tuple[str, ...]) -> list[str]:
    """The text terms of a filter's conditions on ``fields`` (operators walked)."""
    if not isinstance(node, dict):
        return []
    found: list[str] = []
    for key, value in node.items():
        if key == "conditions" and isinstance(value, list):
            for child in value:
                found += _terms(child, fields)
        elif key in fields and isinstance(value, str) and value.strip():
            found.append(value.strip())
    return found


def _mark(text: str, terms: list[str]) -> str | None:
    """``text`` HTML-escaped with every term in <mark>, or None if none occurs."""
    pattern = re.compile("|".join(re.escape(t) for t in terms), re.IGNORECASE)
    pieces: list[str] = []
    last = 0
    for match in pattern.finditer(text):
        pieces.append(html.escape(text[last:match.start()]))
        pieces.append(f"<mark>{html.escape(match.group(0))}</mark>")
        last = match.end()
    if not pieces:
        return None
    pieces.append(html.escape(text[last:]))
    return "".join(pieces)


@method("SearchSnippet/get")
async def search_snippet_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    email_ids = args.get("emailIds")
    if not isinstance(email_ids, list) or not all(isinstance(i, str) for i in email_ids):
        raise invalid("emailIds must be an array of Ids")
    if len(email_ids) > ctx.limits.max_objects_in_get:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more ids than maxObjectsInGet")
    subject_terms = _terms(args.get("filter"), ("text", "subject"))
    body_terms = _terms(args.get("filter"), ("text", "body"))
    view = await ctx.view()
    records = [view.emails[i] for i in email_ids if i in view.emails]
    if subject_terms:
        await view.read_summaries(ctx.store, records)
    blobs = await ctx.store.read_blobs([r.blob_id for r in records]) if body_terms else {}
    listing = []
    for record in records:
        subject = record.summary.headers.get("subject", "") if record.summary else ""
        snippet: dict[str, Any] = {"emailId": record.id, "subject": None, "preview": None}
        if subject_terms:
            snippet["subject"] = _mark(subject, subject_terms)
        data = blobs.get(record.blob_id)
        if body_terms and data is not None:
            parsed = ParsedEmail(data, record.blob_id)
            texts = [parsed.body_value(p["partId"], 0) for p in parsed.text_body]
            body = " ".join(" ".join(t["value"].split()) for t in texts if t)
            first = re.search("|".join(re.escape(t) for t in body_terms), body, re.IGNORECASE)
            if first is not None:
                start = max(first.start() - 40, 0)
                snippet["preview"] = _mark(body[start:start + SNIPPET_CHARS], body_terms)
        listing.append(snippet)
    return {"accountId": account_id_of(ctx.user_id), "list": listing,
            "notFound": [i for i in email_ids if i not in view.emails] or None}
