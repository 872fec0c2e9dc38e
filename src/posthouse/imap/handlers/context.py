"""The handler context: what an IMAP command handler may see and change.

Contract (stable; the message handlers of the other engineer build on it):

* ``ctx.services`` / ``ctx.store`` / ``ctx.clock``: the shared server parts; ``ctx.config``:
  the IMAP engine's own settings (imap/config.py).
  Handlers use only the store protocol (posthouse.store.api) and its domain errors.
* ``ctx.user``: the authenticated Principal (None before login).
* ``ctx.selected``: a ``Selected`` (mailbox row, ``MailboxView``, ``read_only``) or None;
  ``ctx.require_selected()`` / ``ctx.require_writable()`` fetch it or raise the right error.
* ``ctx.rev2`` (ENABLE IMAP4rev2), ``ctx.utf8`` (IMAP4rev2 or UTF8=ACCEPT: names go out as
  UTF-8, ``ctx.mailbox_name`` encodes one), ``ctx.condstore`` (CONDSTORE is on: MODSEQ goes
  with every FETCH; ``ctx.enable_condstore()`` turns it on, RFC 7162 3.1), ``ctx.qresync``
  (ENABLE QRESYNC: expunges go out as VANISHED, RFC 7162 3.2.10), ``ctx.uidonly`` (ENABLE
  UIDONLY: no message numbers either way; the session refuses numbered commands with
  ``uidonly.refusal`` and the view renders UIDFETCH and VANISHED, RFC 9586).
* ``ctx.origin``: the opaque token to pass as ``origin=`` to every store mutation, so the
  view can tell this session's own changes from others' (see imap/view.py).
* ``ctx.notify``: the NOTIFY SET request in force (RFC 5465; None: none); while it is set,
  every store event is also kept in ``ctx.notices`` for handlers/notify.py, which turns
  those about other mailboxes into STATUS / LIST / METADATA responses.
* ``await ctx.updates(allow_expunge=...)``: drain the store events into the view and return the
  untagged updates that may be sent now. The session calls it before every tagged response,
  so handlers rarely need it (IDLE does). Expunged messages stay readable to this session
  until it has sent their EXPUNGE (``Selected.view_id``, the store's open_view; RFC 2180
  4.1): ``updates`` then releases them, and a deselected view is closed.
* ``ctx.port``: session IO hooks for the few commands that talk back and forth with the
  client or change the channel (AUTHENTICATE, STARTTLS, COMPRESS, IDLE); message handlers
  do not need it.
* ``ctx.log``: a logger; the session id is in the log context already.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

from posthouse import sasl
from posthouse.imap import utf7
from posthouse.imap.capabilities import capabilities
from posthouse.imap.config import ImapConfig
from posthouse.imap.notify import NotifySpec
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Code, Response, Status, Tagged
from posthouse.imap.view import MailboxView
from posthouse.sasl.events import AuthResponse
from posthouse.store.errors import NoSuchMailbox, StoreError
from posthouse.store.events import MessagesAdded, MessagesExpunged, StoreEvent, Subscription
from posthouse.store.models import Mailbox

if TYPE_CHECKING:
    from posthouse.auth.authenticator import Principal
    from posthouse.clock import Clock
    from posthouse.services import Services
    from posthouse.store.api import Store

log = logging.getLogger("posthouse.imap")

CommandHandler: TypeAlias = Callable[["HandlerContext", str, Any], AsyncIterator[Response]]
"""``async def handler(ctx, tag, cmd) -> AsyncIterator[Response]`` (an async generator).

