"""Import a Maildir++ tree or mbox files into one account, through the store's ports.

Each message is its own all-or-nothing write (``Store.import_messages``); a file or message
that cannot be read or stored is reported (a ``ImportProblem`` naming it) and the rest goes on.

Idempotent: a message whose exact bytes are already in the target mailbox (as many times as
the source has it) is not imported again, so a second run adds only what is new. Dovecot's
``dovecot-uidlist`` gives each folder its UIDVALIDITY and each message its uid; they are
kept while the mailbox has never held other mail, so IMAP clients' caches (mbsync,
Thunderbird) stay valid (RFC 9051 2.3.1.1: same UIDVALIDITY, same uid, same message).
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from posthouse.mailfiles import maildir, mbox
from posthouse.mailfiles.flagmap import ImportProblem, to_crlf
from posthouse.store.api import Store
from posthouse.store.blobs import blob_id_of
from posthouse.store.errors import StoreError, UidNotAvailable
from posthouse.store.models import INBOX, ImportedMessage, Mailbox, NewMessage, User
from posthouse.store.names import normalize_mailbox_name

BATCH_MESSAGES = 200  # messages read and handed to the store at once
BATCH_BYTES = 16 << 20


class ProgressSink(Protocol):
    """Where an import or export reports as it goes (cli: a progress bar)."""

    def add_total(self, messages: int) -> None:
        """More messages are known to come."""

    def advance(self, messages: int, size: int) -> None:
        """``messages`` were handled (``size`` bytes)."""

    def problem(self, problem: ImportProblem) -> None:
        """Something went wrong with one file or message."""


@dataclass(slots=True)
class TransferReport:
    """What an import or export did."""

    messages: int = 0
    size: int = 0
    present: int = 0  # already in the store: not imported again
    mailboxes: int = 0
    problems: list[ImportProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One message to import: where it comes from, its bytes (or how to read them), its
    flags, internal date and the uid it keeps (None: a new one)."""

    where: str
    data: bytes | Callable[[], bytes]
    flags: frozenset[str]
    date: datetime
    uid: int | None = None


class MailImporter:
    """Imports into one user's mailboxes and keeps the report."""

    def __init__(self, store: Store, user: User, sink: ProgressSink) -> None:
        self.store = store
        self.user = user
        self.sink = sink
        self.report = TransferReport()

    def note(self, where: str, what: str) -> None:
        """Record and show one problem."""
        problem = ImportProblem(where, what)
        self.report.problems.append(problem)
        self.sink.problem(problem)

    async def mailbox(self, name: str, where: str) -> Mailbox | None:
        """The target mailbox, created when missing (None, reported, if it cannot be)."""
        try:
            name = normalize_mailbox_name(name)
            found = await self.store.get_mailbox(self.user.id, name)
            return found or await self.store.create_mailbox(self.user.id, name)
        except StoreError as exc:
            self.note(where, f"mailbox {name!r} cannot be used ({exc}): its messages skipped")
            return None

    async def fill(self, box: Mailbox, chunks: AsyncIterator[list[Incoming]], *,
                   uidlist: maildir.UidList | None = None, where: str = "") -> None:
        """Import the messages (in uid order where they have uids) into ``box``."""
        self.report.mailboxes += 1
        keep = uidlist is not None and await self._adopt(box, uidlist, where)
        present = await self._present(box)
        floor = (await self.store.mailbox_counts(box.id)).uidnext
        batch: list[tuple[Incoming, ImportedMessage]] = []
        batch_bytes = 0
        async for item in _each(chunks):
            try:
                raw = item.data if isinstance(item.data, bytes) else (
                    await asyncio.to_thread(item.data))
                data = to_crlf(raw)
            except OSError as exc:
                self.note(item.where, f"unreadable ({exc.strerror or exc}): skipped")
                self.sink.advance(1, 0)
                continue
            blob_id = blob_id_of(data)
            if present[blob_id] > 0:
                present[blob_id] -= 1
                self.report.present += 1
                self.sink.advance(1, len(data))
                continue
            uid = item.uid if keep and item.uid is not None and item.uid >= floor else None
            if uid is not None:
                floor = uid + 1
            new = NewMessage(data, None, item.date)
            batch.append((item, ImportedMessage(new, item.flags, uid)))
            batch_bytes += len(data)
            if len(batch) >= BATCH_MESSAGES or batch_bytes >= BATCH_BYTES:
                await self._flush(box, batch)
                batch, batch_bytes = [], 0
        await self._flush(box, batch)
        if keep and uidlist is not None:
            await self.store.reserve_uids(box.id, uidlist.uidnext)

    async def _adopt(self, box: Mailbox, uidlist: maildir.UidList, where: str) -> bool:
        try:
            await self.store.adopt_uidvalidity(box.id, uidlist.uidvalidity)
        except UidNotAvailable:
            self.note(where, f"{box.name} already held other mail: its uids and UIDVALIDITY "
                      "are new (IMAP clients download this folder again)")
            return False
        return True

    async def _present(self, box: Mailbox) -> Counter[str]:
        uids = [u.uid for u in await self.store.uid_list(box.id)]
        found: Counter[str] = Counter()
        for start in range(0, len(uids), 1000):
            metas = await self.store.fetch_meta(box.id, uids[start : start + 1000])
            found.update(m.blob_id for m in metas)
        return found

    async def _flush(self, box: Mailbox, batch: list[tuple[Incoming, ImportedMessage]]) -> None:
        if not batch:
            return
        results = await self.store.import_messages(box.id, [m for _, m in batch])
        for (item, message), result in zip(batch, results, strict=True):
            size = len(message.message.data)
            if isinstance(result, StoreError):
                self.note(item.where, f"not imported: {type(result).__name__}: {result}")
            else:
                self.report.messages += 1
                self.report.size += size
            self.sink.advance(1, size)


