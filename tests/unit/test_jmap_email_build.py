"""The Email object -> RFC 5322 builder (RFC 8621 4.6) and the header-field remover the
submission uses for Bcc (RFC 5322 3.6.3)."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from posthouse.delivery.headers import replace_fields
from posthouse.jmap.email_build import BuildError, blob_ids_of, build_message

NOW = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)


def test_removing_a_field_keeps_the_blank_line_before_the_body() -> None:
    assert replace_fields(b"A: 1\r\nBcc: x\r\n\r\nbody\r\n", (b"bcc",)) == (
        b"A: 1\r\n\r\nbody\r\n")
    assert replace_fields(b"A: 1\r\nSubject: x\r\n\r\nb\r\n", (b"subject",),
                          b"Subject: y\r\n") == b"A: 1\r\nSubject: y\r\n\r\nb\r\n"


def test_plain_text_gets_date_message_id_and_encoded_words() -> None:
    data = build_message({"from": [{"name": "Zoë", "email": "zoe@example.test"}],
                          "subject": "Grüße",
                          "bodyValues": {"1": {"value": "naïve\n"}},
                          "textBody": [{"partId": "1", "type": "text/plain"}]},
                         {}, "example.test", NOW)
    data.decode("ascii")
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert str(parsed["Subject"]) == "Grüße"
    assert parsed["From"].addresses[0].display_name == "Zoë"
    assert parsed["Message-ID"].endswith("@example.test>")
    assert parsed["Date"] == "Thu, 03 Dec 2026 07:00:00 +0000"
    assert parsed.get_content() == "naïve\r\n"  # CRLF on the wire (RFC 5322 2.3)


def test_attachments_only_and_blob_ids() -> None:
    obj = {"attachments": [{"blobId": "Babc", "type": "image/png", "name": "a.png",
                            "disposition": "inline", "cid": "img1"}]}
    assert blob_ids_of(obj) == ["Babc"]
    data = build_message(obj, {"Babc": b"\x89PNG"}, "example.test", NOW)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    (part,) = parsed.get_payload()
    assert part["Content-ID"] == "<img1>"
    assert part.get_content() == b"\x89PNG"


@pytest.mark.parametrize(("obj", "prop"), [
    ({"id": "x"}, "id"),
    ({"subject": "two\r\nlines"}, "subject"),
    ({"header:Content-Type": "text/html"}, "header:Content-Type"),
    ({"sentAt": "yesterday"}, "sentAt"),
    ({"messageId": ["<bracketed>"]}, "messageId"),
    ({"bodyStructure": {"partId": "1"}}, "bodyValues"),
])
def test_bad_objects_name_the_property(obj: dict[str, object], prop: str) -> None:
    with pytest.raises(BuildError) as caught:
        build_message(obj, {}, "example.test", NOW)
    assert caught.value.properties == [prop]
