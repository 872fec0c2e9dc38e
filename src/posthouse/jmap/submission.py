"""Identity and EmailSubmission (RFC 8621 6, 7): sending a stored Email.

Identities are derived, not stored: one for the account's own address and one per alias
that delivers to the account (``Router.may_send_as`` says yes to both), so an identity is
exactly an address the port 587 rule lets the user send as. Identity/set is refused
(``forbidden``): there is nothing to keep yet.

EmailSubmission/set create reads the Email's bytes, takes the envelope from it or from the
request (7.5), refuses a From the user may not send as (``forbiddenFrom``) and hands the
message to ``delivery.submit.Submitter``: the port 587 path (local delivery, the outbound
queue and its DKIM signing, DSNs). Submissions are final at once (undoStatus "final").
Their records are kept in the store (jmap/submission_records.py), the newest 200;
``onSuccessUpdateEmail`` / ``onSuccessDestroyEmail`` run as an implicit Email/set.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from typing import Any

from posthouse.delivery.submit import SubmitRefused
from posthouse.jmap import errors
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.email_props import ParsedEmail, header_value
from posthouse.jmap.errors import JmapMethodError, invalid, set_error
from posthouse.jmap.limits import SUBMISSION
from posthouse.jmap.query_changes import query_changes_args, query_changes_response
from posthouse.jmap.standard import changes_args, get_ids, get_properties, set_objects, window
from posthouse.jmap.submission_records import SubmissionRecords, load_records, save_records
from posthouse.store.errors import QuotaExceeded, StoreError

log = logging.getLogger("posthouse.jmap")

IDENTITY_PROPERTIES = ("id", "name", "email", "replyTo", "bcc", "textSignature",
                       "htmlSignature", "mayDelete")
SUBMISSION_PROPERTIES = ("id", "identityId", "emailId", "threadId", "envelope", "sendAt",
                         "undoStatus", "deliveryStatus", "dsnBlobIds", "mdnBlobIds")


def identity_id(address: str) -> str:
    """A stable id for the identity of an address."""
    return "I" + hashlib.sha256(address.lower().encode()).hexdigest()[:16]


async def identities(ctx: CallContext) -> list[dict[str, Any]]:
    """The account's identities: its address, then each alias that delivers to it."""
    assert ctx.submitter is not None
    user = await ctx.store.get_user_by_id(ctx.user_id)
    if user is None:
        return []
    addresses = [user.address]
    for alias in await ctx.store.list_aliases():
        if await ctx.submitter.may_send_as(user, alias.address):
            addresses.append(alias.address)
    return [{"id": identity_id(a), "name": "", "email": a, "replyTo": None, "bcc": None,
             "textSignature": "", "htmlSignature": "", "mayDelete": False}
            for a in dict.fromkeys(addresses)]


def _identity_state(found: list[dict[str, Any]]) -> str:
    return hashlib.sha256(",".join(i["email"] for i in found).encode()).hexdigest()[:16]


@method("Identity/get", SUBMISSION)
async def identity_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    props = get_properties(args, IDENTITY_PROPERTIES, IDENTITY_PROPERTIES)
    found = await identities(ctx)
    by_id = {i["id"]: i for i in found}
    wanted = list(by_id) if ids is None else ids
    return {"accountId": account_id_of(ctx.user_id), "state": _identity_state(found),
            "list": [{k: by_id[i][k] for k in ["id", *props]} for i in wanted if i in by_id],
            "notFound": [i for i in wanted if i not in by_id]}


@method("Identity/changes", SUBMISSION)
async def identity_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """Identities follow the aliases; no history is kept, so a changed state cannot be
    followed (RFC 8620 5.2 cannotCalculateChanges)."""
    ctx.check_account(args)
    since, _most = changes_args(args)
    state = _identity_state(await identities(ctx))
    if since != state:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "identities changed")
    return {"accountId": account_id_of(ctx.user_id), "oldState": since, "newState": state,
            "hasMoreChanges": False, "created": [], "updated": [], "destroyed": []}


