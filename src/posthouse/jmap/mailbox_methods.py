"""Mailbox/get, /changes, /query, /set (RFC 8621 2) on the store's mailboxes.

A JMAP Mailbox is a store mailbox: its id the IMAP MAILBOXID, its ``name`` the last
segment of the hierarchical name ("/" delimited) and ``parentId`` the mailbox named by the
rest, ``role`` the lower-cased SPECIAL-USE attribute (RFC 8621 2: the IANA mailbox role
names are the RFC 6154 attributes; INBOX is "inbox"), ``isSubscribed`` the IMAP
subscription. Every right is granted to the owner except deleting or renaming INBOX.
"""

from __future__ import annotations

from typing import Any

from posthouse.imap import objectid
from posthouse.jmap import errors
from posthouse.jmap.account import AccountView
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.errors import JmapMethodError, invalid, set_error
from posthouse.jmap.query_changes import query_changes_args, query_changes_response
from posthouse.jmap.standard import (
    changes_args,
    changes_response,
    collation_key,
    get_ids,
    get_properties,
    set_objects,
    window,
)
from posthouse.jmap.state import decode_state, mark_of
from posthouse.store.errors import (
    InvalidMailboxName,
    MailboxExists,
    MailboxNotDeletable,
    NoSuchMailbox,
)
from posthouse.store.models import HIERARCHY_DELIMITER, INBOX, SEEN, Mailbox

PROPERTIES = ("id", "name", "parentId", "role", "sortOrder", "totalEmails", "unreadEmails",
              "totalThreads", "unreadThreads", "myRights", "isSubscribed")
COUNT_PROPERTIES = ["totalEmails", "unreadEmails", "totalThreads", "unreadThreads"]
_ROLE_ORDER = {"inbox": 1, "drafts": 2, "sent": 3, "archive": 4, "junk": 5, "trash": 6}


def role_of(box: Mailbox) -> str | None:
    """The JMAP role of a store mailbox."""
    if box.name == INBOX:
        return "inbox"
    if box.special_use:
        return box.special_use.lstrip("\\").lower()
    return None


def _parent_name(box: Mailbox) -> str | None:
    head, sep, _tail = box.name.rpartition(HIERARCHY_DELIMITER)
    return head if sep else None


def mailbox_object(view: AccountView, box: Mailbox, props: list[str]) -> dict[str, Any]:
    """One Mailbox object with the asked properties."""
    role = role_of(box)
    out: dict[str, Any] = {"id": objectid.mailbox_id(box)}
    if "name" in props:
        out["name"] = box.name.rpartition(HIERARCHY_DELIMITER)[2]
    if "parentId" in props:
        parent = _parent_name(box)
        found = next((b for b in view.mailboxes if b.name == parent), None) if parent else None
        out["parentId"] = objectid.mailbox_id(found) if found else None
    if "role" in props:
        out["role"] = role
    if "sortOrder" in props:
        out["sortOrder"] = _ROLE_ORDER.get(role or "", 10)
    if any(p in props for p in COUNT_PROPERTIES):
        emails = view.in_mailbox(box.id)
        unread = [e for e in emails if not any(c.mailbox_id == box.id and SEEN in c.flags
                                               for c in e.copies)]
        counts = {"totalEmails": len(emails), "unreadEmails": len(unread),
                  "totalThreads": len({e.thread_id for e in emails}),
                  "unreadThreads": len({e.thread_id for e in unread})}
        out.update({k: v for k, v in counts.items() if k in props})
    if "myRights" in props:
        inbox = box.name == INBOX
        out["myRights"] = {
            "mayReadItems": True, "mayAddItems": True, "mayRemoveItems": True,
            "maySetSeen": True, "maySetKeywords": True, "mayCreateChild": True,
            "mayRename": not inbox, "mayDelete": not inbox, "maySubmit": True}
    if "isSubscribed" in props:
        out["isSubscribed"] = box.subscribed
    return out


@method("Mailbox/get")
async def mailbox_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    props = get_properties(args, PROPERTIES, PROPERTIES)
    view = await ctx.view()
    boxes = view.mailboxes if ids is None else [view.by_jmap_id[i] for i in ids
                                                 if i in view.by_jmap_id]
    found = {objectid.mailbox_id(b) for b in boxes}
    return {"accountId": account_id_of(ctx.user_id), "state": view.state,
            "list": [mailbox_object(view, b, props) for b in boxes],
            "notFound": [i for i in (ids or []) if i not in found]}


