"""NOTIFY (RFC 5465) and the one path every untagged update takes: ``session_updates``.

``NOTIFY SET`` puts a NotifySpec (imap/notify.py) in force, ``NOTIFY NONE`` takes it away;
either is an implicit NOOP (3): the pending updates of the selected mailbox go out before
its OK (the session sends them before every tagged response). With STATUS, a STATUS
response for every mailbox a group asks message events of comes first (3).

``session_updates`` is called by the session before each tagged response, by IDLE, and —
while NOTIFY is set — between commands whenever the store publishes an event:

* the selected mailbox (6.1): only what the SELECTED / SELECTED-DELAYED group asks for,
  nothing without one (3.1: the same as SELECTED NONE): EXISTS for MessageNew, FETCH for
  FlagChange, EXPUNGE / VANISHED for MessageExpunge, between commands with SELECTED only
  (SELECTED-DELAYED keeps them for a command that allows them, RFC 9051 7.5.1). What the
  session's own command added or removed (APPEND, COPY, MOVE, EXPUNGE) is announced with
  it in any case, along with what is held back then. MessageNew's fetch-att list is
  answered with a FETCH of each new message right after its EXISTS (5.2);
* other mailboxes: ``* STATUS name (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])``
  once per mailbox for MessageNew / MessageExpunge / FlagChange (5.1-5.3; HIGHESTMODSEQ
  once CONDSTORE or QRESYNC is on), ``* LIST`` for MailboxName and SubscriptionChange
  with the name's attributes as they are now (``\\NonExistent`` once gone, else
  ``\\HasChildren`` / ``\\HasNoChildren`` and the special use; ``\\Subscribed`` iff
  subscribed after a SubscriptionChange; a rename with ``("OLDNAME" (old))``: 5.4, 5.5,
  RFC 5258), ``* METADATA name entry ...`` for MailboxMetadataChange /
  ServerMetadataChange (5.6, 5.7; RFC 5464 4.4.2's form);
* changes this session made itself are not reported for other mailboxes, the list of
  names or METADATA (5: "the server SHOULD omit notifying the client if the event is
  caused by this client");
* when the session's backlog passed ``[limits] imap_notify_backlog`` (events were dropped,
  store/events.py Subscription.limit), ``* OK [NOTIFICATIONOVERFLOW]`` and NOTIFY is off
  (5.8).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.handlers.fetch import fetch_announced
from posthouse.imap.handlers.status import status_response
from posthouse.imap.notify import (
    MESSAGE_EVENTS,
    FilterKind,
    NotifyEvent,
    NotifySpec,
    is_delivery_target,
)
from posthouse.imap.replies import ResponseCode
from posthouse.imap.responses import Atom, Response, Status, Untagged, UntaggedStatus, Value
from posthouse.store.errors import StoreError
from posthouse.store.events import (
    BOX_CREATED,
    BOX_DELETED,
    BOX_RENAMED,
    SUBSCRIBED,
    UNSUBSCRIBED,
    FlagsChanged,
    MailboxChange,
    MailboxListChanged,
    MessagesAdded,
    MessagesExpunged,
    MetadataChanged,
    StoreEvent,
)
from posthouse.store.models import HIERARCHY_DELIMITER, Mailbox

_MESSAGE_EVENT = {MessagesAdded: NotifyEvent.MESSAGE_NEW,
                  MessagesExpunged: NotifyEvent.MESSAGE_EXPUNGE,
                  FlagsChanged: NotifyEvent.FLAG_CHANGE}


def _status_items(ctx: HandlerContext) -> list[str]:
    items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY", "UNSEEN"]
    if ctx.condstore or ctx.qresync:  # RFC 5465 5.1-5.3: HIGHESTMODSEQ with CONDSTORE
        items.append("HIGHESTMODSEQ")
    return items


def _events_for(ctx: HandlerContext, spec: NotifySpec, box: Mailbox) -> frozenset[NotifyEvent]:
    return spec.events_for(box.name, subscribed=ctx.subscribed,
                           delivery_target=is_delivery_target(box.name, box.special_use))


async def handle_notify(
    ctx: HandlerContext, tag: str, cmd: c.NotifyCommand
) -> AsyncIterator[Response]:
    """NOTIFY SET / NOTIFY NONE (RFC 5465 3)."""
    spec = cmd.spec
    ctx.set_notify(None)  # what happened before this request is not notified under it
    if ctx.events is not None:
        for event in ctx.events.drain():
            ctx.apply_event(event)
    ctx.set_notify(spec, backlog=ctx.config.notify_backlog)
    if spec is not None and spec.needs_subscriptions:
        ctx.subscribed = set(await ctx.store.list_subscriptions(ctx.user_id))
    if spec is not None and spec.status:
        selected_id = ctx.selected.mailbox.id if ctx.selected is not None else None
        items = _status_items(ctx)
        for box in await ctx.store.list_mailboxes(ctx.user_id):
            if box.id != selected_id and _events_for(ctx, spec, box) & MESSAGE_EVENTS:
                yield await status_response(ctx, box, items)
    yield ok(tag, "NOTIFY completed")


def _selected_allows(ctx: HandlerContext, spec: NotifySpec,
                     between_commands: bool) -> tuple[bool, bool, bool]:
    """(expunges, new messages, flag changes) of the selected mailbox that may go out now
    under NOTIFY. Only what the SELECTED / SELECTED-DELAYED group asks for: without one,
    none (3.1: the same as SELECTED NONE); between commands SELECTED-DELAYED keeps
    expunges back (6.1.2). The EXISTS / EXPUNGE of what this session's own command added
    or removed always go out with it (they answer that command)."""
    group = spec.selected_group
    events = group.events if group is not None else frozenset()
    own = ctx.selected is not None and ctx.selected.view.own_change and not between_commands
    expunge = NotifyEvent.MESSAGE_EXPUNGE in events or own
    if between_commands and (group is None or group.filter.kind is not FilterKind.SELECTED):
        expunge = False
    return expunge, NotifyEvent.MESSAGE_NEW in events or own, NotifyEvent.FLAG_CHANGE in events


async def session_updates(
    ctx: HandlerContext, *, allow_expunge: bool, between_commands: bool = False
) -> list[Response]:
    """Every untagged update that may be sent now (see the module docstring)."""
    out: list[Response] = []
    events = ctx.events
    if events is not None and events.overflowed:
        if ctx.notify is not None:
            ctx.log.info("notify overflow: more than %d events waiting, NOTIFY off",
                         ctx.config.notify_backlog)
            out.append(UntaggedStatus(Status.OK, "Too many notifications, NOTIFY is off",
                                      ResponseCode.NOTIFICATIONOVERFLOW.code()))
        ctx.set_notify(None)
    if ctx.notify is None:
        out += await ctx.updates(allow_expunge=allow_expunge)
    else:
        expunge, new, flags = _selected_allows(ctx, ctx.notify, between_commands)
        out += await ctx.updates(allow_expunge=expunge and (allow_expunge or between_commands),
                                 allow_new=new, allow_flags=flags)
    out += await _new_message_fetches(ctx)
    out += await _notices(ctx)
    return out


async def _new_message_fetches(ctx: HandlerContext) -> list[Response]:
    """FETCH for the messages announced since the last call, if MessageNew asked for
    items (an EXPUNGE handler may have flushed the view itself: they wait in
    ``view.announced``)."""
    selected = ctx.selected
    if selected is None:
        return []
    announced = selected.view.announced
    selected.view.announced = ()
    group = ctx.notify.selected_group if ctx.notify is not None else None
    if group is None or not group.fetch_items:
        return []
    # 5.2: no FETCH for what this client added itself (APPEND, COPY, MOVE)
    wanted = [uid for uid in announced if uid not in ctx.own_added]
    ctx.own_added.difference_update(announced)
    if not wanted:
        return []
    return await fetch_announced(ctx, selected, wanted, group.fetch_items)


def _own(ctx: HandlerContext, event: StoreEvent) -> bool:
    return event.origin is not None and event.origin is ctx.origin


async def _notices(ctx: HandlerContext) -> list[Response]:
    """STATUS, LIST and METADATA responses for the kept events (NOTIFY only)."""
    spec = ctx.notify
    kept = ctx.take_notices()
    if spec is None:
        return []
    selected_id = ctx.selected.mailbox.id if ctx.selected is not None else None
    out: list[Response] = []
    status_boxes: dict[int, Mailbox] = {}
    names = _Names(ctx)
    for event in kept:
        if isinstance(event, MailboxListChanged):
            for change in event.changes:
                _track_subscriptions(ctx, change)
                if not _own(ctx, event):
                    out += await _list_notice(ctx, spec, change, names)
        elif isinstance(event, MetadataChanged):
            if not _own(ctx, event):
                out += await _metadata_notice(ctx, spec, event)
        elif (event.mailbox_id != selected_id and event.mailbox_id not in status_boxes
              and not _own(ctx, event)):
            box = await ctx.store.get_mailbox_by_id(event.mailbox_id)
            if (box is not None and box.user_id == ctx.user_id
                    and _MESSAGE_EVENT[type(event)] in _events_for(ctx, spec, box)):
                status_boxes[box.id] = box
    items = _status_items(ctx)
    for box in status_boxes.values():  # counted now: one STATUS says it all
        try:
            out.append(await status_response(ctx, box, items))
        except StoreError:  # deleted meanwhile: its LIST (\NonExistent) says so
            continue
    return out


def _track_subscriptions(ctx: HandlerContext, change: MailboxChange) -> None:
    """Keep ``ctx.subscribed`` true for the SUBSCRIBED filter (6.4: re-evaluated)."""
    if change.kind == SUBSCRIBED:
        ctx.subscribed.add(change.name)
    elif change.kind == UNSUBSCRIBED:
        ctx.subscribed.discard(change.name)
    elif change.kind == BOX_RENAMED and change.old_name in ctx.subscribed:
        ctx.subscribed.discard(change.old_name)  # the subscription moved with it
        ctx.subscribed.add(change.name)


def _wants(ctx: HandlerContext, spec: NotifySpec, name: str, event: NotifyEvent,
           *, also_subscribed: bool = False) -> bool:
    subscribed: set[str] = ctx.subscribed | {name} if also_subscribed else ctx.subscribed
    found = spec.events_for(name, subscribed=subscribed,
                            delivery_target=is_delivery_target(name, None))
    return event in found


class _Names:
    """The user's mailboxes, read once per batch of notices (for LIST attributes)."""

    def __init__(self, ctx: HandlerContext) -> None:
        self._ctx = ctx
        self._boxes: dict[str, Mailbox] | None = None

    async def attrs(self, name: str) -> list[Value]:
        """The attributes of ``name`` now: \\NonExistent, or children and special use
        (RFC 5465 5.4, 5.5: accurately computed)."""
        if self._boxes is None:
            self._boxes = {b.name: b for b in await self._ctx.store.list_mailboxes(
                self._ctx.user_id)}
        box = self._boxes.get(name)
        if box is None:
            return [Atom("\\NonExistent")]
        prefix = name + HIERARCHY_DELIMITER
        children = any(other.startswith(prefix) for other in self._boxes)
        attrs: list[Value] = [Atom("\\HasChildren" if children else "\\HasNoChildren")]
        if box.special_use:
            attrs.append(Atom(box.special_use))
        return attrs