@method("Identity/set", SUBMISSION)
async def identity_set(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """Identities are the addresses the user may send as; they are managed as accounts and
    aliases, not here."""
    ctx.check_account(args)
    create, update, destroy = set_objects(args, ctx.limits.max_objects_in_set)
    state = _identity_state(await identities(ctx))
    no = set_error(errors.FORBIDDEN, "identities follow the account's aliases")
    return {"accountId": account_id_of(ctx.user_id), "oldState": state, "newState": state,
            "created": None, "updated": None, "destroyed": None,
            "notCreated": dict.fromkeys(create, no) or None,
            "notUpdated": dict.fromkeys(update, no) or None,
            "notDestroyed": dict.fromkeys(destroy, no) or None}


class _Refused(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("type"))
        self.error = error


def _envelope(spec: Any, parsed: ParsedEmail, identity: dict[str, Any]
              ) -> tuple[str, list[str]]:
    """(mailFrom, rcptTo): given, or from the Email (RFC 8621 7.5: Sender or From; To, Cc
    and Bcc, each address once)."""
    if spec is not None:
        if (not isinstance(spec, dict) or not isinstance(spec.get("mailFrom"), dict)
                or not isinstance(spec.get("rcptTo"), list)):
            raise _Refused(set_error(errors.INVALID_PROPERTIES, properties=["envelope"]))
        mail_from = spec["mailFrom"].get("email")
        given = [r.get("email") if isinstance(r, dict) else None for r in spec["rcptTo"]]
        rcpts = [r for r in given if isinstance(r, str)]
        if not isinstance(mail_from, str) or len(rcpts) != len(given):
            raise _Refused(set_error(errors.INVALID_PROPERTIES, properties=["envelope"]))
        return mail_from, rcpts
    sender = _header_addresses(parsed, "Sender") or _header_addresses(parsed, "From")
    mail_from = sender[0] if sender else str(identity["email"])
    rcpts = [a for name in ("To", "Cc", "Bcc") for a in _header_addresses(parsed, name)]
    return mail_from, list(dict.fromkeys(rcpts))


def _header_addresses(parsed: ParsedEmail, name: str) -> list[str]:
    found = header_value(parsed.header, name, "Addresses", False) or []
    return [str(a["email"]) for a in found if "@" in str(a.get("email") or "")]


def _without_bcc(data: bytes) -> bytes:
    """The message as sent: its Bcc field removed (RFC 5322 3.6.3, RFC 8621 7.5)."""
    from posthouse.delivery.headers import replace_fields

    return replace_fields(data, (b"bcc",))


async def _submit_one(ctx: CallContext, records: SubmissionRecords,
                      spec: Any) -> dict[str, Any]:
    assert ctx.submitter is not None
    if not isinstance(spec, dict):
        raise _Refused(set_error(errors.INVALID_PROPERTIES, "not an object"))
    for key in spec:
        if key not in ("identityId", "emailId", "envelope"):
            raise _Refused(set_error(errors.INVALID_PROPERTIES, "server-set or unknown",
                                     properties=[key]))
    found = {i["id"]: i for i in await identities(ctx)}
    identity = found.get(str(spec.get("identityId")))
    if identity is None:
        raise _Refused(set_error(errors.INVALID_PROPERTIES, "no such identity",
                                 properties=["identityId"]))
    email_id = spec.get("emailId")
    if isinstance(email_id, str) and email_id.startswith("#"):
        email_id = ctx.created_ids.get(email_id[1:], email_id)
    view = await ctx.view()
    record = view.emails.get(email_id) if isinstance(email_id, str) else None
    if record is None:
        raise _Refused(set_error("emailNotFound", "no such Email"))
    data = await ctx.store.read_blob(record.blob_id)
    parsed = ParsedEmail(data, record.blob_id)
    user = await ctx.store.get_user_by_id(ctx.user_id)
    assert user is not None
    # RFC 8621 7.5: every From address must be one the user may send as
    for address in _header_addresses(parsed, "From") or [""]:
        if not address or not await ctx.submitter.may_send_as(user, address):
            raise _Refused(set_error("forbiddenFrom", f"may not send as {address or '(none)'}"))
    mail_from, rcpts = _envelope(spec.get("envelope"), parsed, identity)
    try:
        done = await ctx.submitter.submit(user, mail_from, rcpts, _without_bcc(data),
                                          protocol="HTTPSA", peer_ip=ctx.peer)
    except SubmitRefused as exc:
        extra = {"invalidRecipients": list(exc.addresses)} if exc.addresses else {}
        raise _Refused(set_error(exc.kind, str(exc), **extra)) from None
    except QuotaExceeded as exc:
        raise _Refused(set_error(errors.OVER_QUOTA, str(exc))) from None
    except StoreError:
        raise JmapMethodError(errors.SERVER_FAIL, "the message was not stored") from None
    remote = {r.lower() for r in done.remote}
    records.counter += 1
    sub_id = f"S{records.counter}"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    item = {"id": sub_id, "identityId": identity["id"], "emailId": record.id,
            "threadId": record.thread_id,
            "envelope": {"mailFrom": {"email": mail_from, "parameters": None},
                         "rcptTo": [{"email": r, "parameters": None} for r in rcpts]},
            "sendAt": now, "undoStatus": "final",
            # 7: "queued" while the outbound queue holds it, "yes" once in a local mailbox
            # (the queue's later outcome is not followed: DSNs report it to the sender)
            "deliveryStatus": {r: {"smtpReply": "250 2.0.0 OK",
                                   "delivered": "queued" if r.lower() in remote else "yes",
                                   "displayed": "unknown"} for r in rcpts},
            "dsnBlobIds": [], "mdnBlobIds": []}
    records.items[sub_id] = item
    return item


@method("EmailSubmission/set", SUBMISSION)
async def submission_set(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    create, update, destroy = set_objects(args, ctx.limits.max_objects_in_set)
    records = await load_records(ctx.store, ctx.user_id)
    if args.get("ifInState") is not None and args["ifInState"] != records.state:
        raise JmapMethodError(errors.STATE_MISMATCH)
    # checked before anything is sent: a refusal after sending would invite a resend
    update_spec, destroy_spec = args.get("onSuccessUpdateEmail"), args.get(
        "onSuccessDestroyEmail")
    if (update_spec is not None and not isinstance(update_spec, dict)) or (
            destroy_spec is not None and not isinstance(destroy_spec, list)):
        raise invalid("onSuccessUpdateEmail is a map, onSuccessDestroyEmail a list")
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "oldState": records.state,
                           "created": {}, "notCreated": {}, "updated": None,
                           "notUpdated": {}, "destroyed": [], "notDestroyed": {}}
    for creation_id, spec in create.items():
        try:
            item = await _submit_one(ctx, records, spec)
        except _Refused as refused:
            out["notCreated"][creation_id] = refused.error
            continue
        ctx.created_ids[creation_id] = item["id"]
        out["created"][creation_id] = {"id": item["id"], "sendAt": item["sendAt"],
                                       "undoStatus": "final"}
    for sub_id in update:  # final at once: nothing left to cancel (7.5 cannotUnsend)
        out["notUpdated"][sub_id] = set_error(
            "cannotUnsend" if sub_id in records.items else errors.NOT_FOUND)
    for sub_id in destroy:
        if records.items.pop(sub_id, None) is None:
            out["notDestroyed"][sub_id] = set_error(errors.NOT_FOUND)
        else:
            out["destroyed"].append(sub_id)
    if out["destroyed"]:
        records.counter += 1
    if out["created"] or out["destroyed"]:
        try:
            await save_records(ctx.store, ctx.user_id, records, origin=ctx.origin)
        except StoreError:  # the mail went: an error now would invite sending it again
            log.warning("EmailSubmission records of user %s not kept", ctx.user_id,
                        exc_info=True)
    out["newState"] = records.state
    for key in ("created", "notCreated", "notUpdated", "destroyed", "notDestroyed"):
        if not out[key]:
            out[key] = None
    await _on_success(ctx, records, args, out)
    return out


async def _on_success(ctx: CallContext, records: SubmissionRecords, args: dict[str, Any],
                      out: dict[str, Any]) -> None:
    """``onSuccessUpdateEmail`` / ``onSuccessDestroyEmail`` (7.5): an implicit Email/set
    over the Emails of the submissions just created; "#creationId" names one of them."""
    update_spec = args.get("onSuccessUpdateEmail")
    destroy_spec = args.get("onSuccessDestroyEmail")
    if update_spec is None and destroy_spec is None:
        return
    created = out["created"] or {}

    def email_of(key: str) -> str | None:
        if key.startswith("#"):
            done = created.get(key[1:])
            return records.items[done["id"]]["emailId"] if done else None
        item = records.items.get(key)
        return item["emailId"] if item else None

    update = {e: patch for k, patch in (update_spec or {}).items()
              if (e := email_of(k)) is not None}
    destroy = [e for k in destroy_spec or [] if (e := email_of(k)) is not None]
    if update or destroy:
        from posthouse.jmap.email_methods import email_set

        try:
            result = await email_set(ctx, {"accountId": account_id_of(ctx.user_id),
                                           "update": update, "destroy": destroy})
        except JmapMethodError as exc:  # the mail went: only the implicit call failed
            ctx.implicit.append(("error", exc.arguments()))
            return
        ctx.implicit.append(("Email/set", result))


@method("EmailSubmission/get", SUBMISSION)
async def submission_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    props = get_properties(args, SUBMISSION_PROPERTIES, SUBMISSION_PROPERTIES)
    records = await load_records(ctx.store, ctx.user_id)
    wanted = list(records.items) if ids is None else ids
    return {"accountId": account_id_of(ctx.user_id), "state": records.state,
            "list": [{k: records.items[i][k] for k in ["id", *props]}
                     for i in wanted if i in records.items],
            "notFound": [i for i in wanted if i not in records.items]}


def _created_since(records: SubmissionRecords, since: str) -> list[str]:
    """The ids of the records made since the state ``since`` (each took a number of the
    counter); cannotCalculateChanges when some went since (a destroy takes one too, and is
    not followed) or the state is not ours."""
    if not since.startswith("S") or not since[1:].isdigit() or int(since[1:]) > records.counter:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "unknown state")
    old = int(since[1:])
    created = [i for i in records.items if int(i[1:]) > old]
    if len(created) != records.counter - old:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES, "submissions were destroyed")
    return created


