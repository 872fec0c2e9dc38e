"""jmap/query_changes.py's claim (RFC 8620 5.6), as a property: with ``changed`` the ids
whose filter or sort values differ between two states (and those created or destroyed),
replaying ``removed`` and ``added`` onto the old result gives the new one; and the base
subject and sender keys of Email/query's sorts (RFC 8621 4.4.2, RFC 5256 2.1)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from posthouse.jmap.email_query import base_subject, display_name
from posthouse.jmap.errors import JmapMethodError
from posthouse.jmap.query_changes import query_changes_response

# an object: (sort value, matches the filter); None: it does not exist in that state
Objects = dict[str, tuple[int, bool] | None]


def result(objects: Objects) -> list[str]:
    """A query's result: the matching objects by sort value, ties by id."""
    return [i for i, v in sorted(((i, v) for i, v in objects.items() if v and v[1]),
                                 key=lambda p: (p[1][0], p[0]))]


def replay(old: list[str], changes: dict[str, Any]) -> list[str]:
    out = [i for i in old if i not in set(changes["removed"])]
    for item in sorted(changes["added"], key=lambda a: a["index"]):
        out.insert(item["index"], item["id"])
    return out


value = st.one_of(st.none(), st.tuples(st.integers(0, 5), st.booleans()))


@given(st.dictionaries(st.sampled_from("abcdefghij"), st.tuples(value, value)))
def test_replay_gives_the_new_result(pairs: dict[str, tuple[Any, Any]]) -> None:
    old = {i: a for i, (a, _b) in pairs.items()}
    new = {i: b for i, (_a, b) in pairs.items()}
    changed = {i for i in pairs if old[i] != new[i]}
    created = {i for i in changed if old[i] is None}
    answer = query_changes_response({"sinceQueryState": "s1"}, "A1", "s2", result(new),
                                    changed, created, immutable=False)
    assert replay(result(old), answer) == result(new)


@given(st.dictionaries(st.sampled_from("abcdefghij"), st.tuples(value, value)),
       st.integers(0, 9))
def test_up_to_id_keeps_the_prefix_the_client_holds(pairs: dict[str, tuple[Any, Any]],
                                                    cut: int) -> None:
    """An immutable query: objects only come and go, their values never change."""
    old = {i: a for i, (a, _b) in pairs.items()}
    new = {i: (b if a is None or b is None else a) for i, (a, b) in pairs.items()}
    changed = {i for i in pairs if old[i] != new[i]}
    created = {i for i in changed if old[i] is None}
    held = result(old)[:cut + 1]
    if not held:
        return
    args = {"sinceQueryState": "s1", "upToId": held[-1]}
    now = result(new)
    answer = query_changes_response(args, "A1", "s2", now, changed, created, immutable=True)
    known = sparse_replay(held, answer)
    assert all(now[index] == item for index, item in known.items())
    if held[-1] in now:  # the client holds exactly the new results up to upToId
        assert sorted(known) == list(range(now.index(held[-1]) + 1))


def sparse_replay(held: list[str], changes: dict[str, Any]) -> dict[int, str]:
    """A client that holds only the first results: what it knows, index -> id (an index
    past what it holds leaves a gap it knows of)."""
    kept = [i for i in held if i not in set(changes["removed"])]
    known = dict(enumerate(kept))
    for item in sorted(changes["added"], key=lambda a: a["index"]):
        at = item["index"]
        known = {(n + 1 if n >= at else n): i for n, i in known.items()}
        known[at] = item["id"]
    return known


def test_max_changes() -> None:
    with pytest.raises(JmapMethodError) as err:
        query_changes_response({"sinceQueryState": "s1", "maxChanges": 1}, "A1", "s2",
                               ["a", "b"], {"a", "b"}, {"a", "b"}, immutable=True)
    assert err.value.kind == "tooManyChanges"


@pytest.mark.parametrize(("subject", "base"), [
    ("Re: hello", "hello"),
    ("RE: [list] Re: Fwd: hello (fwd)", "hello"),
    ("[Fwd: Re: x]", "x"),
    ("[list] hi", "hi"),
    ("[only]", "[only]"),  # a blob stays when nothing would be left
    ("Re [2]: topic", "topic"),
    ("  spaced   out  ", "spaced out"),
])
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


@pytest.mark.parametrize(("field", "key"), [
    ("Peer Sender <peer@x.test>", "Peer Sender"),
    ("<bob@x.test>", "bob@x.test"),
    ("bob@x.test, c@d.test", "bob@x.test"),
    ('"Doe, J" <j@d.test>\nj@d.test', "Doe, J"),
    ("", ""),
])
def test_sender_sort_key(field: str, key: str) -> None:
    assert display_name(field) == key
