"""``posthouse verify``: every invariant of a stored data dir checked, and the safe repairs.

Checks (``check``): SQLite's integrity_check of both files; every blob's bytes present with
the sha256 its id names and the size its row says; every message and queue entry pointing
at a blob row (else a dangling reference); blob reference counts against the rows; each
user's usage counters; each mailbox's uidnext above every uid it gave (rows and tombstones),
its highestmodseq at or above every modseq, no tombstone for a live row, its STATUS counters
(messages, unseen, deleted, size, recent) equal to a recount of its rows; messages whose
mailbox is gone, blob rows and blob files nobody references (orphans); messages without a
summary; each summary's address row (schema v10) against its header map; the search index
against the summaries.

Online (a server holds the data dir) everything is read in one read transaction of a
read-only connection, so the checks see one committed state and never block the writer.
Reference counts may then legitimately exceed the rows (held for open IMAP views,
holds.py), and fresh blob files may not be committed yet: those two are checked offline only.
A blob file missing for a row of the snapshot counts only if the live store still has the
row; the search index, committed by another thread, counts only when a few fresh reads all
find the same problem.

Repairs (``repair``, offline only: the caller holds the data dir's lock) never drop mail
that has content: counters are recomputed from the rows, orphans are filed into a
``Recovered`` mailbox, a missing or corrupt blob is put back from a spare copy (a backup's
blob directory) when one has the right hash; only references to content that exists
nowhere are dropped. The search index, derived data, is deleted and rebuilt by the server.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from posthouse.store import blobs
from posthouse.store.sqlite import blobrefs, holds, mailboxes, messages, schema, searchdb
from posthouse.store.sqlite.codec import SEARCHED_ADDRESSES, dt_to_text
from posthouse.store.sqlite.counters import mailbox_key
from posthouse.store.sqlite.writer import WriteContext

RECOVERED = "Recovered"
# Findings the server settles by itself when it starts (a message committed just before a
# crash or a snapshot, whose parse was not filed yet; a missing index file): notes only.
SELF_HEALING = frozenset({"summary", "index-missing"})
_SPARE = "a good copy (--spare-blobs BACKUP)"
Tick = Callable[[int], None]  # progress: this many more blobs checked


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding: what kind, where, and whether ``repair`` can fix it."""

    kind: str
    where: str
    detail: str
    repairable: bool
    needs: str = ""  # what the repair needs beyond the data dir

    def line(self) -> str:
        """One line for the operator."""
        fix = "repairable" if self.repairable else "NOT repairable"
        if self.needs:
            fix += f" with {self.needs}"
        return f"{self.kind}: {self.where}: {self.detail} ({fix})"


@dataclass(frozen=True, slots=True)
class Report:
    """What a check found, and what it looked at."""

    problems: list[Problem]
    blobs: int
    messages: int
    online: bool


def _open(data_dir: Path, *, online: bool) -> sqlite3.Connection:
    db = data_dir / schema.DB_FILE
    if not db.exists():
        raise FileNotFoundError(f"no database at {db}")
    conn = schema.connect(db, read_only=True) if online else schema.connect(db)
    search = data_dir / searchdb.SEARCH_DB_FILE
    if search.exists():
        conn.execute("ATTACH DATABASE ? AS idx", (str(search),))
    return conn


def _has_index(conn: sqlite3.Connection) -> bool:
    return any(row[1] == "idx" for row in conn.execute("PRAGMA database_list"))


def blob_count(data_dir: Path) -> int:
    """How many blobs a check reads (for a progress bar)."""
    db = data_dir / schema.DB_FILE
    if not db.exists():
        raise StoreUnreadable(f"no database at {db}")
    try:
        conn = schema.connect(db, read_only=True)
        try:
            return int(conn.execute("SELECT count(*) FROM blobs").fetchone()[0])
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise StoreUnreadable(f"cannot read {db}: {exc}") from None


