"""Byte-level building blocks shared by the protocol cores: the bounded line buffer, the two
protocol-error exceptions, the events every core shares and the transparency rule."""

from posthouse.wire.errors import LocalProtocolError, RemoteProtocolError
from posthouse.wire.events import NEED_DATA, Closed, NeedData
from posthouse.wire.lines import LineBuffer, LineTooLong

__all__ = [
    "NEED_DATA",
    "Closed",
    "LineBuffer",
    "LineTooLong",
    "LocalProtocolError",
    "NeedData",
    "RemoteProtocolError",
]
