"""Email/import (RFC 8621 4.8): an uploaded blob (or a stored message) filed as a new Email.

The bytes go in through ``MessageStore.append`` exactly as IMAP APPEND puts them (quota,
the low-space guard, the store's own parse, the event hub), into the first mailbox; every
other mailbox gets a copy, so the Email has all its ``mailboxIds``. Keywords become flags.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from posthouse.imap import objectid
from posthouse.jmap import errors
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.email_props import ParsedEmail
from posthouse.jmap.errors import JmapMethodError, invalid, set_error
from posthouse.jmap.keywords import flag_of, valid_keyword
from posthouse.store.errors import NotFound, QuotaExceeded, StorageFull
from posthouse.store.models import NewMessage

# a stored message's blobId, or one of its parts' (email_props.py ParsedEmail)
STORED_BLOB = re.compile(r"^G([0-9a-f]{64})(?:P([0-9_]{1,64}))?$")


class ImportRefused(Exception):
    """One Email is not created; ``error`` is its SetError."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("type"))
        self.error = error


async def blob_bytes(ctx: CallContext, blob_id: Any) -> bytes:
    """An uploaded blob, a stored message of the account, or one decoded part of it (a
    forwarded attachment: the blobIds Email/get gives parts, RFC 8621 4.1.4)."""
    if not isinstance(blob_id, str):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, properties=["blobId"]))
    data = await ctx.uploads.get(ctx.user_id, blob_id)
    found = STORED_BLOB.match(blob_id) if data is None else None
    if found is not None:
        view = await ctx.view()
        if any(r.blob_id == found[1] for r in view.emails.values()):
            try:
                data = await ctx.store.read_blob(found[1])
            except NotFound:
                data = None
        if data is not None and found[2] is not None:
            data = ParsedEmail(data, found[1]).part_bytes(found[2].replace("_", "."))
    if data is None:
        raise ImportRefused(set_error(errors.BLOB_NOT_FOUND, notFound=[blob_id]))
    return data


def received_at(value: Any) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, properties=["receivedAt"]))
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES,
                                       properties=["receivedAt"])) from None


async def _import_one(ctx: CallContext, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, "not an object"))
    data = await blob_bytes(ctx, spec.get("blobId"))
    return await file_email(ctx, data, spec.get("mailboxIds"), spec.get("keywords"),
                            received_at(spec.get("receivedAt")))


async def file_email(ctx: CallContext, data: bytes, boxes: Any, keywords: Any,
                     when: datetime | None) -> dict[str, Any]:
    """Store message bytes in the asked mailboxes with the asked keywords (Email/import and
    Email/set create); the created Email's id, blobId, threadId and size."""
    view = await ctx.view()
    if not isinstance(boxes, dict) or not boxes or not all(v is True for v in boxes.values()):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, properties=["mailboxIds"]))
    targets = []
    for box_id in map(str, boxes):
        resolved = ctx.created_ids.get(box_id[1:], box_id) if box_id.startswith("#") else box_id
        box = view.by_jmap_id.get(resolved)
        if box is None:
            raise ImportRefused(set_error(errors.INVALID_PROPERTIES, f"no mailbox {box_id}",
                                           properties=["mailboxIds"]))
        targets.append(box.id)
    keywords = keywords or {}
    if not isinstance(keywords, dict) or not all(
            v is True and valid_keyword(k) for k, v in keywords.items()):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, properties=["keywords"]))
    when = when or datetime.now().astimezone()
    flags = frozenset(flag_of(k) for k in keywords)
    try:
        _validity, uid = await ctx.store.append(targets[0], NewMessage(data, None, when), flags,
                                                origin=ctx.origin)
        for other in targets[1:]:
            await ctx.store.copy(targets[0], [uid], other, origin=ctx.origin)
    except QuotaExceeded as exc:
        raise ImportRefused(set_error(errors.OVER_QUOTA, str(exc))) from None
    except StorageFull:
        raise JmapMethodError(errors.SERVER_UNAVAILABLE, "the server is low on space") from None
    ctx.changed()
    (meta,) = await ctx.store.fetch_meta(targets[0], [uid], with_summary=True)
    thread = (objectid.thread_id(meta.summary, meta.blob_id) if meta.summary
              else "T" + meta.blob_id[:32])
    return {"id": objectid.email_id(meta.blob_id), "blobId": "G" + meta.blob_id,
            "threadId": thread, "size": meta.size}


@method("Email/import")
async def email_import(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    emails = args.get("emails")
    if not isinstance(emails, dict):
        raise invalid("emails must be an object")
    if len(emails) > ctx.limits.max_objects_in_set:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more Emails than maxObjectsInSet")
    view = await ctx.view()
    if args.get("ifInState") is not None and args["ifInState"] != view.state:
        raise JmapMethodError(errors.STATE_MISMATCH)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "oldState": view.state,
                           "created": {}, "notCreated": {}}
    for creation_id, spec in emails.items():
        try:
            created = await _import_one(ctx, spec)
        except ImportRefused as refused:
            out["notCreated"][creation_id] = refused.error
            continue
        ctx.created_ids[creation_id] = created["id"]
        out["created"][creation_id] = created
    out["newState"] = (await ctx.view()).state
    for key in ("created", "notCreated"):
        if not out[key]:
            out[key] = None
    return out