class StoreUnreadable(Exception):
    """The database is missing or SQLite cannot read it at all."""


def check(data_dir: Path, *, online: bool, tick: Tick | None = None) -> Report:
    """Every check, on one consistent state of the data dir."""
    conn = _open(data_dir, online=online)
    try:
        conn.execute("BEGIN")  # one read snapshot for everything below
        try:
            report = _check_all(conn, data_dir, online=online, tick=tick)
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()
    if online and not any(p.kind == "integrity" and p.where == "database"
                          for p in report.problems):
        report.problems.extend(_index_online(data_dir))
    return report


def _check_all(conn: sqlite3.Connection, data_dir: Path, *, online: bool,
               tick: Tick | None) -> Report:
    problems: list[Problem] = []
    problems += _integrity(conn)
    if any(p.kind == "integrity" and p.where == "database" for p in problems):
        return Report(problems, 0, 0, online)  # nothing below can be trusted
    blob_root = data_dir / "blobs"
    nblobs = 0
    for found in _blob_contents(conn, blob_root, online=online, tick=tick):
        nblobs += 1
        if found is not None:
            problems.append(found)
    problems += _dangling(conn)
    problems += _sizes(conn)
    problems += _refs(conn, online=online)
    problems += _usage(conn)
    problems += _mailboxes(conn)
    problems += _counters(conn)
    problems += _orphan_messages(conn)
    if not online:
        problems += _orphan_files(conn, blob_root)
    problems += _summaries(conn)
    problems += _addresses(conn)
    if not online:
        problems += _index(conn)
    nmessages = int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    return Report(problems, nblobs, nmessages, online)


ONLINE_INDEX_TRIES = 5


def _index_online(data_dir: Path) -> list[Problem]:
    """The index check against a serving store. The two files are committed by two threads
    and each read sees its own moment, so a finding may be the indexer at work between
    them: it counts only when every one of a few fresh reads finds it."""
    found: list[Problem] = []
    for _ in range(ONLINE_INDEX_TRIES):
        conn = _open(data_dir, online=True)
        try:
            conn.execute("BEGIN")
            try:
                found = _index(conn)
            finally:
                conn.execute("ROLLBACK")
        finally:
            conn.close()
        if not [p for p in found if p.kind == "index"]:
            return found
    return found


def _integrity(conn: sqlite3.Connection) -> list[Problem]:
    out = []
    files = [("main", "database")] + ([("idx", "search index")] if _has_index(conn) else [])
    for schema_name, label in files:
        try:
            rows = [r[0] for r in conn.execute(f"PRAGMA {schema_name}.integrity_check")]
        except sqlite3.DatabaseError as exc:
            rows = [str(exc)]
        if rows != ["ok"]:
            out.append(Problem("integrity", label, "; ".join(rows[:5]),
                               repairable=label == "search index"))
    return out


def _blob_contents(conn: sqlite3.Connection, root: Path, *, online: bool,
                   tick: Tick | None) -> Iterator[Problem | None]:
    """Each blob's bytes against its id and size (one result per blob)."""
    rows = conn.execute(
        "SELECT b.id, b.size, b.inline, d.data FROM blobs b LEFT JOIN blob_data d ON d.id = b.id")
    for blob_id, size, inline, data in rows:
        if tick is not None:
            tick(1)
        yield _blob_problem(conn, root, blob_id, size, bool(inline), data, online=online)


