"""Clients that misbehave slowly, over real sockets: silent ones and trickling ones (issue 12,
defects 3 and 4). Every wait is bounded: a server that never cuts them fails the test."""

from __future__ import annotations

import dataclasses
import select
import socket
import time
from pathlib import Path
from typing import Any

from posthouse.config import replace_section
from tests.support.server import ServerThread, make_config

BOUND = 15.0  # how long a test waits for the server to act (generous; not a measured time)


def limited_server(tmp_path: Path, **limits: Any) -> ServerThread:
    """A server (every listener on 127.0.0.1) with some [limits] keys set; not started."""
    cfg = make_config(tmp_path / "data")
    return ServerThread(replace_section(cfg, limits=dataclasses.replace(cfg.limits, **limits)))


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def first_line(sock: socket.socket) -> bytes:
    """Bytes up to and including the first CRLF (or what came before the close)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def exchange(sock: socket.socket, line: bytes) -> bytes:
    """Send a line, return the reply's last line (SMTP multi-line replies included)."""
    sock.sendall(line + b"\r\n")
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        lines = data.split(b"\r\n")
        if len(lines) > 1 and lines[-2][3:4] != b"-":
            return lines[-2]


def closed_within(sock: socket.socket, bound: float = BOUND) -> tuple[bool, bytes]:
    """(True, what the server sent) once it closes the connection; (False, ...) if it has not
    within ``bound`` seconds. The client sends nothing."""
    got = b""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        ready, _, _ = select.select([sock], [], [], 0.2)
        if ready:
            try:
                chunk = sock.recv(4096)
            except (ConnectionResetError, OSError):
                return True, got
            if not chunk:
                return True, got
            got += chunk
    return False, got


def trickle(sock: socket.socket, payload: bytes, *, interval: float = 0.3,
            bound: float = BOUND) -> tuple[bool, bytes]:
    """Send ``payload`` (cycling) one byte every ``interval`` seconds until the server closes
    the connection: (True, what it sent meanwhile), or (False, ...) after ``bound`` seconds."""
    got = b""
    deadline = time.monotonic() + bound
    i = 0
    while time.monotonic() < deadline:
        try:
            sock.send(payload[i % len(payload):i % len(payload) + 1])
        except OSError:
            return True, got
        i += 1
        ready, _, _ = select.select([sock], [], [], interval)
        if ready:
            try:
                chunk = sock.recv(4096)
            except OSError:
                return True, got
            if not chunk:
                return True, got
            got += chunk
    return False, got
