"""RFC 9586 UIDONLY: which commands name messages by sequence number (pure: no IO).

Once a session has enabled UIDONLY the client must not use message sequence numbers in any
command argument, and the server answers a command that does with a tagged
``BAD [UIDREQUIRED]`` (RFC 9586 3, 3.2). Here that means: FETCH, STORE, SEARCH, COPY and
MOVE without UID; a sequence-set search key (``UID set`` and ``$`` are fine: ``$`` is the
saved result, a set of messages, RFC 5182); and the message sequence match data of
``SELECT/EXAMINE ... (QRESYNC (...))`` (RFC 7162 3.2.5). EXPUNGE takes no numbers and
stays allowed; its responses go out as VANISHED instead (``MailboxView``).

The responses side lives with the rest of the response rendering: ``MailboxView.fetch_response``
(``* uid UIDFETCH (...)`` instead of ``* n FETCH (...)``) and ``responses.uid_fetch``.
"""

from __future__ import annotations

from posthouse.imap import commands as c
from posthouse.imap.replies import ImapError, ResponseCode
from posthouse.imap.responses import Status
from posthouse.imap.search import And, Not, Or, SearchKey, SeqKey

_NUMBERED = (c.FetchCommand, c.StoreCommand, c.SearchCommand, c.CopyCommand, c.MoveCommand)


def _numbered_key(key: SearchKey) -> bool:
    """Whether the criteria hold a message sequence number set."""
    if isinstance(key, SeqKey):
        return not key.uid and not key.sequence.saved
    if isinstance(key, Not):
        return _numbered_key(key.key)
    if isinstance(key, Or):
        return _numbered_key(key.left) or _numbered_key(key.right)
    if isinstance(key, And):
        return any(_numbered_key(k) for k in key.keys)
    return False


def sequence_number_use(cmd: c.ImapCommand) -> str | None:
    """What in ``cmd`` is a message sequence number, or None when it uses none."""
    if isinstance(cmd, _NUMBERED) and not cmd.uid:
        return f"{cmd.NAME} takes message numbers; use UID {cmd.NAME}"
    if isinstance(cmd, c.SearchCommand) and _numbered_key(cmd.criteria):
        return "A sequence-set search key is message numbers; use UID"
    if isinstance(cmd, c.SelectCommand | c.ExamineCommand) and (
            cmd.qresync is not None and cmd.qresync.seq_match is not None):
        return "QRESYNC message sequence match data is message numbers"
    return None


def refusal(cmd: c.ImapCommand) -> ImapError | None:
    """``BAD [UIDREQUIRED]`` for a command that uses message numbers (RFC 9586 3.2), for a
    session that enabled UIDONLY; None when ``cmd`` may run."""
    reason = sequence_number_use(cmd)
    if reason is None:
        return None
    return ImapError(reason, status=Status.BAD, code=ResponseCode.UIDREQUIRED.code())
