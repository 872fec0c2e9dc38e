"""Email/get, /changes, /query, /queryChanges, /set and Thread/get, /changes (RFC 8621 3, 4).

Changes are computed from the state vector (state.py): per mailbox, ``changed_since`` gives
the copies added or re-flagged since the old modseq (a copy is new when its uid is at or
above the old uidnext), and the tombstones of ``expunged_content_since`` the contents whose
copies went: an Email with no copy left is destroyed, one with copies left is updated.
When tombstones were dropped, are older than schema 8 (no content), or a mailbox that held
mail is gone, the server answers cannotCalculateChanges (the client resynchronises; RFC
8620 5.2 allows it).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from posthouse.imap import objectid
from posthouse.jmap import errors
from posthouse.jmap.account import AccountView, EmailRecord
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.attachments import has_attachment
from posthouse.jmap.email_build import BuildError, blob_ids_of, build_message
from posthouse.jmap.email_import import ImportRefused, blob_bytes, file_email, received_at
from posthouse.jmap.email_props import (
    ParsedEmail,
    header_value,
    parse_header_property,
    raw_headers,
    utc_date,
)
from posthouse.jmap.email_query import (
    MUTABLE_FILTERS,
    MUTABLE_SORTS,
    THREAD_WIDE,
    EmailFilter,
    filter_keys,
    sort_emails,
)
from posthouse.jmap.errors import JmapMethodError, invalid, set_error
from posthouse.jmap.keywords import KEEP_FLAGS, flag_of, valid_keyword
from posthouse.jmap.query_changes import query_changes_args, query_changes_response
from posthouse.jmap.standard import (
    changes_args,
    changes_response,
    get_ids,
    get_properties,
    set_objects,
    window,
)
from posthouse.jmap.state import decode_state
from posthouse.message.summary import PREVIEW_CHARS
from posthouse.store.errors import NoSuchMailbox, QuotaExceeded
from posthouse.store.models import FlagOp

_QUERIES_KEPT = 8  # Email/query results kept per view (AccountView.query_results)
META_PROPERTIES = ("id", "blobId", "threadId", "mailboxIds", "keywords", "size",
                   "receivedAt")
HEADER_PROPERTIES = ("messageId", "inReplyTo", "references", "sender", "from", "to", "cc",
                     "bcc", "replyTo", "subject", "sentAt", "headers")
BODY_PROPERTIES = ("bodyStructure", "bodyValues", "textBody", "htmlBody", "attachments",
                   "hasAttachment", "preview")
DEFAULT_PROPERTIES = ("id", "blobId", "threadId", "mailboxIds", "keywords", "size",
                      "receivedAt", "messageId", "inReplyTo", "references", "sender", "from",
                      "to", "cc", "bcc", "replyTo", "subject", "sentAt", "hasAttachment",
                      "preview", "bodyValues", "textBody", "htmlBody", "attachments")
PART_PROPERTIES = ("partId", "blobId", "size", "headers", "name", "type", "charset",
                   "disposition", "cid", "language", "location", "subParts")
DEFAULT_PART_PROPERTIES = ("partId", "blobId", "size", "name", "type", "charset",
                           "disposition", "cid", "language", "location")
# convenience properties: the field, the parsed form (RFC 8621 4.1.2.* / 4.1.3)
_CONVENIENCE = {"messageId": ("Message-ID", "MessageIds"),
                "inReplyTo": ("In-Reply-To", "MessageIds"),
                "references": ("References", "MessageIds"),
                "sender": ("Sender", "Addresses"), "from": ("From", "Addresses"),
                "to": ("To", "Addresses"), "cc": ("Cc", "Addresses"),
                "bcc": ("Bcc", "Addresses"), "replyTo": ("Reply-To", "Addresses"),
                "subject": ("Subject", "Text"), "sentAt": ("Date", "Date")}


def blob_of(blob_id: str) -> str:
    """The message blob id (sha256 hex) of an Email blobId "G<hex>"."""
    return blob_id[1:65]


def check_properties(args: dict[str, Any],
                     default: tuple[str, ...] = DEFAULT_PROPERTIES) -> list[str]:
    """The asked properties of an Email/get or Email/parse (invalidArguments if unknown)."""
    props = args.get("properties")
    if props is None:
        return list(default)
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise invalid("properties must be an array of strings")
    for prop in props:
        if (prop not in META_PROPERTIES and prop not in HEADER_PROPERTIES
                and prop not in BODY_PROPERTIES and parse_header_property(prop) is None):
            raise invalid(f"unknown property {prop}")
    return list(dict.fromkeys(props))


def _part_filter(part: dict[str, Any], props: list[str]) -> dict[str, Any]:
    out = {k: v for k, v in part.items() if k in props and k != "subParts"}
    if "subParts" in part:
        out["subParts"] = [_part_filter(p, props) for p in part["subParts"]]
    elif "subParts" in props:
        out["subParts"] = None
    for prop in props:
        parsed = parse_header_property(prop) if prop.startswith("header:") else None
        if parsed is not None:
            out[prop] = None
    return out


def email_object(view: AccountView, record: EmailRecord, parsed: ParsedEmail | None,
                 props: list[str], args: dict[str, Any]) -> dict[str, Any]:
    """One Email object with the asked properties."""
    out: dict[str, Any] = {"id": record.id}
    for prop in props:
        if prop == "blobId":
            out[prop] = "G" + record.blob_id
        elif prop == "threadId":
            out[prop] = record.thread_id
        elif prop == "mailboxIds":
            out[prop] = view.mailbox_ids(record)
        elif prop == "keywords":
            out[prop] = record.keywords
        elif prop == "size":
            out[prop] = record.size
        elif prop == "receivedAt":
            out[prop] = utc_date(record.received_at)
    if parsed is not None:
        out.update(content_properties(parsed, props, args))
    if "hasAttachment" in props and record.has_attachment is not None:
        out["hasAttachment"] = record.has_attachment  # what the filter matches
    return out


def content_properties(parsed: ParsedEmail, props: list[str],
                       args: dict[str, Any]) -> dict[str, Any]:
    """The properties that come from the message's bytes (headers and body)."""
    out: dict[str, Any] = {}
    for prop in props:
        if prop in _CONVENIENCE:
            name, form = _CONVENIENCE[prop]
            out[prop] = header_value(parsed.header, name, form, False)
        elif prop == "headers":
            out[prop] = raw_headers(parsed.header)
        elif prop.startswith("header:"):
            found = parse_header_property(prop)
            assert found is not None
            out[prop] = header_value(parsed.header, *found)
    part_props = args.get("bodyProperties") or list(DEFAULT_PART_PROPERTIES)
    if not isinstance(part_props, list) or not all(p in PART_PROPERTIES for p in part_props):
        raise invalid("bodyProperties names unknown properties")
    if "bodyStructure" in props:
        out["bodyStructure"] = _part_filter(parsed.structure, [*part_props, "subParts"])
    for prop, parts in (("textBody", parsed.text_body), ("htmlBody", parsed.html_body),
                        ("attachments", parsed.attachments)):
        if prop in props:
            out[prop] = [_part_filter(p, part_props) for p in parts]
    if "hasAttachment" in props:
        out["hasAttachment"] = has_attachment(parsed.attachments)
    if "preview" in props:
        # RFC 8621 4.1.4: a plaintext fragment, also of an HTML-only message
        texts = [parsed.body_value(p["partId"], 0, plain=True) for p in parsed.text_body]
        joined = " ".join(" ".join(t["value"].split()) for t in texts if t)
        out["preview"] = joined[:PREVIEW_CHARS]
    if "bodyValues" in props:
        out["bodyValues"] = _body_values(parsed, args)
    return out


