"""JMAP Core (RFC 8620) over real sockets: the session resource, authentication (Basic over
TLS, bearer tokens from /jmap/login), the API request format, result references, and the
request-level and method-level errors of 3.6."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.jmap import CORE, MAIL, JmapTestClient
from tests.support.server import ServerThread, make_config


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerThread]:
    with ServerThread(make_config(tmp_path / "data")) as srv:
        srv.add_user("alice@example.test")
        srv.add_user("bob@example.test")
        yield srv


@pytest.fixture
def alice(server: ServerThread) -> JmapTestClient:
    return JmapTestClient(server, "alice@example.test")


def test_session_resource(alice: JmapTestClient, server: ServerThread) -> None:
    session = alice.session()
    core = session["capabilities"][CORE]
    for limit in ("maxSizeUpload", "maxConcurrentUpload", "maxSizeRequest",
                  "maxConcurrentRequests", "maxCallsInRequest", "maxObjectsInGet",
                  "maxObjectsInSet"):
        assert isinstance(core[limit], int)
        assert core[limit] > 0
    assert "i;unicode-casemap" in core["collationAlgorithms"]
    assert MAIL in session["capabilities"]
    account = session["primaryAccounts"][MAIL]
    assert session["primaryAccounts"][CORE] == account
    assert session["accounts"][account]["name"] == "alice@example.test"
    assert session["accounts"][account]["isPersonal"] is True
    assert MAIL in session["accounts"][account]["accountCapabilities"]
    assert session["username"] == "alice@example.test"
    port = server.port("https")
    assert session["apiUrl"] == f"https://127.0.0.1:{port}/jmap/api/"
    for template in ("{accountId}", "{blobId}", "{name}", "{type}"):
        assert template in session["downloadUrl"]
    assert "{accountId}" in session["uploadUrl"]
    for template in ("{types}", "{closeafter}", "{ping}"):
        assert template in session["eventSourceUrl"]
    assert isinstance(session["state"], str)
    assert session["state"]


def test_wrong_or_missing_login_is_401(server: ServerThread) -> None:
    wrong = JmapTestClient(server, "alice@example.test", "not the password")
    status, headers, _ = wrong.request("GET", "/.well-known/jmap")
    assert status == 401
    assert headers["www-authenticate"].startswith("Basic")
    status, _, _ = wrong.request("GET", "/.well-known/jmap", auth=False)
    assert status == 401
    status, _, _ = wrong.request("GET", "/.well-known/jmap",
                                 headers={"Authorization": "Bearer made-up"})
    assert status == 401


def test_not_over_plain_http(server: ServerThread) -> None:
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port("http"), timeout=30)
    conn.request("GET", "/.well-known/jmap")
    assert conn.getresponse().status == 404  # the page exists only on HTTPS
    conn.close()


def test_bearer_token_from_the_login_endpoint(alice: JmapTestClient) -> None:
    status, headers, body = alice.request("POST", "/jmap/login")
    assert status == 200
    assert headers["cache-control"] == "no-store"
    token = json.loads(body)["accessToken"]
    bearer = {"Authorization": f"Bearer {token}"}
    status, _, body = alice.request("GET", "/.well-known/jmap", headers=bearer)
    assert status == 200
    assert json.loads(body)["username"] == "alice@example.test"
    status, _, _ = alice.request("DELETE", "/jmap/login", headers=bearer)
    assert status == 204
    status, _, _ = alice.request("GET", "/.well-known/jmap", headers=bearer)
    assert status == 401


def test_core_echo_and_result_reference(alice: JmapTestClient) -> None:
    responses = alice.calls(
        ["Core/echo", {"hello": True, "list": [{"id": "a"}, {"id": "b"}]}, "c0"],
        ["Core/echo", {"#ids": {"resultOf": "c0", "name": "Core/echo",
                                "path": "/list/*/id"}}, "c1"])
    assert responses[0] == ["Core/echo", {"hello": True, "list": [{"id": "a"}, {"id": "b"}]},
                            "c0"]
    assert responses[1] == ["Core/echo", {"ids": ["a", "b"]}, "c1"]


@pytest.mark.parametrize("ref", [
    {"resultOf": "nope", "name": "Core/echo", "path": "/x"},  # no such call
    {"resultOf": "c0", "name": "Mailbox/get", "path": "/x"},  # wrong name
    {"resultOf": "c0", "name": "Core/echo", "path": "/missing"},  # path not there
    {"resultOf": "c0", "name": "Core/echo", "path": "x"},  # not a pointer
    "not an object",
])
def test_invalid_result_reference(alice: JmapTestClient, ref: object) -> None:
    responses = alice.calls(["Core/echo", {"x": 1}, "c0"], ["Core/echo", {"#y": ref}, "c1"])
    assert responses[1] == ["error", responses[1][1], "c1"]
    assert responses[1][1]["type"] == "invalidResultReference"


def test_reference_and_plain_argument_together(alice: JmapTestClient) -> None:
    responses = alice.calls(["Core/echo", {"x": 1}, "c0"],
                            ["Core/echo", {"y": 2, "#y": {"resultOf": "c0", "name": "Core/echo",
                                                          "path": "/x"}}, "c1"])
    assert responses[1][1]["type"] == "invalidArguments"


def problem(client: JmapTestClient, body: bytes, **headers: str) -> dict[str, object]:
    status, got, doc = client.post(body, headers)
    assert status == 400
    assert got["content-type"] == "application/problem+json"
    assert doc["status"] == 400
    return dict(doc)


def test_request_level_errors(alice: JmapTestClient) -> None:
    prefix = "urn:ietf:params:jmap:error:"
    assert problem(alice, b"{not json")["type"] == prefix + "notJSON"
    assert problem(alice, b"\xff\xfe")["type"] == prefix + "notJSON"
    assert problem(alice, b"[]")["type"] == prefix + "notRequest"
    assert problem(alice, b'{"using": []}')["type"] == prefix + "notRequest"
    assert problem(alice, json.dumps({"using": [CORE], "methodCalls": [["Core/echo", {}]]}
                                     ).encode())["type"] == prefix + "notRequest"
    unknown = problem(alice, json.dumps({"using": [CORE, "urn:example:nothing"],
                                         "methodCalls": []}).encode())
    assert unknown["type"] == prefix + "unknownCapability"
    calls = [["Core/echo", {}, str(i)] for i in range(33)]
    limit = problem(alice, json.dumps({"using": [CORE], "methodCalls": calls}).encode())
    assert limit["type"] == prefix + "limit"
    assert limit["limit"] == "maxCallsInRequest"


def test_request_over_max_size_is_refused_before_parsing(alice: JmapTestClient) -> None:
    size = alice.session()["capabilities"][CORE]["maxSizeRequest"]
    status, _, body = alice.request("POST", "/jmap/api/", b" " * (size + 1),
                                    {"Content-Type": "application/json"})
    assert status == 400
    assert json.loads(body)["type"] == "urn:ietf:params:jmap:error:limit"
    assert json.loads(body)["limit"] == "maxSizeRequest"


def test_method_level_errors(alice: JmapTestClient) -> None:
    responses = alice.calls(
        ["Nothing/here", {}, "a"],
        ["Mailbox/get", {"accountId": "A999999"}, "b"],
        ["Mailbox/get", {}, "c"],
        ["Mailbox/get", {"accountId": alice.account_id, "properties": ["bogus"]}, "d"],
        ["Mailbox/get", {"accountId": alice.account_id, "ids": ["x"] * 501}, "e"],
        ["Mailbox/changes", {"accountId": alice.account_id, "sinceState": "garbage"}, "f"],
        ["Core/echo", {"ok": 1}, "g"])
    kinds = {r[2]: r[1].get("type") for r in responses if r[0] == "error"}
    assert kinds == {"a": "unknownMethod", "b": "accountNotFound", "c": "invalidArguments",
                     "d": "invalidArguments", "e": "requestTooLarge",
                     "f": "cannotCalculateChanges"}
    assert responses[-1] == ["Core/echo", {"ok": 1}, "g"]  # the others go on


def test_method_of_a_capability_not_in_using(alice: JmapTestClient) -> None:
    (response,) = alice.calls(["Mailbox/get", {"accountId": alice.account_id}, "a"],
                              using=(CORE,))
    assert response[0] == "error"
    assert response[1]["type"] == "unknownMethod"


def test_another_users_account_is_not_found(server: ServerThread) -> None:
    alice = JmapTestClient(server, "alice@example.test")
    bob = JmapTestClient(server, "bob@example.test")
    assert alice.account_id != bob.account_id
    (response,) = alice.calls(["Mailbox/get", {"accountId": bob.account_id}, "a"])
    assert response[1]["type"] == "accountNotFound"
