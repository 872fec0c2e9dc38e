"""POP3 IO adapter (110 with STLS, 995 implicit TLS): drives pop3.Pop3Connection on a
net Connection, answering its requests from the store and the authenticator."""

from __future__ import annotations

import logging

from posthouse import pop3, sasl
from posthouse.auth.authenticator import Principal
from posthouse.auth.sasl_exchange import ExchangeResult, SaslExchange, SaslOutcome
from posthouse.auth.scheduler import HashBusy
from posthouse.log import new_session_id
from posthouse.net.connection import Connection, TooSlow
from posthouse.net.listeners import Handler, SessionContext
from posthouse.net.peers import plaintext_login_allowed
from posthouse.pop3 import replies
from posthouse.serve.pop3_readahead import ReadAhead
from posthouse.services import Services
from posthouse.store.errors import NotFound, StoreError
from posthouse.store.maildrop_locks import HeldMaildrop
from posthouse.store.models import INBOX, SEEN, FlagOp

log = logging.getLogger("posthouse.pop3")


def make_handler(services: Services) -> Handler:
    """The listener callback for pop3 and pop3s; the store locks maildrops."""

    async def handle(conn: Connection, ctx: SessionContext) -> None:
        await Pop3Session(services, conn, ctx).run()

    return handle


class Pop3Session:
    """One POP3 connection: login, the fixed maildrop, the UPDATE state at QUIT."""

    def __init__(self, services: Services, conn: Connection, ctx: SessionContext) -> None:
        self.services = services
        self.lock: HeldMaildrop | None = None  # the maildrop's, while logged in
        self.conn = conn
        self.ctx = ctx
        self.sid = new_session_id("p")
        self.ip = conn.peer[0]
        self.core = pop3.Pop3Connection(pop3.Pop3Config(
            tls_active=conn.is_tls, tls_available=True,
            allow_plaintext=plaintext_login_allowed(
                tls_active=False, peer_ip=self.ip,
                loopback_ok=services.config.auth.allow_plaintext_on_loopback),
            scram=True))
        self.principal: Principal | None = None
        self.inbox_id = 0
        self.contents: ReadAhead | None = None  # the maildrop's bytes, from the login listing
        self.exchange: SaslExchange | None = None

    async def run(self) -> None:
        """Serve until QUIT, EOF, timeout or shutdown; release the maildrop lock always."""
        log.info("connect peer=%s tls=%s", self.ip, self.conn.tls_version)
        try:
            self.conn.write(self.core.greeting())
            await self._loop()
        finally:
            if self.contents is not None:
                self.contents.close()
            await self._unlock()
            log.info("disconnect user=%s", self.principal.address if self.principal else "-")

    async def _loop(self) -> None:
        limits = self.services.config.limits
        line_seconds = float(limits.command_line_seconds)
        while True:
            event = self.core.next_event()
            if isinstance(event, pop3.NeedData):
                await self.conn.drain()
                # An idle timeout ends the session without UPDATE or reply (RFC 1939 3); a
                # command line past its deadline gets -ERR first (issue 12, defect 4).
                try:
                    data = await self.conn.read(self._idle_seconds(), line_seconds=line_seconds)
                except TooSlow:
                    self.conn.write(replies.render(replies.too_slow()))
                    await self.conn.drain()
                    return
                if not data:
                    return  # a dropped connection deletes nothing (RFC 1939 6)
                self.core.receive_data(data)
            elif isinstance(event, pop3.Write):
                self.conn.write(event.data)
            elif isinstance(event, pop3.Closed):
                await self.conn.drain()
                return
            elif isinstance(event, pop3.Request):
                await self._answer(event)

    def _idle_seconds(self) -> int:
        """Before login the short pre-authentication timeout, after it RFC 1939 3's."""
        limits = self.services.config.limits
        if self.principal is None:
            return min(limits.preauth_idle_seconds, limits.pop3_idle_seconds)
        return limits.pop3_idle_seconds

    async def _answer(self, event: pop3.Request) -> None:
        if isinstance(event, pop3.Pass):
            # Dropped (ConnectionClosed) if the client hangs up while it waits (issue 12).
            try:
                principal = await self.conn.unless_closed(
                    self.services.authenticator.authenticate(
                        event.user, event.password, remote_ip=self.ip))
            except HashBusy:
                self.conn.write(self.core.send(replies.auth_unavailable()))
                return
            await self._login_result(principal)
        elif isinstance(event, sasl.AuthStart):
            self.exchange = SaslExchange(self.services.authenticator, remote_ip=self.ip,
                                         allowed=self.core.sasl_mechanisms)
            try:
                result = await self.conn.unless_closed(
                    self.exchange.start(event.mechanism, event.initial))
            except sasl.SaslError:
                self.conn.write(self.core.send(replies.unsupported_mechanism()))
                return
            await self._sasl_result(result)
        elif isinstance(event, sasl.AuthResponse):
            assert self.exchange is not None
            await self._sasl_result(await self.conn.unless_closed(self.exchange.step(event.line)))
        elif isinstance(event, pop3.Stls):
            self.conn.write(self.core.start_tls())
            await self.conn.drain()
            await self.conn.start_tls(self.ctx.tls.context)
        elif isinstance(event, pop3.Retr | pop3.Top):
            await self._send_message(event.uid)
        elif isinstance(event, pop3.Commit):
            await self._commit(event)

    async def _sasl_result(self, result: ExchangeResult) -> None:
        if isinstance(result, sasl.Challenge):
            self.conn.write(self.core.auth_challenge(result))
        elif isinstance(result, SaslOutcome):
            if result is SaslOutcome.REJECTED:
                await self._login_result(None)
            elif result is SaslOutcome.UNAVAILABLE:
                self.conn.write(self.core.send(replies.auth_unavailable()))
            else:
                why = "cancelled" if result is SaslOutcome.CANCELLED else "malformed"
                self.conn.write(self.core.send(replies.auth_ended(why)))
        else:
            await self._login_result(result)

    async def _login_result(self, principal: Principal | None) -> None:
        if principal is None:
            self.conn.write(self.core.send(replies.invalid_credentials()))
            return
        try:
            lock = await self.services.store.lock_maildrop(principal.user_id)
        except StoreError:
            log.exception("cannot lock maildrop")
            self.conn.write(self.core.send(replies.maildrop_unavailable()))
            return
        if lock is None:
            self.conn.write(self.core.send(replies.maildrop_locked()))
            return
        self.lock = lock
        try:
            listing, uidvalidity = await self._load_maildrop(principal.user_id)
        except StoreError:
            self.lock = None
            await lock.release()
            log.exception("cannot load maildrop")
            self.conn.write(self.core.send(replies.maildrop_unavailable()))
            return
        self.principal = principal
        log.info("login user=%s messages=%d", principal.address, len(listing))
        self.conn.write(self.core.login_succeeded(listing, uidvalidity=uidvalidity))

    async def _load_maildrop(self, user_id: int) -> tuple[list[tuple[int, int]], int]:
        """The INBOX as (uid, size) pairs, fixed for the session (RFC 1939 5)."""
        store = self.services.store
        box = await store.get_mailbox(user_id, INBOX)
        if box is None:
            box = await store.create_mailbox(user_id, INBOX)
        self.inbox_id = box.id
        rows = await store.uid_list(box.id)
        metas = await store.fetch_meta(box.id, [r.uid for r in rows])
        self.contents = ReadAhead(store, [(m.uid, m.size, m.blob_id) for m in metas])
        return [(m.uid, m.size) for m in metas], box.uidvalidity

    async def _send_message(self, uid: int) -> None:
        # The blob ids are known since login; messages asked for in order are read several
        # per store round trip (pop3_readahead.py). A message whose content is gone
        # (expunged over IMAP, last reference dropped) gets [SYS/PERM].
        assert self.contents is not None
        try:
            data = await self.contents.content(uid)
        except NotFound:
            self.conn.write(self.core.send(replies.message_removed()))
            return
        self.conn.write(self.core.send_message(data))
        await self.conn.drain()

    async def _commit(self, event: pop3.Commit) -> None:
        """The UPDATE state (RFC 1939 6): remove (or, for keep-accounts, mark seen)."""
        assert self.principal is not None
        store = self.services.store
        try:
            user = await store.get_user_by_id(self.principal.user_id)
            if event.deleted_uids:
                if user is not None and user.pop3_keep:
                    await store.store_flags(self.inbox_id, event.deleted_uids, FlagOp.ADD,
                                            frozenset({SEEN}), origin=self)
                else:
                    await store.delete_messages(self.inbox_id, event.deleted_uids, origin=self)
        except StoreError:
            log.exception("update failed")
            await self._unlock()
            self.conn.write(self.core.send(replies.update_failed()))
            return
        log.info("quit deleted=%d", len(event.deleted_uids))
        # The maildrop is free before the client hears +OK: a client that logs in again at
        # once must not find it still locked (on PostgreSQL the release is a round trip).
        await self._unlock()
        self.conn.write(self.core.send(replies.signed_off(len(event.deleted_uids))))

    async def _unlock(self) -> None:
        """Release the maildrop lock now (idempotent; run() releases it too)."""
        lock, self.lock = self.lock, None
        if lock is not None:
            await lock.release()