def _body_values(parsed: ParsedEmail, args: dict[str, Any]) -> dict[str, Any]:
    most = args.get("maxBodyValueBytes", 0)
    if not isinstance(most, int) or isinstance(most, bool) or most < 0:
        raise invalid("maxBodyValueBytes must be a non-negative integer")
    wanted: list[str] = []
    if args.get("fetchAllBodyValues"):
        wanted = list(parsed.parts)
    else:
        if args.get("fetchTextBodyValues"):
            wanted += [p["partId"] for p in parsed.text_body]
        if args.get("fetchHTMLBodyValues"):
            wanted += [p["partId"] for p in parsed.html_body]
    out: dict[str, Any] = {}
    for part_id in dict.fromkeys(wanted):
        value = parsed.body_value(part_id, most)
        if value is not None:
            out[part_id] = value
    return out


@method("Email/get")
async def email_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    props = check_properties(args)
    view = await ctx.view()
    if ids is None:
        if len(view.emails) > ctx.limits.max_objects_in_get:
            raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more Emails than maxObjectsInGet")
        ids = list(view.emails)
    records = [view.emails[i] for i in ids if i in view.emails]
    if "hasAttachment" in props:
        await view.read_summaries(ctx.store, records)
    needs_bytes = any(p not in META_PROPERTIES and p != "hasAttachment" for p in props) or (
        "hasAttachment" in props and any(r.has_attachment is None for r in records))
    blobs = (await ctx.store.read_blobs([r.blob_id for r in records])) if needs_bytes else {}
    listing = []
    for record in records:
        data = blobs.get(record.blob_id)
        parsed = ParsedEmail(data, record.blob_id) if data is not None else None
        listing.append(email_object(view, record, parsed, props, args))
    return {"accountId": account_id_of(ctx.user_id), "state": view.state, "list": listing,
            "notFound": [i for i in ids if i not in view.emails]}


