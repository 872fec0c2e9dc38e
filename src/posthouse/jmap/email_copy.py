"""Email/copy (RFC 8621 4.7, RFC 8620 5.4): Emails from another account into this one.

/copy moves records between two different accounts (5.4: fromAccountId MUST differ from
accountId; filing an Email in another mailbox of the same account is Email/set). posthouse
has one account per user and no shared accounts, so ``readable_accounts`` holds only the
user's own and every valid call ends in ``fromAccountNotFound``; the copy itself (the
source's bytes filed through Email/import's path, with the asked mailboxIds, keywords and
receivedAt) is here for when an account readable by others exists (then
``onSuccessDestroyOriginal`` is still to do: it is checked, not acted on). No other type has a
/copy in RFC 8621 (Mailbox/copy, Thread/copy ... are unknownMethod).
"""

from __future__ import annotations

from typing import Any

from posthouse.jmap import errors
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.email_import import ImportRefused, file_email, received_at
from posthouse.jmap.errors import JmapMethodError, invalid, set_error
from posthouse.jmap.standard import is_id

_COPY_PROPERTIES = frozenset({"id", "mailboxIds", "keywords", "receivedAt"})


def readable_accounts(ctx: CallContext) -> dict[str, int]:
    """The accounts this user may copy from: accountId -> user id (its own only)."""
    return {account_id_of(ctx.user_id): ctx.user_id}


def _check_args(args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    source = args.get("fromAccountId")
    if not is_id(source):
        raise invalid("fromAccountId must be an Id")
    if source == args.get("accountId"):
        raise invalid("fromAccountId must differ from accountId (RFC 8620 5.4)")
    create = args.get("create")
    if not isinstance(create, dict) or not create:
        raise invalid("create must be a non-empty map of creation ids to Emails")
    for key in ("ifFromInState", "ifInState", "destroyFromIfInState"):
        if args.get(key) is not None and not isinstance(args[key], str):
            raise invalid(f"{key} must be a string or null")
    if not isinstance(args.get("onSuccessDestroyOriginal", False), bool):
        raise invalid("onSuccessDestroyOriginal must be a boolean")
    return str(source), create


@method("Email/copy")
async def email_copy(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    source, create = _check_args(args)
    if len(create) > ctx.limits.max_objects_in_set:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more objects than maxObjectsInSet")
    source_user = readable_accounts(ctx).get(source)
    if source_user is None:
        raise JmapMethodError(errors.FROM_ACCOUNT_NOT_FOUND)
    from_view = await ctx.views.current(source_user)
    if args.get("ifFromInState") is not None and args["ifFromInState"] != from_view.state:
        raise JmapMethodError(errors.STATE_MISMATCH, "ifFromInState")
    view = await ctx.view()
    if args.get("ifInState") is not None and args["ifInState"] != view.state:
        raise JmapMethodError(errors.STATE_MISMATCH)
    out: dict[str, Any] = {"fromAccountId": source, "accountId": account_id_of(ctx.user_id),
                           "oldState": view.state, "created": {}, "notCreated": {}}
    for creation_id, obj in create.items():
        record = from_view.emails.get(str(obj.get("id"))) if isinstance(obj, dict) else None
        if not isinstance(obj, dict) or set(obj) - _COPY_PROPERTIES:
            out["notCreated"][creation_id] = set_error(errors.INVALID_PROPERTIES)
        elif record is None:
            out["notCreated"][creation_id] = set_error(errors.NOT_FOUND)
        else:
            try:
                data = await ctx.store.read_blob(record.blob_id)
                out["created"][creation_id] = await file_email(
                    ctx, data, obj.get("mailboxIds"), obj.get("keywords"),
                    received_at(obj.get("receivedAt")) or record.received_at)
            except ImportRefused as refused:
                out["notCreated"][creation_id] = refused.error
    out["newState"] = (await ctx.view()).state
    for key in ("created", "notCreated"):
        out[key] = out[key] or None
    return out
