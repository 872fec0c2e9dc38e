"""The Maildir++ layout as Dovecot writes it: folders, file names, flags and its index files.

- INBOX is the root (``cur/``, ``new/``); folder ``A/B`` is ``.A.B``, each name part in
  modified UTF-7 (RFC 3501 5.1.3), as Dovecot's default ``maildir:~/Maildir`` keeps them.
- A file name is ``BASE`` or ``BASE:2,FLAGS`` (the Maildir info, cr.yp.to/proto/maildir.html):
  S \\Seen, R \\Answered, F \\Flagged, T \\Deleted, D \\Draft, P (passed) has no IMAP flag;
  a-z are keywords, letter n meaning line n of ``dovecot-keywords``.
- ``dovecot-uidlist``: a header (version 3: ``3 V<uidvalidity> N<uidnext> ...``; version 1:
  ``1 <uidvalidity> <uidnext>``), then ``<uid> [fields] :<base>`` per message.
- ``subscriptions``: one name a line, or Dovecot 2.3's ``V\\t2`` form (parts joined by TAB).

Everything here is plain functions on text and paths: no store, no event loop.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from posthouse.imap import utf7
from posthouse.mailfiles.flagmap import ImportProblem, is_keyword
from posthouse.store.models import ANSWERED, DELETED, DRAFT, FLAGGED, SEEN

_INFO_FLAGS = {"S": SEEN, "R": ANSWERED, "F": FLAGGED, "T": DELETED, "D": DRAFT}
_FLAG_LETTERS = {flag: letter for letter, flag in _INFO_FLAGS.items()}
_IGNORED_INFO = frozenset("P")  # "passed" (resent/forwarded): no IMAP system flag
_UIDLIST_LINE = re.compile(r"^(\d+)(?: [^:]*)? :(.+)$")
UIDLIST = "dovecot-uidlist"
KEYWORDS = "dovecot-keywords"
SUBSCRIPTIONS = "subscriptions"
MAX_KEYWORDS = 26  # the letters a-z


@dataclass(slots=True)
class UidList:
    """What ``dovecot-uidlist`` says about one folder."""

    uidvalidity: int
    uidnext: int
    uids: dict[str, int] = field(default_factory=dict)  # file base -> uid


@dataclass(frozen=True, slots=True)
class MaildirFolder:
    """One folder of a Maildir++ tree: its store name and directory."""

    name: str
    path: Path


@dataclass(frozen=True, slots=True)
class MaildirFile:
    """One message file: its path, the base (the name before ``:``) and its flags."""

    path: Path
    base: str
    flags: frozenset[str]


def file_base(name: str) -> str:
    """The part of a Maildir file name that stays when its flags change."""
    return name.split(":", 1)[0]


def folder_name(dirname: str) -> str:
    """A ``.A.B`` directory name as the store's ``A/B`` (ValueError if it is not one)."""
    if not dirname.startswith(".") or dirname in (".", ".."):
        raise ValueError(f"{dirname!r} is not a Maildir++ folder name")
    parts = dirname[1:].split(".")
    try:
        decoded = [utf7.decode(part) for part in parts]
    except utf7.Utf7Error as exc:
        raise ValueError(f"{dirname!r}: {exc}") from None
    if any(not part or "/" in part for part in decoded):
        raise ValueError(f"{dirname!r}: an empty name part or a '/' in one")
    return "/".join(decoded)


def folder_dirname(name: str) -> str:
    """The store's ``A/B`` as Dovecot's ``.A.B`` (each part in modified UTF-7)."""
    return "." + ".".join(utf7.encode(part) for part in name.split("/"))


def list_folders(root: Path) -> tuple[list[MaildirFolder], list[ImportProblem]]:
    """INBOX and every ``.Folder`` with a ``cur`` or ``new`` directory, sorted by name."""
    folders = [MaildirFolder("INBOX", root)]
    problems: list[ImportProblem] = []
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if not entry.is_dir() or not entry.name.startswith(".") or entry.name in (".", ".."):
            continue
        if not any((Path(entry.path) / sub).is_dir() for sub in ("cur", "new")):
            continue
        try:
            folders.append(MaildirFolder(folder_name(entry.name), Path(entry.path)))
        except ValueError as exc:
            problems.append(ImportProblem(entry.path, f"folder skipped: {exc}"))
    return folders, problems


def parse_info(name: str, keywords: dict[int, str]) -> tuple[frozenset[str], list[str]]:
    """The flags of a file name and what could not be read (bad flag letters)."""
    _, sep, info = name.partition(":")
    if not sep:
        return frozenset(), []
    if not info.startswith("2,"):
        return frozenset(), [f"unknown Maildir info {info!r}: imported without flags"]
    flags: set[str] = set()
    bad: list[str] = []
    for letter in info[2:]:
        if letter in _INFO_FLAGS:
            flags.add(_INFO_FLAGS[letter])
        elif letter in _IGNORED_INFO:
            continue
        elif "a" <= letter <= "z":
            keyword = keywords.get(ord(letter) - ord("a"))
            if keyword is None:
                bad.append(f"keyword letter {letter!r} is not in {KEYWORDS}: ignored")
            else:
                flags.add(keyword)
        else:
            bad.append(f"unknown flag letter {letter!r}: ignored")
    return frozenset(flags), bad


