"""The server's log line format: the cached date-time text equals logging's own."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from posthouse.log import JsonLineFormatter, _LineFormatter


def _record(created: float) -> logging.LogRecord:
    record = logging.LogRecord("posthouse.smtp", logging.INFO, __file__, 1,
                               "accepted from=<%s>", ("a@b.example",), None)
    record.created = created
    record.msecs = int((created - int(created)) * 1000) + 0.0
    record.session = "s1"
    return record


@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.999, 1_700_000_001.0005,
                                     1_700_000_000.5])
def test_time_text_is_what_logging_writes(created: float) -> None:
    ours, reference = _LineFormatter(), logging.Formatter()
    assert ours.formatTime(_record(created)) == reference.formatTime(_record(created))


def test_the_second_is_reformatted_when_it_changes() -> None:
    ours, reference = _LineFormatter(), logging.Formatter()
    for created in (1_700_000_000.1, 1_700_000_000.9, 1_700_000_001.2, 1_700_000_000.3):
        assert ours.formatTime(_record(created)) == reference.formatTime(_record(created))


def test_line() -> None:
    line = _LineFormatter().format(_record(1_700_000_000.25))
    assert line.endswith(" INFO posthouse.smtp sid=s1 accepted from=<a@b.example>")


def test_json_line_carries_the_fields_of_the_text_line() -> None:
    record = _record(1_700_000_000.25)
    text = _LineFormatter().format(record)
    entry = json.loads(JsonLineFormatter().format(record))
    assert entry == {"time": _LineFormatter().formatTime(record), "level": "INFO",
                     "logger": "posthouse.smtp", "sid": "s1",
                     "message": "accepted from=<a@b.example>"}
    assert text == (f"{entry['time']} {entry['level']} {entry['logger']} sid={entry['sid']} "
                    f"{entry['message']}")


def test_json_line_is_one_line_with_the_traceback() -> None:
    try:
        raise ValueError("bad\nthing")
    except ValueError:
        record = logging.LogRecord("posthouse.x", logging.ERROR, __file__, 1, "failed %s",
                                   ("a\nb",), sys.exc_info())
    record.session = "-"
    line = JsonLineFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed a\nb"
    assert entry["exception"].startswith("Traceback")
    assert "ValueError: bad" in entry["exception"]