async def _changed_records(ctx: CallContext, since: str, view: AccountView
                           ) -> tuple[list[str], list[str], list[str]]:
    """(created, updated, destroyed) Email ids since ``since``. An Email is destroyed when
    a tombstone names its content and no copy is left; cannotCalculateChanges when a
    tombstone older than schema 8 (no content), dropped tombstones or a vanished mailbox
    that held mail hide what went."""
    old = decode_state(since)
    if old is None:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "unknown state")
    current = {b.id: b for b in view.mailboxes}
    if any(mark_id not in current and mark.uidnext > 1 for mark_id, mark in old.items()):
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "a mailbox was deleted")
    touched: set[str] = set()
    gone: set[str] = set()  # blob ids of removed copies
    gone_old: set[str] = set()  # ... of copies that existed at the old state
    for box in view.mailboxes:
        mark = old.get(box.id)
        if mark is not None and mark.uidvalidity != box.uidvalidity:
            raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "a mailbox was replaced")
        if mark is not None and mark.modseq == box.highestmodseq:
            continue
        if mark is None:
            touched |= {r.id for r in view.in_mailbox(box.id)}
            continue
        expunged = await ctx.store.expunged_content_since(box.id, mark.modseq)
        if not expunged.complete or any(b is None for _u, b in expunged.entries):
            raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES,
                                  "that state is older than the tombstones kept")
        for uid, blob in expunged.entries:
            assert blob is not None
            gone.add(blob)
            if uid < mark.uidnext:
                gone_old.add(blob)
        for uid in await ctx.store.changed_since(box.id, mark.modseq):
            email_id = view.by_copy.get((box.id, uid))
            if email_id is not None:
                touched.add(email_id)
    created: list[str] = []
    updated: list[str] = []
    destroyed: list[str] = []
    for blob in gone:
        email_id = objectid.email_id(blob)
        if email_id in view.emails:
            touched.add(email_id)  # a copy went, others are left: mailboxIds changed
        elif blob in gone_old:
            destroyed.append(email_id)  # (created and destroyed since: not reported, 5.2)
    for email_id in sorted(touched):
        record = view.emails[email_id]
        existed = record.blob_id in gone_old or any(
            c.mailbox_id in old and c.uid < old[c.mailbox_id].uidnext for c in record.copies)
        (updated if existed else created).append(email_id)
    return created, updated, sorted(destroyed)


