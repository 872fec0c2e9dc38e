"""A filled Dovecot to migrate from, and snapshots of any IMAP server's mail for comparing.

``fill_dovecot`` writes Maildir++ folders straight into a DovecotPeer user's Maildir (much
faster than APPEND): messages with flags and keywords in the file names (``dovecot-keywords``
names the letters) and internal dates in the files' mtimes. ``snapshot`` reads every folder
of an account over IMAP (imaplib) as {folder: Counter of (sha256, flags, internaldate)}.
"""

from __future__ import annotations

import hashlib
import imaplib
import os
import re
import ssl
import time
from collections import Counter
from dataclasses import dataclass

from posthouse.imap import utf7
from tests.support.peers import DovecotPeer, mail_owner, sample_message

# Dovecot's namespace with two special-use folders announced by attribute (RFC 6154); the
# others are recognised by name.
DOVECOT_NAMESPACE = r"""
namespace inbox {
  inbox = yes
  separator = .
  mailbox "Sent Messages" {
    special_use = \Sent
  }
  mailbox "Old Mail" {
    special_use = \Archive
  }
}
"""

# (source name with "." as delimiter, where posthouse files it)
FOLDERS: tuple[tuple[str, str], ...] = (
    ("INBOX", "INBOX"),
    ("Sent Messages", "Sent"),
    ("Drafts", "Drafts"),
    ("Deleted Messages", "Trash"),
    ("Spam", "Junk"),
    ("Old Mail", "Archive"),
    ("Old Mail.2019", "Archive/2019"),
    ("Old Mail.2020", "Archive/2020"),
    ("Work", "Work"),
    ("Work.Projects", "Work/Projects"),
    ("Work.Projects.Alpha", "Work/Projects/Alpha"),
    ("Work.Projects.Beta", "Work/Projects/Beta"),
    ("Ordner \u00e4\u00f6\u00fc", "Ordner \u00e4\u00f6\u00fc"),
    ("Family", "Family"),
    ("Family.Photos", "Family/Photos"),
    ("Lists", "Lists"),
    ("Lists.python-dev", "Lists/python-dev"),
    ("Lists.debian", "Lists/debian"),
    ("Receipts", "Receipts"),
    ("Travel & Trips", "Travel & Trips"),
)
KEYWORDS = ("$Forwarded", "Important")
_FLAG_LETTERS = (("D", "\\Draft"), ("F", "\\Flagged"), ("R", "\\Answered"), ("S", "\\Seen"),
                 ("T", "\\Deleted"))


@dataclass(frozen=True)
class SourceMessage:
    """One message written to the source."""

    folder: str
    data: bytes
    flags: frozenset[str]
    mtime: int


def _flags_for(n: int) -> frozenset[str]:
    flags = set()
    if n % 3 == 0:
        flags.add("\\Seen")
    if n % 7 == 0:
        flags.add("\\Flagged")
    if n % 11 == 0:
        flags.add("\\Answered")
    if n % 13 == 0:
        flags.add(KEYWORDS[0])
    if n % 17 == 0:
        flags.add(KEYWORDS[1])
    return frozenset(flags)


def fill_dovecot(peer: DovecotPeer, user: str, per_folder: int, *,
                 big_every: int = 0) -> list[SourceMessage]:
    """Write ``per_folder`` messages into each of FOLDERS; every ``big_every``-th one is
    300 KB (a file blob on posthouse's side). Call it before the first login."""
    owner = peer.owner or mail_owner()
    root = peer.maildir(user)
    written: list[SourceMessage] = []
    n = 0
    for index, (name, _local) in enumerate(FOLDERS):
        folder = root if name == "INBOX" else root / ("." + utf7.encode(name))
        for sub in ("", "cur", "new", "tmp"):
            path = folder / sub
            path.mkdir(mode=0o700, exist_ok=True)
            os.chown(path, owner.uid, owner.gid)
        keywords = folder / "dovecot-keywords"
        keywords.write_text("".join(f"{i} {k}\n" for i, k in enumerate(KEYWORDS)))
        os.chown(keywords, owner.uid, owner.gid)
        for j in range(per_folder):
            n += 1
            size = 300_000 if big_every and n % big_every == 0 else 600 + (n * 37) % 1500
            data = sample_message(n, size, recipient=user)
            flags = _flags_for(n)
            letters = "".join(sorted(c for c, f in _FLAG_LETTERS if f in flags))
            letters += "".join(chr(ord("a") + i) for i, k in enumerate(KEYWORDS) if k in flags)
            mtime = 1_600_000_000 + index * 86_400 + j * 61
            path = folder / "cur" / f"{mtime}.M{n}P1.source,S={len(data)}:2,{letters}"
            path.write_bytes(data)
            os.chown(path, owner.uid, owner.gid)
            os.utime(path, (mtime, mtime))
            written.append(SourceMessage(name, data, flags, mtime))
    return written