def _blob_problem(conn: sqlite3.Connection, root: Path, blob_id: str, size: int,
                  inline: bool, data: bytes | None, *, online: bool) -> Problem | None:
    where = f"blob {blob_id}"
    if inline:
        if data is None:
            return Problem("blob-missing", where, "inline bytes missing", repairable=True,
                           needs=_SPARE)
        content = bytes(data)
    else:
        try:
            content = blobs.read_blob_file(root, blob_id)
        except FileNotFoundError:
            if online and _gone_since(conn, blob_id):
                return None  # deleted after this snapshot was taken: not a problem
            return Problem("blob-missing", where, f"file {blobs.blob_path(root, blob_id)} "
                           "is missing", repairable=True, needs=_SPARE)
    if hashlib.sha256(content).hexdigest() != blob_id:
        return Problem("blob-corrupt", where, f"content does not hash to its id "
                       f"({len(content)} bytes)", repairable=True, needs=_SPARE)
    if len(content) != size:
        return Problem("blob-size", where, f"row says {size} bytes, content has "
                       f"{len(content)}", repairable=True)
    return None


def _gone_since(conn: sqlite3.Connection, blob_id: str) -> bool:
    """Online: whether the live store (past our snapshot) no longer has this blob."""
    db = Path(conn.execute("PRAGMA main.database_list").fetchone()[2])
    fresh = schema.connect(db, read_only=True)
    try:
        return fresh.execute("SELECT 1 FROM blobs WHERE id = ?", (blob_id,)).fetchone() is None
    finally:
        fresh.close()


def _dangling(conn: sqlite3.Connection) -> list[Problem]:
    out = [Problem("dangling", f"mailbox {mb} uid {uid}", f"blob {blob_id} does not exist",
                   repairable=True)
           for mb, uid, blob_id in conn.execute(
               "SELECT mailbox_id, uid, blob_id FROM messages m"
               " WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = m.blob_id)")]
    out += [Problem("dangling", f"queue entry {qid}", f"blob {blob_id} does not exist",
                    repairable=True)
            for qid, blob_id in conn.execute(
                "SELECT id, blob_id FROM queue q"
                " WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = q.blob_id)")]
    return out


def _sizes(conn: sqlite3.Connection) -> list[Problem]:
    return [Problem("size", f"mailbox {mb} uid {uid}", f"row says {size} bytes, its blob "
                    f"has {bsize}", repairable=True)
            for mb, uid, size, bsize in conn.execute(
                "SELECT m.mailbox_id, m.uid, m.size, b.size FROM messages m"
                " JOIN blobs b ON b.id = m.blob_id WHERE m.size != b.size")]


_TRUE_REFS = (
    "SELECT b.id, b.refs, (SELECT count(*) FROM messages m WHERE m.blob_id = b.id)"
    " + (SELECT count(*) FROM queue q WHERE q.blob_id = b.id) AS truth FROM blobs b"
)


def _refs(conn: sqlite3.Connection, *, online: bool) -> list[Problem]:
    out = []
    for blob_id, refs, truth in conn.execute(_TRUE_REFS):
        if truth == 0 and not online:
            out.append(Problem("orphan-blob", f"blob {blob_id}", "no message or queue entry "
                               "refers to it", repairable=True))
        elif refs < truth or (refs != truth and not online):
            out.append(Problem("refs", f"blob {blob_id}", f"count is {refs}, {truth} rows "
                               "refer to it", repairable=True))
    return out


def _usage(conn: sqlite3.Connection) -> list[Problem]:
    rows = conn.execute(
        "SELECT u.address, u.used_bytes, u.used_count,"
        " coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
        "  WHERE b.user_id = u.id), 0),"
        " (SELECT count(*) FROM messages m JOIN mailboxes b ON b.id = m.mailbox_id"
        "  WHERE b.user_id = u.id) FROM users u")
    return [Problem("usage", f"user {addr}", f"counters say {ub} bytes in {uc} messages, the "
                    f"mailboxes hold {tb} bytes in {tc}", repairable=True)
            for addr, ub, uc, tb, tc in rows if (ub, uc) != (tb, tc)]