@method("Email/changes")
async def email_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    since, most = changes_args(args)
    view = await ctx.view()
    created, updated, destroyed = await _changed_records(ctx, since, view)
    return changes_response(account_id_of(ctx.user_id), since, view.state, created, updated,
                            destroyed, most)


async def _query_ids(ctx: CallContext, view: AccountView, args: dict[str, Any]) -> list[str]:
    """The whole result of an Email/query's filter, sort and collapseThreads (4.4), kept
    with the view: a view is one state, and what a query reads does not change within
    one (the text index is searched for what it holds and the rest is read directly)."""
    key = json.dumps([args.get("filter"), args.get("sort"), bool(args.get("collapseThreads"))],
                     sort_keys=True)
    known = view.query_results.get(key)
    if known is not None:
        return known
    chosen = await EmailFilter(ctx.store, view).matches(args.get("filter"))
    ordered = await sort_emails(ctx.store, chosen, args.get("sort"), view)
    if args.get("collapseThreads"):
        seen: set[str] = set()
        collapsed = []
        for record in ordered:
            if record.thread_id not in seen:
                seen.add(record.thread_id)
                collapsed.append(record)
        ordered = collapsed
    ids = [r.id for r in ordered]
    while len(view.query_results) >= _QUERIES_KEPT:
        del view.query_results[next(iter(view.query_results))]
    view.query_results[key] = ids
    return ids


@method("Email/query")
async def email_query(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    view = await ctx.view()
    ids = await _query_ids(ctx, view, args)
    page, position = window(ids, args)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "queryState": view.state,
                           "canCalculateChanges": True, "position": position, "ids": page,
                           "collapseThreads": bool(args.get("collapseThreads"))}
    if args.get("calculateTotal"):
        out["total"] = len(ids)
    return out  # no "limit": it is returned only when the server capped it (RFC 8620 5.5)


@method("Email/queryChanges")
async def email_query_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """RFC 8620 5.6 over Email/changes (query_changes.py says why that is enough).

    An Email whose keywords or mailboxes changed counts only when the filter or sort reads
    them (MUTABLE_*); a thread-wide condition or collapseThreads widens every change to the
    Email's whole thread. A destroyed Email's thread is known only if this process saw it
    go (AccountView.departed): otherwise, and wherever Email/changes cannot tell (dropped
    tombstones, a deleted mailbox that held mail), cannotCalculateChanges, as 5.6 allows."""
    ctx.check_account(args)
    since, _most, _up_to = query_changes_args(args)
    view = await ctx.view()
    created, updated, destroyed = await _changed_records(ctx, since, view)
    keys = filter_keys(args.get("filter"))
    comparators = args.get("sort")
    sorts = {c.get("property") for c in comparators or () if isinstance(c, dict)}
    mutable = bool(keys & MUTABLE_FILTERS or sorts & MUTABLE_SORTS)
    thread_wide = bool(args.get("collapseThreads") or (keys | sorts) & THREAD_WIDE)
    changed = {*created, *destroyed, *(updated if mutable else ())}
    if thread_wide:
        threads = {view.emails[i].thread_id for i in changed if i in view.emails}
        for email_id in destroyed:
            if email_id not in view.departed:
                raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES,
                                      "the thread of a destroyed Email is not known")
            threads.add(view.departed[email_id])
        changed |= {e for t in threads for e in view.threads.get(t, ())}
    results = await _query_ids(ctx, view, args)
    return query_changes_response(args, account_id_of(ctx.user_id), view.state, results,
                                  changed, set(created), not mutable)