def _mailbox_changes(since: str, view: AccountView
                     ) -> tuple[list[str], list[str], list[str], list[str]]:
    """(created, updated, destroyed, of the updated those whose name, role or subscription
    changed) Mailbox ids since the state ``since``."""
    old = decode_state(since)
    if old is None:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "unknown state")
    now = {b.id: b for b in view.mailboxes}
    created = [objectid.mailbox_id(b) for i, b in now.items() if i not in old]
    destroyed = [mark.mailbox_id for mark_id, mark in old.items() if mark_id not in now]
    updated: list[str] = []
    renamed: list[str] = []
    for box_id, box in now.items():
        mark = old.get(box_id)
        if mark is None:
            continue
        current = mark_of(box)
        if current.digest != mark.digest:
            renamed.append(objectid.mailbox_id(box))
            updated.append(objectid.mailbox_id(box))
        elif current.modseq != mark.modseq:
            updated.append(objectid.mailbox_id(box))
    return created, updated, destroyed, renamed


@method("Mailbox/changes")
async def mailbox_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    since, most = changes_args(args)
    view = await ctx.view()
    created, updated, destroyed, renamed = _mailbox_changes(since, view)
    out = changes_response(account_id_of(ctx.user_id), since, view.state, created, updated,
                           destroyed, most)
    # RFC 8621 2.2: only the counts changed, the client may fetch just those
    out["updatedProperties"] = COUNT_PROPERTIES if updated and not renamed else None
    return out


def _box_matches(view: AccountView, box: Mailbox, node: Any) -> bool:
    """Whether a Mailbox meets a FilterOperator or FilterCondition (RFC 8621 2.3)."""
    if not isinstance(node, dict):
        raise invalid("filter must be an object")
    if "operator" in node:
        conditions = node.get("conditions")
        if not isinstance(conditions, list) or not conditions:
            raise invalid("an operator needs a non-empty conditions array")
        found = [_box_matches(view, box, c) for c in conditions]
        if node["operator"] == "AND":
            return all(found)
        if node["operator"] == "OR":
            return any(found)
        if node["operator"] == "NOT":
            return not any(found)
        raise invalid(f"unknown operator {node['operator']}")
    ok = True
    for key, value in node.items():
        if key == "parentId":
            ok = ok and mailbox_object(view, box, ["parentId"])["parentId"] == value
        elif key == "name":
            if not isinstance(value, str):
                raise invalid("name must be a string")
            ok = ok and value.lower() in box.name.rpartition("/")[2].lower()
        elif key == "role":
            ok = ok and role_of(box) == value
        elif key == "hasAnyRole":
            ok = ok and (role_of(box) is not None) == bool(value)
        elif key == "isSubscribed":
            ok = ok and box.subscribed == bool(value)
        else:
            raise JmapMethodError(errors.UNSUPPORTED_FILTER, f"filter {key}")
    return ok


def _ancestors(view: AccountView, box: Mailbox) -> list[Mailbox]:
    """The chain of ``parentId``s above ``box``, nearest first."""
    names = {b.name: b for b in view.mailboxes}
    out: list[Mailbox] = []
    parent = _parent_name(box)
    while parent is not None and parent in names:
        out.append(names[parent])
        parent = _parent_name(names[parent])
    return out


