"""JMAP method arguments fuzzed against a running server over HTTPS: whatever JSON a client
sends as the arguments of any method, the answer is the method's response or a method-level
error (RFC 8620 3.6.2), never serverFail, and the server keeps answering."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.support import FUZZ
from tests.support.jmap import JmapTestClient, append, message
from tests.support.server import ServerThread, make_config

METHODS = ("Mailbox/get", "Mailbox/changes", "Mailbox/query", "Mailbox/set", "Email/get",
           "Email/changes", "Email/query", "Email/set", "Email/import", "Thread/get",
           "Thread/changes", "Email/queryChanges")
KEYS = ("ids", "properties", "sinceState", "maxChanges", "filter", "sort", "position",
        "anchor", "anchorOffset", "limit", "calculateTotal", "collapseThreads", "create",
        "update", "destroy", "ifInState", "emails", "bodyProperties", "fetchAllBodyValues",
        "fetchTextBodyValues", "maxBodyValueBytes", "onDestroyRemoveEmails", "inMailbox",
        "operator", "conditions", "property", "isAscending", "keywords", "mailboxIds", "name",
        "parentId", "blobId", "text", "from", "before", "header", "minSize", "hasKeyword")
_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 2**40), st.sampled_from(
    ["", "x", "M1", "F1V1", "#a", "$seen", "receivedAt", "subject", "AND", "NOT",
     "2026-01-01T00:00:00Z", "header:Subject:asText", "s1", "bad(kw"]))
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
    max_leaves=12)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JmapTestClient]:
    with ServerThread(make_config(tmp_path_factory.mktemp("data"))) as srv:
        srv.add_user("alice@example.test")
        append(srv, "alice@example.test", message("fuzzed"))
        yield JmapTestClient(srv, "alice@example.test")


@FUZZ
@given(name=st.sampled_from(METHODS), args=st.dictionaries(st.sampled_from(KEYS), _json,
                                                           max_size=5))
def test_no_argument_makes_a_server_failure(client: JmapTestClient, name: str,
                                            args: dict[str, Any]) -> None:
    (response,) = client.calls([name, {"accountId": client.account_id, **args}, "f"])
    if response[0] == "error":
        assert response[1]["type"] != "serverFail", (name, args)
    else:
        assert response[0] == name