@method("Thread/get")
async def thread_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    get_properties(args, ("id", "emailIds"), ("id", "emailIds"))
    view = await ctx.view()
    if ids is None:
        ids = list(view.threads)
    return {"accountId": account_id_of(ctx.user_id), "state": view.state,
            "list": [{"id": t, "emailIds": view.threads[t]} for t in ids if t in view.threads],
            "notFound": [t for t in ids if t not in view.threads]}


@method("Thread/changes")
async def thread_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    since, most = changes_args(args)
    view = await ctx.view()
    created_emails, updated_emails, destroyed_emails = await _changed_records(ctx, since, view)
    new = set(created_emails)
    threads = dict.fromkeys(view.emails[i].thread_id for i in created_emails + updated_emails)
    created = [t for t in threads if all(e in new for e in view.threads[t])]
    updated = [t for t in threads if t not in created]
    # a destroyed Email's thread id came from its content, which is gone with it: known
    # only when this process saw the Email go (AccountView.departed); else the client
    # refetches its threads
    destroyed: list[str] = []
    for email_id in destroyed_emails:
        thread = view.departed.get(email_id)
        if thread is None:
            raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES,
                                  "Emails were destroyed: fetch the threads again")
        if thread in view.threads:  # it existed before: updated, even if all else is new
            if thread in created:
                created.remove(thread)
            if thread not in updated:
                updated.append(thread)
        elif thread not in destroyed:
            destroyed.append(thread)
    return changes_response(account_id_of(ctx.user_id), since, view.state, created, updated,
                            destroyed, most)


@method("Email/set")
async def email_set(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    create, update, destroy = set_objects(args, ctx.limits.max_objects_in_set)
    view = await ctx.view()
    if args.get("ifInState") is not None and args["ifInState"] != view.state:
        raise JmapMethodError(errors.STATE_MISMATCH)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "oldState": view.state,
                           "created": None, "updated": {}, "destroyed": [],
                           "notCreated": None, "notUpdated": {}, "notDestroyed": {}}
    if create:
        out["created"], out["notCreated"] = {}, {}
    for creation_id, obj in create.items():
        try:
            created = await create_email(ctx, obj)
        except ImportRefused as refused:
            out["notCreated"][creation_id] = refused.error
            continue
        ctx.created_ids[creation_id] = created["id"]
        out["created"][creation_id] = created
        view = await ctx.view()
    for email_id, patch in update.items():
        record = view.emails.get(_created(ctx, email_id))
        if record is None:
            out["notUpdated"][email_id] = set_error(errors.NOT_FOUND)
            continue
        try:
            await _update_email(ctx, view, record, patch)
        except _EmailRefused as refused:
            out["notUpdated"][email_id] = refused.error
            continue
        except QuotaExceeded as exc:
            out["notUpdated"][email_id] = set_error(errors.OVER_QUOTA, str(exc))
            continue
        except NoSuchMailbox:
            out["notUpdated"][email_id] = set_error(errors.INVALID_PROPERTIES,
                                                    properties=["mailboxIds"])
            continue
        out["updated"][record.id] = None
        ctx.changed()
        view = await ctx.view()
    for email_id in destroy:
        record = view.emails.get(_created(ctx, email_id))
        if record is None:
            out["notDestroyed"][email_id] = set_error(errors.NOT_FOUND)
            continue
        for copy in record.copies:
            await ctx.store.delete_messages(copy.mailbox_id, [copy.uid], origin=ctx.origin)
        out["destroyed"].append(record.id)
        ctx.changed()
        view = await ctx.view()
    out["newState"] = view.state
    for key in ("created", "notCreated", "updated", "notUpdated", "notDestroyed"):
        if not out[key]:
            out[key] = None
    return out


