"""Email/query's filters and sorts (RFC 8621 4.4) over an AccountView.

Conditions on addresses and the subject match the decoded header values the store filed at
delivery (the same text IMAP SEARCH matches), case-insensitively; ``body`` and ``text``
and ``header`` use the store's ``search_text`` (the full-text index for bodies), mailbox by
mailbox; ``hasAttachment`` the cached body structure (jmap/attachments.py), so a query reads
message bytes only for a message stored without a summary.

Every filter and sort of 4.4.1 / 4.4.2 is supported. ``MUTABLE_FILTERS`` / ``MUTABLE_SORTS``
name those on properties that change (mailboxIds, keywords) and ``THREAD_WIDE`` those whose
answer for one Email depends on the others of its thread: /queryChanges needs to know.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from posthouse.jmap import errors
from posthouse.jmap.account import AccountView, EmailRecord
from posthouse.jmap.attachments import has_attachment
from posthouse.jmap.email_props import ParsedEmail
from posthouse.jmap.errors import JmapMethodError, invalid
from posthouse.jmap.keywords import flag_of
from posthouse.jmap.standard import collation_key
from posthouse.message.address import parse_addresses
from posthouse.store.api import Store

_ADDRESS_FIELDS = ("from", "to", "cc", "bcc")
SORTS = ("receivedAt", "size", "from", "to", "subject", "sentAt", "hasKeyword",
         "allInThreadHaveKeyword", "someInThreadHaveKeyword")
_THREAD_KEYWORDS = ("allInThreadHaveKeyword", "someInThreadHaveKeyword",
                    "noneInThreadHaveKeyword")
MUTABLE_FILTERS = frozenset({"inMailbox", "inMailboxOtherThan", "hasKeyword", "notKeyword",
                             *_THREAD_KEYWORDS})
MUTABLE_SORTS = frozenset({"hasKeyword", "allInThreadHaveKeyword", "someInThreadHaveKeyword"})
THREAD_WIDE = frozenset(_THREAD_KEYWORDS)
# sorts on the summary's header fields and date (AccountView.read_summaries)
_SUMMARY_SORTS = frozenset({"from", "to", "subject", "sentAt"})


def _utc(value: Any, name: str) -> datetime:
    if not isinstance(value, str):
        raise invalid(f"{name} must be a UTCDate")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name} must be a UTCDate") from None


def _header(record: EmailRecord, name: str) -> str:
    return record.summary.headers.get(name, "") if record.summary else ""


class EmailFilter:
    """A FilterOperator/FilterCondition tree turned into a set of Email ids."""

    def __init__(self, store: Store, view: AccountView) -> None:
        self.store = store
        self.view = view

    async def matches(self, node: Any) -> set[str]:
        """The ids of the Emails ``node`` selects."""
        every = set(self.view.emails)
        if node is None:
            return every
        if not isinstance(node, dict):
            raise invalid("filter must be an object")
        if "operator" in node:
            conditions = node.get("conditions")
            if not isinstance(conditions, list) or not conditions:
                raise invalid("an operator needs a non-empty conditions array")
            sets: list[set[str]] = [await self.matches(c) for c in conditions]
            operator = node["operator"]
            anyof: set[str] = set().union(*sets)
            if operator == "AND":
                return every.intersection(*sets)
            if operator == "OR":
                return anyof
            if operator == "NOT":
                return every - anyof
            raise invalid(f"unknown operator {operator}")
        result = every
        for key, value in node.items():
            result &= await self._condition(key, value)
        return result

    async def _condition(self, key: str, value: Any) -> set[str]:
        emails = self.view.emails
        if key == "inMailbox":
            box = self.view.by_jmap_id.get(value) if isinstance(value, str) else None
            if box is None:
                return set()
            return {r.id for r in self.view.in_mailbox(box.id)}
        if key == "inMailboxOtherThan":
            if not isinstance(value, list):
                raise invalid("inMailboxOtherThan must be an array of Ids")
            excluded = {self.view.by_jmap_id[i].id for i in value if i in self.view.by_jmap_id}
            return {r.id for r in emails.values()
                    if any(c.mailbox_id not in excluded for c in r.copies)}
        if key in ("before", "after"):
            when = _utc(value, key)
            if key == "before":
                return {r.id for r in emails.values() if r.received_at < when}
            return {r.id for r in emails.values() if r.received_at >= when}
        if key in ("minSize", "maxSize"):
            if not isinstance(value, int) or isinstance(value, bool):
                raise invalid(f"{key} must be an integer")
            if key == "minSize":
                return {r.id for r in emails.values() if r.size >= value}
            return {r.id for r in emails.values() if r.size < value}
        if key in ("hasKeyword", "notKeyword"):
            if not isinstance(value, str):
                raise invalid(f"{key} must be a string")
            flag = flag_of(value).lower()
            having = {r.id for r in emails.values()
                      if flag in {f.lower() for f in r.flags}}
            return having if key == "hasKeyword" else set(emails) - having
        if key in _THREAD_KEYWORDS:
            return self._thread_keyword(key, value)
        if key == "hasAttachment":
            if not isinstance(value, bool):
                raise invalid("hasAttachment must be a boolean")
            await self.view.read_summaries(self.store)
            return {i for i in emails if await self.has_attachment(emails[i]) is value}
        if key in ("from", "to", "cc", "bcc", "subject"):
            needle = _needle(key, value)
            await self.view.read_summaries(self.store)
            return {r.id for r in emails.values() if needle in _header(r, key).lower()}
        if key == "body":
            return await self._search(_needle(key, value), "body")
        if key == "text":
            needle = _needle(key, value)
            await self.view.read_summaries(self.store)
            found = {r.id for r in emails.values()
                     if any(needle in _header(r, f).lower() for f in (*_ADDRESS_FIELDS,
                                                                      "subject"))}
            return found | await self._search(needle, "body")
        if key == "header":
            if (not isinstance(value, list) or not 1 <= len(value) <= 2
                    or not all(isinstance(v, str) for v in value)):
                raise invalid("header must be [name] or [name, value]")
            name = value[0].lower()
            return await self._search(value[1] if len(value) == 2 else "", name)
        raise JmapMethodError(errors.UNSUPPORTED_FILTER, f"filter {key} is not supported")

    def _thread_keyword(self, key: str, value: Any) -> set[str]:
        if not isinstance(value, str):
            raise invalid(f"{key} must be a string")
        flag = flag_of(value).lower()
        out: set[str] = set()
        for ids in self.view.threads.values():
            having = [flag in {f.lower() for f in self.view.emails[i].flags} for i in ids]
            if ((key == "allInThreadHaveKeyword" and all(having))
                    or (key == "someInThreadHaveKeyword" and any(having))
                    or (key == "noneInThreadHaveKeyword" and not any(having))):
                out.update(ids)
        return out

    async def has_attachment(self, record: EmailRecord) -> bool:
        """The record's ``hasAttachment``; its bytes parsed when it has no summary."""
        cached = record.has_attachment
        if cached is not None:
            return cached
        data = await self.store.read_blob(record.blob_id)
        record.cached_attachment = has_attachment(ParsedEmail(data, record.blob_id).attachments)
        return record.cached_attachment

    async def _search(self, needle: str, field: str) -> set[str]:
        out: set[str] = set()
        for box in self.view.mailboxes:
            for uid in await self.store.search_text(box.id, needle, field=field):
                email_id = self.view.by_copy.get((box.id, uid))
                if email_id is not None:
                    out.add(email_id)
        return out


