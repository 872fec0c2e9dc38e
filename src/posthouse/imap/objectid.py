"""RFC 8474 OBJECTID: the ids of mailboxes, messages and threads (pure).

They are derived from what the store already keeps, so nothing new is stored:

* MAILBOXID: the mailbox row's id with its UIDVALIDITY. RENAME keeps the row (and RENAME
  INBOX leaves INBOX its own), so the id survives renames; a mailbox deleted and created
  again is another row (RFC 8474 4).
* EMAILID: the content hash the blob is stored under. COPY and MOVE keep the blob, so the
  id survives them, and the same id always means the same immutable content (RFC 8474 5.1).
* THREADID: a hash of the thread's root Message-ID: the first of References, else
  In-Reply-To, else the message's own Message-ID (else its EMAILID). Messages that name
  the same root share it; it depends only on the content, so it survives COPY and MOVE.

Every id starts with a letter and holds only letters and digits (RFC 8474 4: objectid).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

from posthouse.message.summary_model import MessageSummary
from posthouse.store.models import Mailbox

_ID_CHARS = 32  # hex digits of a hash kept: 128 bits
_MSG_ID = re.compile(r"<[^<>\s]+>")


def mailbox_id(box: Mailbox) -> str:
    """The MAILBOXID of a mailbox."""
    return f"F{box.id}V{box.uidvalidity}"


def email_id(blob_id: str) -> str:
    """The EMAILID of a message stored as ``blob_id`` (a hex content hash)."""
    return "M" + blob_id[:_ID_CHARS]


# the header fields a THREADID comes from, in the order they are tried
THREAD_FIELDS = ("references", "in-reply-to", "message-id")


def thread_root(summary: MessageSummary) -> str | None:
    """The Message-ID that names the message's thread, if the message has one."""
    return root_of([summary.headers.get(name) for name in THREAD_FIELDS])


def root_of(values: Sequence[str | None]) -> str | None:
    """The thread's root Message-ID from the values of THREAD_FIELDS (None: absent)."""
    for value in values:
        if value:
            found = _MSG_ID.search(value)
            if found is not None:
                return found.group(0)
    return None


def thread_id(summary: MessageSummary, blob_id: str) -> str:
    """The THREADID of a message."""
    return thread_id_of(thread_root(summary), blob_id)


def thread_id_of(root: str | None, blob_id: str) -> str:
    """The THREADID of a message whose thread root is ``root`` (see ``root_of``)."""
    if root is None:
        return "T" + blob_id[:_ID_CHARS]
    return "T" + hashlib.sha256(root.encode("utf-8")).hexdigest()[:_ID_CHARS]
