"""Make the data dir of one schema version for the upgrade tests, with the code of today.

    .venv/bin/python -m tests.upgrade.make_datadir tests/upgrade/v6

Run once per released schema version (the current one when it is released) and commit the
result: ``posthouse.sqlite3`` (vacuumed, no search index: the server rebuilds it), the blob
files, and ``expected.json``, what test_upgrade.py must find served unchanged. Small on
purpose: two users, three mailboxes with flags and keywords, a tombstone, an alias, a held
queue entry, metadata.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from posthouse.app import build_hasher, build_store
from posthouse.auth.passwords import scram_secrets_for
from posthouse.store.models import (
    DeliveryTarget,
    FlagOp,
    NewMessage,
    OutboundEnvelope,
    OutboundRecipient,
)
from posthouse.store.sqlite.schema import LATEST_VERSION
from tests.support.server import DOMAIN, PASSWORD, make_config

USERS = (f"alice@{DOMAIN}", f"bob@{DOMAIN}")
WHEN = datetime(2026, 11, 30, 9, 15, 0, tzinfo=UTC)


def body(n: int, size: int = 0) -> bytes:
    text = (b"line of a large message, version upgrade test\r\n" * (size // 48) if size
            else f"Message {n} of the upgrade corpus.\r\n".encode())
    return (f"From: carol@elsewhere.test\r\nTo: {USERS[n % 2]}\r\nSubject: upgrade {n}\r\n"
            f"Message-ID: <upgrade-{n}@{DOMAIN}>\r\nDate: Mon, 30 Nov 2026 09:{n:02d}:00 +0000"
            "\r\n\r\n").encode() + text


async def make(out: Path) -> dict[str, Any]:
    cfg = make_config(out)
    store = build_store(cfg, background=False)
    await store.open()
    try:
        await store.add_domain(DOMAIN)
        hasher = build_hasher(cfg)
        ids = {}
        for address in USERS:
            user = await store.add_user(address, hasher.hash(PASSWORD),
                                        scram_secrets=scram_secrets_for(PASSWORD))
            ids[address] = user.id
        alice, bob = ids[USERS[0]], ids[USERS[1]]
        await store.create_mailbox(alice, "Projects/2026")
        for n in range(1, 7):  # INBOX of each: delivered as SMTP would
            target = DeliveryTarget(alice if n % 2 == 0 else bob)
            await store.deliver(NewMessage(body(n), None, WHEN + timedelta(minutes=n)),
                                [target])
        big = await store.get_mailbox(alice, "Projects/2026")
        assert big is not None
        await store.append(big.id, NewMessage(body(7, 300 * 1024), None, WHEN),
                           frozenset({"\\Seen", "$Important"}))
        await store.append(big.id, NewMessage(body(8), None, WHEN),
                           frozenset({"\\Draft", "Work"}))
        inbox = await store.get_mailbox(alice, "INBOX")
        assert inbox is not None
        await store.store_flags(inbox.id, [1], FlagOp.ADD, frozenset({"\\Seen", "\\Flagged"}))
        await store.store_flags(inbox.id, [2], FlagOp.ADD, frozenset({"\\Answered", "$Label1"}))
        await store.store_flags(inbox.id, [3], FlagOp.ADD, frozenset({"\\Deleted"}))
        await store.expunge(inbox.id)  # leaves a tombstone
        await store.add_alias(f"sales@{DOMAIN}", list(USERS))
        queue_id = await store.enqueue(body(9), OutboundEnvelope(
            f"alice@{DOMAIN}", (OutboundRecipient("dave@remote.test", ("FAILURE",)),),
            sender_user_id=alice))
        await store.set_held(queue_id, True)  # so no test ever tries to relay it
        await store.set_server_metadata("/shared/comment", b"upgrade corpus")
        await store.set_metadata(alice, inbox.id, [("/private/comment", b"alice's inbox")],
                                 max_entries=100)
        return await expected(store, ids)
    finally:
        await store.close()


async def expected(store: Any, ids: dict[str, int]) -> dict[str, Any]:
    mailboxes: dict[str, Any] = {}
    for address, user_id in ids.items():
        for box in await store.list_mailboxes(user_id):
            rows = await store.uid_list(box.id)
            metas = await store.fetch_meta(box.id, [r.uid for r in rows])
            mailboxes[f"{address}/{box.name}"] = {
                "uidvalidity": box.uidvalidity, "uidnext": box.uidnext,
                "messages": [{
                    "uid": m.uid, "flags": sorted(m.flags),
                    "sha256": hashlib.sha256(await store.read_blob(m.blob_id)).hexdigest(),
                    "size": m.size} for m in metas]}
    queue = [{"mail_from": q.envelope.mail_from, "held": q.held,
              "recipients": [r.address for r in q.recipients],
              "sha256": hashlib.sha256(await store.read_blob(q.blob_id)).hexdigest()}
             for q in await store.list_queue()]
    aliases = {a.address: list(a.targets) for a in await store.list_aliases()}
    return {"schema_version": LATEST_VERSION, "password": PASSWORD, "mailboxes": mailboxes,
            "aliases": aliases, "queue": queue,
            "metadata": {"server /shared/comment": "upgrade corpus",
                         f"{USERS[0]} INBOX /private/comment": "alice's inbox"}}


def main(out: Path) -> None:
    if out.exists() and any(out.iterdir()):
        sys.exit(f"{out} is not empty")
    facts = asyncio.run(make(out))
    db = out / "posthouse.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("VACUUM")
    conn.close()
    for name in ("search.sqlite3", "search.sqlite3-wal", "search.sqlite3-shm",
                 "posthouse.lock", "greylist.json"):
        (out / name).unlink(missing_ok=True)
    (out / "expected.json").write_text(json.dumps(facts, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
