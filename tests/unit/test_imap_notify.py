"""NOTIFY (RFC 5465): the parser's grammar (8), the request checks (5, 6.1) and the
filter model's matching (6)."""

from __future__ import annotations

import pytest

from posthouse.imap import commands as c
from posthouse.imap.events import LiteralArg, RawCommand
from posthouse.imap.fetchitems import Attr, BodySection, Section
from posthouse.imap.notify import (
    SUPPORTED,
    EventGroup,
    FilterKind,
    MailboxFilter,
    NotifyEvent,
    NotifySpec,
    is_delivery_target,
)
from posthouse.imap.parser import parse_command
from posthouse.imap.replies import ParseError
from posthouse.imap.responses import Status

NEW, EXPUNGE, FLAGS = (NotifyEvent.MESSAGE_NEW, NotifyEvent.MESSAGE_EXPUNGE,
                       NotifyEvent.FLAG_CHANGE)
NAME = NotifyEvent.MAILBOX_NAME


def _parse(args: bytes | tuple[bytes | LiteralArg, ...], *, utf8: bool = False) -> NotifySpec:
    segments = args if isinstance(args, tuple) else (args,)
    cmd = parse_command(RawCommand("t", "NOTIFY", segments), utf8=utf8)
    assert isinstance(cmd, c.NotifyCommand)
    assert cmd.spec is not None
    return cmd.spec


def _error(args: bytes) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_command(RawCommand("t", "NOTIFY", (args,)))
    return caught.value


def test_none_and_the_rfc_example() -> None:
    assert parse_command(RawCommand("t", "NOTIFY", (b" none",))) == c.NotifyCommand(None)
    # the example of RFC 5465 3 (its event lists in parentheses, as the grammar of 8 has)
    spec = _parse(b" SET STATUS (selected (MessageNew (uid body.peek[header.fields"
                  b" (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew"
                  b" MessageExpunge))")
    assert spec.status
    header = BodySection(Section((), "HEADER.FIELDS", ("from", "to", "subject")), None, True)
    assert spec.groups == (
        EventGroup(MailboxFilter(FilterKind.SELECTED), frozenset({NEW, EXPUNGE}),
                   (Attr.UID, header)),
        EventGroup(MailboxFilter(FilterKind.SUBTREE, ("Lists",)), frozenset({NEW, EXPUNGE})),
    )


def test_every_filter_and_event_case_insensitively() -> None:
    spec = _parse(b' SET (Selected-Delayed NONE) (INBOXES (messagenew messageexpunge'
                  b' flagchange)) (personal (MailboxName SubscriptionChange'
                  b' MailboxMetadataChange ServerMetadataChange)) (subscribed NONE)'
                  b' (subtree (a "b c") (MailboxName)) (mailboxes INBOX (MailboxName))')
    assert not spec.status
    kinds = [g.filter.kind for g in spec.groups]
    assert kinds == [FilterKind.SELECTED_DELAYED, FilterKind.INBOXES, FilterKind.PERSONAL,
                     FilterKind.SUBSCRIBED, FilterKind.SUBTREE, FilterKind.MAILBOXES]
    assert spec.groups[0].events == frozenset()
    assert spec.groups[1].events == frozenset({NEW, EXPUNGE, FLAGS})
    assert spec.groups[4].filter.names == ("a", "b c")
    assert spec.groups[5].filter.names == ("INBOX",)
    assert spec.selected_group is spec.groups[0]
    assert spec.needs_subscriptions
    assert spec.wants_server_metadata()


def test_mailbox_names_decode_like_any_other() -> None:
    # modified UTF-7 unless UTF-8 is on; a literal works too; inbox is INBOX
    spec = _parse(b" SET (mailboxes (&AOQ-rger inbox) (MailboxName))")
    assert spec.groups[0].filter.names == ("\u00e4rger", "INBOX")
    spec = _parse((b" SET (mailboxes ", LiteralArg("\u00e4".encode()), b" (MailboxName))"),
                  utf8=True)
    assert spec.groups[0].filter.names == ("\u00e4",)


@pytest.mark.parametrize("args", [
    b"", b" ", b" SET", b" SET ", b" SET ()", b" SET (personal)", b" SET (personal ())",
    b" SET (personal NONE", b" SET (personal NONE) ", b" SET (nowhere (MailboxName))",
    b" SET (subtree (MailboxName))", b" SET (mailboxes () (MailboxName))",
    b" SET STATUS", b" SET STATUS STATUS (personal NONE)", b" SET (STATUS) (personal NONE)",
    b" BOGUS", b" NONE extra", b" SET (personal (MailboxName)) junk",
    b" SET (selected (MessageNew (NOSUCH) MessageExpunge))",
    b" SET (selected (MessageNew () MessageExpunge))",
])
def test_grammar_errors_are_bad(args: bytes) -> None:
    assert _error(args).status is Status.BAD