_MAILBOX_TRUTH = (
    "SELECT b.id, b.name, u.address, b.uidnext, b.highestmodseq,"
    " max(coalesce((SELECT max(uid) FROM messages m WHERE m.mailbox_id = b.id), 0),"
    "     coalesce((SELECT max(uid) FROM expunged e WHERE e.mailbox_id = b.id), 0)),"
    " max(coalesce((SELECT max(modseq) FROM messages m WHERE m.mailbox_id = b.id), 0),"
    "     coalesce((SELECT max(modseq) FROM expunged e WHERE e.mailbox_id = b.id), 0)),"
    " (SELECT count(*) FROM expunged e JOIN messages m"
    "  ON m.mailbox_id = e.mailbox_id AND m.uid = e.uid WHERE e.mailbox_id = b.id)"
    " FROM mailboxes b LEFT JOIN users u ON u.id = b.user_id"
)


def _mailboxes(conn: sqlite3.Connection) -> list[Problem]:
    out = []
    for mb, name, owner, uidnext, hms, max_uid, max_modseq, both in conn.execute(
            _MAILBOX_TRUTH):
        where = f"mailbox {mb} ({owner or '?'}/{name})"
        if owner is None:
            out.append(Problem("orphan-mailbox", where, "its user does not exist",
                               repairable=False))
        if uidnext <= max_uid:
            out.append(Problem("uidnext", where, f"uidnext {uidnext} is not above uid "
                               f"{max_uid}", repairable=True))
        if hms < max_modseq:
            out.append(Problem("highestmodseq", where, f"highestmodseq {hms} is below modseq "
                               f"{max_modseq}", repairable=True))
        if both:
            out.append(Problem("tombstone", where, f"{both} expunged uids are still live "
                               "rows", repairable=True))
    return out


_COUNTERS_TRUTH = (
    "SELECT b.id, b.name, u.address, b.msg_count, b.unseen_count, b.deleted_count,"
    " b.size_total, b.recent_count, t.total, t.unseen, t.deleted, t.size, t.recent"
    " FROM mailboxes b LEFT JOIN users u ON u.id = b.user_id"
    " JOIN (SELECT b2.id AS id, count(m.uid) AS total,"
    "  coalesce(sum(instr(' ' || m.flags || ' ', ' \\Seen ') = 0), 0) AS unseen,"
    "  coalesce(sum(instr(' ' || m.flags || ' ', ' \\Deleted ') > 0), 0) AS deleted,"
    "  coalesce(sum(m.size), 0) AS size, coalesce(sum(m.uid > b2.recent_mark), 0) AS recent"
    "  FROM mailboxes b2 LEFT JOIN messages m ON m.mailbox_id = b2.id GROUP BY b2.id) t"
    " ON t.id = b.id"
)
_COUNTER_NAMES = ("messages", "unseen", "deleted", "size", "recent")


def _counters(conn: sqlite3.Connection) -> list[Problem]:
    """Each mailbox's STATUS counters (schema v9) against a recount of its rows."""
    out = []
    for row in conn.execute(_COUNTERS_TRUTH):
        kept, truth = row[3:8], row[8:13]
        if tuple(kept) != tuple(truth):
            wrong = ", ".join(f"{name} {k} (rows: {t})" for name, k, t
                              in zip(_COUNTER_NAMES, kept, truth, strict=True) if k != t)
            out.append(Problem("counters", f"mailbox {row[0]} ({row[2] or '?'}/{row[1]})",
                               f"counters say {wrong}", repairable=True))
    return out


def _orphan_messages(conn: sqlite3.Connection) -> list[Problem]:
    return [Problem("orphan-message", f"mailbox {mb}", f"{n} messages in a mailbox that does "
                    "not exist", repairable=True)
            for mb, n in conn.execute(
                "SELECT mailbox_id, count(*) FROM messages m WHERE NOT EXISTS"
                " (SELECT 1 FROM mailboxes b WHERE b.id = m.mailbox_id) GROUP BY mailbox_id")]


