"""STORE, COPY, MOVE and UID EXPUNGE (RFC 9051 6.4.6-6.4.9, RFC 6851, RFC 4315)."""

from __future__ import annotations

from posthouse.imap import commands as c
from posthouse.imap.parser.cursor import Cursor
from posthouse.imap.replies import ParseError
from posthouse.store.models import FlagOp

_OPS = {b"+": FlagOp.ADD, b"-": FlagOp.REMOVE}


def _unchangedsince(cur: Cursor) -> int | None:
    """``"(" "UNCHANGEDSINCE" SP mod-sequence-value ")"`` (RFC 7162 3.1.3)."""
    if cur.peek() != 0x28:
        return None
    value = cur.modseq_modifier("UNCHANGEDSINCE", "STORE")
    cur.sp()
    return value


def parse_store(cur: Cursor, *, uid: bool = False) -> c.StoreCommand:
    """``STORE set [modifiers] [+|-]FLAGS[.SILENT] (flag-list | flag *(SP flag))``."""
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    unchangedsince = _unchangedsince(cur)
    op = next((flag_op for sign, flag_op in _OPS.items() if cur.accept(sign)), FlagOp.REPLACE)
    if not cur.accept(b"FLAGS"):
        raise ParseError("Expected FLAGS, +FLAGS or -FLAGS")
    silent = cur.accept(b".SILENT")
    cur.sp()
    if cur.peek() == 0x28:
        flags = cur.paren_list(cur.store_flag)
    else:
        flags = [cur.store_flag()]
        while not cur.at_end():
            cur.sp()
            flags.append(cur.store_flag())
    return c.StoreCommand(sequence, op, frozenset(flags), silent, uid, unchangedsince)


def parse_copy(cur: Cursor, *, uid: bool = False) -> c.CopyCommand:
    """``COPY sequence-set mailbox``."""
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    return c.CopyCommand(sequence, cur.mailbox(), uid)


def parse_move(cur: Cursor, *, uid: bool = False) -> c.MoveCommand:
    """``MOVE sequence-set mailbox`` (RFC 6851)."""
    cur.sp()
    sequence = cur.sequence_set()
    cur.sp()
    return c.MoveCommand(sequence, cur.mailbox(), uid)


def parse_uid_expunge(cur: Cursor, *, uid: bool = True) -> c.UidExpungeCommand:
    """``UID EXPUNGE sequence-set`` (RFC 4315 2.1); only valid with UID."""
    if not uid:  # pragma: no cover - the table only maps it under UID
        raise ParseError("EXPUNGE takes no arguments")
    cur.sp()
    return c.UidExpungeCommand(cur.sequence_set())