@pytest.mark.parametrize("args", [
    b" SET (personal (MessageNew))",  # 5: MessageNew and MessageExpunge together
    b" SET (personal (MessageExpunge))",
    b" SET (personal (FlagChange))",  # 5: FlagChange needs both
    b" SET (personal (FlagChange MessageNew))",
    b" SET (personal (MessageNew (UID) MessageExpunge))",  # fetch-att: selected only
    b" SET (selected (MailboxName))",  # 6.1: message events only
    b" SET (selected-delayed (MessageNew MessageExpunge SubscriptionChange))",
    b" SET (selected NONE) (selected-delayed NONE)",  # 6.1: one of them, once
    b" SET (selected NONE) (selected NONE)",
])
def test_rule_violations_are_bad(args: bytes) -> None:
    assert _error(args).status is Status.BAD


@pytest.mark.parametrize("args", [
    b" SET (personal (MessageNew MessageExpunge AnnotationChange))",
    b" SET (personal (MessageNew MessageExpunge FlagChange AnnotationChange))",
    b" SET (personal (XFoo))",
    b" SET (selected (MessageNew MessageExpunge)) (personal (MailboxName QuotaExceed))",
])
def test_unsupported_events_are_no_badevent(args: bytes) -> None:
    error = _error(args)
    assert error.status is Status.NO
    assert error.code is not None
    assert error.code.name == "BADEVENT"
    listed = [atom.text for atom in error.code.args[0]]  # type: ignore[union-attr]
    assert listed == [e.value for e in SUPPORTED]
    assert "AnnotationChange" not in listed


def test_fetch_items_keep_their_order_without_repeats() -> None:
    spec = _parse(b" SET (selected (MessageNew (FLAGS UID FLAGS ENVELOPE) MessageExpunge"
                  b" FlagChange))")
    assert spec.groups[0].fetch_items == (Attr.FLAGS, Attr.UID, Attr.ENVELOPE)


def _matches(kind: FilterKind, name: str, *names: str, subscribed: frozenset[str] = frozenset(),
             target: bool = False) -> bool:
    return MailboxFilter(kind, names).matches(name, subscribed=subscribed,
                                              delivery_target=target)


def test_filters_match_per_section_6() -> None:
    assert not _matches(FilterKind.SELECTED, "INBOX")  # never by name
    assert not _matches(FilterKind.SELECTED_DELAYED, "INBOX")
    assert _matches(FilterKind.PERSONAL, "any/thing")
    assert _matches(FilterKind.INBOXES, "Junk", target=True)
    assert not _matches(FilterKind.INBOXES, "Work")
    assert _matches(FilterKind.SUBSCRIBED, "News", subscribed=frozenset({"News"}))
    assert not _matches(FilterKind.SUBSCRIBED, "News/x", subscribed=frozenset({"News"}))
    assert _matches(FilterKind.SUBTREE, "Lists", "Lists")
    assert _matches(FilterKind.SUBTREE, "Lists/ietf/imap", "Other", "Lists")
    assert not _matches(FilterKind.SUBTREE, "Listsx", "Lists")
    assert _matches(FilterKind.MAILBOXES, "Lists", "Lists")
    assert not _matches(FilterKind.MAILBOXES, "Lists/ietf", "Lists")  # no subtree
    assert not _matches(FilterKind.MAILBOXES, "Lists", "L*")  # 6.6: no wildcards
    assert is_delivery_target("INBOX", None)
    assert is_delivery_target("Spam", "\\Junk")
    assert not is_delivery_target("Sent", "\\Sent")


def test_first_matching_group_decides() -> None:
    spec = _parse(b" SET (selected (MessageNew MessageExpunge)) (mailboxes Spam NONE)"
                  b" (personal (MessageNew MessageExpunge MailboxName))")

    def events(name: str) -> frozenset[NotifyEvent]:
        return spec.events_for(name, subscribed=(), delivery_target=False)
    assert events("Spam") == frozenset()
    assert events("Work") == frozenset({NEW, EXPUNGE, NAME})
    assert not spec.needs_subscriptions
    assert not spec.wants_server_metadata()
