"""Valid-ish inputs the fuzzers start from: addresses, paths and header values, built from
the grammars (RFC 5321 4.1.2, RFC 5322 3.4) with the odd corners real mail has."""

from __future__ import annotations

from hypothesis import strategies as st

_ATEXT = "abcxyzABZ019!#$%&'*+/=?^_`{|}~-"

atoms = st.text(alphabet=_ATEXT, min_size=1, max_size=8)
dot_atoms = st.lists(atoms, min_size=1, max_size=3).map(".".join)
quoted_locals = st.text(
    alphabet=st.sampled_from([*'ab @."\\()<>,;:[]\t', "é", "\x00", "\x7f"]),
    max_size=10,
).map(lambda s: '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"')
utf8_locals = st.text(alphabet="aé用户ü.", min_size=1, max_size=6)
local_parts = st.one_of(dot_atoms, quoted_locals, utf8_locals)

labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
domains = st.one_of(
    st.lists(labels, min_size=1, max_size=4).map(".".join),
    st.sampled_from(["bücher.example", "xn--bcher-kva.example", "a" * 64 + ".example",
                     "[192.0.2.1]", "[IPv6:2001:db8::1]", "[IPv6:::]", "[300.1.1.1]",
                     "[tag:text]", "example.", ".example", "a..b", "-a.example"]),
)
addr_specs = st.builds(lambda local, domain: f"{local}@{domain}", local_parts, domains)

smtp_paths = st.one_of(
    addr_specs.map(lambda a: f"<{a}>"),
    st.builds(lambda route, a: f"<@{route}:{a}>", domains, addr_specs),
    st.just("<>"),
    addr_specs,  # without angle brackets: not allowed, but sent
    st.just("<postmaster>"),
)

display_names = st.one_of(
    atoms,
    st.lists(atoms, min_size=1, max_size=3).map(" ".join),
    quoted_locals,
    st.sampled_from(["=?utf-8?b?w6k=?=", "=?iso-8859-1?q?J=E9r=F4me?=", "(comment) Ann"]),
)
mailboxes = st.one_of(
    addr_specs,
    st.builds(lambda name, a: f"{name} <{a}>", display_names, addr_specs),
    st.builds(lambda a, c: f"{a} ({c})", addr_specs, atoms),
    st.builds(lambda r, a: f"<@{r},@{r}:{a}>", domains, addr_specs),
)
groups = st.builds(
    lambda name, members: f"{name}: {', '.join(members)};",
    display_names, st.lists(mailboxes, max_size=3),
)
address_lists = st.lists(st.one_of(mailboxes, groups), min_size=1, max_size=4).map(", ".join)