def _unreferenced_files(conn: sqlite3.Connection, root: Path) -> list[str]:
    known = {row[0] for row in conn.execute("SELECT id FROM blobs")}
    found = []
    if root.is_dir():
        for _dir, _subdirs, files in os.walk(root):
            found += [n for n in files if blobs.is_blob_id(n) and n not in known]
    return sorted(found)


def _orphan_files(conn: sqlite3.Connection, root: Path) -> list[Problem]:
    return [Problem("orphan-file", f"blob file {blob_id}", "no blob row refers to it",
                    repairable=True) for blob_id in _unreferenced_files(conn, root)]


def _summaries(conn: sqlite3.Connection) -> list[Problem]:
    n = len(conn.execute(
        "SELECT DISTINCT m.blob_id FROM messages m"
        " WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.blob_id = m.blob_id)").fetchall())
    if not n:
        return []
    return [Problem("summary", "summaries", f"{n} messages have no parsed summary (the "
                    "server files them when it starts)", repairable=True)]


_ADDRESS_WRONG = " OR ".join(
    f"a.{name}_lc IS NOT ph_header_lc(s.headers, '{name}')" for name in SEARCHED_ADDRESSES)


def _addresses(conn: sqlite3.Connection) -> list[Problem]:
    """Each summary's row of SEARCH FROM/TO/CC/BCC values (schema v10): present, equal to
    its stored header map's fields lower-cased, and none without a summary."""
    missing, wrong = conn.execute(
        "SELECT count(*) FILTER (WHERE a.id IS NULL),"  # noqa: S608
        f" count(*) FILTER (WHERE a.id IS NOT NULL AND ({_ADDRESS_WRONG}))"
        " FROM summaries s LEFT JOIN summary_addresses a ON a.id = s.id").fetchone()
    extra = conn.execute(
        "SELECT count(*) FROM summary_addresses a"
        " WHERE NOT EXISTS (SELECT 1 FROM summaries s WHERE s.id = a.id)").fetchone()[0]
    found = [f"{n} {what}" for n, what in ((missing, "summaries have no address row"),
                                           (wrong, "address rows differ from their summary"),
                                           (extra, "address rows have no summary")) if n]
    if not found:
        return []
    return [Problem("addresses", "summary_addresses", "; ".join(found), repairable=True)]


def _index(conn: sqlite3.Connection) -> list[Problem]:
    if not _has_index(conn):
        return [Problem("index-missing", "search index", "the file is missing (the server "
                        "rebuilds it when it starts)", repairable=True)]
    try:
        owner = conn.execute("SELECT value FROM idx.meta WHERE key = 'store_id'").fetchone()
        if owner is None or owner[0] != schema.store_id(conn):
            return [Problem("index", "search index", "it belongs to another store",
                            repairable=True)]
        upto = searchdb.indexed_upto(conn, "idx")
        missing = conn.execute(
            "SELECT count(*) FROM summaries s WHERE s.id <= ?"
            " AND NOT EXISTS (SELECT 1 FROM idx.fts f WHERE f.rowid = s.id)",
            (upto,)).fetchone()[0]
        extra = conn.execute(
            "SELECT count(*) FROM idx.fts f WHERE NOT EXISTS"
            " (SELECT 1 FROM summaries s WHERE s.id = f.rowid)"
            " AND NOT EXISTS (SELECT 1 FROM fts_gone g WHERE g.id = f.rowid)").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return [Problem("index", "search index", f"unreadable: {exc}", repairable=True)]
    out = []
    if missing:
        out.append(Problem("index", "search index", f"{missing} indexed messages have no "
                           "index rows", repairable=True))
    if extra:
        out.append(Problem("index", "search index", f"{extra} index rows belong to no "
                           "message", repairable=True))
    return out


# --- repair ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepairDone:
    """What ``repair`` changed, as lines for the operator."""

    lines: list[str]
    backup: Path | None  # the copy of the database taken before any change


