"""What a NOTIFY SET asks for (RFC 5465), pure: the event groups, their checks, matching.

A ``NotifySpec`` holds event groups in the order the client gave them; each pairs a
mailbox filter (6) with a set of events (5). A mailbox is matched by the first group whose
filter takes it (the selected mailbox only by a SELECTED / SELECTED-DELAYED group), so
``(mailboxes Spam NONE) (personal (...))`` leaves Spam out. The checks the RFC asks of a
request are made by ``validate``:

* MessageNew and MessageExpunge come together, and FlagChange (AnnotationChange) needs both
  (the ABNF comment on ``events`` in 8): BAD otherwise;
* a fetch-att list only after MessageNew of SELECTED / SELECTED-DELAYED (5.2, 8), one
  selected group at most, and only message events for it (6.1): BAD otherwise;
* an event the server does not support (AnnotationChange: there is no ANNOTATE here, and
  any extension event name) is ``NO [BADEVENT (the supported events)]`` (3).

Mailboxes named in SUBTREE / MAILBOXES need not exist (6.5, 6.6 give no error for them):
they match once they are created.
"""

from __future__ import annotations

import enum
from collections.abc import Container
from dataclasses import dataclass

from posthouse.imap.fetchitems import FetchItem
from posthouse.imap.replies import ParseError, ResponseCode
from posthouse.imap.responses import Atom, Status
from posthouse.store.models import HIERARCHY_DELIMITER, INBOX


class NotifyEvent(enum.Enum):
    """Event names (RFC 5465 5, from RFC 5423), spelt as on the wire."""

    MESSAGE_NEW = "MessageNew"
    MESSAGE_EXPUNGE = "MessageExpunge"
    FLAG_CHANGE = "FlagChange"
    ANNOTATION_CHANGE = "AnnotationChange"
    MAILBOX_NAME = "MailboxName"
    SUBSCRIPTION_CHANGE = "SubscriptionChange"
    MAILBOX_METADATA_CHANGE = "MailboxMetadataChange"
    SERVER_METADATA_CHANGE = "ServerMetadataChange"


EVENTS_BY_NAME = {e.value.upper(): e for e in NotifyEvent}
MESSAGE_EVENTS = frozenset({NotifyEvent.MESSAGE_NEW, NotifyEvent.MESSAGE_EXPUNGE,
                            NotifyEvent.FLAG_CHANGE, NotifyEvent.ANNOTATION_CHANGE})
# Everything but AnnotationChange: that one needs ANNOTATE (RFC 5257), which is not offered.
SUPPORTED = tuple(e for e in NotifyEvent if e is not NotifyEvent.ANNOTATION_CHANGE)


class FilterKind(enum.Enum):
    """filter-mailboxes (RFC 5465 6)."""

    SELECTED = "SELECTED"
    SELECTED_DELAYED = "SELECTED-DELAYED"
    INBOXES = "INBOXES"
    PERSONAL = "PERSONAL"
    SUBSCRIBED = "SUBSCRIBED"
    SUBTREE = "SUBTREE"
    MAILBOXES = "MAILBOXES"


FILTERS_BY_NAME = {k.value: k for k in FilterKind}
SELECTED_KINDS = frozenset({FilterKind.SELECTED, FilterKind.SELECTED_DELAYED})