def _query_ids(view: AccountView, args: dict[str, Any]) -> list[str]:
    """The whole result of a Mailbox/query's filter and sort (RFC 8621 2.3), with
    filterAsTree (a Mailbox only when its ancestors match too) and sortAsTree (parents
    before their children, siblings by the comparators)."""
    node = args.get("filter")
    matching = [b for b in view.mailboxes if node is None or _box_matches(view, b, node)]
    if args.get("filterAsTree"):
        chosen = {b.id for b in matching}
        matching = [b for b in matching
                    if all(a.id in chosen for a in _ancestors(view, b))]
    sort = args.get("sort") or []
    if not isinstance(sort, list):
        raise invalid("sort must be an array")
    boxes = list(view.mailboxes) if args.get("sortAsTree") else matching
    for comparator in reversed(sort):
        prop = comparator.get("property") if isinstance(comparator, dict) else None
        descending = isinstance(comparator, dict) and comparator.get("isAscending") is False
        if prop == "name":
            collate = collation_key(comparator)
            boxes.sort(key=lambda b: collate(b.name.rpartition("/")[2]), reverse=descending)
        elif prop == "sortOrder":
            boxes.sort(key=lambda b: _ROLE_ORDER.get(role_of(b) or "", 10), reverse=descending)
        else:
            raise JmapMethodError(errors.UNSUPPORTED_SORT, f"sort by {prop}")
    if args.get("sortAsTree"):  # depth first over the whole tree, siblings as sorted
        children: dict[int | None, list[Mailbox]] = {}
        for box in boxes:
            above = _ancestors(view, box)
            children.setdefault(above[0].id if above else None, []).append(box)
        ordered: list[Mailbox] = []
        stack = list(reversed(children.get(None, [])))
        while stack:
            box = stack.pop()
            ordered.append(box)
            stack.extend(reversed(children.get(box.id, [])))
        wanted = {b.id for b in matching}
        boxes = [b for b in ordered if b.id in wanted]
    return [objectid.mailbox_id(b) for b in boxes]


@method("Mailbox/query")
async def mailbox_query(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    view = await ctx.view()
    ids = _query_ids(view, args)
    page, position = window(ids, args)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "queryState": view.state,
                           "canCalculateChanges": True, "position": position, "ids": page}
    if args.get("calculateTotal"):
        out["total"] = len(ids)
    return out


@method("Mailbox/queryChanges")
async def mailbox_query_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """RFC 8620 5.6 over Mailbox/changes: every filter and sort reads the name, role or
    subscription (the state's digest), so a Mailbox whose digest did not move, and which
    was not created or destroyed, keeps its place. A parentId depends on another mailbox
    too, and so do filterAsTree and sortAsTree: when any was created or destroyed (or, with
    a tree option, renamed), every mailbox with a parent counts as changed."""
    ctx.check_account(args)
    since, _most, _up_to = query_changes_args(args)
    view = await ctx.view()
    created, _updated, destroyed, renamed = _mailbox_changes(since, view)
    changed = {*created, *destroyed, *renamed}
    tree = bool(args.get("filterAsTree") or args.get("sortAsTree"))
    if created or destroyed or (tree and renamed):
        changed |= {objectid.mailbox_id(b) for b in view.mailboxes
                    if _parent_name(b) is not None}
    return query_changes_response(args, account_id_of(ctx.user_id), view.state,
                                  _query_ids(view, args), changed, set(created), False)


@method("Mailbox/set")
async def mailbox_set(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    create, update, destroy = set_objects(args, ctx.limits.max_objects_in_set)
    view = await ctx.view()
    if args.get("ifInState") is not None and args["ifInState"] != view.state:
        raise JmapMethodError(errors.STATE_MISMATCH)
    old_state = view.state
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "oldState": old_state,
                           "created": {}, "updated": {}, "destroyed": [],
                           "notCreated": {}, "notUpdated": {}, "notDestroyed": {}}
    for creation_id, props in create.items():
        try:
            name = _full_name(ctx, view, props, None)
            box = await ctx.store.create_mailbox(ctx.user_id, name, origin=ctx.origin)
            if props.get("isSubscribed"):
                await ctx.store.set_subscribed(ctx.user_id, name, True, origin=ctx.origin)
            ctx.created_ids[creation_id] = objectid.mailbox_id(box)
            out["created"][creation_id] = {"id": objectid.mailbox_id(box)}
            ctx.changed()
            view = await ctx.view()
        except _SetRefused as refused:
            out["notCreated"][creation_id] = refused.error
        except (MailboxExists, InvalidMailboxName) as exc:
            out["notCreated"][creation_id] = set_error(errors.INVALID_PROPERTIES, str(exc),
                                                       properties=["name"])
    for mailbox_id, props in update.items():
        target = view.by_jmap_id.get(_resolve(ctx, mailbox_id))
        if target is None:
            out["notUpdated"][mailbox_id] = set_error(errors.NOT_FOUND)
            continue
        try:
            await _update(ctx, view, target, props)
            out["updated"][mailbox_id] = None
            ctx.changed()
            view = await ctx.view()
        except _SetRefused as refused:
            out["notUpdated"][mailbox_id] = refused.error
        except (MailboxExists, InvalidMailboxName, MailboxNotDeletable) as exc:
            out["notUpdated"][mailbox_id] = set_error(errors.INVALID_PROPERTIES, str(exc),
                                                      properties=["name"])
    remove_emails = bool(args.get("onDestroyRemoveEmails"))
    for mailbox_id in destroy:
        gone = view.by_jmap_id.get(_resolve(ctx, mailbox_id))
        if gone is None:
            out["notDestroyed"][mailbox_id] = set_error(errors.NOT_FOUND)
            continue
        error = _destroy_refusal(view, gone, remove_emails)
        if error is not None:
            out["notDestroyed"][mailbox_id] = error
            continue
        try:
            await ctx.store.delete_mailbox(ctx.user_id, gone.name, origin=ctx.origin)
        except (MailboxNotDeletable, NoSuchMailbox) as exc:
            out["notDestroyed"][mailbox_id] = set_error(errors.FORBIDDEN, str(exc))
            continue
        out["destroyed"].append(mailbox_id)
        ctx.changed()
        view = await ctx.view()
    out["newState"] = view.state
    for key in ("notCreated", "notUpdated", "notDestroyed"):
        if not out[key]:
            out[key] = None
    return out