def repair(data_dir: Path, found: Report, *, now: datetime, recover_to: str | None,
           spares: Sequence[Path] = ()) -> RepairDone:
    """Fix what ``found`` lists as repairable, in one transaction, after copying the database
    to ``<data_dir>/backups/pre-repair-<date>.sqlite3``. Offline only (the caller holds the
    data dir's lock). ``spares``: blob directories (a backup's) to take good copies from."""
    kinds = {p.kind for p in found.problems if p.repairable}
    main_broken = any(p.kind == "integrity" and p.where == "database" for p in found.problems)
    lines: list[str] = []
    backup = None
    if not main_broken and kinds - {"index", "index-missing", "summary", "integrity"}:
        conn = _open(data_dir, online=False)
        try:
            backup = data_dir / schema.BACKUP_DIR / (
                f"pre-repair-{now.strftime('%Y%m%dT%H%M%SZ')}.sqlite3")
            schema.copy_database(conn, backup)
            conn.execute("BEGIN IMMEDIATE")
            try:
                ctx = WriteContext(conn, data_dir / "blobs", now)
                lines += _repair_rows(ctx, found, recover_to=recover_to, spares=spares)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            for blob_id in ctx.freed_blobs:
                blobs.remove_blob_file(ctx.blob_root, blob_id)
        finally:
            conn.close()
    if any(p.kind == "index" or (p.kind == "integrity" and p.where == "search index")
           for p in found.problems):
        search = data_dir / searchdb.SEARCH_DB_FILE
        for leftover in (search, search.with_name(search.name + "-wal"),
                         search.with_name(search.name + "-shm")):
            leftover.unlink(missing_ok=True)
        lines.append("search index: removed; the server rebuilds it when it starts")
    return RepairDone(lines, backup)


def _repair_rows(ctx: WriteContext, found: Report, *, recover_to: str | None,
                 spares: Sequence[Path]) -> list[str]:
    lines: list[str] = []
    kinds = {p.kind for p in found.problems}
    if kinds & {"blob-missing", "blob-corrupt", "blob-size"}:
        lines += _restore_blobs(ctx, found.problems, spares)
    lines += _drop_dangling(ctx)
    recovered = _Recovered(ctx, recover_to)
    lines += _refile_orphan_messages(ctx, recovered)
    lines += _adopt_orphan_files(ctx)
    lines += _refile_orphan_blobs(ctx, recovered)
    lines += _recount(ctx)
    if "addresses" in kinds:
        lines += _refill_addresses(ctx)
    return lines


def _refill_addresses(ctx: WriteContext) -> list[str]:
    """The address rows (derived from the summaries) made again from the summaries."""
    ctx.conn.execute("DELETE FROM summary_addresses")
    n = ctx.conn.execute(schema.FILL_ADDRESSES).rowcount
    return [f"address rows of {n} summaries made again from their header maps"]


def _spare_bytes(spares: Sequence[Path], blob_id: str) -> bytes | None:
    """A good copy of a blob: from a blob directory, or inline in a copied database (a
    backup snapshot's posthouse.sqlite3)."""
    for spare in spares:
        try:
            data = _spare_db(spare, blob_id) if spare.is_file() else (
                blobs.read_blob_file(spare, blob_id))
        except (OSError, sqlite3.Error):
            continue
        if data is not None and hashlib.sha256(data).hexdigest() == blob_id:
            return data
    return None


def _spare_db(path: Path, blob_id: str) -> bytes | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT data FROM blob_data WHERE id = ?", (blob_id,)).fetchone()
        return None if row is None else bytes(row[0])
    finally:
        conn.close()


