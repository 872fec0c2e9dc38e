"""Fuzzing the address parsers: RFC 5322 address lists as IMAP ENVELOPE structures
(message/address.py, message/envelope.py) and the envelope address helpers.

(The SMTP path grammar, RFC 5321 4.1.2, is fuzzed in test_fuzz_smtp.py.) Inputs are address
lists built from the grammar (display names, quoted local parts, comments, groups, source
routes, address literals, UTF-8), then mutated. ``parse_addresses`` never raises and always
gives (name, adl, mailbox, host) tuples with group markers paired; the envelope built from a
header that holds them is always the ten IMAP members.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from posthouse.imap.bodystructure import envelope_value
from posthouse.message.address import domain_of, parse_addresses, split_address
from posthouse.message.envelope import build_envelope, envelope_json
from posthouse.message.headers import split_header
from tests.fuzz.inputs import address_lists, dot_atoms, labels
from tests.fuzz.support import FUZZ, mutated

texts = st.one_of(
    address_lists,
    mutated(address_lists.map(lambda t: t.encode("utf-8", "surrogatepass")), max_edits=6)
    .map(lambda b: b.decode("utf-8", "replace")),
    st.text(alphabet=st.sampled_from([*'<>@:;,."\\() \t\r\nab', "é", "\x00"]),
            max_size=30),
)


def check_parts(parts: list[tuple[str | None, str | None, str | None, str | None]]) -> None:
    depth = 0
    for part in parts:
        assert len(part) == 4
        assert all(item is None or isinstance(item, str) for item in part)
        name, adl, mailbox, host = part
        if host is None:  # a group marker: start (mailbox = group name) or end (all NIL)
            assert name is None
            assert adl is None
            if mailbox is None:
                depth -= 1
                assert depth >= 0, "an end marker without its start"
            else:
                depth += 1
                assert depth == 1, "groups do not nest"
    assert depth == 0, "every group is closed"


@FUZZ
@given(texts)
def test_address_lists_parse(text: str) -> None:
    check_parts(parse_addresses(text))


@FUZZ
@given(dot_atoms, st.lists(labels, min_size=1, max_size=3).map(".".join),
       st.sampled_from(["{a}", "<{a}>", "Ann <{a}>", "{a} (Ann)", '"A, B" <{a}>']))
def test_plain_addresses_are_read_exactly(local: str, domain: str, form: str) -> None:
    parts = parse_addresses(form.format(a=f"{local}@{domain}"))
    assert [(p[2], p[3]) for p in parts] == [(local, domain)]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["From", "To", "Cc", "Bcc", "Sender", "Reply-To",
                                           "Subject", "Message-ID", "In-Reply-To", "Date"]),
                          texts), max_size=8))
def test_envelopes_from_any_header(fields: list[tuple[str, str]]) -> None:
    raw = b"".join(f"{name}: {value}\r\n".encode("utf-8", "surrogatepass")
                   for name, value in fields) + b"\r\nbody"
    header = split_header(raw)
    envelope = build_envelope(header)
    assert len(envelope) == 10
    assert len(envelope_value(envelope_json(header))) == 10
    json.loads(envelope_json(header))


@FUZZ
@given(texts)
def test_envelope_address_helpers(text: str) -> None:
    local, domain = split_address(text)
    if "@" in text:
        assert f"{local}@{domain}" == text
        assert "@" not in domain
    else:
        assert (local, domain) == ("", text)
    assert domain_of(text) == domain.lower()
