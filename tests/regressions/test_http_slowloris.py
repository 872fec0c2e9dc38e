"""Slowloris against the HTTP listener: a request head trickled a byte at a time (each byte
would reset a plain idle timer) is cut [http] header_seconds after its first byte with 408,
logged once as a slow client, and keeps its address's slot for limits.slow_penalty_seconds,
so reconnecting at once meets the per-address cap (503). A body trickled below the minimum
rate is cut too. Bounds are "closed within a generous time", never a measured time."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import pytest

from posthouse.config import replace_section
from tests.support.server import ServerThread, make_config
from tests.support.slow_clients import closed_within, connect, trickle


def _http_server(tmp_path: Path, **limits: Any) -> ServerThread:
    """A server whose HTTP request heads must be complete within 1 s."""
    cfg = make_config(tmp_path / "data")
    return ServerThread(replace_section(
        cfg, limits=dataclasses.replace(cfg.limits, **limits),
        http=dataclasses.replace(cfg.http, header_seconds=1)))


def test_trickled_head_is_cut_and_its_slot_kept(tmp_path: Path,
                                                caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="posthouse.net")
    with _http_server(tmp_path, slow_penalty_seconds=600,
                      max_connections_per_ip_per_listener=1) as srv:
        with connect(srv.port("http")) as sock:
            closed, said = trickle(sock, b"GET / HTTP/1.1\r\nX-Slow: ")
        assert closed, said
        assert said.startswith(b"HTTP/1.1 408 "), said
        with connect(srv.port("http")) as again:  # the penalty holds the only slot
            closed, said = closed_within(again)
        assert closed
        assert said.startswith(b"HTTP/1.1 503 "), said
    cuts = [r.getMessage() for r in caplog.records if "slow client cut" in r.getMessage()]
    assert len(cuts) == 1, cuts
    assert "listener=http " in cuts[0]
    assert "request head not complete within 1 s" in cuts[0]


def test_trickled_body_below_the_minimum_rate_is_cut(tmp_path: Path) -> None:
    with _http_server(tmp_path, data_min_bytes_per_second=100,
                      data_rate_window_seconds=1) as srv, connect(srv.port("http")) as sock:
        sock.sendall(b"POST /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n")
        closed, said = trickle(sock, b"x")
    assert closed, said
    assert said.startswith(b"HTTP/1.1 408 "), said