async def _each(chunks: AsyncIterator[list[Incoming]]) -> AsyncIterator[Incoming]:
    async for chunk in chunks:
        for item in chunk:
            yield item


async def _chunked(items: Sequence[Incoming]) -> AsyncIterator[list[Incoming]]:
    for start in range(0, len(items), BATCH_MESSAGES):
        yield list(items[start : start + BATCH_MESSAGES])


def _prefixed(prefix: str | None, name: str) -> str:
    if prefix is None:
        return name
    return prefix if name == INBOX else f"{prefix}/{name}"


def _mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError:
        return datetime.now(UTC)


async def import_maildir(store: Store, user: User, root: Path, sink: ProgressSink, *,
                         prefix: str | None = None) -> TransferReport:
    """A whole Maildir++ tree into ``user``'s mailboxes (under ``prefix`` if given)."""
    job = MailImporter(store, user, sink)
    folders, problems = maildir.list_folders(root)
    for problem in problems:
        job.note(problem.where, problem.what)
    plans: list[tuple[maildir.MaildirFolder, list[Incoming], maildir.UidList | None]] = []
    for folder in folders:
        keywords, found = maildir.read_keywords(folder.path)
        uidlist, more = maildir.read_uidlist(folder.path)
        files, bad = maildir.list_files(folder.path, keywords)
        for problem in (*found, *more, *bad):
            job.note(problem.where, problem.what)
        plans.append((folder, _maildir_order(files, uidlist), uidlist))
        sink.add_total(len(files))
    for folder, incoming, uidlist in plans:
        box = await job.mailbox(_prefixed(prefix, folder.name), str(folder.path))
        if box is None:
            sink.advance(len(incoming), 0)
            continue
        await job.fill(box, _chunked(incoming), uidlist=uidlist, where=str(folder.path))
    for name in maildir.read_subscriptions(root):
        try:
            await store.set_subscribed(user.id, _prefixed(prefix, name), True)
        except StoreError as exc:
            job.note(str(root / maildir.SUBSCRIPTIONS), f"{name!r} not subscribed: {exc}")
    return job.report


def _maildir_order(files: Iterable[maildir.MaildirFile],
                   uidlist: maildir.UidList | None) -> list[Incoming]:
    """Messages with a uid first, in uid order; then the rest by file name (time order)."""
    known = uidlist.uids if uidlist is not None else {}
    incoming = [
        Incoming(str(f.path), f.path.read_bytes, f.flags, _mtime(f.path), known.get(f.base))
        for f in files
    ]
    return sorted(incoming, key=lambda m: (m.uid is None, m.uid or 0, m.where))


async def import_mbox(store: Store, user: User, path: Path, sink: ProgressSink, *,
                      mailbox: str | None = None, fmt: str = "mboxrd") -> TransferReport:
    """One mbox file into ``mailbox`` (default INBOX), or a directory of them (Thunderbird's
    layout: ``A.sbd/B`` is mailbox ``A/B``) under ``mailbox``. Files are read as they are
    imported, a batch at a time, never whole."""
    job = MailImporter(store, user, sink)
    for file, name in _mbox_targets(path, mailbox):
        try:
            handle = await asyncio.to_thread(file.open, "rb")
        except OSError as exc:
            job.note(str(file), f"unreadable ({exc.strerror or exc}): skipped")
            continue
        with handle:
            box = await job.mailbox(name, str(file))
            if box is not None:
                await job.fill(box, _mbox_chunks(job, file, handle, fmt))
    return job.report


async def _mbox_chunks(job: MailImporter, file: Path, handle: BinaryIO,
                       fmt: str) -> AsyncIterator[list[Incoming]]:
    fallback = _mtime(file)
    messages = mbox.split_messages(handle, fmt)
    while True:
        try:
            chunk = await asyncio.to_thread(_take, messages, BATCH_MESSAGES)
        except OSError as exc:
            job.note(str(file), f"read failed ({exc.strerror or exc}): the rest skipped")
            return
        if not chunk:
            return
        incoming: list[Incoming] = []
        for message in chunk:
            where = f"{file}: message {message.number} (line {message.line})"
            if message.problem and (message.number == 0 or not message.data.strip()):
                job.note(where, message.problem)
                continue
            date = message.date or mbox.header_date(message.data) or fallback
            if message.problem:
                job.note(where, f"{message.problem}; imported with internal date {date:%c %z}")
            incoming.append(Incoming(where, message.data, message.flags, date))
        job.sink.add_total(len(incoming))
        yield incoming


def _take(messages: Iterator[mbox.MboxMessage], count: int) -> list[mbox.MboxMessage]:
    return list(itertools.islice(messages, count))


def _mbox_targets(path: Path, mailbox: str | None) -> list[tuple[Path, str]]:
    if path.is_file():
        return [(path, mailbox or INBOX)]
    return [(file, _prefixed(mailbox, name)) for file, name in _mbox_tree(path)]


def _mbox_tree(root: Path) -> list[tuple[Path, str]]:
    """mbox files under ``root`` and their mailbox names (``.msf`` indexes left out)."""
    found: list[tuple[Path, str]] = []
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        rel = Path(folder).relative_to(root).parts
        parents = [p.removesuffix(".sbd") for p in rel]
        for name in sorted(files):
            if name.startswith(".") or name.endswith(".msf"):
                continue
            found.append((Path(folder, name), "/".join([*parents, name])))
    return found
