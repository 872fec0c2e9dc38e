"""Byte-level building blocks shared by the protocol cores."""

from posthouse.wire.errors import LocalProtocolError, RemoteProtocolError
from posthouse.wire.lines import LineBuffer, LineTooLong

__all__ = ["LineBuffer", "LineTooLong", "LocalProtocolError", "RemoteProtocolError"]