It yields untagged responses (and continuations), then exactly one ``Tagged`` for ``tag``,
normally last (``ok(tag, ...)``). To fail it raises ImapError or lets a store error
propagate; the session answers with replies.error_response. The session inserts the pending
view updates before the Tagged response (and applies the state change after it), so a
handler only tells the view about its own changes (note_added, note_expunged,
record_flags). ``cmd`` is the handler's own command class (typed ``Any`` here because
Callable parameters are contravariant).
"""


def ok(tag: str, text: str, code: Code | None = None) -> Tagged:
    """A tagged OK."""
    return Tagged(tag, Status.OK, text, code)


class SessionPort(Protocol):
    """IO the session offers to handlers that converse with the client mid-command."""

    @property
    def is_tls(self) -> bool:
        """Whether the connection is encrypted."""

    @property
    def secure(self) -> bool:
        """Whether passwords may be sent (TLS, or plaintext allowed on loopback)."""

    @property
    def remote_ip(self) -> str:
        """The client's IP address (for the authenticator's throttle)."""

    async def read_auth_line(self) -> AuthResponse:
        """The client's answer to a SASL challenge the handler just yielded, as sent; raises
        ImapError (BAD) for a line too long to read."""

    async def start_tls(self) -> None:
        """Upgrade to TLS after the tagged OK; buffered plaintext is discarded."""

    @property
    def is_compressed(self) -> bool:
        """Whether COMPRESS=DEFLATE is on."""

    def start_compression(self) -> None:
        """DEFLATE both ways from the next byte, after the tagged OK went out."""

    def idle(self, tag: str) -> None:
        """IDLE's ``+ idling`` went out: the session waits for DONE, sends the updates
        meanwhile and the tagged response at the end (the handler returns without one)."""


@dataclass(slots=True)
class Selected:
    """The selected mailbox of a session; ``view_id`` is its view in the store (open_view),
    ``unreleased`` the expunged uids the store holds for it until the client is told."""

    mailbox: Mailbox
    view: MailboxView
    read_only: bool
    view_id: int | None = None
    unreleased: set[int] | None = None  # made with the first expunge


_NONE_ENABLED: frozenset[str] = frozenset()  # one for all (an empty frozenset is 216 bytes)


class HandlerContext:
    """Per-session state plus the shared services; one per connection.

    Slotted, and the sets and lists only NOTIFY, ENABLE or a deselect fill are made when
    first filled (issue 15: an empty set is 216 bytes on every idle connection)."""

    __slots__ = (
        "_closing", "_config", "_notices", "_own_added", "_subscribed", "condstore",
        "enabled", "events", "log", "notify", "origin", "port", "qresync", "rev2",
        "selected", "services", "uidonly", "user", "utf8",
    )

    def __init__(self, services: Services, port: SessionPort, config: ImapConfig) -> None:
        self.services = services
        self.port = port
        self._config = config
        self.user: Principal | None = None
        self.selected: Selected | None = None
        self.events: Subscription | None = None
        self.rev2 = False
        self.utf8 = False
        self.condstore = False
        self.qresync = False
        self.uidonly = False
        self.enabled = _NONE_ENABLED  # ENABLEd extensions, upper-cased (RFC 5161)
        self.origin = object()
        self.notify: NotifySpec | None = None
        self._notices: list[StoreEvent] | None = None
        self._subscribed: set[str] | None = None
        self._own_added: set[int] | None = None
        self.log = log
        self._closing: list[int] | None = None  # store views of deselected mailboxes, to close

    @property
    def notices(self) -> list[StoreEvent]:
        """Events kept for NOTIFY (handlers/notify.py)."""
        if self._notices is None:
            self._notices = []
        return self._notices

    def take_notices(self) -> list[StoreEvent]:
        """The kept events, forgotten here."""
        kept, self._notices = self._notices, None
        return kept or []

    @property
    def subscribed(self) -> set[str]:
        """The subscriptions, kept while NOTIFY needs them."""
        if self._subscribed is None:
            self._subscribed = set()
        return self._subscribed

    @subscribed.setter
    def subscribed(self, value: set[str]) -> None:
        self._subscribed = value

    @property
    def own_added(self) -> set[int]:
        """Uids this session added to the selected mailbox (NOTIFY)."""
        if self._own_added is None:
            self._own_added = set()
        return self._own_added

    @own_added.setter
    def own_added(self, value: set[int]) -> None:
        self._own_added = value or None

    # -- shared services ---------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The store (posthouse.store.api.Store)."""
        return self.services.store

    @property
    def config(self) -> ImapConfig:
        """The IMAP engine's settings (never the global Config)."""
        return self._config

    @property
    def clock(self) -> Clock:
        """The injected clock."""
        return self.services.clock

    # -- session state -----------------------------------------------------------------

    @property
    def user_id(self) -> int:
        """The logged-in user's id (the state gate guarantees a login)."""
        if self.user is None:
            raise ImapError("Not authenticated", status=Status.BAD)
        return self.user.user_id

    def require_selected(self) -> Selected:
        """The selected mailbox, or BAD (the state gate normally prevents this)."""
        if self.selected is None:
            raise ImapError("No mailbox selected", status=Status.BAD)
        return self.selected

    def require_writable(self) -> Selected:
        """The selected mailbox if opened with SELECT; NO after EXAMINE (RFC 9051 6.3.3)."""
        selected = self.require_selected()
        if selected.read_only:
            raise ImapError("Mailbox is read-only", code=ResponseCode.READ_ONLY.code())
        return selected

    def capabilities(self) -> list[str]:
        """The capabilities to advertise now (channel and login state)."""
        return capabilities(
            tls=self.port.is_tls, secure=self.port.secure, authenticated=self.user is not None,
            max_message_size=self.config.max_message_size, mechanisms=self.sasl_mechanisms(),
        )

    def sasl_mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered now (``sasl.mechanisms``; STARTTLS is always there
        to be had on a plain connection, see ``capabilities``)."""
        return sasl.mechanisms(secure=self.port.secure, scram=self.config.scram,
                               tls_available=True)

    def login(self, principal: Principal) -> None:
        """Enter the authenticated state: remember the user and subscribe to their events."""
        self.user = principal
        self.events = self.store.subscribe(principal.user_id)

    def logout(self) -> None:
        """Leave the authenticated state (UNAUTHENTICATE): deselect (the view closes with
        the next ``close_views``), stop the user's events, forget ENABLE."""
        self.select(None)
        self.set_notify(None)
        if self.events is not None:
            self.events.close()
        self.events = None
        self.user = None
        self.rev2 = self.utf8 = self.condstore = self.qresync = self.uidonly = False
        self.enabled = _NONE_ENABLED

    def set_notify(self, spec: NotifySpec | None, *, backlog: int | None = None) -> None:
        """Put a NOTIFY SET request in force (None: NOTIFY NONE, or after an overflow);
        ``backlog`` bounds the events that may wait meanwhile (RFC 5465 5.8)."""
        self.notify = spec
        self._notices = None
        if self.events is not None:
            self.events.limit = backlog if spec is not None else None
            self.events.overflowed = False

    def mailbox_name(self, name: str) -> str:
        """A mailbox name as the client should see it (UTF-8 or modified UTF-7)."""
        return utf7.encode_mailbox(name, utf8=self.utf8)

    async def mailbox(self, name: str) -> Mailbox:
        """The user's mailbox of that (decoded) name; NoSuchMailbox if it is missing."""
        found = await self.store.get_mailbox(self.user_id, name)
        if found is None:
            raise NoSuchMailbox(name)
        return found

    def enable_condstore(self) -> None:
        """A CONDSTORE-enabling command ran (RFC 7162 3.1): MODSEQ from now on."""
        self.condstore = True
        if self.selected is not None:
            self.selected.view.condstore = True

    def select(self, selected: Selected | None) -> None:
        """Make ``selected`` the selected mailbox (None: none is); the old view is closed
        by the next ``close_views``."""
        old = self.selected
        if old is not None and old is not selected and old.view_id is not None:
            self._close_later(old.view_id)
        if self._closing and selected is not None and selected.view_id in self._closing:
            self._closing.remove(selected.view_id)
            if not self._closing:
                self._closing = None
        self.selected = selected
        self._own_added = None
        if self.events is not None:  # never dropped by a NOTIFY backlog bound
            self.events.keep_mailbox = selected.mailbox.id if selected is not None else None

    async def open_view(self, mailbox_id: int) -> int | None:
        """A store view of the mailbox (before its uid list is read); closed by the next
        ``close_views`` unless ``select`` takes it, so a failed SELECT leaks none. None if
        the store cannot register one (the mailbox is still readable, but a message
        expunged elsewhere is then answered NO [EXPUNGEISSUED])."""
        try:
            view_id = await self.store.open_view(mailbox_id)
        except StoreError as exc:
            self.log.warning("open_view failed: %r", exc)
            return None
        self._close_later(view_id)
        return view_id

    def _close_later(self, view_id: int) -> None:
        if self._closing is None:
            self._closing = []
        self._closing.append(view_id)

    async def close_views(self) -> None:
        """Close the store views of mailboxes no longer selected (and the selected one's
        too when the session ends: ``select(None)`` first)."""
        while self._closing:
            view_id = self._closing.pop()
            if not self._closing:
                self._closing = None
            try:
                await self.store.close_view(view_id)
            except StoreError as exc:  # closing store: nothing is held after a restart
                self.log.info("close_view failed: %r", exc)

    def apply_event(self, event: StoreEvent) -> None:
        """Take one store event into the selected mailbox's view (and keep it for NOTIFY)."""
        if self.notify is not None:
            self.notices.append(event)
        selected = self.selected
        if selected is None:
            return
        if isinstance(event, MessagesExpunged) and event.mailbox_id == selected.mailbox.id:
            if selected.unreleased is None:
                selected.unreleased = set()
            selected.unreleased.update(event.uids)
        if (isinstance(event, MessagesAdded) and event.mailbox_id == selected.mailbox.id
                and event.origin is self.origin and self.notify is not None):
            self.own_added.update(event.uids)
        selected.view.apply(event)

    async def _release_told(self, selected: Selected) -> None:
        """Give back the expunged messages the client now knows of (or never knew)."""
        view = selected.view
        if not selected.unreleased:
            return
        told = [uid for uid in selected.unreleased if not view.is_expunged(uid)]
        if not told or selected.view_id is None:
            return
        selected.unreleased.difference_update(told)
        try:
            await self.store.release_expunged(selected.view_id, told)
        except StoreError as exc:  # freed when the view closes instead
            self.log.info("release_expunged failed: %r", exc)

    async def updates(self, *, allow_expunge: bool, allow_new: bool = True,
                      allow_flags: bool = True) -> list[Response]:
        """Apply waiting store events to the view; the untagged updates to send now
        (``allow_new`` / ``allow_flags``: see MailboxView.flush).

        In IMAP4rev1 a read-write session claims \\Recent for messages that arrived while
        it had the mailbox selected (RFC 3501 2.3.2).
        """
        await self.close_views()
        events = self.events.drain() if self.events is not None else []
        for event in events:
            self.apply_event(event)
        selected = self.selected
        if selected is None:
            return []
        view = selected.view
        if not (allow_expunge or allow_new or allow_flags):
            return []
        if allow_new and view.has_new and not self.rev2 and not selected.read_only:
            try:
                view.claim_recent_above(await self.store.claim_recent(selected.mailbox.id))
            except StoreError as exc:  # deleted meanwhile: nothing is recent then
                self.log.info("claim_recent failed: %r", exc)
        updates = list(view.flush(allow_expunge=allow_expunge, allow_new=allow_new,
                                  allow_flags=allow_flags))
        await self._release_told(selected)
        return updates
