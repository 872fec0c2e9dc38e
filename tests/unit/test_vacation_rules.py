"""RFC 3834's rules for whom a vacation responder answers (delivery/vacation.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from posthouse.delivery.vacation import VacationSettings, reply_message, should_reply

OWN = ["alice@example.test"]
TO_ME = {"to": "Alice <alice@example.test>", "subject": "Hi", "message-id": "<m1@x>"}


def test_a_personal_message_is_answered() -> None:
    assert should_reply("bob@remote.example", TO_ME, OWN)


@pytest.mark.parametrize(("mail_from", "extra"), [
    ("", {}),  # 3.1.2: the null reverse-path
    ("owner-news@remote.example", {}),  # 2: list owners
    ("news-request@remote.example", {}),
    ("MAILER-DAEMON@remote.example", {}),
    ("bob@remote.example", {"auto-submitted": "auto-generated"}),  # 2, 5
    ("bob@remote.example", {"auto-submitted": "auto-replied; owner-email=x"}),
    ("bob@remote.example", {"list-id": "<news.remote.example>"}),
    ("bob@remote.example", {"precedence": "bulk"}),
    ("bob@remote.example", {"to": "someone@else.example"}),  # 3.1.1: not named
])
def test_automatic_list_and_unaddressed_mail_is_not_answered(
        mail_from: str, extra: dict[str, str]) -> None:
    assert not should_reply(mail_from, {**TO_ME, **extra}, OWN)


def test_auto_submitted_no_is_a_person() -> None:
    assert should_reply("bob@remote.example", {**TO_ME, "auto-submitted": "no"}, OWN)


def test_the_reply_is_marked_and_threaded() -> None:
    now = datetime(2026, 12, 3, tzinfo=UTC)
    data = reply_message(VacationSettings(True, text_body="Away"), "alice@example.test",
                         "bob@remote.example", {**TO_ME, "references": "<r0@x>"}, now, "mx")
    assert b"Auto-Submitted: auto-replied\r\n" in data
    assert b"In-Reply-To: <m1@x>\r\n" in data
    assert b"References: <r0@x> <m1@x>\r\n" in data
    assert b"Subject: Auto: Hi\r\n" in data


def test_the_dates_bound_the_period() -> None:
    settings = VacationSettings(True, from_date="2026-12-01T00:00:00Z",
                                to_date="2026-12-10T00:00:00Z")
    assert settings.active(datetime(2026, 12, 3, tzinfo=UTC))
    assert not settings.active(datetime(2026, 11, 30, tzinfo=UTC))
    assert not settings.active(datetime(2026, 12, 10, tzinfo=UTC))
    assert not VacationSettings(False).active(datetime(2026, 12, 3, tzinfo=UTC))
