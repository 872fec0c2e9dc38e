"""The argument checks the standard methods share (RFC 8620 5.1-5.5). Pure."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from posthouse.jmap import errors
from posthouse.jmap.errors import JmapMethodError, invalid

# RFC 8620 1.2: Id is 1-255 of URL-safe base64 characters
_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def is_id(value: Any) -> bool:
    """Whether ``value`` is a JMAP Id."""
    return isinstance(value, str) and bool(_ID.match(value))


def get_ids(args: dict[str, Any], max_objects: int) -> list[str] | None:
    """``ids`` of a /get (None: all), at most ``max_objects`` (requestTooLarge)."""
    ids = args.get("ids")
    if ids is None:
        return None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise invalid("ids must be an array of Ids or null")
    if len(ids) > max_objects:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more ids than maxObjectsInGet")
    return list(dict.fromkeys(ids))


def get_properties(args: dict[str, Any], known: Iterable[str],
                   default: Iterable[str]) -> list[str]:
    """``properties`` of a /get; an unknown name is invalidArguments (RFC 8620 5.1)."""
    props = args.get("properties")
    if props is None:
        return list(default)
    if not isinstance(props, list) or not all(isinstance(p, str) for p in props):
        raise invalid("properties must be an array of strings or null")
    allowed = set(known)
    for prop in props:
        if prop not in allowed:
            raise invalid(f"unknown property {prop}")
    return list(dict.fromkeys(props))


def changes_args(args: dict[str, Any]) -> tuple[str, int | None]:
    """``sinceState`` and ``maxChanges`` of a /changes (RFC 8620 5.2)."""
    since = args.get("sinceState")
    if not isinstance(since, str):
        raise invalid("sinceState must be a string")
    most = args.get("maxChanges")
    if most is not None and (not isinstance(most, int) or isinstance(most, bool) or most < 1):
        raise invalid("maxChanges must be a positive integer or null")
    return since, most


def changes_response(account_id: str, old: str, new: str, created: list[str],
                     updated: list[str], destroyed: list[str],
                     max_changes: int | None) -> dict[str, Any]:
    """A /changes answer; past ``maxChanges`` the server may not answer in parts (it does
    not keep intermediate states), so it says it cannot (RFC 8620 5.2)."""
    if max_changes is not None and len(created) + len(updated) + len(destroyed) > max_changes:
        raise JmapMethodError(errors.CANNOT_CALCULATE_CHANGES,
                              "more changes than maxChanges; resynchronise")
    return {"accountId": account_id, "oldState": old, "newState": new,
            "hasMoreChanges": False, "created": created, "updated": updated,
            "destroyed": destroyed}


def set_objects(args: dict[str, Any], max_objects: int) -> tuple[
        dict[str, Any], dict[str, Any], list[str]]:
    """``create``, ``update`` and ``destroy`` of a /set, with maxObjectsInSet."""
    create = args.get("create") or {}
    update = args.get("update") or {}
    destroy = args.get("destroy") or []
    if not isinstance(create, dict) or not isinstance(update, dict):
        raise invalid("create and update must be objects")
    if not isinstance(destroy, list) or not all(isinstance(i, str) for i in destroy):
        raise invalid("destroy must be an array of Ids")
    if len(create) + len(update) + len(destroy) > max_objects:
        raise JmapMethodError(errors.REQUEST_TOO_LARGE, "more objects than maxObjectsInSet")
    return create, update, destroy


def window(ids: list[str], args: dict[str, Any]) -> tuple[list[str], int]:
    """The slice of a /query result that position, anchor, anchorOffset and limit ask
    for, and its position (RFC 8620 5.5)."""
    position = args.get("position", 0)
    if not isinstance(position, int) or isinstance(position, bool):
        raise invalid("position must be an integer")
    limit = args.get("limit")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                              or limit < 0):
        raise invalid("limit must be a non-negative integer")
    anchor = args.get("anchor")
    if anchor is not None:
        if anchor not in ids:
            raise JmapMethodError(errors.ANCHOR_NOT_FOUND)
        offset = args.get("anchorOffset", 0)
        if not isinstance(offset, int) or isinstance(offset, bool):
            raise invalid("anchorOffset must be an integer")
        position = max(ids.index(anchor) + offset, 0)
    elif position < 0:
        position = max(len(ids) + position, 0)
    end = len(ids) if limit is None else position + limit
    return ids[position:end], min(position, len(ids))


def _ascii_numeric(text: str) -> tuple[int, int]:
    """RFC 4790 9.1 i;ascii-numeric: the leading digits' value; no digit sorts last."""
    digits = re.match(r"\d+", text)
    return (0, int(digits[0])) if digits else (1, 0)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_COLLATIONS: dict[str, Callable[[str], Any]] = {
    "i;ascii-casemap": lambda t: t.translate(_ASCII_LOWER),  # RFC 4790 9.2
    "i;unicode-casemap": str.casefold,  # RFC 5051, approximated by case folding
    "i;ascii-numeric": _ascii_numeric,
}


def collation_key(comparator: dict[str, Any]) -> Callable[[str], Any]:
    """How a Comparator compares strings (RFC 8620 5.5 ``collation``; the session's
    collationAlgorithms): i;unicode-casemap unless it names another; unsupportedSort for
    one not offered."""
    name = comparator.get("collation", "i;unicode-casemap")
    found = _COLLATIONS.get(name) if isinstance(name, str) else None
    if found is None:
        raise JmapMethodError(errors.UNSUPPORTED_SORT, f"collation {name} is not supported")
    return found
