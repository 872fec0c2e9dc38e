"""FETCH item values for one message (pure: no store, no IO).

``FetchPlan`` says once per command what the items need (metadata only, the cached parse
summary, or the message bytes) so the handler loads no more than that; ``render`` turns one
message's data into the ``name value name value ...`` list of its FETCH response.

Decisions:
- The MIME tree of a message is parsed at most once per message per command (``Body``), and
  only when a section inside it is asked for: top-level HEADER, HEADER.FIELDS[.NOT], TEXT,
  RFC822.HEADER and RFC822.TEXT split only the top-level header. Nothing is kept after the
  message's response.
- A section that does not exist is the empty string (see posthouse.message.sections).
- BINARY data goes out as a literal8 only when it holds a NUL (RFC 3516 4.2 leaves the
  choice; plain literals suit more clients); an unknown transfer encoding fails the
  command with ``NO [UNKNOWN-CTE]`` (RFC 3516 4.3, RFC 9051 7.1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from posthouse.imap import objectid
from posthouse.imap.bodystructure import bodystructure_value, envelope_value
from posthouse.imap.fetchitems import Attr, BinarySize, BodySection, FetchItem
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Atom, Literal8, Value, atom
from posthouse.message import sections
from posthouse.message.mime import Part, parse
from posthouse.message.summary import preview_text, summarize
from posthouse.message.summary_model import MessageSummary
from posthouse.store.errors import NotFound
from posthouse.store.models import StoredMessage

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SUMMARY_ATTRS = frozenset({Attr.ENVELOPE, Attr.BODY, Attr.BODYSTRUCTURE, Attr.THREADID})
_BLOB_ATTRS = frozenset({Attr.RFC822, Attr.RFC822_HEADER, Attr.RFC822_TEXT, Attr.PREVIEW})
_SPECS = {spec.value: spec for spec in sections.Spec}
_HEADER_SPECS = frozenset(
    {sections.Spec.HEADER, sections.Spec.HEADER_FIELDS, sections.Spec.HEADER_FIELDS_NOT})


@dataclass(frozen=True, slots=True)
class FetchPlan:
    """What one FETCH command asks for and needs.

    ``items`` is in response order (UID first for UID FETCH, RFC 9051 6.4.9: the UID is
    always returned); ``sets_seen`` is False in a read-only mailbox (RFC 9051 6.3.3).
    """

    items: tuple[FetchItem, ...]
    summary: bool
    blob: bool
    sets_seen: bool
    wants_flags: bool


def plan_fetch(
    items: Sequence[FetchItem], *, uid: bool, read_only: bool, modseq: bool = False
) -> FetchPlan:
    """The plan for ``items``; ``modseq`` adds MODSEQ (CHANGEDSINCE, RFC 7162 3.1.4.1)."""
    ordered = list(dict.fromkeys(items))
    if uid and Attr.UID not in ordered:
        ordered.insert(0, Attr.UID)
    if modseq and Attr.MODSEQ not in ordered:
        ordered.append(Attr.MODSEQ)
    seen = any(
        (isinstance(i, Attr) and i.sets_seen) or (isinstance(i, BodySection) and i.sets_seen)
        for i in ordered
    )
    return FetchPlan(
        items=tuple(ordered),
        summary=any(i in _SUMMARY_ATTRS for i in ordered),
        blob=any(isinstance(i, BodySection | BinarySize) or i in _BLOB_ATTRS for i in ordered),
        sets_seen=seen and not read_only,
        wants_flags=Attr.FLAGS in ordered,
    )


def internaldate_text(when: datetime) -> str:
    """``dd-Mon-yyyy hh:mm:ss +zzzz`` with a space-padded day (RFC 9051 9 date-time)."""
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{when.day:2d}-{_MONTHS[when.month - 1]}-{when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hours:02d}{mins:02d}"
    )


class Body:
    """One message's bytes with its MIME tree, parsed on first use (top-level HEADER and
    TEXT sections never need it: see ``sections.extract_top``)."""

    __slots__ = ("_root", "data")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._root: Part | None = None

    @property
    def root(self) -> Part:
        """The parsed MIME tree (cached)."""
        if self._root is None:
            self._root = parse(self.data)
        return self._root


@dataclass(slots=True)
class MessageData:
    """Everything known about one message while its FETCH response is built."""

    meta: StoredMessage
    flags: list[Value]  # the FLAGS value as this session shows it
    body: Body | None = None

    def summary(self) -> MessageSummary:
        """The cached parse, or a fresh one from the bytes if the store had none."""
        if self.meta.summary is not None:
            return self.meta.summary
        if self.body is None:
            raise ImapError("Message summary unavailable",
                            code=ResponseCode.SERVERBUG.code())
        return summarize(self.body.data)

    def require_body(self) -> Body:
        """The message bytes (the handler loads them when the plan says so)."""
        if self.body is None:  # pragma: no cover - a plan/handler mismatch
            raise ImapError("Message body unavailable", code=ResponseCode.SERVERBUG.code())
        return self.body


def _slice(content: bytes, item: BodySection) -> bytes:
    if item.partial is None:
        return content
    return sections.partial(content, item.partial[0], item.partial[1])


def _binary(body: Body, item: BodySection) -> Value:
    content = sections.extract_binary(body.data, body.root, item.section.parts)
    if isinstance(content, sections.UnknownEncoding):
        raise ImapError("Unknown Content-Transfer-Encoding",
                        code=ResponseCode.UNKNOWN_CTE.code())
    content = _slice(content, item)
    return Literal8(content) if b"\x00" in content else content


def is_header_section(item: BodySection) -> bool:
    """Whether ``item`` is a top-level HEADER, HEADER.FIELDS or HEADER.FIELDS.NOT (not
    BINARY): its value comes from the message's header alone (``header_section``)."""
    return (not item.binary and not item.section.parts
            and _SPECS[item.section.text or ""] in _HEADER_SPECS)