@dataclass(frozen=True, slots=True)
class MailboxFilter:
    """One filter; ``names`` (decoded mailbox names) for SUBTREE and MAILBOXES."""

    kind: FilterKind
    names: tuple[str, ...] = ()

    @property
    def selected(self) -> bool:
        """Whether this is SELECTED or SELECTED-DELAYED."""
        return self.kind in SELECTED_KINDS

    def matches(self, name: str, *, subscribed: Container[str], delivery_target: bool) -> bool:
        """Whether the (non-selected) mailbox ``name`` is taken by this filter.

        ``delivery_target``: mail may be delivered into it (INBOX, the \\Junk mailbox):
        INBOXES (6.3). PERSONAL is every mailbox: this server has only the personal
        namespace (6.2)."""
        kind = self.kind
        if kind in SELECTED_KINDS:
            return False
        if kind is FilterKind.PERSONAL:
            return True
        if kind is FilterKind.INBOXES:
            return delivery_target
        if kind is FilterKind.SUBSCRIBED:
            return name in subscribed
        if kind is FilterKind.MAILBOXES:
            return name in self.names
        return any(name == top or name.startswith(top + HIERARCHY_DELIMITER)
                   for top in self.names)


@dataclass(frozen=True, slots=True)
class EventGroup:
    """``(filter events)``; ``fetch_items`` are MessageNew's fetch-att list (empty: none)."""

    filter: MailboxFilter
    events: frozenset[NotifyEvent]
    fetch_items: tuple[FetchItem, ...] = ()


def badevent() -> ParseError:
    """``NO [BADEVENT (...)]`` listing what is supported (RFC 5465 3)."""
    return ParseError("Unsupported NOTIFY event", status=Status.NO,
                      code=ResponseCode.BADEVENT.code([Atom(e.value) for e in SUPPORTED]))


@dataclass(frozen=True, slots=True)
class NotifySpec:
    """A NOTIFY SET request: its groups in order and the STATUS indicator."""

    groups: tuple[EventGroup, ...]
    status: bool = False

    def validate(self, unsupported: tuple[str, ...] = ()) -> None:
        """Raise ParseError (BAD or NO [BADEVENT]) for a request the RFC rejects;
        ``unsupported`` are event names the parser did not know (extension events)."""
        selected = [g for g in self.groups if g.filter.selected]
        if len(selected) > 1:
            raise ParseError("SELECTED or SELECTED-DELAYED may be given once")
        for group in self.groups:
            events = group.events
            new = NotifyEvent.MESSAGE_NEW in events
            if new != (NotifyEvent.MESSAGE_EXPUNGE in events):
                raise ParseError("MessageNew and MessageExpunge go together")
            if events & {NotifyEvent.FLAG_CHANGE, NotifyEvent.ANNOTATION_CHANGE} and not new:
                raise ParseError("FlagChange needs MessageNew and MessageExpunge")
            if group.fetch_items and not group.filter.selected:
                raise ParseError("MessageNew fetch attributes only for the selected mailbox")
            if group.filter.selected and events - MESSAGE_EVENTS:
                raise ParseError("Only message events for the selected mailbox")
        if unsupported or any(NotifyEvent.ANNOTATION_CHANGE in g.events for g in self.groups):
            raise badevent()

    @property
    def selected_group(self) -> EventGroup | None:
        """The SELECTED / SELECTED-DELAYED group, if any."""
        return next((g for g in self.groups if g.filter.selected), None)

    def events_for(self, name: str, *, subscribed: Container[str],
                   delivery_target: bool) -> frozenset[NotifyEvent]:
        """The events asked for on the non-selected mailbox ``name`` (first match wins)."""
        for group in self.groups:
            if group.filter.matches(name, subscribed=subscribed,
                                    delivery_target=delivery_target):
                return group.events
        return frozenset()

    @property
    def needs_subscriptions(self) -> bool:
        """Whether matching needs the subscription list (a SUBSCRIBED filter)."""
        return any(g.filter.kind is FilterKind.SUBSCRIBED for g in self.groups)

    def wants_server_metadata(self) -> bool:
        """Whether any group asks for ServerMetadataChange (it names no mailbox)."""
        return any(NotifyEvent.SERVER_METADATA_CHANGE in g.events for g in self.groups)


def is_delivery_target(name: str, special_use: str | None) -> bool:
    """Where delivery may file mail: INBOX and the \\Junk mailbox (RFC 5465 6.3)."""
    return name == INBOX or special_use == "\\Junk"