def _restore_blobs(ctx: WriteContext, problems: Sequence[Problem],
                   spares: Sequence[Path]) -> list[str]:
    """Put back missing or corrupt blobs from a spare copy with the right hash."""
    lines = []
    for p in problems:
        if p.kind not in ("blob-missing", "blob-corrupt", "blob-size"):
            continue
        blob_id = p.where.removeprefix("blob ")
        data: bytes | None
        if p.kind == "blob-size":  # the content is right (it hashes to its id): keep it
            data = blobrefs.read(ctx.conn, ctx.blob_root, blob_id)
        else:
            data = _spare_bytes(spares, blob_id)
        if data is None:
            continue  # still reported by the check after the repair
        row = ctx.conn.execute("SELECT inline FROM blobs WHERE id = ?", (blob_id,)).fetchone()
        if row is None:
            continue
        ctx.conn.execute("UPDATE blobs SET size = ? WHERE id = ?", (len(data), blob_id))
        if row[0]:
            ctx.conn.execute("INSERT OR REPLACE INTO blob_data (id, data) VALUES (?, ?)",
                             (blob_id, data))
        else:
            blobs.remove_blob_file(ctx.blob_root, blob_id)
            blobs.write_blob_file(ctx.blob_root, blob_id, data)
        lines.append(f"blob {blob_id}: size set from its content ({len(data)} bytes)"
                     if p.kind == "blob-size" else
                     f"blob {blob_id}: put back from a spare copy ({len(data)} bytes)")
    return lines


def _drop_dangling(ctx: WriteContext) -> list[str]:
    """Rows whose content exists nowhere: the one loss repair accepts (it is already lost)."""
    conn = ctx.conn
    gone = conn.execute(
        "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM blobs b"
        " WHERE b.id = messages.blob_id) RETURNING mailbox_id, uid").fetchall()
    queued = conn.execute(
        "DELETE FROM queue WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.id = queue.blob_id)"
        " RETURNING id").fetchall()
    lines = [f"mailbox {mb} uid {uid}: dropped, its content exists nowhere" for mb, uid in gone]
    lines += [f"queue entry {qid}: dropped, its content exists nowhere" for (qid,) in queued]
    return lines


class _Recovered:
    """The ``Recovered`` mailbox of the user orphans go to (created when first needed)."""

    def __init__(self, ctx: WriteContext, recover_to: str | None) -> None:
        self.ctx = ctx
        self.recover_to = recover_to
        self._key: tuple[int, str] | None = None

    def mailbox_id(self) -> tuple[int, str]:
        if self._key is not None:
            return self._key
        conn = self.ctx.conn
        row = None
        if self.recover_to:
            row = conn.execute("SELECT id, address FROM users WHERE address = ?",
                               (self.recover_to.lower(),)).fetchone()
        if row is None:
            row = conn.execute("SELECT id, address FROM users WHERE address LIKE 'postmaster@%'"
                               " ORDER BY id LIMIT 1").fetchone()
        if row is None:
            row = conn.execute("SELECT id, address FROM users ORDER BY id LIMIT 1").fetchone()
        if row is None:
            raise RecoveryImpossible("orphaned mail needs a user to be filed to: add one")
        user_id, address = int(row[0]), str(row[1])
        box = mailboxes.get_mailbox(conn, user_id, RECOVERED)
        if box is None:
            box = mailboxes.create_mailbox(self.ctx, user_id, RECOVERED, special_use=None,
                                           origin=None)
        self._key = (box.id, address)
        return self._key

    def file(self, rows: Sequence[messages.NewRow]) -> tuple[str, list[int]]:
        mailbox_id, address = self.mailbox_id()
        uids = messages.file_rows(self.ctx, mailbox_key(self.ctx.conn, mailbox_id), rows,
                                  origin=None)
        return address, uids


class RecoveryImpossible(Exception):
    """Orphans exist but no user exists to file them to."""


def _refile_orphan_messages(ctx: WriteContext, recovered: _Recovered) -> list[str]:
    rows = ctx.conn.execute(
        "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM mailboxes b"
        " WHERE b.id = messages.mailbox_id)"
        " RETURNING blob_id, flags, internaldate, size, mailbox_id, uid").fetchall()
    if not rows:
        return []
    address, uids = recovered.file(
        [messages.NewRow(r[0], r[1], r[2], r[3]) for r in sorted(rows, key=lambda r: r[4:6])])
    return [f"{len(uids)} messages of vanished mailboxes: filed into {address}/{RECOVERED}"]