def _needle(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise invalid(f"{key} must be a string")
    return value.lower()


def display_name(value: str) -> str:
    """4.4.2 "from"/"to": the first address's name, else its email, else "" (``value`` is
    the decoded field the store filed: its first line is the field as written)."""
    for name, _adl, mailbox, host in parse_addresses(value.split("\n", 1)[0]):
        if host is None:  # a group marker
            continue
        if name:
            return " ".join(name.split())
        return f"{mailbox}@{host}" if host else (mailbox or "")
    return ""


_FWD_TRAILER = re.compile(r"\s*\(fwd\)\s*$", re.IGNORECASE)
_BLOB = r"\[[^\[\]]*\]"
_LEADER = re.compile(rf"^\s*(?:{_BLOB}\s*)*(?:re|fwd?)\s*(?:{_BLOB})?\s*:\s*", re.IGNORECASE)
_LEADING_BLOB = re.compile(rf"^\s*{_BLOB}\s*")
_FWD_WRAP = re.compile(r"^\[fwd:(.*)\]$", re.IGNORECASE)


def base_subject(subject: str) -> str:
    """The base subject of RFC 5256 2.1 (4.4.2 "subject"): the subject without its
    "Re:", "Fwd:", "[list]" leaders, "(fwd)" trailers and "[Fwd: ...]" wrapping."""
    text = " ".join(subject.split())
    while True:
        before = text
        while True:  # (2) trailers
            stripped = _FWD_TRAILER.sub("", text)
            if stripped == text:
                break
            text = stripped
        while True:  # (3) leaders; a blob only when something follows it
            stripped = _LEADER.sub("", text, count=1)
            if stripped == text:
                blob = _LEADING_BLOB.sub("", text, count=1)
                stripped = blob if blob else text
            if stripped == text:
                break
            text = stripped
        wrapped = _FWD_WRAP.match(text)  # (6)
        if wrapped:
            text = wrapped[1].strip()
        if text == before:
            return text


def filter_keys(node: Any) -> set[str]:
    """Every condition name in a filter tree (checked by ``EmailFilter.matches``)."""
    if not isinstance(node, dict):
        return set()
    if "operator" in node:
        conditions = node.get("conditions")
        return set().union(*(filter_keys(c) for c in conditions)) if isinstance(
            conditions, list) else set()
    return set(node)


def sort_key(prop: str, comparator: dict[str, Any],
             view: AccountView) -> Callable[[EmailRecord], Any]:
    """The key of one Comparator's property (unsupportedSort for any other)."""
    if prop == "receivedAt":
        return lambda r: r.received_at
    if prop == "size":
        return lambda r: r.size
    if prop == "sentAt":
        return lambda r: (r.summary.sent_date or r.received_at) if r.summary else r.received_at
    if prop in ("from", "to"):
        collate = collation_key(comparator)
        return lambda r: collate(display_name(_header(r, prop)))
    if prop == "subject":
        collate = collation_key(comparator)
        return lambda r: collate(base_subject(_header(r, prop)))
    if prop in MUTABLE_SORTS:  # 4.4.2: false sorts before true, ascending
        keyword = comparator.get("keyword")
        if not isinstance(keyword, str):
            raise invalid(f"sort by {prop} needs a keyword")
        flag = flag_of(keyword).lower()

        def having(record: EmailRecord) -> bool:
            return flag in {f.lower() for f in record.flags}

        if prop == "hasKeyword":
            return having
        check = all if prop == "allInThreadHaveKeyword" else any
        return lambda r: check(having(view.emails[i]) for i in view.threads[r.thread_id])
    raise JmapMethodError(errors.UNSUPPORTED_SORT, f"sort by {prop} is not supported")


async def sort_emails(store: Store, chosen: set[str], comparators: Any,
                      view: AccountView) -> list[EmailRecord]:
    """The chosen Emails in the order of the Comparators (RFC 8620 5.5), ties by id (by
    receivedAt alone: ties by id in the same direction, from the view's ``arrival``). A
    sort on header fields reads the summaries of the Emails first."""
    if comparators is None:
        comparators = [{"property": "receivedAt", "isAscending": False}]
    if not isinstance(comparators, list):
        raise invalid("sort must be an array")
    if (len(comparators) == 1 and isinstance(comparators[0], dict)
            and set(comparators[0]) <= {"property", "isAscending", "collation"}
            and comparators[0].get("property") == "receivedAt"):
        order = view.arrival if comparators[0].get("isAscending", True) is not False \
            else reversed(view.arrival)
        return [view.emails[i] for _when, i in order if i in chosen]
    out = sorted((view.emails[i] for i in chosen), key=lambda r: r.id)
    if any(isinstance(c, dict) and c.get("property") in _SUMMARY_SORTS for c in comparators):
        await view.read_summaries(store, out)
    for comparator in reversed(comparators):
        if not isinstance(comparator, dict) or not isinstance(comparator.get("property"), str):
            raise invalid("a Comparator needs a property")
        key = sort_key(comparator["property"], comparator, view)
        out.sort(key=key, reverse=comparator.get("isAscending", True) is False)
    return out
