"""VacationResponse/get and /set (RFC 8621 8): the one "singleton" object per account.

The settings and the auto-reply rules are ``delivery/vacation.py``'s; this module only
checks the JMAP object and stores it there.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from posthouse.delivery.vacation import VacationSettings, load_settings, save_settings
from posthouse.jmap import errors
from posthouse.jmap.api import CallContext, account_id_of, method
from posthouse.jmap.errors import JmapMethodError, set_error
from posthouse.jmap.limits import VACATION
from posthouse.jmap.standard import get_ids, get_properties, set_objects

PROPERTIES = ("id", "isEnabled", "fromDate", "toDate", "subject", "textBody", "htmlBody")
_FIELDS = {"isEnabled": "is_enabled", "fromDate": "from_date", "toDate": "to_date",
           "subject": "subject", "textBody": "text_body", "htmlBody": "html_body"}


def _state(settings: VacationSettings) -> str:
    import hashlib
    import json

    return hashlib.sha256(json.dumps(settings.jmap()).encode()).hexdigest()[:16]


def _utc_date(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    try:
        datetime.fromisoformat(value[:-1])
    except ValueError:
        return False
    return True


@method("VacationResponse/get", VACATION)
async def vacation_get(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    ctx.check_account(args)
    ids = get_ids(args, ctx.limits.max_objects_in_get)
    props = get_properties(args, PROPERTIES, PROPERTIES)
    settings = await load_settings(ctx.store, ctx.user_id)
    wanted = ["singleton"] if ids is None else ids
    whole = settings.jmap()
    return {"accountId": account_id_of(ctx.user_id), "state": _state(settings),
            "list": [{k: whole[k] for k in ["id", *props]} for i in wanted
                     if i == "singleton"],
            "notFound": [i for i in wanted if i != "singleton"]}


@method("VacationResponse/set", VACATION)
async def vacation_set(ctx: CallContext, args: dict[str, Any]) -> dict[str, Any]:
    """Only ``update`` of "singleton" (8.2: create and destroy answer ``singleton``)."""
    ctx.check_account(args)
    create, update, destroy = set_objects(args, ctx.limits.max_objects_in_set)
    settings = await load_settings(ctx.store, ctx.user_id)
    old = _state(settings)
    if args.get("ifInState") is not None and args["ifInState"] != old:
        raise JmapMethodError(errors.STATE_MISMATCH)
    out: dict[str, Any] = {"accountId": account_id_of(ctx.user_id), "oldState": old,
                           "created": None, "destroyed": None, "updated": None,
                           "notCreated": {c: set_error(errors.SINGLETON) for c in create}
                           or None,
                           "notDestroyed": {d: set_error(errors.SINGLETON) for d in destroy}
                           or None, "notUpdated": None}
    updated: dict[str, Any] = {}
    refused: dict[str, Any] = {}
    for obj_id, patch in update.items():
        if obj_id != "singleton":
            refused[obj_id] = set_error(errors.NOT_FOUND)
            continue
        bad = [k for k in patch if k not in _FIELDS] if isinstance(patch, dict) else ["*"]
        if not bad:
            bad = [k for k, v in patch.items() if (
                (k == "isEnabled" and not isinstance(v, bool))
                or (k in ("fromDate", "toDate") and not _utc_date(v))
                or (k in ("subject", "textBody", "htmlBody")
                    and v is not None and not isinstance(v, str)))]
        if bad:
            refused[obj_id] = set_error(errors.INVALID_PROPERTIES, properties=bad)
            continue
        settings = replace(settings, **{_FIELDS[k]: v for k, v in patch.items()})
        await save_settings(ctx.store, ctx.user_id, settings, origin=ctx.origin)
        updated[obj_id] = None
    out["updated"] = updated or None
    out["notUpdated"] = refused or None
    out["newState"] = _state(settings)
    return out