_LIST = re.compile(rb'\((?P<attrs>[^)]*)\) (?:"(?P<delim>[^"]*)"|NIL) (?P<name>.+)$')
Snapshot = dict[str, Counter[tuple[str, frozenset[str], str]]]


def _unquote(raw: bytes) -> str:
    text = raw.decode("utf-8")
    if text.startswith('"'):
        text = text[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return utf7.decode(text)


def _quote(name: str) -> str:
    return '"' + utf7.encode(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_imap(port: int, user: str, password: str,
              tls: ssl.SSLContext | None = None) -> imaplib.IMAP4:
    """A logged-in imaplib client on 127.0.0.1."""
    client = (imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=tls, timeout=60) if tls
              else imaplib.IMAP4("127.0.0.1", port, timeout=60))
    client.login(user, password)
    return client


def folder_names(client: imaplib.IMAP4) -> dict[str, str]:
    """Every selectable folder: the name with "/" as delimiter -> the name as listed."""
    typ, data = client.list('""', "*")
    assert typ == "OK"
    out = {}
    for line in data:
        assert isinstance(line, bytes)
        match = _LIST.match(line)
        assert match is not None, line
        if b"\\Noselect" in match.group("attrs") or b"\\NonExistent" in match.group("attrs"):
            continue
        name = _unquote(match.group("name"))
        delim = (match.group("delim") or b"/").decode()
        out[name.replace(delim, "/")] = name
    return out


def subscribed(client: imaplib.IMAP4, delimiter: str) -> set[str]:
    """The subscribed names, with "/" as delimiter."""
    typ, data = client.lsub('""', "*")
    assert typ == "OK"
    out = set()
    for line in data:
        if isinstance(line, bytes):
            match = _LIST.match(line)
            assert match is not None, line
            out.add(_unquote(match.group("name")).replace(delimiter, "/"))
    return out


def snapshot(client: imaplib.IMAP4) -> Snapshot:
    """Every message of every folder: (sha256 of the body, flags without \\Recent,
    INTERNALDATE), counted."""
    out: Snapshot = {}
    for name, listed in folder_names(client).items():
        typ, _ = client.select(_quote(listed), readonly=True)
        assert typ == "OK", name
        counts: Counter[tuple[str, frozenset[str], str]] = Counter()
        typ, data = client.uid("FETCH", "1:*", "(FLAGS INTERNALDATE BODY.PEEK[])")
        assert typ == "OK"
        for part in data:
            if not isinstance(part, tuple):
                continue
            head, body = part
            flags = re.search(rb"FLAGS \(([^)]*)\)", head)
            date = re.search(rb'INTERNALDATE "([^"]+)"', head)
            assert flags is not None, head
            assert date is not None, head
            flagset = frozenset(f for f in flags.group(1).decode().split()
                                if f.lower() != "\\recent")
            stamp = imaplib.Internaldate2tuple(b'INTERNALDATE "' + date.group(1) + b'"')
            assert stamp is not None
            counts[(hashlib.sha256(body).hexdigest(), flagset,
                    str(int(time.mktime(stamp))))] += 1
        out[name] = counts
        client.close()
    return out