def _adopt_orphan_files(ctx: WriteContext) -> list[str]:
    """Blob files without a row get one (refs 0) when their content matches their name;
    the orphan-blob step then files them."""
    lines = []
    for blob_id in _unreferenced_files(ctx.conn, ctx.blob_root):
        data = blobs.read_blob_file(ctx.blob_root, blob_id)
        if hashlib.sha256(data).hexdigest() != blob_id:
            lines.append(f"blob file {blob_id}: content does not match its name, left alone")
            continue
        ctx.conn.execute("INSERT INTO blobs (id, size, refs, inline) VALUES (?, ?, 0, 0)",
                         (blob_id, len(data)))
    return lines


def _refile_orphan_blobs(ctx: WriteContext, recovered: _Recovered) -> list[str]:
    orphans = ctx.conn.execute(
        "SELECT b.id, b.size FROM blobs b WHERE NOT EXISTS"
        " (SELECT 1 FROM messages m WHERE m.blob_id = b.id)"
        " AND NOT EXISTS (SELECT 1 FROM queue q WHERE q.blob_id = b.id) ORDER BY b.id"
    ).fetchall()
    if not orphans:
        return []
    when = dt_to_text(ctx.now)
    address, uids = recovered.file([messages.NewRow(blob_id, "", when, size)
                                    for blob_id, size in orphans])
    return [f"{len(uids)} unreferenced messages: filed into {address}/{RECOVERED}"]


def _recount(ctx: WriteContext) -> list[str]:
    """Every counter from the rows: blob references, sizes, usage, uidnext, highestmodseq,
    each mailbox's message counters (messages, unseen, deleted, size, recent)."""
    conn = ctx.conn
    lines = []
    sizes = conn.execute(
        "UPDATE messages SET size = (SELECT b.size FROM blobs b WHERE b.id = messages.blob_id)"
        " WHERE size != (SELECT b.size FROM blobs b WHERE b.id = messages.blob_id)").rowcount
    if sizes:
        lines.append(f"{sizes} message sizes set from their content")
    holds.recount(ctx)
    users = conn.execute(
        "UPDATE users SET"
        " used_bytes = coalesce((SELECT sum(m.size) FROM messages m JOIN mailboxes b"
        "  ON b.id = m.mailbox_id WHERE b.user_id = users.id), 0),"
        " used_count = (SELECT count(*) FROM messages m JOIN mailboxes b"
        "  ON b.id = m.mailbox_id WHERE b.user_id = users.id)"
        " RETURNING address").fetchall()
    fixed_boxes = 0
    for mb, _name, _owner, uidnext, hms, max_uid, max_modseq, both in conn.execute(
            _MAILBOX_TRUTH).fetchall():
        if both:
            conn.execute("DELETE FROM expunged WHERE mailbox_id = ? AND uid IN"
                         " (SELECT uid FROM messages WHERE mailbox_id = ?)", (mb, mb))
        if uidnext <= max_uid or hms < max_modseq or both:
            # a new modseq above everything: clients resync what they may have missed
            conn.execute("UPDATE mailboxes SET uidnext = max(uidnext, ?),"
                         " highestmodseq = max(highestmodseq, ?) + 1 WHERE id = ?",
                         (max_uid + 1, max_modseq, mb))
            fixed_boxes += 1
    counted = len(_counters(conn))
    conn.execute(schema.RECOUNT_MAILBOXES)
    lines.append(f"counters recomputed: blob references, usage of {len(users)} users, "
                 f"{fixed_boxes} mailboxes' uidnext/highestmodseq, {counted} mailboxes' "
                 "message counters")
    return lines