def header_section(data: bytes, item: BodySection) -> bytes:
    """The value of a section that ``is_header_section``, as ``_section`` gives it."""
    spec = _SPECS[item.section.text or ""]
    return _slice(sections.extract_top(data, spec, item.section.fields), item)


def message_bytes(blobs: Mapping[str, bytes], meta: StoredMessage) -> bytes:
    """The message's bytes from a group read (NotFound, as ``read_blob``, if gone)."""
    data = blobs.get(meta.blob_id)
    if data is None:
        raise NotFound(f"no blob {meta.blob_id}")
    return data


def _section(body: Body, item: BodySection) -> Value:
    if item.binary:
        return _binary(body, item)
    spec = _SPECS[item.section.text or ""]
    if not item.section.parts and spec is sections.Spec.BODY:
        content = body.data  # BODY[]: the whole message, no MIME tree needed
    elif not item.section.parts and spec in sections.TOP_LEVEL_SPECS:
        content = sections.extract_top(body.data, spec, item.section.fields)
    else:
        content = sections.extract(body.data, body.root, item.section.parts, spec,
                                   item.section.fields)
    return _slice(content, item)


def _binary_size(body: Body, item: BinarySize) -> Value:
    size = sections.binary_size(body.data, body.root, item.parts)
    if isinstance(size, sections.UnknownEncoding):
        raise ImapError("Unknown Content-Transfer-Encoding",
                        code=ResponseCode.UNKNOWN_CTE.code())
    return size


def _attr(msg: MessageData, attr: Attr) -> Value:
    meta = msg.meta
    if attr is Attr.FLAGS:
        return msg.flags
    if attr is Attr.UID:
        return meta.uid
    if attr is Attr.INTERNALDATE:
        return internaldate_text(meta.internaldate)
    if attr is Attr.RFC822_SIZE:
        return meta.size
    if attr is Attr.MODSEQ:
        return [meta.modseq]
    if attr is Attr.EMAILID:
        return [Atom(objectid.email_id(meta.blob_id))]
    if attr is Attr.THREADID:
        return [Atom(objectid.thread_id(msg.summary(), meta.blob_id))]
    if attr is Attr.PREVIEW:
        return preview_text(msg.require_body().data)
    if attr is Attr.SAVEDATE:  # NIL only where no save date is kept (RFC 8514 4.3)
        return None if meta.savedate is None else internaldate_text(meta.savedate)
    if attr is Attr.ENVELOPE:
        return envelope_value(msg.summary().envelope)
    if attr in (Attr.BODY, Attr.BODYSTRUCTURE):
        return bodystructure_value(msg.summary().bodystructure,
                                   extended=attr is Attr.BODYSTRUCTURE)
    body = msg.require_body()
    if attr is Attr.RFC822:
        return body.data
    spec = sections.Spec.HEADER if attr is Attr.RFC822_HEADER else sections.Spec.TEXT
    return sections.extract_top(body.data, spec)


def item_value(msg: MessageData, item: FetchItem) -> tuple[Atom, Value]:
    """The response name and value of one item for one message."""
    if isinstance(item, Attr):
        return atom(item.value), _attr(msg, item)
    if isinstance(item, BinarySize):
        return Atom(item.response_name()), _binary_size(msg.require_body(), item)
    return Atom(item.response_name()), _section(msg.require_body(), item)


def render_items(msg: MessageData, items: Sequence[FetchItem], *, add_flags: bool) -> list[Value]:
    """The alternating name/value list of one FETCH response; ``add_flags`` appends FLAGS
    when they changed (\\Seen set implicitly) and were not asked for (RFC 9051 6.4.5)."""
    out: list[Value] = []
    for item in items:
        name, value = item_value(msg, item)
        out += [name, value]
    if add_flags:
        out += [atom("FLAGS"), msg.flags]
    return out
