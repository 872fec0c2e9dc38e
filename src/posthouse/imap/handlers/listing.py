"""LIST and LSUB (RFC 9051 6.3.9; LIST-EXTENDED RFC 5258; LIST-STATUS RFC 5819;
SPECIAL-USE RFC 6154; CHILDREN RFC 3348; LIST-METADATA RFC 9590; RFC 3501 6.3.8-9 for
IMAP4rev1).

Every LIST answer carries \\HasChildren or \\HasNoChildren and the special-use attribute.
A hierarchy level that is not a mailbox but has mailboxes below it is returned only when a
pattern ends in ``%`` (RFC 9051 6.3.9), as ``\\NonExistent`` (IMAP4rev2 or extended LIST)
or ``\\Noselect`` (plain IMAP4rev1 LIST). Subscribed names that no longer exist are
``\\NonExistent`` under the SUBSCRIBED selection option (RFC 5258 3.1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

from posthouse.imap import commands as c
from posthouse.imap.handlers.context import CommandHandler, HandlerContext, ok
from posthouse.imap.handlers.metadata import longentries, metadata_response
from posthouse.imap.handlers.patterns import Pattern, combine
from posthouse.imap.handlers.status import check_status_items, status_response
from posthouse.imap.responses import Atom, Response, Untagged, Value
from posthouse.store.models import HIERARCHY_DELIMITER, INBOX, Mailbox
from posthouse.store.names import parent_names


@dataclass(slots=True)
class _ListEntry:
    name: str
    attrs: list[str] = field(default_factory=list)
    childinfo: bool = False
    box: Mailbox | None = None


@dataclass(frozen=True, slots=True)
class _Tree:
    """The user's mailboxes, their phantom parents and subscriptions."""

    boxes: dict[str, Mailbox]
    subscribed: frozenset[str]

    @property
    def parents(self) -> set[str]:
        """Names that have an existing mailbox below them."""
        return {p for name in self.boxes for p in parent_names(name)}

    def children_attr(self, name: str, parents: set[str]) -> str:
        return "\\HasChildren" if name in parents else "\\HasNoChildren"


async def _tree(ctx: HandlerContext) -> _Tree:
    boxes = {b.name: b for b in await ctx.store.list_mailboxes(ctx.user_id)}
    subs = frozenset(await ctx.store.list_subscriptions(ctx.user_id))
    return _Tree(boxes, subs)


def _order(names: Iterable[str]) -> list[str]:
    return sorted(set(names), key=lambda n: (n != INBOX and not n.startswith(INBOX + "/"), n))


def list_response(ctx: HandlerContext, verb: str, entry: _ListEntry) -> Untagged:
    """``* LIST (attrs) "/" name [extended data]``."""
    data: list[Value] = [Atom(verb), [Atom(a) for a in entry.attrs], HIERARCHY_DELIMITER,
                         ctx.mailbox_name(entry.name)]
    if entry.childinfo:
        data.append(["CHILDINFO", ["SUBSCRIBED"]])
    return Untagged(tuple(data))


def _matching(patterns: Sequence[Pattern], name: str, *, phantom: bool) -> bool:
    return any(p.matches(name) and (p.ends_with_percent or not phantom) for p in patterns)


def _plain_entries(cmd: c.ListCommand, tree: _Tree, patterns: list[Pattern], rev2: bool
                   ) -> list[_ListEntry]:
    """LIST without the SUBSCRIBED selection: mailboxes and (for ``%``) phantom levels."""
    parents = tree.parents
    nonexistent = "\\NonExistent" if rev2 or cmd.extended else "\\Noselect"
    out: list[_ListEntry] = []
    for name in _order([*tree.boxes, *parents]):
        box = tree.boxes.get(name)
        if not _matching(patterns, name, phantom=box is None):
            continue
        if "SPECIAL-USE" in cmd.select and (box is None or not box.special_use):
            continue
        entry = _ListEntry(name, box=box)
        if box is None:
            entry.attrs.append(nonexistent)
        entry.attrs.append(tree.children_attr(name, parents))
        if box is not None and box.special_use:
            entry.attrs.append(box.special_use)
        if "SUBSCRIBED" in cmd.returns and name in tree.subscribed:
            entry.attrs.append("\\Subscribed")
        out.append(entry)
    return out


