"""Which source folder goes to which posthouse mailbox: names, hierarchy, special use.

Pure functions, no IO. A source name is decoded from modified UTF-7 (RFC 3501 5.1.3), or
taken as UTF-8 once UTF8=ACCEPT is enabled (RFC 6855 3); its personal-namespace prefix is
dropped (RFC 2342: "INBOX.Sent" on a server whose namespace is "INBOX." is "Sent"); its
hierarchy delimiter becomes posthouse's "/". A folder the source marks \\Sent, \\Drafts,
\\Trash, \\Junk or \\Archive (RFC 6154), or, failing that, one at the top with a well-known
name ("Sent Items", "Deleted Messages", "Spam" ...), goes to the user's mailbox with that
attribute whatever it is called here; its subfolders follow it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from posthouse.imap import utf7
from posthouse.migrate.response import ListedFolder

SPECIAL_USES = ("\\sent", "\\drafts", "\\trash", "\\junk", "\\archive")
# Well-known top-level names of special-use folders on servers that do not say (lower case).
_BY_NAME: dict[str, str] = {
    **dict.fromkeys(("sent", "sent items", "sent messages", "sent mail"), "\\sent"),
    **dict.fromkeys(("drafts", "draft"), "\\drafts"),
    **dict.fromkeys(("trash", "deleted items", "deleted messages", "bin"), "\\trash"),
    **dict.fromkeys(("junk", "spam", "junk e-mail", "junk email", "bulk mail"), "\\junk"),
    **dict.fromkeys(("archive", "archives"), "\\archive"),
}
LOCAL_DELIMITER = "/"


@dataclass(frozen=True, slots=True)
class FolderPlan:
    """One source folder and where its messages go."""

    raw_name: bytes  # as the source spells it, for EXAMINE
    name: str  # decoded, with "/" as delimiter: what filters match and the output shows
    local_name: str
    selectable: bool
    special_use: str | None  # the RFC 6154 attribute it was mapped by, lower case


def decode_name(raw: bytes, *, utf8: bool) -> str:
    """A source folder name as text: UTF-8 under UTF8=ACCEPT, else modified UTF-7 (a name
    that is not valid modified UTF-7 is taken as it is, as many servers send such names)."""
    if utf8:
        return raw.decode("utf-8", "replace")
    text = raw.decode("utf-8", "replace")
    try:
        return utf7.decode(text)
    except utf7.Utf7Error:
        return text


def _components(name: str, delimiter: str | None, prefix: str) -> list[str]:
    if prefix and name.startswith(prefix) and name.upper() != "INBOX":
        name = name[len(prefix):]
    parts = name.split(delimiter) if delimiter else [name]
    # a "/" inside a component cannot be kept: it is posthouse's delimiter
    parts = [p.replace(LOCAL_DELIMITER, "_") for p in parts if p != ""]
    if parts and parts[0].upper() == "INBOX":
        parts[0] = "INBOX"
    return parts


def plan_folders(
    listed: Sequence[ListedFolder], *, utf8: bool, namespace_prefix: str,
    local_special: dict[str, str],
) -> list[FolderPlan]:
    """Every listed folder with its local name; ``local_special`` maps a lower-cased
    special-use attribute to the user's mailbox that has it."""
    decoded = [(f, _components(decode_name(f.raw_name, utf8=utf8), f.delimiter,
                               namespace_prefix)) for f in listed]
    decoded = [(f, parts) for f, parts in decoded if parts]
    # which source folder takes each special use: the attribute first, then the name
    taken: dict[tuple[str, ...], str] = {}
    for by_attribute in (True, False):
        for folder, parts in decoded:
            if tuple(parts) in taken:
                continue
            use = _special_use(folder, parts, by_attribute=by_attribute)
            if use is not None and use in local_special and use not in taken.values():
                taken[tuple(parts)] = use
    plans = []
    for folder, parts in decoded:
        local = list(parts)
        use = None
        for depth in range(len(parts), 0, -1):
            found = taken.get(tuple(parts[:depth]))
            if found is not None:
                local = [local_special[found], *parts[depth:]]
                use = found if depth == len(parts) else None
                break
        selectable = not ({"\\noselect", "\\nonexistent"} & folder.attributes)
        plans.append(FolderPlan(folder.raw_name, LOCAL_DELIMITER.join(parts),
                                LOCAL_DELIMITER.join(local), selectable, use))
    plans.sort(key=lambda p: (p.name.upper() != "INBOX", p.name))
    return plans


def _special_use(folder: ListedFolder, parts: list[str], *, by_attribute: bool) -> str | None:
    if by_attribute:
        return next((u for u in SPECIAL_USES if u in folder.attributes), None)
    return _BY_NAME.get(parts[0].lower()) if len(parts) == 1 else None


def select_folders(plans: Iterable[FolderPlan], include: Sequence[str],
                   exclude: Sequence[str]) -> list[FolderPlan]:
    """The plans whose source name matches an ``include`` pattern (all when none is given)
    and no ``exclude`` pattern; shell-style patterns (``Archive/*``), case-sensitive."""
    chosen = []
    for plan in plans:
        if include and not any(fnmatch.fnmatchcase(plan.name, p) for p in include):
            continue
        if any(fnmatch.fnmatchcase(plan.name, p) for p in exclude):
            continue
        chosen.append(plan)
    return chosen


def local_subscriptions(listed: Sequence[ListedFolder],
                        plans: Sequence[FolderPlan]) -> list[str]:
    """The local names of the subscribed source folders that are being migrated."""
    by_raw = {p.raw_name: p.local_name for p in plans}
    return [by_raw[f.raw_name] for f in listed if f.raw_name in by_raw]