def _created(ctx: CallContext, email_id: str) -> str:
    """An id, or the id a "#creationId" of this request stands for (RFC 8620 5.3 and its
    erratum 6607: records created earlier may be updated or destroyed by creation id)."""
    if email_id.startswith("#"):
        return ctx.created_ids.get(email_id[1:], email_id)
    return email_id


async def create_email(ctx: CallContext, obj: Any) -> dict[str, Any]:
    """Email/set create (RFC 8621 4.6): the object built into a message and filed."""
    if not isinstance(obj, dict):
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, "not an object"))
    blobs = {b: await blob_bytes(ctx, b) for b in blob_ids_of(obj)}
    domain = ctx.address.rpartition("@")[2] or "localhost"
    try:
        data = build_message(obj, blobs, domain, datetime.now(UTC))
    except BuildError as exc:
        raise ImportRefused(set_error(errors.INVALID_PROPERTIES, str(exc),
                                      properties=exc.properties)) from None
    return await file_email(ctx, data, obj.get("mailboxIds"), obj.get("keywords"),
                            received_at(obj.get("receivedAt")))


class _EmailRefused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("type"))
        self.error = error


def _patched(current: dict[str, bool], patch: dict[str, Any], prop: str) -> dict[str, bool]:
    """The new value of a map property: set whole, or by "prop/key" patches (RFC 8620 5.3)."""
    value = dict(current)
    if prop in patch:
        whole = patch[prop]
        if not isinstance(whole, dict) or not all(v is True for v in whole.values()):
            raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, properties=[prop]))
        value = dict(whole)
    for key, item in patch.items():
        if key.startswith(prop + "/"):
            if prop in patch:
                raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, "set and patched",
                                              properties=[key]))
            name = key[len(prop) + 1:].replace("~1", "/").replace("~0", "~")
            if item is True:
                value[name] = True
            elif item is None:
                value.pop(name, None)
            else:
                raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, properties=[key]))
    return value


async def _update_email(ctx: CallContext, view: AccountView, record: EmailRecord,
                        patch: Any) -> None:
    if not isinstance(patch, dict):
        raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, "not a patch object"))
    for key in patch:
        if key.split("/")[0] not in ("keywords", "mailboxIds"):
            raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, "immutable or unknown",
                                          properties=[key]))
    keywords = _patched(record.keywords, patch, "keywords")
    for keyword in keywords:
        if not valid_keyword(keyword):
            raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, f"bad keyword {keyword}",
                                          properties=["keywords"]))
    boxes = _patched(view.mailbox_ids(record), patch, "mailboxIds")
    if not boxes:
        raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, "an Email needs a mailbox",
                                      properties=["mailboxIds"]))
    targets = []
    for box_id in boxes:
        box = view.by_jmap_id.get(ctx.created_ids.get(box_id[1:], box_id)
                                  if box_id.startswith("#") else box_id)
        if box is None:
            raise _EmailRefused(set_error(errors.INVALID_PROPERTIES, f"no mailbox {box_id}",
                                          properties=["mailboxIds"]))
        targets.append(box.id)
    wanted = {flag_of(k) for k in keywords}
    for copy in record.copies:  # flags first, so new copies carry them
        desired = wanted | (copy.flags & KEEP_FLAGS)
        add, remove = desired - copy.flags, copy.flags - desired
        if add:
            await ctx.store.store_flags(copy.mailbox_id, [copy.uid], FlagOp.ADD,
                                        frozenset(add), origin=ctx.origin)
        if remove:
            await ctx.store.store_flags(copy.mailbox_id, [copy.uid], FlagOp.REMOVE,
                                        frozenset(remove), origin=ctx.origin)
    have = {c.mailbox_id: c for c in record.copies}
    source = record.copies[0]
    for target in targets:
        if target not in have:
            await ctx.store.copy(source.mailbox_id, [source.uid], target, origin=ctx.origin)
    for row_id, copy in have.items():
        if row_id not in targets:
            await ctx.store.delete_messages(row_id, [copy.uid], origin=ctx.origin)