def _childinfo(tree: _Tree, patterns: list[Pattern]) -> tuple[set[str], set[str]]:
    """RECURSIVEMATCH (RFC 5258 3.1, the examples of section 5): (names with a subscribed
    descendant, names with a subscribed descendant that matches no pattern). A subscribed
    name gets CHILDINFO for any subscribed descendant; a name that is not subscribed is
    listed only for a descendant that is not listed itself (example 9: "baz2" is left out
    for "*2", "foo2" is listed for its "foo2/bar1")."""
    below: set[str] = set()
    hidden: set[str] = set()
    for name in tree.subscribed:
        parents = parent_names(name)
        below.update(parents)
        if not _matching(patterns, name, phantom=False):
            hidden.update(parents)
    return below, hidden


def _subscribed_entries(
    cmd: c.ListCommand, tree: _Tree, patterns: list[Pattern]
) -> list[_ListEntry]:
    """LIST (SUBSCRIBED [RECURSIVEMATCH]) (RFC 5258 3.1)."""
    parents = tree.parents
    below, hidden = _childinfo(tree, patterns) if "RECURSIVEMATCH" in cmd.select else (
        set(), set())
    out: list[_ListEntry] = []
    for name in _order([*tree.subscribed, *hidden]):
        if not _matching(patterns, name, phantom=False):
            continue
        box = tree.boxes.get(name)
        if "SPECIAL-USE" in cmd.select and (box is None or not box.special_use):
            continue
        subscribed = name in tree.subscribed
        entry = _ListEntry(name, box=box, childinfo=name in (below if subscribed else hidden))
        if subscribed:
            entry.attrs.append("\\Subscribed")
        if box is None:
            entry.attrs.append("\\NonExistent")
        entry.attrs.append(tree.children_attr(name, parents))
        if box is not None and box.special_use:
            entry.attrs.append(box.special_use)
        out.append(entry)
    return out


async def handle_list(ctx: HandlerContext, tag: str, cmd: c.ListCommand) -> AsyncIterator[Response]:
    """LIST in all its forms."""
    check_status_items(ctx, cmd.status_items)
    if cmd.patterns == ("",):  # RFC 9051 6.3.9: the delimiter and the root
        yield Untagged((Atom("LIST"), [Atom("\\Noselect")], HIERARCHY_DELIMITER, ""))
        yield ok(tag, "LIST completed")
        return
    patterns = [Pattern(combine(cmd.reference, p)) for p in cmd.patterns if p is not None]
    tree = await _tree(ctx)
    if "SUBSCRIBED" in cmd.select:
        entries = _subscribed_entries(cmd, tree, patterns)
    else:
        entries = _plain_entries(cmd, tree, patterns, ctx.rev2)
    longest = 0
    for entry in entries:
        yield list_response(ctx, "LIST", entry)
        if "STATUS" in cmd.returns and entry.box is not None:
            yield await status_response(ctx, entry.box, cmd.status_items)
        if cmd.metadata is not None and entry.box is not None:  # RFC 9590 3
            found, over = await metadata_response(ctx, entry.name, entry.box.id, cmd.metadata)
            longest = max(longest, over)
            if found is not None:
                yield found
    yield ok(tag, "LIST completed", longentries(longest))


async def handle_lsub(ctx: HandlerContext, tag: str, cmd: c.LsubCommand) -> AsyncIterator[Response]:
    """LSUB (RFC 3501 6.3.9): subscribed names; for ``%`` also unsubscribed levels with
    subscribed names below them, as ``\\Noselect``."""
    if cmd.pattern is None:  # not a valid name pattern: nothing matches
        yield ok(tag, "LSUB completed")
        return
    pattern = Pattern(combine(cmd.reference, cmd.pattern))
    tree = await _tree(ctx)
    levels = {p for s in tree.subscribed for p in parent_names(s)} - tree.subscribed
    for name in _order([*tree.subscribed, *levels]):
        if not _matching([pattern], name, phantom=name in levels):
            continue
        attrs = [] if name in tree.boxes and name in tree.subscribed else ["\\Noselect"]
        yield list_response(ctx, "LSUB", _ListEntry(name, attrs))
    yield ok(tag, "LSUB completed")


async def mailbox_list_line(ctx: HandlerContext, name: str) -> Untagged:
    """The LIST response for one existing mailbox (SELECT in IMAP4rev2, RFC 9051 6.3.2)."""
    tree = await _tree(ctx)
    entry = _ListEntry(name, [tree.children_attr(name, tree.parents)])
    box = tree.boxes.get(name)
    if box is not None and box.special_use:
        entry.attrs.append(box.special_use)
    return list_response(ctx, "LIST", entry)


HANDLERS: dict[type[c.ImapCommand], CommandHandler] = {
    c.ListCommand: handle_list,
    c.LsubCommand: handle_lsub,
}