@method("EmailSubmission/changes", SUBMISSION)
async def submission_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    since, _most = changes_args(args)
    records = await load_records(ctx.store, ctx.user_id)
    created = _created_since(records, since)
    return {"accountId": account_id_of(ctx.user_id), "oldState": since,
            "newState": records.state, "hasMoreChanges": False, "created": created,
            "updated": [], "destroyed": []}


def _query_ids(records: SubmissionRecords, args: dict[str, Any]) -> list[str]:
    """Filters identityIds, emailIds, threadIds, undoStatus, before, after (7.3); sorted
    by sendAt (the creation order)."""
    cond = args.get("filter") or {}
    if not isinstance(cond, dict):
        raise invalid("filter must be a FilterCondition")
    chosen = []
    for item in records.items.values():
        if "identityIds" in cond and item["identityId"] not in cond["identityIds"]:
            continue
        if "emailIds" in cond and item["emailId"] not in cond["emailIds"]:
            continue
        if "threadIds" in cond and item["threadId"] not in cond["threadIds"]:
            continue
        if "undoStatus" in cond and item["undoStatus"] != cond["undoStatus"]:
            continue
        if "before" in cond and not item["sendAt"] < cond["before"]:
            continue
        if "after" in cond and not item["sendAt"] >= cond["after"]:
            continue
        chosen.append(item["id"])
    sort = args.get("sort") or []
    if any(s.get("isAscending") is False for s in sort if isinstance(s, dict)):
        chosen.reverse()
    return chosen


@method("EmailSubmission/query", SUBMISSION)
async def submission_query(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    records = await load_records(ctx.store, ctx.user_id)
    chosen = _query_ids(records, args)
    page, position = window(chosen, args)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id),
                           "queryState": records.state, "canCalculateChanges": True,
                           "position": position, "ids": page}
    if args.get("calculateTotal"):
        out["total"] = len(chosen)
    return out


@method("EmailSubmission/queryChanges", SUBMISSION)
async def submission_query_changes(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """RFC 8620 5.6: every property a filter or sort reads is immutable (records are final
    at once), so only records made since matter (query_changes.py)."""
    ctx.check_account(args)
    since, _most, _up_to = query_changes_args(args)
    records = await load_records(ctx.store, ctx.user_id)
    created = set(_created_since(records, since))
    return query_changes_response(args, account_id_of(ctx.user_id), records.state,
                                  _query_ids(records, args), created, created, True)
