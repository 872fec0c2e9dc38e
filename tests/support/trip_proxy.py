"""A TCP proxy on 127.0.0.1 that trips once when the server sends given bytes.

Everything is forwarded both ways until ``trigger`` has gone from the upstream server to the
client (the trigger itself is forwarded); then, on that one connection, mode "cut" closes
both sides at once (a source that drops mid-message) and mode "stall" stops forwarding and
holds the connection open (a source that hangs, so a test can kill the client partway).
Later connections pass through untouched. ``tripped`` is set when it happens.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

from tests.support.peers import LOOPBACK


class TripProxy:
    """One listening socket; a pair of pump threads per connection."""

    def __init__(self, upstream_port: int, trigger: bytes,
                 mode: Literal["cut", "stall"]) -> None:
        self.upstream_port = upstream_port
        self.trigger = trigger
        self.mode = mode
        self.tripped = threading.Event()
        self._armed = True
        self._lock = threading.Lock()
        self._listener = socket.create_server((LOOPBACK, 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        self._released = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._closed = True
        self._released.set()
        self._listener.close()
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()

    def __enter__(self) -> TripProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((LOOPBACK, self.upstream_port))
            self._sockets += [client, upstream]
            with self._lock:
                armed, self._armed = self._armed, False
            threading.Thread(target=self._pump, args=(client, upstream, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, armed),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, watch: bool) -> None:
        tail = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if watch:
                    seen = tail + data
                    at = seen.find(self.trigger)
                    if at >= 0:
                        upto = at + len(self.trigger) - len(tail)
                        dst.sendall(data[:upto])
                        self.tripped.set()
                        if self.mode == "stall":
                            self._released.wait()  # hold until the proxy closes
                        break
                    tail = seen[-len(self.trigger):]
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