class _SetRefused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("type"))
        self.error = error


def _resolve(ctx: CallContext, mailbox_id: str) -> str:
    """A "#creationId" reference to a mailbox made earlier in this request (RFC 8620 5.3)."""
    if mailbox_id.startswith("#"):
        return ctx.created_ids.get(mailbox_id[1:], mailbox_id)
    return mailbox_id


_SETTABLE = frozenset({"name", "parentId", "isSubscribed", "sortOrder", "role"})


def _full_name(ctx: CallContext, view: AccountView, props: Any, box: Mailbox | None) -> str:
    if not isinstance(props, dict):
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES, "not an object"))
    bad = [k for k in props if k not in _SETTABLE]
    if bad:
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES, "read-only or unknown",
                                    properties=bad))
    if "role" in props and props["role"] != (role_of(box) if box else None):
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES, "roles are not settable",
                                    properties=["role"]))
    leaf = props.get("name", box.name.rpartition("/")[2] if box else None)
    if not isinstance(leaf, str) or not leaf or HIERARCHY_DELIMITER in leaf:
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES,
                                    "name must be a non-empty string without /",
                                    properties=["name"]))
    if "parentId" in props:
        parent_id = props["parentId"]
    else:
        parent_id = (mailbox_object(view, box, ["parentId"])["parentId"] if box else None)
    if parent_id is None:
        return leaf
    parent = (view.by_jmap_id.get(_resolve(ctx, parent_id)) if isinstance(parent_id, str)
              else None)
    if parent is None:
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES, "no such parent",
                                    properties=["parentId"]))
    if box is not None and (parent.id == box.id or parent.name.startswith(box.name + "/")):
        raise _SetRefused(set_error(errors.INVALID_PROPERTIES, "a mailbox cannot be its own"
                                    " ancestor", properties=["parentId"]))
    return f"{parent.name}{HIERARCHY_DELIMITER}{leaf}"


async def _update(ctx: CallContext, view: AccountView, box: Mailbox,
                  props: dict[str, Any]) -> None:
    name = _full_name(ctx, view, props, box)
    if name != box.name:
        if box.name == INBOX:
            raise _SetRefused(set_error(errors.FORBIDDEN, "INBOX cannot be renamed"))
        await ctx.store.rename_mailbox(ctx.user_id, box.name, name, origin=ctx.origin)
    if "isSubscribed" in props and bool(props["isSubscribed"]) != box.subscribed:
        await ctx.store.set_subscribed(ctx.user_id, name, bool(props["isSubscribed"]),
                                       origin=ctx.origin)


def _destroy_refusal(view: AccountView, box: Mailbox,
                     remove_emails: bool) -> dict[str, Any] | None:
    if box.name == INBOX:
        return set_error(errors.FORBIDDEN, "INBOX cannot be destroyed")
    if any(b.name.startswith(box.name + HIERARCHY_DELIMITER) for b in view.mailboxes):
        return set_error(errors.MAILBOX_HAS_CHILD)
    if not remove_emails and view.in_mailbox(box.id):
        return set_error(errors.MAILBOX_HAS_EMAIL)
    return None