async def _list_notice(ctx: HandlerContext, spec: NotifySpec, change: MailboxChange,
                       names: _Names) -> list[Response]:
    """``* LIST`` for one created, deleted, renamed or (un)subscribed name (5.4, 5.5)."""
    name = change.name
    extra: list[Value] = []
    if change.kind in (BOX_CREATED, BOX_DELETED, BOX_RENAMED):
        candidates = [name] if change.old_name is None else [name, change.old_name]
        if not any(_wants(ctx, spec, n, NotifyEvent.MAILBOX_NAME) for n in candidates):
            return []
        attrs = await names.attrs(name)
        if change.old_name is not None:  # RFC 5258 extended data, as RFC 5465 5.4 shows
            extra = [["OLDNAME", [ctx.mailbox_name(change.old_name)]]]
    else:
        if not _wants(ctx, spec, name, NotifyEvent.SUBSCRIPTION_CHANGE, also_subscribed=True):
            return []
        attrs = await names.attrs(name)
        if change.kind == SUBSCRIBED:  # 5.5: if and only if subscribed after the event
            attrs.append(Atom("\\Subscribed"))
    data: list[Value] = [Atom("LIST"), attrs, HIERARCHY_DELIMITER, ctx.mailbox_name(name),
                         *extra]
    return [Untagged(tuple(data))]


async def _metadata_notice(ctx: HandlerContext, spec: NotifySpec,
                           event: MetadataChanged) -> list[Response]:
    """``* METADATA mailbox entry ...`` without values (RFC 5464 4.4.2; 5465 5.6, 5.7)."""
    entries: list[Value] = [Atom(name) for name in event.entries]
    if event.mailbox_id == 0:
        if not spec.wants_server_metadata():
            return []
        return [Untagged((Atom("METADATA"), "", *entries))]
    box = await ctx.store.get_mailbox_by_id(event.mailbox_id)
    if box is None or box.user_id != ctx.user_id:
        return []
    # the SELECTED group takes no mailbox events (6.1): the other groups decide, also for
    # the selected mailbox
    wanted = NotifyEvent.MAILBOX_METADATA_CHANGE in _events_for(ctx, spec, box)
    if not wanted:
        return []
    return [Untagged((Atom("METADATA"), ctx.mailbox_name(box.name), *entries))]


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {c.NotifyCommand: handle_notify}
