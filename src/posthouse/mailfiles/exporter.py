"""Export an account's mail to a Maildir++ tree Dovecot reads as its own, or to mboxrd files.

Maildir: one file per message in ``cur/`` (``<time>.U<uid>V<uidvalidity>.posthouse,S=,W=:2,``
plus flag letters), mtime = INTERNALDATE, with ``dovecot-uidlist`` (uids and UIDVALIDITY
kept), ``dovecot-keywords`` and ``subscriptions``. mbox: one mboxrd file per mailbox,
``A/B`` as ``A.sbd/B`` (Thunderbird's layout, which ``import mbox`` of a directory reads).
Reads go through the store's ports, so a live server may keep running.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

from posthouse.mailfiles import maildir, mbox
from posthouse.mailfiles.flagmap import ImportProblem, is_keyword, to_lf
from posthouse.mailfiles.importer import ProgressSink, TransferReport
from posthouse.store.api import Store
from posthouse.store.models import INBOX, Mailbox, StoredMessage, User

_CHUNK = 200
_RETURN_PATH = re.compile(rb"^return-path:[ \t]*<([^>\r\n]*)>", re.I | re.M)


async def _messages(store: Store, box: Mailbox) -> AsyncIterator[tuple[StoredMessage, bytes]]:
    uids = [u.uid for u in await store.uid_list(box.id)]
    for start in range(0, len(uids), _CHUNK):
        metas = await store.fetch_meta(box.id, uids[start : start + _CHUNK])
        blobs = await store.read_blobs([m.blob_id for m in metas])
        for meta in metas:
            if meta.blob_id in blobs:
                yield meta, blobs[meta.blob_id]


async def _count(store: Store, boxes: list[Mailbox]) -> int:
    total = 0
    for box in boxes:
        total += (await store.mailbox_counts(box.id)).messages
    return total


def _fresh_dir(path: Path) -> None:
    if path.exists() and any(path.iterdir()):
        raise FileExistsError(f"{path} exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)


async def export_maildir(store: Store, user: User, root: Path,
                         sink: ProgressSink) -> TransferReport:
    """``user``'s mailboxes into a new Maildir++ tree at ``root`` (FileExistsError if it is
    not empty)."""
    _fresh_dir(root)
    report = TransferReport()
    boxes = await store.list_mailboxes(user.id)
    sink.add_total(await _count(store, boxes))
    for box in boxes:
        if "." in box.name:  # Maildir++ has no escape for it (Dovecot's default layout)
            problem = ImportProblem(box.name, "a '.' in a Maildir++ folder name separates "
                              "hierarchy levels: Dovecot will show it split there")
            report.problems.append(problem)
            sink.problem(problem)
        folder = root if box.name == INBOX else root / maildir.folder_dirname(box.name)
        for sub in ("cur", "new", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        if folder != root:
            (folder / "maildirfolder").touch()
        await _export_folder(store, box, folder, sink, report)
        report.mailboxes += 1
    maildir.write_subscriptions(root, await store.list_subscriptions(user.id))
    return report


async def _export_folder(store: Store, box: Mailbox, folder: Path, sink: ProgressSink,
                         report: TransferReport) -> None:
    keywords = sorted({f for u in await store.uid_list(box.id) for f in u.flags
                       if is_keyword(f)})
    if len(keywords) > maildir.MAX_KEYWORDS:
        problem = ImportProblem(str(folder), "Maildir has letters for 26 keywords: "
                          f"{', '.join(keywords[maildir.MAX_KEYWORDS:])} not exported")
        report.problems.append(problem)
        sink.problem(problem)
    letters = {k: chr(ord("a") + i) for i, k in enumerate(keywords[: maildir.MAX_KEYWORDS])}
    maildir.write_keywords(folder, keywords)
    entries: list[tuple[int, str]] = []
    async for meta, data in _messages(store, box):
        text = to_lf(data)
        stamp = int(meta.internaldate.timestamp())
        base = f"{stamp}.U{meta.uid}V{box.uidvalidity}.posthouse,S={len(text)},W={meta.size}"
        path = folder / "cur" / f"{base}:2,{maildir.info_letters(meta.flags, letters)}"
        path.write_bytes(text)
        os.utime(path, (stamp, stamp))
        entries.append((meta.uid, base))
        report.messages += 1
        report.size += meta.size
        sink.advance(1, meta.size)
    counts = await store.mailbox_counts(box.id)
    maildir.write_uidlist(folder, box.uidvalidity, counts.uidnext, uuid.uuid4().hex, entries)


async def export_mbox(store: Store, user: User, root: Path,
                      sink: ProgressSink) -> TransferReport:
    """``user``'s mailboxes as mboxrd files under ``root`` (FileExistsError if not empty)."""
    _fresh_dir(root)
    report = TransferReport()
    boxes = await store.list_mailboxes(user.id)
    sink.add_total(await _count(store, boxes))
    for box in boxes:
        parts = box.name.split("/")
        path = root.joinpath(*(f"{p}.sbd" for p in parts[:-1]), parts[-1])
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as out:
            async for meta, data in _messages(store, box):
                found = _RETURN_PATH.search(data.split(b"\r\n\r\n", 1)[0])
                sender = found[1].decode("latin-1") if found and found[1] else "MAILER-DAEMON"
                out.write(mbox.format_message(data, meta.flags, meta.internaldate,
                                              sender.replace(" ", "_")))
                report.messages += 1
                report.size += meta.size
                sink.advance(1, meta.size)
        report.mailboxes += 1
    return report