def info_letters(flags: Iterable[str], letters: dict[str, str]) -> str:
    """The ``:2,`` letters of a flag set, sorted as Maildir wants (``letters``: keyword ->
    its letter; keywords without one are left out)."""
    out = [_FLAG_LETTERS[f] for f in flags if f in _FLAG_LETTERS]
    out += [letters[f] for f in flags if f in letters]
    return "".join(sorted(out))


def read_keywords(folder: Path) -> tuple[dict[int, str], list[ImportProblem]]:
    """``dovecot-keywords``: letter index -> keyword."""
    path = folder / KEYWORDS
    found: dict[int, str] = {}
    problems: list[ImportProblem] = []
    if not path.exists():
        return found, problems
    for number, line in enumerate(_read_lines(path), 1):
        index, _, name = line.partition(" ")
        if not index.isdigit() or int(index) >= MAX_KEYWORDS or not is_keyword(name):
            problems.append(
                ImportProblem(f"{path}:{number}", f"bad keyword line {line!r}: ignored"))
            continue
        found[int(index)] = name
    return found, problems


def read_uidlist(folder: Path) -> tuple[UidList | None, list[ImportProblem]]:
    """``dovecot-uidlist``, or None when it is missing or its header is unreadable."""
    path = folder / UIDLIST
    if not path.exists():
        return None, []
    lines = _read_lines(path)
    header = lines[0].split() if lines else []
    uidlist = _header(header)
    if uidlist is None:
        return None, [ImportProblem(str(path), "unreadable header: uids and UIDVALIDITY not kept")]
    problems: list[ImportProblem] = []
    for number, line in enumerate(lines[1:], 2):
        match = _UIDLIST_LINE.match(line)
        if match is None or int(match[1]) == 0:
            problems.append(ImportProblem(f"{path}:{number}", f"bad line {line!r}: ignored"))
            continue
        uidlist.uids[file_base(match[2])] = int(match[1])
    return uidlist, problems


def _header(fields: list[str]) -> UidList | None:
    if fields[:1] == ["1"] and len(fields) >= 3 and fields[1].isdigit() and fields[2].isdigit():
        return UidList(int(fields[1]), int(fields[2]))
    if fields[:1] != ["3"]:
        return None
    values = {f[0]: f[1:] for f in fields[1:] if f}
    if not values.get("V", "").isdigit() or not values.get("N", "").isdigit():
        return None
    return UidList(int(values["V"]), int(values["N"]))


def write_uidlist(folder: Path, uidvalidity: int, uidnext: int, guid: str,
                  entries: Iterable[tuple[int, str]]) -> None:
    """Write a version 3 ``dovecot-uidlist`` (uid, file base) that Dovecot reads as its own."""
    lines = [f"3 V{uidvalidity} N{uidnext} G{guid}"]
    lines += [f"{uid} :{base}" for uid, base in entries]
    _write_text(folder / UIDLIST, "\n".join(lines) + "\n")


def write_keywords(folder: Path, keywords: list[str]) -> None:
    """Write ``dovecot-keywords`` for up to 26 keywords (letter a = line 0)."""
    if keywords:
        _write_text(folder / KEYWORDS,
                    "".join(f"{i} {k}\n" for i, k in enumerate(keywords[:MAX_KEYWORDS])))


def read_subscriptions(root: Path) -> list[str]:
    """The subscribed names, in the store's ``A/B`` form."""
    path = root / SUBSCRIPTIONS
    if not path.exists():
        return []
    lines = _read_lines(path)
    names: list[str] = []
    if lines[:1] == ["V\t2"]:  # Dovecot 2.3: UTF-8 names, hierarchy parts joined by TAB
        names = [line.replace("\t", "/") for line in lines[1:] if line]
    else:
        for line in lines:
            if not line:
                continue
            try:
                names.append("/".join(utf7.decode(p) for p in line.split(".")))
            except utf7.Utf7Error:
                names.append(line.replace(".", "/"))
    return names


def write_subscriptions(root: Path, names: Iterable[str]) -> None:
    """Write ``subscriptions`` in Dovecot 2.3's form."""
    _write_text(root / SUBSCRIPTIONS,
                "V\t2\n\n" + "".join(name.replace("/", "\t") + "\n" for name in names))


def list_files(
    folder: Path, keywords: dict[int, str]
) -> tuple[list[MaildirFile], list[ImportProblem]]:
    """The message files of ``new/`` and ``cur/`` with their flags (files starting with a
    dot are another program's temporary files and are left alone)."""
    files: list[MaildirFile] = []
    problems: list[ImportProblem] = []
    for sub in ("new", "cur"):
        directory = folder / sub
        if not directory.is_dir():
            continue
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if entry.name.startswith("."):
                continue
            if entry.is_dir():  # a dangling link stays: reading it reports why it fails
                problems.append(ImportProblem(entry.path, "not a regular file: skipped"))
                continue
            flags, bad = parse_info(entry.name, keywords) if sub == "cur" else (frozenset(), [])
            problems += [ImportProblem(entry.path, what) for what in bad]
            files.append(MaildirFile(Path(entry.path), file_base(entry.name), flags))
    return files, problems


def _read_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _write_text(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
