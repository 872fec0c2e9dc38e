"""Run one IMAP migration into a local user's mailboxes, through the store's ports.

For each source folder: create the local mailbox (special-use folders go to the user's own),
EXAMINE the source folder, list its uids with flags and sizes, work out which messages are
already here (the state's uid map; the map is void when either UIDVALIDITY changed, and then
messages are matched by Message-ID, internal date and size, as they are for messages a crash
committed after the state was last saved), carry over changed flags, and copy the rest with
UID FETCH ... BODY.PEEK[]. Each message is one store APPEND: one transaction, all or nothing.
Appends overlap with reading the source (a bounded window), and the state is saved only
when no append is in flight, so everything recorded is committed and everything committed
after the save has a higher local uid than any recorded one.

Failures are values: a message that cannot be stored, a folder that cannot be opened, or a
connection lost mid-message each add one line naming folder and uid to the report; the run
goes on (reconnecting for the next folder) and the next run picks up where this one ended.
Never changes the source: EXAMINE and BODY.PEEK only.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from posthouse.migrate.folders import (
    FolderPlan,
    local_subscriptions,
    plan_folders,
    select_folders,
)
from posthouse.migrate.response import FetchedItem, ResponseError
from posthouse.migrate.source import ImapSourceClient, SourceDisconnected, SourceError
from posthouse.migrate.state import FolderState, MigrationState
from posthouse.store.api import Store
from posthouse.store.errors import MailboxExists, QuotaExceeded, StorageFull, StoreError
from posthouse.store.models import (
    FlagOp,
    Mailbox,
    NewMessage,
    User,
    canonical_flag,
    is_recent,
)

WINDOW = 32  # appends in flight while the source is read
CHUNK_MESSAGES = 250  # uids per UID FETCH of bodies ...
CHUNK_BYTES = 16 << 20  # ... or fewer when they are large
SAVE_EVERY = 2.0  # seconds between state saves while copying
_MSGID = re.compile(rb"<[^<>\s]*>")


class MigrationProgress(Protocol):
    """Where the engine reports as it goes (the CLI draws a bar; tests may collect)."""

    def folder(self, name: str, messages: int, size: int) -> None:
        """Copying into ``name`` starts: this many messages of this many octets to copy."""

    def copied(self, size: int) -> None:
        """One message of ``size`` octets is stored (or failed and is passed)."""

    def problem(self, line: str) -> None:
        """One failure, as a line naming the folder and the uid."""


@dataclass
class MigrationReport:
    """The outcome of one run."""

    folders: int = 0
    copied: int = 0
    skipped: int = 0  # already here (copied before or matched)
    flags_updated: int = 0
    failed: int = 0
    vanished: int = 0  # listed, then expunged on the source before they were read
    bytes: int = 0
    problems: list[str] = field(default_factory=list)
    aborted: str | None = None  # why the run stopped before the last folder

    @property
    def ok(self) -> bool:
        """Whether everything was copied."""
        return not self.problems and self.aborted is None


@dataclass(frozen=True, slots=True)
class MigrationOptions:
    """What to copy."""

    include: Sequence[str] = ()
    exclude: Sequence[str] = ()
    subscriptions: bool = True


class _Abort(Exception):
    """Stop the whole run (the local disk or quota is full, the source is gone)."""


Connector = Callable[[], Awaitable[ImapSourceClient]]


class ImapMigration:
    """One run: ``await run()`` returns the report; raises only for setup failures."""

    def __init__(self, store: Store, user: User, state: MigrationState, connect: Connector,
                 progress: MigrationProgress, options: MigrationOptions | None = None) -> None:
        self._store = store
        self._user = user
        self._state = state
        self._connect = connect
        self._progress = progress
        self._options = options or MigrationOptions()
        self._report = MigrationReport()
        self._client: ImapSourceClient | None = None
        self._last_save = 0.0

    async def run(self) -> MigrationReport:
        """Copy every selected folder; the state is saved on the way out."""
        client = await self._connect()
        self._client = client
        try:
            plans, subscribed = await self._plan(client)
            for plan in plans:
                try:
                    await self._folder(plan)
                except _Abort as exc:
                    self._report.aborted = str(exc)
                    break
            if self._options.subscriptions and self._report.aborted is None:
                await self._subscribe(subscribed)
        finally:
            self._state.save()
            if self._client is not None:
                await self._client.logout()
        return self._report

    async def _plan(self, client: ImapSourceClient) -> tuple[list[FolderPlan], list[str]]:
        namespace = await client.namespace()
        listed = await client.list_folders()
        mailboxes = await self._store.list_mailboxes(self._user.id)
        special = {m.special_use.lower(): m.name for m in mailboxes if m.special_use}
        plans = plan_folders(listed, utf8=client.utf8,
                             namespace_prefix=namespace[0] if namespace else "",
                             local_special=special)
        plans = select_folders(plans, self._options.include, self._options.exclude)
        subscribed: list[str] = []
        if self._options.subscriptions:
            subscribed = local_subscriptions(await client.list_subscribed(), plans)
        return plans, subscribed

    async def _subscribe(self, names: Sequence[str]) -> None:
        have = set(await self._store.list_subscriptions(self._user.id))
        for name in names:
            if name not in have:
                try:
                    await self._store.set_subscribed(self._user.id, name, True)
                except StoreError as exc:
                    self._problem(f"subscription {name}: {exc}")

    def _problem(self, line: str) -> None:
        self._report.problems.append(line)
        self._progress.problem(line)

    async def _source(self) -> ImapSourceClient:
        """The connection, made anew after one was lost (_Abort when that fails)."""
        if self._client is None:
            try:
                self._client = await self._connect()
            except SourceError as exc:
                raise _Abort(f"cannot reconnect to the source: {exc}") from None
        return self._client

    async def _lost(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _folder(self, plan: FolderPlan) -> None:
        self._report.folders += 1
        try:
            mailbox = await self._local_mailbox(plan.local_name)
        except StoreError as exc:
            self._problem(f"folder {plan.name}: cannot create {plan.local_name}: {exc}")
            return
        if not plan.selectable:
            return
        client = await self._source()
        try:
            await self._sync(client, plan, mailbox)
        except SourceDisconnected as exc:
            await self._lost()
            self._problem(f"folder {plan.name}: {exc}")
        except ResponseError as exc:  # where the next response starts is unknown now
            await self._lost()
            self._problem(f"folder {plan.name}: the source sent a malformed response: {exc}")
        except SourceError as exc:
            self._problem(f"folder {plan.name}: {exc}")
        finally:
            self._state.save()
            self._last_save = time.monotonic()

    async def _local_mailbox(self, name: str) -> Mailbox:
        found = await self._store.get_mailbox(self._user.id, name)
        if found is not None:
            return found
        try:
            return await self._store.create_mailbox(self._user.id, name)
        except MailboxExists:
            again = await self._store.get_mailbox(self._user.id, name)
            assert again is not None
            return again

    async def _sync(self, client: ImapSourceClient, plan: FolderPlan, mailbox: Mailbox) -> None:
        selected = await client.examine(plan.raw_name)
        listing: dict[int, FetchedItem] = {}
        if selected.exists:
            async for item in client.fetch(b"1:*", b"UID FLAGS RFC822.SIZE"):
                listing[item.uid] = item
        folder = self._state.folders.get(plan.name)
        trusted = (folder is not None and folder.uidvalidity == selected.uidvalidity
                   and folder.mailbox_id == mailbox.id
                   and folder.local_uidvalidity == mailbox.uidvalidity)
        if folder is None or not trusted:
            folder = FolderState(selected.uidvalidity, mailbox.id, mailbox.uidvalidity)
            self._state.folders[plan.name] = folder
        missing = sorted(uid for uid in listing if uid not in folder.uids)
        if missing:
            # messages here but not in the map: all of them when the map is void, else
            # those a crash committed after the last save (local uids above the map's)
            await self._match(client, plan, mailbox, folder, missing,
                              above=folder.highest_local if trusted else 0)
            missing = [uid for uid in missing if uid not in folder.uids]
        await self._carry_flags(mailbox, folder, listing)
        self._report.skipped += len(listing) - len(missing)
        await self._copy(client, plan, mailbox, folder, missing, listing)

    async def _match(self, client: ImapSourceClient, plan: FolderPlan, mailbox: Mailbox,
                     folder: FolderState, missing: Sequence[int], *, above: int) -> None:
        mapped = set(folder.uids.values())
        local = [r.uid for r in await self._store.uid_list(mailbox.id)
                 if r.uid > above and r.uid not in mapped]
        if not local:
            return
        keys: dict[tuple[str, int, int], list[int]] = {}
        for meta in await self._store.fetch_meta(mailbox.id, local, with_summary=True):
            headers = meta.summary.headers if meta.summary else {}
            key = (_message_id(headers.get("message-id", "").encode()),
                   int(meta.internaldate.timestamp()), meta.size)
            keys.setdefault(key, []).append(meta.uid)
        for start in range(0, len(missing), 1000):
            chunk = missing[start:start + 1000]
            async for item in client.fetch(
                    _uid_set(chunk),
                    b"UID INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)]"):
                if item.internaldate is None or item.size is None:
                    continue
                key = (_message_id(item.header or b""), int(item.internaldate.timestamp()),
                       item.size)
                uids = keys.get(key)
                if uids:
                    folder.uids[item.uid] = uids.pop(0)

    async def _carry_flags(self, mailbox: Mailbox, folder: FolderState,
                           listing: dict[int, FetchedItem]) -> None:
        """Flags changed on the source since the copy are set here too (REPLACE)."""
        local = {r.uid: r.flags for r in await self._store.uid_list(mailbox.id)}
        changes: dict[frozenset[str], list[int]] = {}
        for src, dst in folder.uids.items():
            item = listing.get(src)
            if item is None or item.flags is None or dst not in local:
                continue
            flags = _local_flags(item.flags)
            if flags != local[dst]:
                changes.setdefault(flags, []).append(dst)
        for flags, uids in changes.items():
            try:
                await self._store.store_flags(mailbox.id, uids, FlagOp.REPLACE, flags)
                self._report.flags_updated += len(uids)
            except StoreError as exc:
                self._problem(f"folder {mailbox.name}: flags of {len(uids)} messages: {exc}")

    async def _copy(self, client: ImapSourceClient, plan: FolderPlan, mailbox: Mailbox,
                    folder: FolderState, uids: Sequence[int],
                    listing: dict[int, FetchedItem]) -> None:
        total = sum(listing[u].size or 0 for u in uids)
        self._progress.folder(plan.name, len(uids), total)
        for chunk in _chunks(uids, listing):
            pending = list(chunk)  # ascending: the first is the one being read
            window: set[asyncio.Task[None]] = set()
            try:
                async for item in client.fetch(_uid_set(chunk),
                                               b"UID FLAGS INTERNALDATE BODY.PEEK[]"):
                    if item.body is None or item.uid not in pending:
                        continue  # an unsolicited FETCH (flags changed on the source)
                    pending.remove(item.uid)
                    if item.internaldate is None:
                        self._fail(plan, item.uid, "the source sent no INTERNALDATE", 0)
                        continue
                    if len(window) >= WINDOW:
                        done, window = await asyncio.wait(
                            window, return_when=asyncio.FIRST_COMPLETED)
                        _raise_first(done)
                    window.add(asyncio.ensure_future(
                        self._append(plan, mailbox, folder, item)))
            except SourceDisconnected as exc:
                await _drain(window)
                where = f"uid {pending[0]}: " if pending else ""
                raise SourceDisconnected(f"{where}{exc}; the next run goes on from there") \
                    from None
            finally:
                await _drain(window)
            # uids asked for and not sent were expunged on the source meanwhile
            self._report.vanished += len(pending)
            if time.monotonic() - self._last_save > SAVE_EVERY:
                self._state.save()
                self._last_save = time.monotonic()

    async def _append(self, plan: FolderPlan, mailbox: Mailbox, folder: FolderState,
                      item: FetchedItem) -> None:
        assert item.body is not None
        assert item.internaldate is not None
        size = len(item.body)
        try:
            _uidvalidity, uid = await self._store.append(
                mailbox.id, NewMessage(item.body, None, item.internaldate),
                _local_flags(item.flags or frozenset()))
        except (StorageFull, QuotaExceeded) as exc:
            self._fail(plan, item.uid, str(exc), size)
            raise _Abort(f"{type(exc).__name__}: {exc}") from None
        except StoreError as exc:
            self._fail(plan, item.uid, f"{type(exc).__name__}: {exc}", size)
            return
        folder.uids[item.uid] = uid
        self._report.copied += 1
        self._report.bytes += size
        self._progress.copied(size)

    def _fail(self, plan: FolderPlan, uid: int, why: str, size: int) -> None:
        self._report.failed += 1
        self._problem(f"folder {plan.name} uid {uid}: {why}")
        self._progress.copied(size)


def _raise_first(done: set[asyncio.Task[None]]) -> None:
    """Raise the exception of a finished append (an _Abort), if one has one."""
    for task in done:
        exc = task.exception()
        if exc is not None:
            raise exc


async def _drain(window: set[asyncio.Task[None]]) -> None:
    """Wait for every append in flight; an _Abort among them is raised after all ended."""
    if not window:
        return
    results = await asyncio.gather(*window, return_exceptions=True)
    window.clear()
    for result in results:
        if isinstance(result, BaseException):
            raise result


def _chunks(uids: Sequence[int], listing: dict[int, FetchedItem]) -> list[list[int]]:
    out: list[list[int]] = []
    current: list[int] = []
    size = 0
    for uid in uids:
        current.append(uid)
        size += listing[uid].size or 0
        if len(current) >= CHUNK_MESSAGES or size >= CHUNK_BYTES:
            out.append(current)
            current, size = [], 0
    if current:
        out.append(current)
    return out


def _uid_set(uids: Sequence[int]) -> bytes:
    """A compact sequence set of sorted uids: 1:5,8,10:12 (RFC 9051 9, sequence-set)."""
    parts: list[str] = []
    start = prev = uids[0]
    for uid in uids[1:]:
        if uid == prev + 1:
            prev = uid
            continue
        parts.append(f"{start}:{prev}" if prev != start else str(start))
        start = prev = uid
    parts.append(f"{start}:{prev}" if prev != start else str(start))
    return ",".join(parts).encode("ascii")


def _local_flags(flags: frozenset[str]) -> frozenset[str]:
    """The source's flags as stored here: \\Recent dropped (session state), system flags in
    their canonical case."""
    return frozenset(canonical_flag(f) for f in flags if not is_recent(f))


def _message_id(text: bytes) -> str:
    """The msg-id in a Message-ID field (or value), for matching; "" when there is none."""
    match = _MSGID.search(text)
    return match.group(0).decode("utf-8", "replace").lower() if match else ""
